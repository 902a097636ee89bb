"""Bodies that never arrived whole, through gunicorn as in production (no buffering proxy in front).

Neither gunicorn nor Django checks that a body arrived in full: a client that stopped sending
part-way (its own timeout, a killed process) had its short body run as if complete, and the cut
request claimed its Idempotency-Key, so the client's correct retry got CONFLICT for 24 hours.
"""

from __future__ import annotations

import json
import re

import pytest
import requests
from django.db import connection

from apps.decisions.models import Decision
from apps.memory.models import Memory
from tests.support import rawhttp, servers

pytestmark = pytest.mark.django_db(transaction=True)

CUT_SHORT = "The request body ended before its Content-Length."
IMPORT = "/api/v1/memory/import-mif"
WARNING = "WARNING [{}] synchronex.api:"  # a warning line of ours, its request id blanked (``_ids_out``)


def _jsonl(lines: int, pad: int = 0) -> bytes:
    """MCP memory JSONL: each line one entity with one observation, so one memory a line."""
    records = (
        {"type": "entity", "name": f"Probe{n:02d}", "entityType": "note", "observations": [f"fact {n} " + "y" * pad]}
        for n in range(lines)
    )
    return b"".join(json.dumps(record).encode() + b"\n" for record in records)


def _half_at_a_line(body: bytes) -> bytes:
    """The body up to the line boundary nearest its middle: what a cut JSONL import sent."""
    return body[: body.index(b"\n", len(body) // 2) + 1]


def _head(path: str, length: int, headers: dict) -> str:
    lines = [f"POST {path} HTTP/1.1", f"Content-Length: {length}", *(f"{k}: {v}" for k, v in headers.items())]
    return "\r\n".join(lines)


def _assert_cut_short(status: int, body: dict) -> None:
    assert status == 400, body
    assert body["error"] == {"code": "VALIDATION_ERROR", "message": CUT_SHORT}


def _assert_quiet(log: str) -> None:
    """Nothing the client did is a server error: no ERROR line, no traceback."""
    assert " ERROR " not in log and "[ERROR]" not in log and "Traceback" not in log, log[-4000:]


def _ids_out(log: str) -> str:
    """The log with each line's request id blanked, to compare lines whole."""
    return re.sub(r"\[[0-9a-f]{32}\]", "[{}]", log)


@pytest.mark.parametrize(
    "pad",
    [0, 70_000],  # ~3.6 kB, read where Django reads it; ~2.8 MB, past Django's form limit, read by the middleware
    ids=["small", "past-djangos-form-limit"],
)
def test_a_body_cut_short_runs_nothing_and_claims_no_key(user, make_key, pad):
    token = make_key(user)
    env = {"DATABASE_URL": servers.database_url(connection.settings_dict), "REDIS_URL": ""}
    auth = {"Authorization": f"Bearer {token}"}
    document = _jsonl(40, pad)
    imports = {**auth, "Content-Type": "application/x-ndjson", "Idempotency-Key": "cut-import"}
    decision = json.dumps({"decision": "Use PostgreSQL only", "product_name": "Atlas"}).encode()
    writes = {**auth, "Content-Type": "application/json", "Idempotency-Key": "cut-write"}
    log: list[str] = []
    with servers.gunicorn(env, workers=1, log_into=log) as base:
        half = _half_at_a_line(document)
        _assert_cut_short(*rawhttp.half_closed(base, _head(IMPORT, len(document), imports), half))
        assert not Memory.objects.exists()  # it committed the memories of the lines that arrived
        retried = requests.post(base + IMPORT, data=document, headers=imports, timeout=60)
        assert retried.status_code == 200, retried.text  # it was 409: the cut request held the key
        assert retried.json()["memories_imported"] == 40 and Memory.objects.count() == 40

        cut = rawhttp.half_closed(base, _head("/api/v1/memory/decisions", len(decision), writes), decision[:20])
        _assert_cut_short(*cut)  # it was a 400 for the JSON, kept under the key
        retried = requests.post(base + "/api/v1/memory/decisions", data=decision, headers=writes, timeout=30)
        assert retried.status_code == 201, retried.text
        assert Decision.objects.count() == 1
    _assert_quiet(log[0])
    warned = _ids_out(log[0])  # one warning each, saying how much arrived
    assert f"{WARNING} Request body on {IMPORT} ended at {len(half)} of its {len(document)} bytes" in warned
    assert f"{WARNING} Request body on /api/v1/memory/decisions ended at 20 of its {len(decision)} bytes" in warned


def test_every_endpoint_that_reads_a_body_refuses_one_cut_short(user, make_key):
    token = make_key(user)
    env = {"DATABASE_URL": servers.database_url(connection.settings_dict), "REDIS_URL": ""}
    rpc = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/list"}).encode()
    mcp = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"}
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    grant = b"grant_type=client_credentials&client_id=someone&client_secret=whatever"
    registration = json.dumps({"client_name": "cut", "redirect_uris": ["http://127.0.0.1:9/cb"]}).encode()
    log: list[str] = []
    with servers.gunicorn(env, workers=1, log_into=log) as base:
        status, body = rawhttp.half_closed(base, _head("/mcp", len(rpc), mcp), rpc[:30])
        # As /mcp answers any body the middleware refuses (over the limit, unreadable chunked).
        assert status == 400 and body["id"] is None and body["error"]["code"] == -32600, body
        assert body["error"]["message"] == CUT_SHORT and body["error"]["data"]["code"] == "VALIDATION_ERROR"
        _assert_cut_short(*rawhttp.half_closed(base, _head("/api/oauth/token", len(grant), form), grant[:30]))
        _assert_cut_short(*rawhttp.half_closed(base, _head("/api/oauth/revoke", len(grant), form), grant[:30]))
        json_body = {"Content-Type": "application/json"}
        cut = rawhttp.half_closed(base, _head("/api/oauth/register", len(registration), json_body), registration[:40])
        _assert_cut_short(*cut)
    _assert_quiet(log[0])


def test_a_client_resetting_its_upload_is_a_warning_not_a_server_error(user, make_key):
    token = make_key(user)
    env = {"DATABASE_URL": servers.database_url(connection.settings_dict), "REDIS_URL": ""}
    auth = {"Authorization": f"Bearer {token}"}
    document = _jsonl(40)
    imports = {**auth, "Content-Type": "application/x-ndjson"}
    log: list[str] = []
    with servers.gunicorn(env, workers=1, log_into=log) as base:
        rawhttp.reset(base, _head(IMPORT, len(document), imports), _half_at_a_line(document))
        # One sync worker: this is answered once the reset request is done with.
        assert requests.get(base + "/api/v1/scope", headers=auth, timeout=30).status_code == 200
        assert not Memory.objects.exists()
    _assert_quiet(log[0])  # it was "ERROR synchronex.api: Unhandled error in MifImportView" and a traceback
    assert f"{WARNING} Unreadable request body on {IMPORT} (ConnectionResetError)" in _ids_out(log[0])


def test_a_form_cut_short_on_a_browser_page_is_refused_before_any_view_reads_it(user):
    """The admin's and the pages' forms: a body cut short parsed as a form without its later fields
    (a change form would have saved them blank)."""
    env = {"DATABASE_URL": servers.database_url(connection.settings_dict), "REDIS_URL": ""}
    form = b"username=" + user.email.replace("@", "%40").encode() + b"&password=" + b"p" * 40
    log: list[str] = []
    with servers.gunicorn(env, workers=1, log_into=log) as base:
        head = _head("/accounts/login/", len(form), {"Content-Type": "application/x-www-form-urlencoded"})
        status, text = rawhttp.half_closed_text(base, head, form[:20])
        assert (status, text) == (400, CUT_SHORT)  # it was the login page again (403 without its CSRF cookie)
        whole = requests.post(base + "/accounts/login/", data=form, timeout=30)
        assert whole.status_code == 403  # read whole: on to the view (CSRF refuses a post without its cookie)
    _assert_quiet(log[0])
    assert f"{WARNING} Request body on /accounts/login/ ended at 20 of its {len(form)} bytes" in _ids_out(log[0])
