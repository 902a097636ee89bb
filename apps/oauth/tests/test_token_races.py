"""Token requests that overlap: two refreshes of one refresh token, and a replay that revokes a
pair before it is answered. Tokens are stored hashed, so an issued pair can never be sent again."""

from __future__ import annotations

import hashlib
import threading

import pytest
import requests
from oauth2_provider.models import get_access_token_model, get_refresh_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator

from apps.oauth.endpoints import TokenView
from apps.oauth.tests.helpers import (
    authorize_params,
    consent,
    exchange,
    login,
    obtain_tokens,
    pkce_pair,
    redirect_query,
    refresh,
    register_client,
)
from apps.oauth.validators import OAuth2Validator as ProjectValidator
from tests.support.concurrency import on_thread, wait_for_lock_waiters

AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()

pytestmark = pytest.mark.django_db(transaction=True)


def checksum(response):
    return hashlib.sha256(response.json()["access_token"].encode()).hexdigest()


def api_get(base_url, token):
    return requests.get(f"{base_url}/api/v1/scope", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def refresh_twice_at_once(base_url, client, refresh_token, monkeypatch):
    """Two refreshes of one token; the second is checked while the first rotates, then waits for
    its lock. Returns both answers, the first one's first."""
    create_refresh_token = OAuth2Validator._create_refresh_token
    rotating, release = threading.Event(), threading.Event()

    def hold_the_first_rotation(self, *args, **kwargs):
        # The first rotation has locked the refresh token and written its new access token; it
        # commits only once the second refresh has checked the same token and waits for the lock.
        if not rotating.is_set():
            rotating.set()
            release.wait(timeout=30)
        return create_refresh_token(self, *args, **kwargs)

    monkeypatch.setattr(OAuth2Validator, "_create_refresh_token", hold_the_first_rotation)
    outcome = {}
    first = on_thread(lambda: refresh(base_url, client["client_id"], refresh_token), outcome, "first")
    try:
        assert rotating.wait(timeout=30)
        second = on_thread(lambda: refresh(base_url, client["client_id"], refresh_token), outcome, "second")
        wait_for_lock_waiters()
    finally:
        release.set()
    first.join(timeout=30)
    second.join(timeout=30)
    return outcome["first"], outcome["second"]


def test_two_refreshes_of_one_token_at_once_give_one_pair_and_invalid_grant(base_url, person, monkeypatch):
    client, tokens = obtain_tokens(base_url, person.email)

    rotated, duplicate = refresh_twice_at_once(base_url, client, tokens["refresh_token"], monkeypatch)

    assert rotated.status_code == 200, rotated.text
    assert (duplicate.status_code, duplicate.json()) == (400, {"error": "invalid_grant"}), duplicate.text
    assert duplicate.headers["Cache-Control"] == "no-store"
    # One pair was issued, and the duplicate, sent before the rotation committed, is no replay of a
    # used token: the chain lives on.
    assert AccessToken.objects.filter(user=person).count() == 1
    assert RefreshToken.objects.filter(user=person, revoked__isnull=True).count() == 1
    new = rotated.json()
    assert api_get(base_url, new["access_token"]).status_code == 200
    monkeypatch.undo()
    assert refresh(base_url, client["client_id"], new["refresh_token"]).status_code == 200


def test_a_waiting_refresh_gets_no_pair_of_its_own_when_a_replay_revoked_the_first(base_url, person, monkeypatch):
    client, tokens = obtain_tokens(base_url, person.email)
    check_resource = OAuth2Validator._check_and_set_request_resource
    calls, replays = [], []

    def replay_once_the_second_holds_the_lock(self, request):
        # DOT calls this as it starts saving a pair: for the second refresh, after it got the
        # lock. A replay of the spent token revokes the chain (the first one's pair) right then.
        calls.append(request)
        if len(calls) == 2:
            replays.append(refresh(base_url, client["client_id"], tokens["refresh_token"]))
        return check_resource(self, request)

    monkeypatch.setattr(OAuth2Validator, "_check_and_set_request_resource", replay_once_the_second_holds_the_lock)
    rotated, duplicate = refresh_twice_at_once(base_url, client, tokens["refresh_token"], monkeypatch)

    assert rotated.status_code == 200, rotated.text
    assert (duplicate.status_code, duplicate.json()) == (400, {"error": "invalid_grant"}), duplicate.text
    # Refused under the lock, the second no longer gets as far as the replay.
    assert not replays or replays[0].json()["error"] == "invalid_grant"
    # No second pair minted from the spent token.
    assert not AccessToken.objects.filter(user=person).exclude(token_checksum=checksum(rotated)).exists()


def replay_before_answering(monkeypatch, replay):
    """Let the next token request commit its pair, then run ``replay`` before the pair is answered."""
    create_token_response = TokenView.create_token_response
    replies = []

    def create_then_replay(self, request):
        answer = create_token_response(self, request)
        if not replies:
            replies.append(None)  # the replay passes here too, and goes on
            replies[0] = replay()
        return answer

    monkeypatch.setattr(TokenView, "create_token_response", create_then_replay)
    return replies


def test_a_refreshed_pair_revoked_by_a_replay_before_it_is_answered_is_invalid_grant(base_url, person, monkeypatch):
    client, tokens = obtain_tokens(base_url, person.email)
    replays = replay_before_answering(
        monkeypatch, lambda: refresh(base_url, client["client_id"], tokens["refresh_token"])
    )

    response = refresh(base_url, client["client_id"], tokens["refresh_token"])

    assert replays[0].json()["error"] == "invalid_grant"  # the replay revoked the chain
    assert (response.status_code, response.json()) == (400, {"error": "invalid_grant"}), response.text
    assert response.headers["Cache-Control"] == "no-store"
    assert not AccessToken.objects.filter(user=person).exists()


def test_an_exchanged_pair_revoked_by_a_replayed_code_before_it_is_answered_is_invalid_grant(
    base_url, person, monkeypatch
):
    client = register_client(base_url)
    verifier, challenge = pkce_pair()
    session = login(base_url, person.email)
    code = redirect_query(consent(session, base_url, authorize_params(client["client_id"], challenge)))["code"]
    replays = replay_before_answering(monkeypatch, lambda: exchange(base_url, client["client_id"], code, verifier))

    response = exchange(base_url, client["client_id"], code, verifier)

    assert replays[0].json()["error"] == "invalid_grant"  # the replayed code revoked what it issued
    assert (response.status_code, response.json()) == (400, {"error": "invalid_grant"}), response.text
    assert not AccessToken.objects.filter(user=person).exists()


@pytest.mark.parametrize("step", ["get_code_challenge", "get_code_challenge_method", "confirm_redirect_uri"])
def test_an_exchange_whose_code_another_exchange_spends_meanwhile_is_invalid_grant_and_revokes(
    base_url, person, monkeypatch, step
):
    # Two exchanges of one code at once: the other one completes (its pair committed, the grant
    # deleted) while this one is between validate_code and a later lookup of the grant. That lookup
    # found no grant and raised DoesNotExist: a 500, and the pair stayed live.
    client = register_client(base_url)
    verifier, challenge = pkce_pair()
    session = login(base_url, person.email)
    code = redirect_query(consent(session, base_url, authorize_params(client["client_id"], challenge)))["code"]
    looked_up = getattr(ProjectValidator, step)
    winners = []

    def spent_meanwhile(self, *args, **kwargs):
        if not winners:
            winners.append(None)  # the other exchange passes here too, and goes on
            winners[0] = exchange(base_url, client["client_id"], code, verifier)
        return looked_up(self, *args, **kwargs)

    monkeypatch.setattr(ProjectValidator, step, spent_meanwhile)

    response = exchange(base_url, client["client_id"], code, verifier)

    assert winners[0].status_code == 200, winners[0].text
    assert (response.status_code, response.json()) == (400, {"error": "invalid_grant"}), response.text
    assert response.headers["Cache-Control"] == "no-store"
    # As for a code presented again later (RFC 6749 §4.1.2): what it issued is revoked.
    assert api_get(base_url, winners[0].json()["access_token"]).status_code == 401
    assert not AccessToken.objects.filter(user=person).exists()
    assert not RefreshToken.objects.filter(user=person, revoked__isnull=True).exists()
    monkeypatch.undo()
    assert refresh(base_url, client["client_id"], winners[0].json()["refresh_token"]).json()["error"] == "invalid_grant"
