"""Log lines as an operator reads them: one record is one line, whatever a request carries, and
no query string (tokens travel there) reaches a log."""

from __future__ import annotations

import io
import logging
import re
import threading
import time
from contextlib import contextmanager

import pytest
import requests

from synchronex.api.request_id import RequestIdFormatter

# What may break a line or rewrite a terminal: C0 and C1 controls, DEL, U+2028 and U+2029.
RAW_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")
FORGED = "2026-11-30 16:01:00,000 INFO [0123abcd] synchronex.access: POST /api/v1/workspaces 201 12.0ms"


@contextmanager
def console_output():
    """What the configured console handler (settings.LOGGING, our formatter) writes meanwhile."""
    handler = next(h for h in logging.getLogger().handlers if isinstance(h.formatter, RequestIdFormatter))
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(previous)


def test_control_characters_in_the_path_cannot_forge_an_access_line(api):
    # %0A and %0D%0A ended the access line and began one the attacker wrote; the other C0 and C1
    # controls, DEL and U+2028 break lines for some readers or rewrite a terminal.
    controls = "%0D%0A%0B%0C%1B[2K%7F%C2%85%E2%80%A8%E2%80%A9%09%07"
    path = "/api/v1/nope%0A" + requests.utils.quote(FORGED) + controls + "%0D%0Aend"
    with console_output() as output:
        response = api.get(path)
    assert response.status_code == 404
    text = output.getvalue()
    lines = text.splitlines()  # splits at every line boundary Python knows, \x85 and U+2028 included
    access = [line for line in lines if "synchronex.access" in line]
    assert len(access) == 1, text
    assert f"[{response.headers['X-Request-ID']}]" in access[0]
    assert access[0].endswith(" 404 " + access[0].rsplit(" ", 1)[-1])  # status and time close the line
    assert "\\n2026-11-30" in access[0] and "\\r\\nend" in access[0] and "\\u2028" in access[0]
    assert not RAW_CONTROL.search(text)


def test_a_traceback_carrying_request_text_cannot_forge_a_line():
    # PostgreSQL quotes the values it refuses, so an unexpected error's message may hold request text.
    try:
        raise ValueError(f'invalid input syntax for type uuid: "x\n{FORGED}\r\n{FORGED}"')
    except ValueError:
        with console_output() as output:
            logging.getLogger("synchronex.api").exception("Unhandled error on %s", "/api/v1/x\n" + FORGED)
    lines = output.getvalue().splitlines()
    assert lines[0].endswith("synchronex.api: Unhandled error on /api/v1/x\\n" + FORGED)
    assert len(lines) > 3 and all(line.startswith(" ") for line in lines[1:] if line)  # only the first at the margin
    assert lines[-2].endswith("12.0ms\\r")  # the \r before the newline, escaped
    assert not RAW_CONTROL.search(output.getvalue())


@pytest.fixture
def runserver(transactional_db):
    """The development server of ``make run`` (runserver's own request handler, which logs every
    request on ``django.server``), on a free port."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    server = ThreadedWSGIServer(("127.0.0.1", 0), WSGIRequestHandler)
    server.set_app(WSGIHandler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_development_servers_request_lines_drop_the_query_and_carry_the_request_id(runserver):
    with console_output() as output:
        api = requests.get(
            runserver + "/api/v1/scope?access_token=sxo_SECRETTOKEN2&client_secret=XYZSECRET", timeout=10
        )
        page = requests.get(runserver + "/definitely-not-a-page?q=don't&code=SECRETCODE&x=\"b", timeout=10)
        # runserver writes a request's line after its answer is sent: wait for the second one.
        deadline = time.monotonic() + 10
        while output.getvalue().count("django.server") < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    text = output.getvalue()
    assert (api.status_code, page.status_code) == (401, 404)
    assert "SECRET" not in text
    server_lines = [line for line in text.splitlines() if "django.server" in line]
    # Each request's line is kept (a 4xx as a WARNING), with its request id and its path.
    assert len(server_lines) == 2, text
    assert f"WARNING [{api.headers['X-Request-ID']}] django.server: " in server_lines[0]
    assert '"GET /api/v1/scope HTTP/1.1" 401' in server_lines[0]
    assert f"[{page.headers['X-Request-ID']}]" in server_lines[1]
    assert '"GET /definitely-not-a-page HTTP/1.1" 404' in server_lines[1]


def test_the_development_servers_own_errors_stay_visible_without_the_query(runserver):
    import socket
    from urllib.parse import urlparse

    url = urlparse(runserver)
    with console_output() as output, socket.create_connection((url.hostname, url.port), timeout=5) as sock:
        # A request line runserver itself refuses (four words): it quotes the line, query and all.
        sock.sendall(b"GET /api/v1/scope?access_token=sxo_SECRETTOKEN3 x HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert b" 400 " in sock.recv(65536).split(b"\r\n")[0]
    text = output.getvalue()
    assert "INFO [-] django.server: code 400, message Bad request syntax ('GET /api/v1/scope HTTP/1.1')" in text
    assert "SECRETTOKEN3" not in text


def test_browser_pages_and_the_admin_write_the_access_line_too(api):
    # Under gunicorn nothing else logs a page's request: sign-ins, throttled ones and key changes
    # left no trace. The same line as the API's, with the request id and without the query string.
    with console_output() as output:
        answers = [api.get("/accounts/login/?next=/settings/keys&code=SECRETCODE")]
        form = {"username": "someone@example.com", "password": "SECRETPASS"}
        form["csrfmiddlewaretoken"] = api.session.cookies["csrftoken"]
        answers += [api.post("/accounts/login/", data=form), api.get("/admin/login/"), api.get("/no-such-page")]
    text = output.getvalue()
    access = [line for line in text.splitlines() if "synchronex.access" in line]
    expected = ["GET /accounts/login/", "POST /accounts/login/", "GET /admin/login/", "GET /no-such-page"]
    assert len(access) == len(expected), text
    for line, request, response in zip(access, expected, answers, strict=True):
        assert f"INFO [{response.headers['X-Request-ID']}] synchronex.access: {request} {response.status_code} " in line
    assert "SECRET" not in text


def test_an_unknown_host_is_one_warning_line_without_a_traceback(api):
    # Scanners send an address as Host all the time: the client's mistake, not a server error.
    with console_output() as output:
        page = requests.get(api.base_url + "/", headers={"Host": "203.0.113.9"}, timeout=10)
        rest = requests.get(api.base_url + "/api/v1/memory/identity", headers={"Host": "scanner.example"}, timeout=10)
    assert (page.status_code, rest.status_code) == (400, 400)
    lines = output.getvalue().splitlines()
    refused = [line for line in lines if "django.security.DisallowedHost" in line]
    assert len(refused) == 2, lines
    assert f"WARNING [{page.headers['X-Request-ID']}] django.security.DisallowedHost: " in refused[0]
    assert "Invalid HTTP_HOST header: '203.0.113.9'" in refused[0]
    assert f"WARNING [{rest.headers['X-Request-ID']}] django.security.DisallowedHost: " in refused[1]
    assert not any(line.startswith(" ") or "Traceback" in line for line in lines), lines
