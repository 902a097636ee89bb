"""HTTP spoken by hand, for what ``requests`` never sends: a body cut short of its Content-Length,
a broken chunked body, a client that resets the connection part-way through its upload."""

from __future__ import annotations

import http.client
import json
import socket
import struct
import time
from urllib.parse import urlsplit


def _connect(base: str, head: str, body: bytes, timeout: float) -> socket.socket:
    url = urlsplit(base)
    sock = socket.create_connection((url.hostname, url.port), timeout=timeout)
    lines = [head.rstrip("\r\n"), f"Host: {url.netloc}", "Connection: close"]
    sock.sendall("\r\n".join(lines).encode() + b"\r\n\r\n" + body)
    return sock


def half_closed(base: str, head: str, body: bytes, *, timeout: float = 60) -> tuple[int, dict]:
    """Send ``head`` (the request line and headers, each as given) and ``body`` as they are, then
    end the client's side (FIN, as a client whose own timeout fired or whose process was killed
    does) and read the answer: its status and its JSON body."""
    with _connect(base, head, body, timeout) as sock:
        sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, json.loads(response.read())


def half_closed_text(base: str, head: str, body: bytes, *, timeout: float = 60) -> tuple[int, str]:
    """As ``half_closed``, for an answer that is not JSON (a browser page's): its status and text."""
    with _connect(base, head, body, timeout) as sock:
        sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.read().decode()


def reset(base: str, head: str, body: bytes, *, after: float = 1.0) -> None:
    """Send ``head`` and ``body``, wait ``after`` seconds (the server is reading the body by then),
    then reset the connection (RST, no FIN): nobody is left to read an answer."""
    sock = _connect(base, head, body, timeout=30)
    time.sleep(after)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
