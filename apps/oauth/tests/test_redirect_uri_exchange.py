"""RFC 6749 §4.1.3 at the token endpoint: ``redirect_uri`` is required when the authorization
request had one, identical to it; a different one is ``invalid_grant`` (§5.2). An authorization
request that left it out (one registered URI, §3.1.2.3) may be exchanged without it."""

from __future__ import annotations

import pytest

from apps.oauth.tests.helpers import (
    REDIRECT_URI,
    authorize_params,
    consent,
    exchange,
    login,
    pkce_pair,
    redirect_query,
    register_client,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_redirect_uri_named_when_authorizing_is_required_and_must_match(base_url, person):
    client = register_client(base_url)  # one registered URI: oauthlib would fall back to it
    verifier, challenge = pkce_pair()
    session = login(base_url, person.email)
    code = redirect_query(consent(session, base_url, authorize_params(client["client_id"], challenge)))["code"]

    missing = exchange(base_url, client["client_id"], code, verifier, redirect_uri=None)
    other = exchange(base_url, client["client_id"], code, verifier, redirect_uri="http://127.0.0.1:8765/other")

    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request"), missing.text
    assert (other.status_code, other.json()["error"]) == (400, "invalid_grant"), other.text
    assert exchange(base_url, client["client_id"], code, verifier).status_code == 200


def test_an_authorization_without_redirect_uri_is_exchanged_without_it(base_url, person):
    client = register_client(base_url)
    verifier, challenge = pkce_pair()
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], challenge, redirect_uri=None)

    response = consent(session, base_url, params)

    assert response.headers["Location"].startswith(REDIRECT_URI + "?")
    code = redirect_query(response)["code"]
    exchanged = exchange(base_url, client["client_id"], code, verifier, redirect_uri=None)
    assert exchanged.status_code == 200, exchanged.text


def test_an_authorization_without_redirect_uri_may_name_the_registered_one_at_the_exchange(base_url, person):
    client = register_client(base_url)
    verifier, challenge = pkce_pair()
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], challenge, redirect_uri=None)
    code = redirect_query(consent(session, base_url, params))["code"]

    other = exchange(base_url, client["client_id"], code, verifier, redirect_uri="http://127.0.0.1:8765/other")
    assert (other.status_code, other.json()["error"]) == (400, "invalid_grant"), other.text
    assert exchange(base_url, client["client_id"], code, verifier).status_code == 200


def test_deny_without_redirect_uri_returns_to_the_registered_one(base_url, person):
    client = register_client(base_url)
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], pkce_pair()[1], redirect_uri=None, state="st")

    response = consent(session, base_url, params, allow=False)

    assert response.headers["Location"].startswith(REDIRECT_URI + "?")
    assert redirect_query(response)["error"] == "access_denied"
