"""One time limit for a whole exchange over sockets.

A socket timeout bounds each read only: a server that sends its answer a byte at a time, or a
server process stopped while its host still acknowledges, holds the reader for as long as it
likes. ``Deadline`` shuts the sockets it watches down when its time is up, which ends any read
still waiting on them (the reader sees end of file or an error, then checks ``expired``). Once the
block is left nothing is cut any more, so a connection that outlives it (a pooled database
connection) is safe to use again.
"""

from __future__ import annotations

import os
import socket
import threading


class Deadline:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self._done = False
        self._sockets: list[socket.socket] = []
        self._duplicates: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            self._done = True
        self._timer.cancel()
        for duplicate in self._duplicates:
            duplicate.close()

    def watch(self, sock: socket.socket) -> None:
        """Shut ``sock`` down if the time runs out while the block still runs."""
        with self._lock:
            self._sockets.append(sock)
            if self.expired and not self._done:
                _shut(sock)

    def watch_fileno(self, fileno: int) -> None:
        """The same for a socket known by its file descriptor (a driver's connection): a
        duplicate is shut down, which acts on the connection they share, and closed on exit."""
        duplicate = socket.socket(fileno=os.dup(fileno))
        self._duplicates.append(duplicate)
        self.watch(duplicate)

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        # The plain socket's shutdown, also for TLS: SSLSocket's own would drop its SSL object
        # under the thread reading through it.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed: the exchange is over
