"""A body sent with a Content-Encoding (``gzip``, ``br``, …) is refused 415 with
``Accept-Encoding: identity`` at every OAuth endpoint that reads one, as on the REST API, in the
endpoint's own error format: no parser here decodes it, and read as if plain a gzip body was "not
valid UTF-8" and a plain body declared ``br`` registered a client."""

from __future__ import annotations

import gzip
import json
from urllib.parse import urlencode

import pytest
import requests
from oauth2_provider.models import get_access_token_model, get_application_model, get_grant_model

from apps.oauth.tests.helpers import authorize_params, form_fields, login, pkce_pair, register_client

Application = get_application_model()
AccessToken = get_access_token_model()
Grant = get_grant_model()

pytestmark = pytest.mark.django_db(transaction=True)

FORM = "application/x-www-form-urlencoded"
METADATA = {"client_name": "Encoded", "redirect_uris": ["https://app.example/cb"]}


def encoded(body: bytes, coding: str) -> bytes:
    """``gzip`` compressed for real; any other coding is sent as plain bytes that claim it."""
    return gzip.compress(body) if coding == "gzip" else body


def assert_refused(response, error: str):
    assert response.status_code == 415, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"] == error
    assert "Content-Encoding" in response.json()["error_description"]
    assert response.headers["Accept-Encoding"] == "identity"
    assert (response.headers.get("Cache-Control"), response.headers.get("Pragma")) == ("no-store", "no-cache")


@pytest.mark.parametrize("coding", ["br", "gzip", "identity, gzip"])
def test_registration_refuses_an_encoded_body_and_registers_nothing(base_url, coding):
    body = encoded(json.dumps(METADATA).encode(), coding)
    headers = {"Content-Type": "application/json", "Content-Encoding": coding}

    response = requests.post(f"{base_url}/api/oauth/register", data=body, headers=headers, timeout=30)

    assert_refused(response, "invalid_client_metadata")
    assert not Application.objects.exists()


def test_registration_takes_a_body_declared_identity(base_url):
    headers = {"Content-Type": "application/json", "Content-Encoding": "identity"}

    response = requests.post(f"{base_url}/api/oauth/register", data=json.dumps(METADATA), headers=headers, timeout=30)

    assert response.status_code == 201, response.text


@pytest.mark.parametrize("content_type", ["text/plain", FORM, None])
def test_registration_refuses_a_body_that_is_not_declared_json(base_url, content_type):
    # RFC 7591 §3.1 and SPEC §1: the body is JSON, sent as application/json.
    headers = {} if content_type is None else {"Content-Type": content_type}

    response = requests.post(
        f"{base_url}/api/oauth/register", data=json.dumps(METADATA).encode(), headers=headers, timeout=30
    )

    assert response.status_code == 415, response.text
    assert response.json()["error"] == "invalid_client_metadata"
    assert "application/json" in response.json()["error_description"]
    assert not Application.objects.exists()


def test_registration_reads_json_with_a_charset_parameter(base_url):
    headers = {"Content-Type": "Application/JSON; charset=utf-8"}

    response = requests.post(f"{base_url}/api/oauth/register", data=json.dumps(METADATA), headers=headers, timeout=30)

    assert response.status_code == 201, response.text


@pytest.mark.parametrize("coding", ["br", "gzip"])
def test_a_registration_update_refuses_an_encoded_body_and_changes_nothing(base_url, coding):
    created = register_client(base_url, redirect_uris=["https://app.example/cb"])
    auth = {"Authorization": f"Bearer {created['registration_access_token']}"}
    update = {"client_id": created["client_id"], "redirect_uris": ["https://app.example/new"]}
    headers = {**auth, "Content-Type": "application/json", "Content-Encoding": coding}
    body = encoded(json.dumps(update).encode(), coding)

    response = requests.put(created["registration_client_uri"], data=body, headers=headers, timeout=30)

    assert_refused(response, "invalid_client_metadata")
    assert Application.objects.get(client_id=created["client_id"]).redirect_uris == "https://app.example/cb"
    # Nothing was issued in place of the token sent: it still opens the registration.
    assert requests.get(created["registration_client_uri"], headers=auth, timeout=30).status_code == 200


@pytest.mark.parametrize("coding", ["br", "gzip"])
@pytest.mark.parametrize("path", ["/api/oauth/token", "/api/oauth/revoke"])
def test_token_and_revoke_refuse_an_encoded_body(base_url, path, coding):
    client = register_client(base_url)
    form = urlencode({"grant_type": "refresh_token", "refresh_token": "sxr_x", "token": "sxr_x"})
    form += "&client_id=" + client["client_id"]
    headers = {"Content-Type": FORM, "Content-Encoding": coding}

    response = requests.post(f"{base_url}{path}", data=encoded(form.encode(), coding), headers=headers, timeout=30)

    assert_refused(response, "invalid_request")


def test_consent_refuses_an_encoded_form_and_grants_nothing(base_url, person):
    client = register_client(base_url)
    session = login(base_url, person.email)
    url = f"{base_url}/oauth/authorize?{urlencode(authorize_params(client['client_id'], pkce_pair()[1]))}"
    fields = {**form_fields(session.get(url, timeout=30).text), "allow": "Allow"}
    headers = {"Referer": url, "Content-Type": FORM, "Content-Encoding": "br"}

    response = session.post(url, data=urlencode(fields), headers=headers, allow_redirects=False, timeout=30)

    assert response.status_code == 415, response.text
    assert response.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert response.headers["Accept-Encoding"] == "identity"
    assert not Grant.objects.exists()


def test_the_openapi_document_lists_the_415_of_each_oauth_operation_that_reads_a_body(api):
    paths = api.get("/api/v1/openapi.json").json()["paths"]
    operations = {
        ("/api/oauth/token", "post"),
        ("/api/oauth/revoke", "post"),
        ("/api/oauth/register", "post"),
        ("/api/oauth/register/{client_id}", "put"),
    }

    for path, method in operations:
        refusal = paths[path][method]["responses"].get("415")
        assert refusal is not None, (path, method)
        assert refusal["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/OAuthError"}
        assert "Accept-Encoding" in refusal["headers"]
