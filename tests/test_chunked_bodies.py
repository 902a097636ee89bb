"""Bodies sent with ``Transfer-Encoding: chunked`` (no Content-Length), through gunicorn as in production."""

from __future__ import annotations

import json

import pytest
import requests
from django.db import connection

from tests.support import rawhttp, servers

pytestmark = pytest.mark.django_db(transaction=True)


def _chunks(body: bytes, size: int = 1000):
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_chunked_bodies_are_read_whole_and_held_to_the_limit(user, make_key):
    token = make_key(user)
    env = {"DATABASE_URL": servers.database_url(connection.settings_dict), "REDIS_URL": ""}
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    state = "/api/v1/memory/product/Atlas/state"
    with servers.gunicorn(env, workers=1) as base:
        body = json.dumps({"status": "paused", "what_works": ["x" * 400] * 5}).encode()
        created = requests.post(base + state, data=_chunks(body), headers=headers, timeout=30)
        assert created.status_code == 201, created.text  # it used to be 201 with nothing of the body applied
        assert created.json()["status"] == "paused" and len(created.json()["what_works"]) == 5
        assert requests.get(base + state, headers=headers, timeout=30).json()["status"] == "paused"

        bad = requests.post(base + state, data=_chunks(b'{"status": "someday"}'), headers=headers, timeout=30)
        assert bad.status_code == 400 and "status" in bad.json()["error"]["details"]["fields"]

        over = b'{"what_works": ["' + b"x" * (1024 * 1024) + b'"]}'
        too_big = requests.post(base + state, data=_chunks(over, 64 * 1024), headers=headers, timeout=30)
        assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
        assert requests.get(base + state, headers=headers, timeout=30).json()["what_works"] == ["x" * 400] * 5

        # The import route's larger limit holds for chunked bodies too, past Django's form limit.
        memories = [{"id": f"m-{n}", "memory": f"{n} " + "y" * 90_000} for n in range(32)]
        document = json.dumps(memories).encode()
        assert len(document) > 2_621_440
        imported = requests.post(
            base + "/api/v1/memory/import-mif",
            data=_chunks(document, 64 * 1024),
            headers={**headers, "Idempotency-Key": "chunked-import"},
            timeout=60,
        )
        assert imported.status_code == 200, imported.text
        assert imported.json()["memories_imported"] == 32


@pytest.mark.parametrize(
    "chunks",
    [
        b"zz\r\n{}\r\n0\r\n\r\n",  # a chunk size that is not hex
        b'2\r\n{"decision": "d"}\r\n0\r\n\r\n',  # a chunk longer than its size says
        b"2\r\n{}\r\n",  # no last chunk: the client stops sending (half-close)
    ],
    ids=["bad-size", "overlong-chunk", "no-last-chunk"],
)
def test_a_malformed_chunked_body_is_a_validation_error_never_an_html_page(chunks):
    env = {"DATABASE_URL": servers.database_url(connection.settings_dict), "REDIS_URL": ""}
    unreadable = "The request body could not be read."
    head = "\r\n".join(["Transfer-Encoding: chunked", "Content-Type: application/json", "Accept: application/json"])
    log: list[str] = []
    with servers.gunicorn(env, workers=1, log_into=log) as base:
        for path in ("/api/v1/memory/decisions", "/api/oauth/token"):
            status, body = rawhttp.half_closed(base, f"POST {path} HTTP/1.1\r\n{head}", chunks)  # it was HTML, 500
            assert status == 400 and body["error"] == {"code": "VALIDATION_ERROR", "message": unreadable}
        status, body = rawhttp.half_closed(base, f"POST /mcp HTTP/1.1\r\n{head}", chunks)
        assert status == 400 and body["id"] is None and body["error"]["code"] == -32600, body  # as for a 413 there
        assert body["error"]["message"] == unreadable and body["error"]["data"]["code"] == "VALIDATION_ERROR"
    # Anyone can send these: a warning each, never an ERROR with a traceback (log and alert flooding).
    assert " ERROR " not in log[0] and "Traceback" not in log[0], log[0][-4000:]
    assert log[0].count("synchronex.api: Unreadable request body on ") == 3, log[0][-4000:]


def test_a_transfer_coding_other_than_chunked_is_refused_before_the_body_is_read(user, make_key):
    """gunicorn accepts ``gzip``, ``deflate`` and ``compress`` before ``chunked`` and removes only
    the chunked framing: the still-compressed body was read as if plain, and a plain JSON body so
    labelled was stored (201). Refused like a Content-Encoding: 415, nothing run."""
    from apps.decisions.models import Decision

    token = make_key(user)
    env = {"DATABASE_URL": servers.database_url(connection.settings_dict), "REDIS_URL": ""}
    body = b'{"decision": "te-gzip plain body read as plain", "product_name": "TEGZ"}'
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    head = "\r\n".join([f"Authorization: Bearer {token}", "Content-Type: application/json", "Accept: application/json"])
    with servers.gunicorn(env, workers=1) as base:
        for coding in ("gzip, chunked", "deflate, chunked", "compress, chunked", "gzip,chunked"):
            status, answer = rawhttp.half_closed(
                base, f"POST /api/v1/memory/decisions HTTP/1.1\r\n{head}\r\nTransfer-Encoding: {coding}", chunked
            )
            assert status == 415, (coding, answer)  # it was 201, the decision stored
            assert answer["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE", answer
            assert "Transfer-Encoding" in answer["error"]["message"]
        rpc = json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "log_decision", "arguments": {}}}
        ).encode()
        status, answer = rawhttp.half_closed(
            base,
            f"POST /mcp HTTP/1.1\r\n{head}, text/event-stream\r\nTransfer-Encoding: gzip, chunked",
            b"%x\r\n%s\r\n0\r\n\r\n" % (len(rpc), rpc),
        )
        assert status == 415 and answer["id"] is None and answer["error"]["code"] == -32600, answer
        assert answer["error"]["data"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
        # A browser form too: a plain 415, never parsed as a form.
        status, text = rawhttp.half_closed_text(
            base,
            "POST /accounts/login/ HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            "Transfer-Encoding: gzip, chunked",
            b"5\r\nx=abc\r\n0\r\n\r\n",
        )
        assert status == 415 and "Transfer-Encoding" in text, text
    assert not Decision.objects.exists()


def test_a_transfer_coding_refusal_asks_for_an_identity_body(client):
    # The header as the WSGI server hands it on (gunicorn's reading of the framing is tested above).
    response = client.post(
        "/api/v1/memory/decisions", b'{"decision": "d"}', "application/json", HTTP_TRANSFER_ENCODING="gzip, chunked"
    )
    assert response.status_code == 415 and response["Accept-Encoding"] == "identity", response.content
    form = client.post("/accounts/login/", {"username": "u"}, HTTP_TRANSFER_ENCODING="deflate, chunked")
    assert form.status_code == 415 and form["Accept-Encoding"] == "identity"


@pytest.mark.parametrize("coding", ["br", "gzip", "identity, deflate"])
def test_a_form_with_a_content_coding_is_refused_not_read_as_if_plain(staff, make_user, coding):
    """A browser form declared compressed was read as plain (a sign-in, an admin change form): it
    is refused before any view reads it, with a plain 415 that asks for an identity body."""
    member = make_user(tier="free")
    page = f"/admin/accounts/user/{member.pk}/change/"
    form = {"email": member.email, "tier": "enterprise", "is_active": "on", "_save": "Save"}

    changed = staff.post(page, form, HTTP_CONTENT_ENCODING=coding)
    sign_in = staff.post("/accounts/login/", {"username": "u", "password": "p"}, HTTP_CONTENT_ENCODING=coding)

    for response in (changed, sign_in):
        assert response.status_code == 415, response.content
        assert response["Accept-Encoding"] == "identity"
        assert response["Content-Type"].startswith("text/plain")
    member.refresh_from_db()
    assert member.tier == "free"
    assert staff.post(page, form, HTTP_CONTENT_ENCODING="identity").status_code in (200, 302)
