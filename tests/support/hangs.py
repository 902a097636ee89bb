"""Servers that hang: they accept connections and never answer, like a stopped process or a host
whose kernel still acknowledges packets. ``Blackhole`` never answers at all; ``FreezableProxy``
relays to a real server until it is frozen, then holds everything it receives (kept connections
and new ones alike) until it is thawed.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class _Listener:
    def __init__(self):
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(64)
        self.port = self._server.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._closed = threading.Event()

    def __enter__(self):
        threading.Thread(target=self._accept_loop, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._closed.set()
        self._thaw()
        for sock in [self._server, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _thaw(self) -> None:
        pass

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            self._sockets.append(client)
            self._accepted(client)

    def _accepted(self, client: socket.socket) -> None:
        raise NotImplementedError


class Blackhole(_Listener):
    """Accepts every connection and never sends a byte."""

    def _accepted(self, client):
        pass


class FreezableProxy(_Listener):
    """A TCP relay on 127.0.0.1 to ``upstream`` (a Unix socket path, or a (host, port) pair)."""

    def __init__(self, upstream):
        super().__init__()
        self._upstream = upstream
        self._flowing = threading.Event()
        self._flowing.set()

    def freeze(self) -> None:
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    _thaw = thaw

    def _accepted(self, client):
        family = socket.AF_UNIX if isinstance(self._upstream, str) else socket.AF_INET
        server = socket.socket(family)
        server.connect(self._upstream)
        self._sockets.append(server)
        threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
        threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self._flowing.wait()  # frozen: hold what arrived, as a stopped process would
                target.sendall(data)
        except OSError:
            pass
        for sock in (source, target):  # one side ended: end the other, as a server would
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
