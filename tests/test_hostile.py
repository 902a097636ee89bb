"""Hostile input, over real HTTP: what an attacker or a broken client sends, and what it gets back.

Oversized bodies and headers, absurd nesting, invalid UTF-8, huge paging values, SQL and script
payloads in every text field of the main writes (stored and returned verbatim, escaped in every
HTML page), path tricks in product names, and token guessing (lookups by digest, throttled per
address, charging no account), and a scripted session whose secrets appear in no response and
no log line.

Token guessing, in short: keys carry 256 random bits and are found by their SHA-256 digest on a
unique index (the raw token is never compared, so timing says nothing about stored keys; OAuth
tokens likewise by checksum); every UNAUTHORIZED answer counts against the client address, and an
address past ``API_AUTH_FAILURES_PER_MINUTE`` (60) gets RATE_LIMITED for any bearer token, before
any lookup, until the clock minute ends. Failed attempts charge no account's quota.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from urllib.parse import quote

import pytest
import requests
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.decisions.models import Decision
from apps.identity.models import Kernel
from apps.ingest.models import Signal
from apps.products.models import ProductState
from apps.scopes.services import space_ensure_personal
from tests.support import servers
from tests.support.quota import wait_for_fresh_minute_margin

pytestmark = pytest.mark.django_db(transaction=True)

# Trimmed already (the API trims strings), short enough for every field, no control characters.
PAYLOADS = [
    "'; DROP TABLE decisions_decision; --",
    '" OR "1"="1',
    '<script>alert("sx")</script>',
    "<img src=x onerror=alert(1)>",
    "{{ 7*7 }} {% debug %} ${7*7}",
    "%s %(password)s %n",
    "Robert'); DELETE FROM accounts_user WHERE ('1'='1",
]
SCRIPT = '<script>alert("sx")</script>'
JSONL = {"Content-Type": "application/x-ndjson"}


def assert_error(response, status: int, code: str):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == code
    assert "Traceback" not in response.text


# -- sizes, nesting, encodings ---------------------------------------------------------------------
def test_a_body_over_one_mebibyte_is_refused_before_it_is_read(write_api):
    body = b'{"decision": "' + b"x" * (1024 * 1024) + b'", "product_name": "p"}'
    response = write_api.post("/api/v1/memory/decisions", data=body, headers={"Content-Type": "application/json"})
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert not Decision.objects.exists()


def test_mif_import_has_its_own_larger_limit(write_api):
    just_over_json_limit = b'{"mif_version": "2.0", "memories": [], "pad": "' + b"x" * (1024 * 1024) + b'"}'
    response = write_api.post(
        "/api/v1/memory/import-mif", data=just_over_json_limit, headers={"Content-Type": "application/json"}
    )
    assert response.status_code != 413, response.text  # 1 MiB is fine here; 25 MiB is not:
    huge = b"[" + b" " * (25 * 1024 * 1024) + b"]"
    response = write_api.post("/api/v1/memory/import-mif", data=huge, headers={"Content-Type": "application/json"})
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize("project", ["Acme%2Fmemory%2Fimport-mif", "Acme/memory/import-mif"])
def test_only_the_import_route_has_the_larger_limit(write_api, project):
    """A product path ending like the import route (ingest takes slashes in its ``{project_id}``)
    was read up to 25 MiB: only ``POST /memory/import-mif`` is."""
    body = b'{"type": "note", "title": "' + b"x" * (1024 * 1024) + b'"}'
    response = write_api.post(f"/api/v1/ingest/{project}", data=body, headers={"Content-Type": "application/json"})
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert not Signal.objects.exists()


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/", "/api/oauth/token"])
def test_forms_keep_djangos_smaller_body_limit(base_url, path):
    """Only the import route reads 25 MiB; a browser form or the token endpoint stops at 2.5 MiB."""
    session = requests.Session()
    session.get(base_url + path, timeout=30)
    form = {"username": "x" * (3 * 1024 * 1024), "password": "p", "grant_type": "password"}
    if token := session.cookies.get("csrftoken"):
        form["csrfmiddlewaretoken"] = token
    response = session.post(base_url + path, data=form, headers={"Referer": base_url + path}, timeout=30)
    assert response.status_code == (413 if path.startswith("/api/") else 400), response.status_code
    assert "x" * 100 not in response.text


def test_a_lying_content_length_is_a_validation_error(live_server, user, make_key):
    # requests would fix the header; a raw socket sends what an attacker sends.
    import socket

    token = make_key(user)
    host, port = live_server.thread.host, live_server.thread.port
    request = (
        f"POST /api/v1/memory/decisions HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nContent-Length: abc\r\nConnection: close\r\n\r\n{}"
    ).encode()
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), head
    assert b'"VALIDATION_ERROR"' in body


@pytest.mark.parametrize("depth", [1_000, 200_000])
def test_deeply_nested_json_is_a_validation_error(write_api, depth):
    body = b'{"decision": "d", "product_name": "p", "tags": ' + b"[" * depth + b"]" * depth + b"}"
    response = write_api.post("/api/v1/memory/decisions", data=body, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "VALIDATION_ERROR")


def _nested(levels: int) -> dict:
    data: dict = {"a": 1}
    for _ in range(levels - 1):
        data = {"a": data}
    return data


def test_deep_nesting_inside_a_free_form_object_is_refused_too(write_api):
    # 500 levels parse fine in Python but used to blow the stack of the ingest validator: a 500.
    response = write_api.post("/api/v1/ingest/Acme", json={"type": "note", "title": "t", "data": _nested(500)})
    assert_error(response, 400, "VALIDATION_ERROR")
    assert "nested" in response.json()["error"]["message"]
    fine = write_api.post("/api/v1/ingest/Acme", json={"type": "note", "title": "t", "data": _nested(60)})
    assert fine.status_code == 202, fine.text


def test_deep_nesting_in_an_imported_document_is_refused_not_a_server_error(write_api):
    memory = {"id": "m-deep", "memory": "deep", "created_at": "2024-01-01T00:00:00Z", "metadata": _nested(900)}
    response = write_api.post("/api/v1/memory/import-mif", json=[memory])
    assert_error(response, 400, "VALIDATION_ERROR")
    line = json.dumps({"type": "entity", "name": "deep", "entityType": "x", "observations": [], "x": _nested(900)})
    response = write_api.post(
        "/api/v1/memory/import-mif", data=line.encode(), params={"format": "mcp-jsonl"}, headers=JSONL
    )
    assert response.status_code == 200, response.text
    assert "nested" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"decision": "\xff\xfe", "product_name": "p"}',
        b'{"decision": "caf\xc3", "product_name": "p"}',
        b'\xef\xbb\xbf{"decision": "bom", "product_name": "p"}',
        b'{"decision": "\\ud800", "product_name": "p"}',
        b'{"decision": "a\\u0000b", "product_name": "p"}',
        b'{"decision": NaN, "product_name": "p"}',
        b'{"decision": "d", "product_name": "p", "product_name": "q"',
    ],
)
def test_broken_encodings_and_json_are_validation_errors(write_api, body):
    response = write_api.post("/api/v1/memory/decisions", data=body, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "VALIDATION_ERROR")
    assert not Decision.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        b'{"type": "note", "title": "t", "data": {"n": 1e400}}',
        b'{"type": "note", "title": "t", "data": {"n": -1E+999}}',
        b'{"type": "note", "title": "t", "data": {"k": "\\ud800"}}',
        b'{"type": "note", "title": "t", "data": {"\\udfff": 1}}',
        b'{"type": "note", "title": "t", "data": {"k": ["ok", "\\ude00 alone"]}}',
    ],
)
def test_numbers_beyond_a_double_and_lone_surrogates_in_free_form_json_are_validation_errors(write_api, body):
    # Both used to pass validation and fail in PostgreSQL (jsonb refuses Infinity; UTF-8 cannot
    # carry a surrogate): a 500 with the signal half-handled.
    response = write_api.post("/api/v1/ingest/Acme", data=body, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "VALIDATION_ERROR")
    assert write_api.get("/api/v1/memory/products").json()["count"] == 0


def test_surrogate_pairs_and_large_finite_numbers_are_fine(write_api):
    body = b'{"type": "note", "title": "smile \\ud83d\\ude00", "data": {"n": 1.7e308, "path": "C:\\\\ud800"}}'
    response = write_api.post("/api/v1/ingest/Acme", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 202, response.text
    assert response.json()["signals"][0]["status"] in ("pending", "applied")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/memory/product/%FF%FE/state",
        "/api/v1/memory/search?q=%FF%FE%00",
        "/api/v1/memory/decisions/search?q=%C3%28",
        "/api/v1/memory/decisions/%FF",
        "/api/v1/ai/costs/%ED%A0%80",
    ],
)
def test_invalid_utf8_in_paths_and_queries_is_never_a_server_error(write_api, path):
    response = write_api.get(path)
    assert response.status_code in (200, 400, 404), response.text
    assert response.headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/memory/products?limit=101",
        "/api/v1/memory/products?limit=0",
        "/api/v1/memory/products?limit=-1",
        "/api/v1/memory/products?limit=1e3",
        "/api/v1/memory/products?limit=99999999999999999999999999999999",
        "/api/v1/memory/products?offset=99999999999999999999999999999999",
        "/api/v1/memory/products?offset=-1",
        "/api/v1/memory/decisions/search?offset=1000000001",
        "/api/v1/memory/decisions/search?half_life_days=1e400",
        "/api/v1/memory/decisions/search?token_budget=99999999999999999999",
        "/api/v1/memory/identity/history?limit=%20",
        "/api/v1/ai/costs?days=99999999999999999999",
        "/api/v1/kernel/export?max_tokens=99999999999999999999",
        "/api/v1/kernel/export?decisions=-99999999999999999999",
    ],
)
def test_out_of_range_paging_and_numbers_are_validation_errors(write_api, path):
    assert_error(write_api.get(path), 400, "VALIDATION_ERROR")


def test_the_largest_offset_allowed_answers_an_empty_page(write_api):
    response = write_api.get("/api/v1/memory/products", params={"offset": 10**9, "limit": 100})
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_oversized_and_hostile_headers(user, make_key, transactional_db):
    """Through gunicorn, as in production: its own limits answer before Django (8 KiB per header
    line, 100 header fields); a request id that could forge log lines is replaced, not echoed."""
    token = make_key(user)
    env = {"DATABASE_URL": servers.database_url(connection.settings_dict), "REDIS_URL": ""}
    with servers.gunicorn(env, workers=1) as base:
        auth = {"Authorization": f"Bearer {token}"}
        big = requests.get(base + "/api/v1/scope", headers={**auth, "X-Padding": "x" * 9000}, timeout=30)
        assert big.status_code in (400, 431)
        many = {f"X-H{n}": "1" for n in range(120)}
        assert requests.get(base + "/api/v1/scope", headers={**auth, **many}, timeout=30).status_code in (400, 431)
        huge_token = requests.get(base + "/api/v1/scope", headers={"Authorization": "Bearer " + "a" * 8000}, timeout=30)
        assert_error(huge_token, 401, "UNAUTHORIZED")
        forged = requests.get(base + "/api/v1/scope", headers={**auth, "X-Request-ID": "a b <script>"}, timeout=30)
        assert forged.status_code == 200 and "script" not in forged.headers["X-Request-ID"]
        long_id = requests.get(base + "/api/v1/scope", headers={**auth, "X-Request-ID": "r" * 500}, timeout=30)
        assert long_id.status_code == 200 and long_id.headers["X-Request-ID"] != "r" * 500
        # The server is still there and well after all of that.
        assert requests.get(base + "/api/v1/scope", headers=auth, timeout=30).status_code == 200


# -- injection payloads: stored verbatim, returned verbatim, rendered escaped ------------------------
def _write_payloads(client, payload: str, product: str) -> dict:
    kernel = {
        "identity": {"name": payload, "company": payload, "role": payload, "industry": payload, "location": payload},
        "products": [{"name": product, "status": payload, "summary": payload}],
        "constraints": {"always": [payload], "never": [payload], "communication_style": payload},
        "model_preferences": {"providers": [payload], "default_model": payload, "routing": {"code": payload}},
    }
    put = client.put("/api/v1/memory/identity", json=kernel)
    assert put.status_code == 200, put.text
    state = {"what_works": [payload], "what_is_blocked": [payload], "open_questions": [payload]}
    state["next_session_starts_here"] = payload
    created = client.post(f"/api/v1/memory/product/{quote(product, safe='')}/state", json=state)
    assert created.status_code == 201, created.text
    decision = {
        "decision": payload,
        "product_name": product,
        "reasoning": payload,
        "tags": [payload.lower()[:50]],
        "affects_products": [product],
        "alternatives": [payload],
    }
    made = client.post("/api/v1/memory/decisions", json=decision)
    assert made.status_code == 201, made.text
    signal = {"type": "note", "title": payload, "body": payload, "source": payload, "external_id": payload}
    signal["data"] = {payload: payload}
    ingested = client.post(f"/api/v1/ingest/{quote(product, safe='')}", json=signal)
    assert ingested.status_code == 202, ingested.text
    return {"kernel": put.json(), "state": created.json(), "decision": made.json()}


@pytest.mark.parametrize("payload", PAYLOADS)
def test_injection_payloads_are_stored_and_returned_verbatim(user, client_for, payload):
    client = client_for(user)
    product = f"P {PAYLOADS.index(payload)} {payload}"[:100]
    written = _write_payloads(client, payload, product)

    kernel = client.get("/api/v1/memory/identity").json()
    assert kernel["identity"]["name"] == payload and kernel["constraints"]["never"] == [payload]
    assert kernel["model_preferences"]["routing"] == {"code": payload}
    assert kernel == written["kernel"]
    state = client.get(f"/api/v1/memory/product/{quote(product, safe='')}/state").json()
    assert state["name"] == product and state["what_works"] == [payload]
    assert state["next_session_starts_here"] == payload
    found = client.get("/api/v1/memory/decisions/search", params={"product": product}).json()["results"]
    assert [d["decision"] for d in found] == [payload] and found[0]["reasoning"] == payload
    assert found[0]["alternatives"] == [payload] and found[0]["product_name"] == product
    signal = Signal.objects.get()
    assert (signal.title, signal.body, signal.source, signal.external_id) == (payload, payload, payload, payload)
    assert signal.data == {payload: payload}
    # Searching with the payload finds the rows that hold it, and nothing breaks.
    assert client.get("/api/v1/memory/search", params={"q": payload}).status_code == 200
    assert client.get("/api/v1/memory/decisions/search", params={"q": payload}).status_code == 200
    assert client.get("/api/v1/kernel/export", params={"query": payload, "format": "json"}).status_code == 200
    # The tables the SQL payloads name are all still there.
    assert Decision.objects.count() == 1 and ProductState.objects.count() == 1


def test_payloads_render_escaped_in_the_admin_and_the_user_pages(user, client_for, make_user, make_key):
    client = client_for(user)
    product = f"Product {SCRIPT}"
    _write_payloads(client, SCRIPT, product)
    make_key(user, name=SCRIPT)
    staff = make_user(tier="pro", is_staff=True, is_superuser=True)
    browser = Client()
    browser.force_login(staff)
    space = space_ensure_personal(user=user)
    decision, state, signal = Decision.objects.get(), ProductState.objects.get(), Signal.objects.get()
    kernel = Kernel.objects.get(space=space)
    pages = [
        f"/admin/decisions/decision/{decision.pk}/change/",
        f"/admin/decisions/decision/?q={quote(SCRIPT)}",
        f"/admin/products/productstate/{state.pk}/change/",
        "/admin/products/productstate/",
        f"/admin/identity/kernel/{kernel.pk}/change/",
        f"/admin/ingest/signal/{signal.pk}/change/",
        "/admin/ingest/signal/",
        f"/admin/scopes/space/{space.pk}/overview/",
        "/admin/accounts/apikey/",
    ]
    for page in pages:
        html = browser.get(page).content.decode()
        assert "&lt;script&gt;alert(" in html, page
        assert SCRIPT not in html, page
    mine = Client()
    mine.force_login(user)
    html = mine.get("/settings/keys").content.decode()
    assert "&lt;script&gt;alert(" in html and SCRIPT not in html


def test_an_oauth_app_name_renders_escaped_on_the_consent_page(live_server, settings, make_user):
    from apps.oauth.tests.helpers import PASSWORD, authorize_params, login, pkce_pair, register_client

    settings.PUBLIC_BASE_URL = live_server.url
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": live_server.url}
    person = make_user(tier="pro", password=PASSWORD)
    client = register_client(live_server.url, name=SCRIPT)
    _, challenge = pkce_pair()
    session = login(live_server.url, person.email)
    page = session.get(live_server.url + "/oauth/authorize", params=authorize_params(client["client_id"], challenge))
    assert page.status_code == 200
    assert "&lt;script&gt;alert(" in page.text and SCRIPT not in page.text


# -- path tricks in product names -------------------------------------------------------------------
@pytest.mark.parametrize(
    "name,encoded",
    [
        ("../../etc/passwd", "..%2F..%2Fetc%2Fpasswd"),
        ("a/b", "a%2Fb"),
        ("..", "%2E%2E"),
        ("..\\..\\windows", "..%5C..%5Cwindows"),
        ("%2e%2e%2f", "%252e%252e%252f"),
        ("admin/../../api", "admin%2F..%2F..%2Fapi"),
    ],
)
def test_path_tricks_in_product_names_are_just_names(write_api, name, encoded):
    created = write_api.post(f"/api/v1/memory/product/{encoded}/state", json={"what_works": ["x"]})
    assert created.status_code == 201, created.text
    assert created.json()["name"] == name
    again = write_api.get(f"/api/v1/memory/product/{encoded}/state")
    assert again.status_code == 200 and again.json()["name"] == name
    assert [p["name"] for p in write_api.get("/api/v1/memory/products").json()["results"]] == [name]
    assert write_api.post(f"/api/v1/ingest/{encoded}", json={"type": "note", "title": "t"}).status_code == 202
    assert ProductState.objects.get().name == name


def test_dot_segments_in_the_url_never_reach_another_route(live_server, write_api):
    # http.client sends the path as it is (requests would remove the dot segments first).
    import http.client

    write_api.post("/api/v1/memory/product/..%2F..%2F..%2F..%2Fadmin/state", json={"what_works": ["kept"]})
    connection_ = http.client.HTTPConnection(live_server.thread.host, live_server.thread.port, timeout=30)
    connection_.request(
        "GET", "/api/v1/memory/product/../../../../admin/state", headers={"Authorization": f"Bearer {write_api.token}"}
    )
    response = connection_.getresponse()
    body = json.loads(response.read())
    connection_.close()
    assert response.status == 200 and response.getheader("Content-Type").startswith("application/json")
    assert body["name"] == "../../../../admin" and body["what_works"] == ["kept"]


# -- token guessing ---------------------------------------------------------------------------------
def _guess() -> str:
    return "sx_live_" + secrets.token_urlsafe(32)


def test_unknown_tokens_are_401_and_charge_no_account(user, client_for, api):
    wait_for_fresh_minute_margin(5)
    client = client_for(user)
    before = int(client.get("/api/v1/scope").headers["X-RateLimit-Remaining"])
    near_miss = client.token[:-1] + ("A" if client.token[-1] != "A" else "B")
    for token in [_guess(), _guess(), near_miss, client.token[:20], "sxo_" + secrets.token_urlsafe(32), "x"]:
        response = api.get("/api/v1/scope", token=token)
        assert_error(response, 401, "UNAUTHORIZED")
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm="synchronex"')
        assert "X-RateLimit-Remaining" not in response.headers
        assert token not in response.text
    after = int(client.get("/api/v1/scope").headers["X-RateLimit-Remaining"])
    assert after == before - 1  # only the key's own request counted


def test_tokens_are_looked_up_by_digest_never_compared_raw(user, make_key):
    from rest_framework.test import APIClient

    token = make_key(user)
    client = APIClient()
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/scope", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    digest = hashlib.sha256(token.encode()).hexdigest()
    lookup = [q["sql"] for q in queries.captured_queries if "accounts_apikey" in q["sql"]][0]
    assert digest in lookup and token not in " ".join(q["sql"] for q in queries.captured_queries)


def test_an_address_with_too_many_failed_tokens_is_throttled_even_for_valid_tokens(user, client_for, api, settings):
    settings.API_AUTH_FAILURES_PER_MINUTE = 5
    if 60 - time.time() % 60 < 8:  # the window is the clock minute: do not straddle two
        time.sleep(60 - time.time() % 60 + 0.1)
    client = client_for(user)
    for _ in range(5):
        assert_error(api.get("/api/v1/scope", token=_guess()), 401, "UNAUTHORIZED")
    throttled = api.get("/api/v1/scope", token=_guess())
    assert_error(throttled, 429, "RATE_LIMITED")
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    # Valid tokens too: a throttled address learns nothing, not even which token is right.
    assert_error(client.get("/api/v1/scope"), 429, "RATE_LIMITED")
    on_mcp = api.post("/mcp", token=_guess(), json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert on_mcp.status_code == 429 and on_mcp.json()["id"] == 1  # JSON-RPC, what MCP clients read
    assert on_mcp.json()["error"]["data"]["code"] == "RATE_LIMITED"
    # Without a token there is nothing to guess: still the plain 401.
    assert_error(api.get("/api/v1/scope", token=None), 401, "UNAUTHORIZED")


def test_valid_tokens_never_count_toward_the_failure_throttle(user, client_for, settings):
    settings.API_AUTH_FAILURES_PER_MINUTE = 3
    client = client_for(user)
    assert all(client.get("/api/v1/scope").status_code == 200 for _ in range(10))


# -- secrets never leave ------------------------------------------------------------------------------
def test_a_scripted_session_never_shows_a_secret(live_server, settings, caplog, make_user, make_key):
    """API key, BYOK key, password, PKCE verifier, authorization code, OAuth tokens: none appears
    in any response that is not their one intended delivery, nor in any log record — with the
    loggers at DEBUG (but oauthlib and django-oauth-toolkit, pinned at INFO by the settings
    because their DEBUG lines carry codes) and SQL logging on (``DEBUG=True`` logs each query with its parameters)."""
    import logging

    from apps.oauth.tests import helpers as oauth

    # Everything at DEBUG except what the project pins on purpose (their DEBUG lines carry codes).
    assert logging.getLogger("oauthlib").level >= logging.INFO
    assert logging.getLogger("oauth2_provider").level >= logging.INFO
    for name in (None, "django", "django.request", "django.db.backends"):
        caplog.set_level(logging.DEBUG, logger=name)  # Django's own config holds "django" at INFO
    settings.DEBUG = True
    settings.PUBLIC_BASE_URL = live_server.url
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": live_server.url}
    base = live_server.url
    person = make_user(tier="pro", password=oauth.PASSWORD)
    key = make_key(person)
    byok = "sk-proj-" + secrets.token_urlsafe(32)
    seen: list[requests.Response] = []

    def call(method, path, token=key, **kwargs):
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = requests.request(method, base + path, headers=headers, timeout=30, **kwargs)
        seen.append(response)
        return response

    assert call("GET", "/api/v1/scope").status_code == 200
    assert call("PUT", "/api/v1/memory/identity", json={"identity": {"name": "Ada"}}).status_code == 200
    assert call("POST", "/api/v1/memory/decisions", json={"decision": 1}).status_code == 400
    create = {"service": "openai", "label": "main", "key": byok}
    assert call("POST", "/api/v1/byok", json=create, headers={"Idempotency-Key": "k1"}).status_code == 201
    replay = call("POST", "/api/v1/byok", json=create, headers={"Idempotency-Key": "k1"})
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert call("POST", "/api/v1/byok", json={**create, "label": "again"}).status_code == 409
    assert call("POST", "/api/v1/byok", json={**create, "service": "anthropic"}).status_code == 400
    credential = call("GET", "/api/v1/byok").json()["results"][0]
    assert call("GET", "/api/v1/memory/export-mif").status_code == 200
    assert call("GET", "/api/v1/kernel/export").status_code == 200
    assert call("GET", "/api/v1/scope", token=key[:-2] + "zz").status_code == 401
    assert call("DELETE", f"/api/v1/byok/{credential['id']}").status_code == 204

    client = oauth.register_client(base)
    verifier, challenge = oauth.pkce_pair()
    session = oauth.login(base, person.email)
    params = oauth.authorize_params(client["client_id"], challenge, scope="memory:read memory:write")
    code = oauth.redirect_query(oauth.consent(session, base, params))["code"]  # its one delivery
    tokens = oauth.exchange(base, client["client_id"], code, verifier).json()  # theirs
    access, refresh = tokens["access_token"], tokens["refresh_token"]
    assert call("GET", "/api/v1/memory/identity", token=access).status_code == 200
    mcp = call("POST", "/mcp", token=access, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert mcp.status_code == 200, mcp.text
    rotated = oauth.refresh(base, client["client_id"], refresh).json()
    seen.append(
        requests.post(
            base + "/api/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh, "client_id": client["client_id"]},
            timeout=30,
        )
    )  # reuse: refused
    assert seen[-1].status_code == 400
    assert call("GET", "/api/v1/scope", token=access).status_code == 401  # the family was revoked
    assert call("GET", "/api/v1/scope", token=rotated["access_token"]).status_code == 401

    secrets_ = {
        "API key": key,
        "BYOK key": byok,
        "password": oauth.PASSWORD,
        "PKCE verifier": verifier,
        "authorization code": code,
        "access token": access,
        "refresh token": refresh,
        "rotated access token": rotated["access_token"],
        "rotated refresh token": rotated["refresh_token"],
    }
    for response in seen:
        text = response.text + " ".join(f"{k}: {v}" for k, v in response.headers.items())
        for name, value in secrets_.items():
            assert value not in text, f"{name} in the response to {response.request.method} {response.url}"
    assert any(record.name == "django.db.backends" for record in caplog.records), "SQL logging was off"
    for record in caplog.records:
        line = f"{record.getMessage()} {record.exc_text or ''} {record.__dict__}"
        for name, value in secrets_.items():
            if name == "authorization code" and _is_grant_sql(record):
                continue  # django-oauth-toolkit keeps the single-use, 60-second code in its grant row
            assert value not in line, f"{name} in a log line of {record.name}: {record.getMessage()[:200]}"


def _is_grant_sql(record) -> bool:
    """A SQL log line (only with DEBUG=True, which production refuses) on DOT's grant table."""
    return record.name == "django.db.backends" and '"oauth2_provider_grant"' in record.getMessage()
