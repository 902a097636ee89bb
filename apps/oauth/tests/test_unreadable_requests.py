"""Requests that Django or oauthlib cannot even read are the client's mistake: a 400 in each
endpoint's own error format, never a 500 and never a stack trace in the log."""

from __future__ import annotations

import http.client
import json
import logging
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from oauth2_provider.models import get_application_model

from apps.oauth.tests.helpers import authorize_params, login, pkce_pair, register_client

Application = get_application_model()

pytestmark = pytest.mark.django_db(transaction=True)

FORM = "application/x-www-form-urlencoded"
TOO_MANY_FIELDS = "&".join(f"f{i}=1" for i in range(1001))


def raw_request(base_url: str, method: str, target: str, body: bytes = b"", headers: dict | None = None):
    """Send ``target`` byte for byte (an HTTP library would repair a query such as ``%zz``)."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def assert_logged_no_error(caplog):
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


@pytest.mark.parametrize("path", ["/api/oauth/token", "/api/oauth/revoke"])
@pytest.mark.parametrize(
    "target_suffix, body, content_type",
    [
        ("", b"grant_type=refresh_token&token=x", f"{FORM}; charset=latin-1"),
        ("", TOO_MANY_FIELDS.encode(), FORM),
        ("", b"--x\r\n", "multipart/form-data"),
        ("?a=%zz", b"grant_type=refresh_token&token=x", FORM),
    ],
    ids=["latin-1 form", "1001 form fields", "multipart without boundary", "bad percent-encoding in the query"],
)
def test_token_and_revoke_answer_unreadable_requests_with_invalid_request(
    base_url, caplog, path, target_suffix, body, content_type
):
    caplog.set_level(logging.INFO)

    status, headers, raw = raw_request(base_url, "POST", path + target_suffix, body, {"Content-Type": content_type})

    assert status == 400, raw
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(raw)["error"] == "invalid_request"
    assert headers["Cache-Control"] == "no-store"
    assert_logged_no_error(caplog)


@pytest.mark.parametrize("logged_in", [True, False], ids=["logged in", "prompt=none, anonymous"])
def test_authorize_answers_an_unreadable_query_with_a_validation_error(base_url, person, caplog, logged_in):
    caplog.set_level(logging.INFO)
    client = register_client(base_url)
    params = authorize_params(client["client_id"], pkce_pair()[1], prompt=None if logged_in else "none")
    target = f"/oauth/authorize?{urlencode(params)}&state=%zz"
    headers = {}
    if logged_in:
        session = login(base_url, person.email)
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in session.cookies.items())

    status, response_headers, raw = raw_request(base_url, "GET", target, headers=headers)

    assert status == 400, raw
    error = json.loads(raw)["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"]["oauth_error"] == "invalid_request"
    assert_logged_no_error(caplog)


def test_authorize_with_too_many_query_fields_is_a_validation_error(base_url, caplog):
    caplog.set_level(logging.INFO)

    response = requests.get(f"{base_url}/oauth/authorize?{TOO_MANY_FIELDS}", allow_redirects=False, timeout=30)

    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert_logged_no_error(caplog)


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"client_name": "\\ud800", "redirect_uris": ["https://a.example/cb"]}',
        b'{"redirect_uris": ["https://a.example/\\udfff"]}',
    ],
    ids=["nested 100000 deep", "lone surrogate in client_name", "lone surrogate in a redirect URI"],
)
def test_registration_refuses_json_no_database_can_hold_as_invalid_client_metadata(base_url, caplog, raw):
    caplog.set_level(logging.INFO)

    response = requests.post(
        f"{base_url}/api/oauth/register", data=raw, headers={"Content-Type": "application/json"}, timeout=30
    )

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_client_metadata"
    assert not Application.objects.exists()
    assert_logged_no_error(caplog)


def test_an_api_request_with_too_many_query_fields_is_a_validation_error(read_api, caplog):
    # The same mapping of framework errors serves the REST API: the query string is first read,
    # after authentication, by the check of the names the operation takes.
    caplog.set_level(logging.INFO)

    response = read_api.get(f"/api/v1/scope?{'&'.join(['a'] * 1001)}")

    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert_logged_no_error(caplog)


def test_an_unauthenticated_api_request_is_refused_before_its_query_is_read(api, caplog):
    # No format override reads the query before authentication any more (URL_FORMAT_OVERRIDE is
    # off), so a caller without a token learns nothing from its query string: 401 first.
    caplog.set_level(logging.INFO)

    response = api.get(f"/api/v1/scope?{'&'.join(['a'] * 1001)}")

    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "UNAUTHORIZED"
    assert_logged_no_error(caplog)
