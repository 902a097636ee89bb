"""Token endpoint rules beyond what DOT checks by itself: the shape of PKCE values (RFC 7636
§4.1/§4.2), inactive users, and revoking what a replayed authorization code issued (RFC 6749
§4.1.2), over real HTTP."""

from __future__ import annotations

import base64
import hashlib

import pytest
import requests
from oauth2_provider.models import get_access_token_model, get_grant_model

from apps.oauth.tests.helpers import (
    REDIRECT_URI,
    authorize_params,
    consent,
    exchange,
    login,
    pkce_pair,
    redirect_query,
    refresh,
    register_client,
)

AccessToken = get_access_token_model()
Grant = get_grant_model()

pytestmark = pytest.mark.django_db(transaction=True)


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def api_status(base_url: str, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return requests.get(f"{base_url}/api/v1/scope", headers=headers, timeout=30).status_code


def code_for(base_url: str, session, client_id: str, challenge: str) -> str:
    return redirect_query(consent(session, base_url, authorize_params(client_id, challenge)))["code"]


# --- RFC 7636 §4.1: code_verifier = 43*128 unreserved ----------------------------------------------
@pytest.mark.parametrize(
    ("verifier", "accepted"),
    [
        ("abc", False),
        ("a" * 42, False),
        ("a" * 129, False),
        ("a" * 42 + "+", False),
        ("a" * 42 + " ", False),
        ("a" * 42 + "/", False),
        ("é" * 43, False),
        ("a" * 43, True),
        ("Az09-._~" * 16, True),
    ],
    ids=["3 chars", "42 chars", "129 chars", "plus", "space", "slash", "non-ascii", "43 chars", "128, every kind"],
)
def test_a_code_verifier_needs_the_rfc_7636_shape_even_when_it_matches(base_url, person, verifier, accepted):
    client = register_client(base_url)
    session = login(base_url, person.email)
    code = code_for(base_url, session, client["client_id"], s256(verifier))

    response = exchange(base_url, client["client_id"], code, verifier)

    if accepted:
        assert response.status_code == 200, response.text
        return
    assert response.status_code == 400, response.text
    assert response.json()["error"] in {"invalid_grant", "invalid_request"}
    assert not AccessToken.objects.filter(user=person).exists()  # (registration leaves one of its own)


# --- RFC 7636 §4.2: an S256 code_challenge is BASE64URL(SHA-256) without padding: 43 characters --
@pytest.mark.parametrize(
    "challenge",
    ["x" * 42, "x" * 44, "x" * 43 + "=", "x" * 42 + "+", "x" * 42 + "/", "x" * 128],
    ids=["42 chars", "44 chars", "padded", "plus", "slash", "128 chars"],
)
def test_authorize_refuses_a_code_challenge_that_no_s256_verifier_can_produce(base_url, person, challenge):
    client = register_client(base_url)
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], challenge, state="st")

    response = session.get(f"{base_url}/oauth/authorize", params=params, allow_redirects=False, timeout=30)

    query = redirect_query(response)
    assert response.headers["Location"].startswith(REDIRECT_URI + "?")
    assert (query["error"], query["state"]) == ("invalid_request", "st")
    assert not Grant.objects.exists()


# --- inactive users ------------------------------------------------------------------------------
def test_a_deactivated_user_cannot_exchange_a_pending_code(base_url, person):
    client = register_client(base_url)
    verifier, challenge = pkce_pair()
    code = code_for(base_url, login(base_url, person.email), client["client_id"], challenge)
    person.is_active = False
    person.save(update_fields=["is_active"])

    response = exchange(base_url, client["client_id"], code, verifier)

    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")
    assert not AccessToken.objects.filter(user=person).exists()  # (registration leaves one of its own)


def test_a_deactivated_user_cannot_refresh(base_url, person):
    client = register_client(base_url)
    verifier, challenge = pkce_pair()
    code = code_for(base_url, login(base_url, person.email), client["client_id"], challenge)
    tokens = exchange(base_url, client["client_id"], code, verifier).json()
    person.is_active = False
    person.save(update_fields=["is_active"])

    response = refresh(base_url, client["client_id"], tokens["refresh_token"])

    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")
    person.is_active = True
    person.save(update_fields=["is_active"])
    # Nothing was rotated: the pair still works once the account is active again.
    assert refresh(base_url, client["client_id"], tokens["refresh_token"]).status_code == 200


# --- RFC 6749 §4.1.2: a replayed code revokes the tokens it issued -------------------------------
def test_replaying_a_code_revokes_the_tokens_it_issued(base_url, person):
    client = register_client(base_url)
    verifier, challenge = pkce_pair()
    code = code_for(base_url, login(base_url, person.email), client["client_id"], challenge)
    tokens = exchange(base_url, client["client_id"], code, verifier).json()
    assert api_status(base_url, tokens["access_token"]) == 200

    replay = exchange(base_url, client["client_id"], code, verifier)

    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_grant")
    assert api_status(base_url, tokens["access_token"]) == 401
    assert refresh(base_url, client["client_id"], tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_replaying_a_code_revokes_what_its_refresh_token_was_rotated_into(base_url, person):
    client = register_client(base_url)
    verifier, challenge = pkce_pair()
    session = login(base_url, person.email)
    code = code_for(base_url, session, client["client_id"], challenge)
    first = exchange(base_url, client["client_id"], code, verifier).json()
    rotated = refresh(base_url, client["client_id"], first["refresh_token"]).json()
    # Another authorization of the same app by the same user is a separate grant: it stays.
    other = exchange(
        base_url, client["client_id"], code_for(base_url, session, client["client_id"], challenge), verifier
    )

    exchange(base_url, client["client_id"], code, verifier)

    assert api_status(base_url, rotated["access_token"]) == 401
    assert refresh(base_url, client["client_id"], rotated["refresh_token"]).json()["error"] == "invalid_grant"
    assert api_status(base_url, other.json()["access_token"]) == 200


def test_an_unknown_or_expired_code_revokes_nothing(base_url, person):
    client = register_client(base_url)
    verifier, challenge = pkce_pair()
    session = login(base_url, person.email)
    tokens = exchange(
        base_url, client["client_id"], code_for(base_url, session, client["client_id"], challenge), verifier
    ).json()

    unknown = exchange(base_url, client["client_id"], "no-such-code", verifier)

    assert (unknown.status_code, unknown.json()["error"]) == (400, "invalid_grant")
    assert api_status(base_url, tokens["access_token"]) == 200


# --- RFC 6749 §6 (documented, not changed): DOT keeps no scope on a refresh token ----------------
def test_a_narrowed_refresh_stays_narrow(base_url, person):
    """README "OAuth": what may be asked on a refresh is the scope of the token refreshed."""
    client = register_client(base_url)
    verifier, challenge = pkce_pair()
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], challenge, scope="memory:read decisions:read")
    code = redirect_query(consent(session, base_url, params))["code"]
    tokens = exchange(base_url, client["client_id"], code, verifier).json()

    data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": client["client_id"]}
    narrowed = requests.post(f"{base_url}/api/oauth/token", data={**data, "scope": "memory:read"}, timeout=30).json()
    assert narrowed["scope"] == "memory:read"

    again = refresh(base_url, client["client_id"], narrowed["refresh_token"]).json()
    assert again["scope"] == "memory:read"
    data["refresh_token"] = again["refresh_token"]
    wider = requests.post(
        f"{base_url}/api/oauth/token", data={**data, "scope": "memory:read decisions:read"}, timeout=30
    )
    assert (wider.status_code, wider.json()["error"]) == (400, "invalid_scope")
