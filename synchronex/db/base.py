"""The PostgreSQL backend with a health check that costs no round trip while nothing is wrong.

Persistent connections are checked at the start of each request (``CONN_HEALTH_CHECKS``), so a
connection the server dropped (a restart, an administrator's ``pg_terminate_backend``) is
replaced before the request uses it. Django checks by running ``SELECT 1``: one round trip on
every request, ~0.1 ms over HTTP on the identity read (measured). An idle connection hears
nothing from a healthy server, and a server that ends one says so (a final error, then end of
file), so this backend first asks the socket: silent means usable; anything waiting, or a broken
socket, means ``SELECT 1`` decides as before. A link that died without a word is noticed by the
request's first statement, as it would be between the check and that statement anyway.

It also reads a statement sent ahead (``synchronex/db/ahead.py``) before anything else uses the
connection, and loads ``timestamptz`` values in C (``synchronex/db/timestamps.py``).
"""

from __future__ import annotations

import select

import psycopg
from django.conf import settings
from django.db.backends.postgresql import base
from psycopg import pq

from synchronex.db import timestamps


class DatabaseWrapper(base.DatabaseWrapper):
    # A statement sent ahead and not read yet (synchronex/db/ahead.py): read before anything else
    # uses the connection.
    ahead = None

    def get_connection_params(self):
        params = super().get_connection_params()
        params["context"] = timestamps.adapters_template(settings.USE_TZ, self.timezone)
        return params

    def settle(self) -> None:
        if self.ahead is not None:
            self.ahead.rows()

    def ensure_connection(self):  # every cursor, and autocommit changes, come through here
        self.settle()
        super().ensure_connection()

    def _commit(self):
        self.settle()
        return super()._commit()

    def _rollback(self):
        self.settle()
        return super()._rollback()

    def _close(self):
        self.settle()
        return super()._close()

    def is_usable(self):
        self.settle()
        if self.connection is None:
            return False
        pgconn = self.connection.pgconn
        if pgconn.status != pq.ConnStatus.OK:
            return False
        if pgconn.transaction_status == pq.TransactionStatus.IDLE and not _has_input(pgconn):
            return True
        return super().is_usable()


def _has_input(pgconn) -> bool:
    """Whether the server sent anything this idle connection has not read (or the socket broke)."""
    try:
        poller = select.poll()
        poller.register(pgconn.socket, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError, psycopg.Error):
        return True
