"""The Redis broker transport: kombu's own, with its teardown fixed for a broker lost mid-task.

With late acks a running task always holds an unacknowledged message, kept on the worker's task
channel. When the worker's consumer loses Redis, celery (5.7.0) collects the connection —
``Connection.collect()`` closes the channels, then detaches the transport from the connection —
and then closes the connection. kombu's (5.7.0) virtual transport closes the channels one after
another and stops at the first that fails: the remote-control channel deletes its auto-delete
fanout queue on close, which fails on a broker that is gone. When the task channel's own first
close had failed too (it was waiting on Redis for more work: a pool process to spare), it stayed
open, and celery's ``close()`` closed it again on the detached transport, where restoring that
message reads ``connection.client.hostname`` off ``None``: an ``AttributeError``, which no cleanup
path treats as a connection error, so the consumer died and the whole worker exited (code 1)
instead of reconnecting. No released celery or kombu fixes it (5.7.0 is the latest of both).

Here every channel is closed with its connection, whichever fails (the first failure is raised
after the others are closed), so the task channel tries to give its message back while it still
has its connection: a broker that is still down refuses, and the message stays in Redis's
unacknowledged set, delivered again after the visibility timeout, as kombu does for an idle
worker. A channel used after its transport was detached anyway fails as a connection error, which
every cleanup path already expects from a broker that is gone.

Settings select this transport for ``redis://`` and ``rediss://`` brokers (``CELERY_BROKER_TRANSPORT``).
``tests/test_faults.py`` restarts Redis under a running task.
"""

from __future__ import annotations

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous=False):
        transport = self.connection
        if transport is None or transport.client is None:
            # Connection.collect() detached the transport: its broker connection is gone.
            raise RedisConnectionError("the broker connection of this channel is closed")
        return super()._connparams(asynchronous=asynchronous)


class RedisTransport(kombu_redis.Transport):
    Channel = Channel

    def close_connection(self, connection):
        """kombu's virtual ``close_connection``, closing every channel even after one fails."""
        self.cycle.close()
        first_error = None
        for channels in self._avail_channels, self.channels:
            while channels:
                channel = channels.pop()
                try:
                    channel.close()
                except Exception as exc:
                    first_error = first_error or exc
        if first_error is not None:
            raise first_error
