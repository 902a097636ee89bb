"""One error path: the envelope for every failure the plumbing can produce, never HTML."""

import gzip
import json

import pytest
import requests

pytestmark = pytest.mark.urls("tests.urls")


def assert_envelope(response, status: int, code: str):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize("path", ["/api/v1/nope", "/oauth/nope", "/.well-known/nope", "/api/nope"])
def test_unknown_routes_answer_not_found_as_json(api, path):
    assert_envelope(api.get(path), 404, "NOT_FOUND")


@pytest.mark.django_db(transaction=True)
def test_a_doubled_leading_slash_is_still_answered_as_json():
    """``https://host/`` joined with ``/api/v1/…``: Django's HTML 404 answered it (SPEC §1: never).
    Through gunicorn, which hands the path on as sent (the test server collapses the slashes)."""
    from django.db import connection

    from tests.support import rawhttp, servers

    env = {"DATABASE_URL": servers.database_url(connection.settings_dict), "REDIS_URL": ""}
    paths = ["//api/v1/scope", "///api/v1/memory/identity", "//oauth/authorize", "//.well-known/nope", "//mcp"]
    with servers.gunicorn(env, workers=1) as base:
        for path in paths:
            status, text = rawhttp.half_closed_text(base, f"GET {path} HTTP/1.1", b"")
            assert status == 404 and json.loads(text)["error"]["code"] == "NOT_FOUND", (path, text[:200])
        api = requests.get(base + "//api/v1/scope", timeout=30)
        assert api.headers["Cache-Control"] == "private, no-store"


def test_an_accept_no_renderer_fits_is_served_json_after_authentication(api, write_api):
    """DRF refused it 400 VALIDATION_ERROR while negotiating, before authentication: a request
    without a token got 400, not its 401. JSON is served whatever Accept says (RFC 9110 §12.1)."""
    for accept in ("text/html", "application/xml", "text/html;q=1, application/json;q=0"):
        anonymous = api.get("/api/v1/scope", headers={"Accept": accept})
        assert_envelope(anonymous, 401, "UNAUTHORIZED")
        assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
        served = write_api.get("/api/v1/scope", headers={"Accept": accept})
        assert served.status_code == 200 and served.headers["Content-Type"] == "application/json", served.text
    schema = api.get("/api/v1/openapi.json", headers={"Accept": "text/html"})
    assert schema.status_code == 200 and schema.headers["Content-Type"].startswith("application/"), schema.text[:200]


def test_unknown_route_outside_the_api_is_not_forced_to_json(api):
    response = api.get("/definitely-not-a-page")
    assert response.status_code == 404
    assert not response.headers["Content-Type"].startswith("application/json")


def test_method_not_allowed_is_enveloped(write_api):
    error = assert_envelope(write_api.delete("/api/v1/scope"), 405, "METHOD_NOT_ALLOWED")
    assert "DELETE" in error["message"]


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/api/v1/memory/decisions", "POST, OPTIONS"),  # a route without GET, with a read key
        ("/api/v1/memory/identity", "GET, PUT, HEAD, OPTIONS"),
        ("/api/v1/byok", "GET, POST, HEAD, OPTIONS"),  # a scope the key does not hold
        ("/healthz", "GET, HEAD, OPTIONS"),
    ],
)
def test_options_answers_the_routes_methods_and_nothing_else(client_for, make_user, path, allow):
    response = client_for(make_user(tier="pro"), "read").request("OPTIONS", path)
    assert response.status_code == 204, response.text
    assert response.headers["Allow"] == allow
    assert response.content == b""  # never the view's internal description


@pytest.mark.parametrize("path", ["/api/v1/openapi.json", "/api/v1/openapi.yaml", "/api/v1/docs", "/openapi.yaml"])
def test_options_on_the_schema_and_docs_answers_like_the_api(api, path):
    response = api.request("OPTIONS", path)
    assert response.status_code == 204, response.text
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert response.content == b""


def test_options_on_the_api_needs_a_token(api):
    assert_envelope(api.request("OPTIONS", "/api/v1/memory/identity"), 401, "UNAUTHORIZED")


def test_malformed_json_is_a_validation_error(write_api):
    response = write_api.post(
        "/api/v1/_test/echo", data=b'{"text": "hi",', headers={"Content-Type": "application/json"}
    )
    error = assert_envelope(response, 400, "VALIDATION_ERROR")
    assert "JSON" in error["message"]


def test_invalid_utf8_is_a_validation_error(write_api):
    response = write_api.post(
        "/api/v1/_test/echo", data=b'{"text": "\xff\xfe"}', headers={"Content-Type": "application/json"}
    )
    error = assert_envelope(response, 400, "VALIDATION_ERROR")
    assert "UTF-8" in error["message"]


def test_deeply_nested_json_is_refused_cleanly(write_api):
    body = "[" * 100_000 + "]" * 100_000
    response = write_api.post("/api/v1/_test/echo", data=body, headers={"Content-Type": "application/json"})
    assert_envelope(response, 400, "VALIDATION_ERROR")


def test_non_json_body_is_unsupported_media_type(write_api):
    response = write_api.post("/api/v1/_test/echo", data="text=hi", headers={"Content-Type": "text/plain"})
    assert_envelope(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_body_over_one_mebibyte_is_refused(write_api):
    body = json.dumps({"text": "x" * (1024 * 1024)})
    response = write_api.post("/api/v1/_test/echo", data=body, headers={"Content-Type": "application/json"})
    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")


def test_chunked_body_over_the_limit_is_refused_without_content_length(write_api):
    def chunks():
        yield b'{"text": "'
        for _ in range(1100):
            yield b"x" * 1024
        yield b'"}'

    # The test server cannot decode chunks (gunicorn can: tests/test_chunked_bodies.py), so it
    # refuses the body rather than read it as empty.
    response = write_api.post("/api/v1/_test/echo", data=chunks(), headers={"Content-Type": "application/json"})
    assert_envelope(response, 400, "VALIDATION_ERROR")
    assert "Content-Length" in response.json()["error"]["message"]


def test_a_body_the_client_broke_off_is_a_validation_error_not_an_unexpected_one():
    # Django raises it where a view reads a body whose client reset the connection; it logged
    # "Unhandled error" with a traceback and answered 500. (Through gunicorn the middleware reads
    # bodies first: tests/test_aborted_bodies.py.)
    from django.http import UnreadablePostError

    from synchronex.api.exceptions import to_service_error

    error = to_service_error(UnreadablePostError(104, "Connection reset by peer"))
    assert (error.status, error.code, error.message) == (400, "VALIDATION_ERROR", "The request body could not be read.")


def test_unknown_and_invalid_fields_are_named(write_api):
    response = write_api.post("/api/v1/_test/echo", json={"text": "x" * 21, "colour": "red", "count": -1})
    error = assert_envelope(response, 400, "VALIDATION_ERROR")
    assert set(error["details"]["fields"]) == {"text", "colour", "count"}
    assert error["details"]["fields"]["colour"] == ["Unknown field."]


def test_body_that_is_not_an_object_is_a_validation_error(write_api):
    response = write_api.post("/api/v1/_test/echo", json=["text"])
    assert_envelope(response, 400, "VALIDATION_ERROR")


def test_unexpected_error_is_internal_error_quoting_the_request_id(write_api):
    response = write_api.get("/api/v1/_test/boom", headers={"X-Request-ID": "trace-123"})
    error = assert_envelope(response, 500, "INTERNAL_ERROR")
    assert "trace-123" in error["message"]
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text


def test_database_failure_is_service_unavailable(write_api):
    response = write_api.post("/api/v1/_test/boom", json={})
    error = assert_envelope(response, 503, "SERVICE_UNAVAILABLE")
    assert "connection refused" not in error["message"]
    assert response.headers["Retry-After"] == "5"  # RFC 9110: how long a retrying client waits


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": "101"}, {"limit": "ten"}, {"offset": "-1"}, {"offset": "1.5"}],
)
def test_out_of_range_paging_is_a_validation_error_not_clamped(read_api, params):
    error = assert_envelope(read_api.get("/api/v1/_test/echo", params=params), 400, "VALIDATION_ERROR")
    assert set(error["details"]["fields"]) <= {"limit", "offset"}


def test_paging_envelope(read_api):
    body = read_api.get("/api/v1/_test/echo", params={"limit": "20", "offset": "40"}).json()
    assert body == {"results": [40, 41, 42, 43, 44], "count": 45, "limit": 20, "offset": 40, "next_offset": None}
    body = read_api.get("/api/v1/_test/echo").json()
    assert (body["limit"], body["offset"], body["next_offset"], len(body["results"])) == (20, 0, 20, 20)


def test_request_id_is_echoed_when_sane_and_generated_otherwise(api):
    assert api.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    generated = api.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"}).headers["X-Request-ID"]
    assert generated != "bad id\twith spaces" and len(generated) == 32
    assert len(api.get("/api/v1/nope").headers["X-Request-ID"]) == 32


def test_invalid_content_length_is_a_validation_error(live_server):
    # requests always sends a correct length, so speak HTTP by hand.
    import socket
    from urllib.parse import urlparse

    url = urlparse(live_server.url)
    with socket.create_connection((url.hostname, url.port), timeout=5) as sock:
        sock.sendall(
            b"POST /api/v1/_test/echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: abc\r\nConnection: close\r\n\r\n{}"
        )
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b" 400 " in head.split(b"\r\n")[0]
    assert json.loads(body)["error"]["code"] == "VALIDATION_ERROR"


def test_no_html_error_page_under_api_even_for_a_bad_host(live_server):
    response = requests.get(live_server.url + "/api/v1/scope", headers={"Host": "evil.example"}, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_a_bad_host_is_refused_in_the_apis_formats_before_the_https_redirect_too(live_server, settings):
    """Production redirects plain HTTP to HTTPS, reading the Host first: an unlisted one is still
    the envelope on the REST API and a JSON-RPC error on /mcp, never Django's HTML page."""
    settings.SECURE_SSL_REDIRECT = True
    bad = {"Host": "evil.example", "Content-Type": "application/json"}
    rest = requests.get(live_server.url + "/api/v1/scope", headers=bad, timeout=10, allow_redirects=False)
    assert rest.status_code == 400 and rest.json()["error"]["code"] == "VALIDATION_ERROR"
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    mcp = requests.post(live_server.url + "/mcp", json=body, headers=bad, timeout=10, allow_redirects=False)
    assert mcp.status_code == 400 and mcp.json()["jsonrpc"] == "2.0"
    assert mcp.json()["error"]["data"]["code"] == "VALIDATION_ERROR"


def test_log_lines_carry_the_request_id(api, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="synchronex.access"):
        api.get("/api/v1/scope", headers={"X-Request-ID": "log-trace-7"})
    records = [r for r in caplog.records if r.name == "synchronex.access"]
    assert records and records[-1].request_id == "log-trace-7"
    assert "/api/v1/scope 401" in records[-1].getMessage()


def test_the_django_request_error_line_of_a_500_carries_its_request_id(write_api, caplog):
    # Django logs "Internal Server Error: <path>" after the whole middleware chain has returned:
    # that line used to say [-] right after the request's own lines with its id.
    import logging

    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = write_api.get("/api/v1/_test/boom")
    assert response.status_code == 500
    records = [r for r in caplog.records if r.name == "django.request"]
    assert records and [r.request_id for r in records] == [response.headers["X-Request-ID"]]


def test_the_request_id_is_forgotten_once_the_response_is_closed(inproc_for, user):
    # The in-process client serves on this thread, as a sync worker does: nothing logged after the
    # response (between requests, or by the next one before it has its own id) may carry this id.
    from synchronex.api.request_id import current_request_id

    response = inproc_for(user).get("/api/v1/_test/boom", HTTP_X_REQUEST_ID="done-500")
    assert response.status_code == 500 and response["X-Request-ID"] == "done-500"
    assert current_request_id() == "-"


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", gzip.compress(b'{"text": "hi"}')),  # was "body is not valid UTF-8 (byte 1)"
        ("br", b'{"text": "hi"}'),  # a body declared compressed was read as plain: 201
        ("identity, gzip", gzip.compress(b'{"text": "hi"}')),
    ],
    ids=["gzip", "br", "identity-gzip"],
)
def test_a_compressed_request_body_is_unsupported_media_type(write_api, encoding, body):
    headers = {"Content-Type": "application/json", "Content-Encoding": encoding}
    response = write_api.post("/api/v1/_test/echo", data=body, headers=headers)

    error = assert_envelope(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert "Content-Encoding" in error["message"]
    assert response.headers["Accept-Encoding"] == "identity"  # RFC 9110 §15.5.16
    assert write_api.post("/api/v1/_test/echo", json={"text": "hi"}).json()["executions_before"] == 0


def test_an_identity_encoding_or_an_encoded_empty_body_is_read_as_usual(write_api):
    headers = {"Content-Type": "application/json", "Content-Encoding": "identity"}
    assert write_api.post("/api/v1/_test/echo", data=b'{"text": "hi"}', headers=headers).status_code == 201
    assert write_api.get("/api/v1/_test/echo", headers={"Content-Encoding": "gzip"}).status_code == 200


def test_every_api_response_is_private_and_never_stored(write_api, api):
    answers = [
        write_api.get("/api/v1/memory/identity"),  # the remembered body
        write_api.get("/api/v1/kernel/export", params={"format": "text", "download": "true"}),
        write_api.get("/api/v1/memory/export-mif"),  # streamed
        write_api.post("/api/v1/_test/echo", json={"text": "hi"}),
        write_api.request("OPTIONS", "/api/v1/scope"),
        write_api.get("/api/v1/_test/boom"),  # 500
        write_api.post("/api/v1/_test/echo", data=b"{", headers={"Content-Type": "application/json"}),  # 400
        write_api.post("/api/v1/_test/echo", data=b"x" * (1024 * 1024 + 1)),  # 413 before the view
        api.get("/api/v1/memory/identity"),  # 401
        api.get("/api/v1/nope"),  # 404 from Django, made JSON
        api.get("/api/v1/openapi.json"),
    ]
    for response in answers:
        assert response.headers.get("Cache-Control") == "private, no-store", (response.url, response.status_code)
    # Pages outside the API keep their own rules.
    assert api.get("/accounts/login/").headers.get("Cache-Control") != "private, no-store"


def _deleted_meanwhile(monkeypatch, space) -> None:
    """The admin deletes ``space`` (committed, on its own connection) while a decision write that
    names it holds its transaction open, its new product written and locked."""
    from apps.decisions import services
    from apps.scopes.models import Space
    from apps.scopes.services import spaces_delete
    from tests.support.concurrency import on_thread

    product_touch = services.product_touch

    def then_deleted(*args, **kwargs):
        product_touch(*args, **kwargs)
        outcome: dict = {}
        on_thread(lambda: spaces_delete(spaces=Space.objects.filter(pk=space.pk)), outcome, "delete").join(15)
        assert outcome == {"delete": None}, outcome

    monkeypatch.setattr(services, "product_touch", then_deleted)


@pytest.mark.django_db(transaction=True)
def test_a_write_into_a_scope_deleted_before_it_commits_is_not_found(make_user, inproc_for, monkeypatch):
    from apps.decisions.models import Decision
    from apps.scopes.services import workspace_create

    owner = make_user(tier="team")
    workspace = workspace_create(owner=owner, name="Acme", kind="team")
    _deleted_meanwhile(monkeypatch, workspace)

    response = inproc_for(owner).post(
        "/api/v1/memory/decisions",
        {"decision": "Use PostgreSQL", "product_name": "Atlas"},
        format="json",
        HTTP_X_SYNCHRONEX_SCOPE=str(workspace.pk),
    )

    # Refused at COMMIT by the keys to the deleted space: was a 500 INTERNAL_ERROR.
    assert response.status_code == 404, response.content
    error = response.json()["error"]
    assert error["code"] == "NOT_FOUND"
    assert "deleted while the request ran" in error["message"]
    assert not Decision.objects.filter(space_id=workspace.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_only_a_key_to_a_space_is_read_as_the_scope_deleted(user):
    """A foreign-key violation of another key (here a job's product) stays an unexpected error."""
    import uuid

    from django.db import IntegrityError, transaction

    from apps.memory.models import ConsolidationJob
    from apps.scopes.services import space_ensure_personal
    from synchronex.api import errors
    from synchronex.api.exceptions import to_service_error

    space = space_ensure_personal(user=user)
    keys = {"space": {"space_id": uuid.uuid4()}, "product": {"space": space, "product_id": uuid.uuid4()}}
    refused = {}
    for name, fields in keys.items():
        with pytest.raises(IntegrityError) as caught, transaction.atomic():
            ConsolidationJob.objects.create(**fields)  # refused at COMMIT: the key names no row
        refused[name] = to_service_error(caught.value)

    assert isinstance(refused["space"], errors.NotFound)
    assert refused["product"] is None


@pytest.mark.django_db
def test_a_query_the_tsquery_parser_refuses_is_a_validation_error_not_an_unexpected_one():
    # Search queries are rewritten so that none reaches it (apps/memory/search_query.py); the
    # net below them: 33 NOTs overflow the parser's operator stack.
    from django.db import DatabaseError, connection, transaction

    from synchronex.api.exceptions import to_service_error

    with pytest.raises(DatabaseError) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT websearch_to_tsquery('english', repeat('-', 33))")
    error = to_service_error(caught.value)
    assert (error.status, error.code) == (400, "VALIDATION_ERROR")
    with pytest.raises(DatabaseError) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT 'a &'::tsquery")  # a tsquery of the code's own: still unexpected
    assert to_service_error(caught.value) is None
