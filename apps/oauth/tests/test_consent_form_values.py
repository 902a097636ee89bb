"""What the consent page carries from the authorization request to the click (``state``, ``nonce``,
the hidden form): a ``state`` the form could not carry back is refused before asking, a value the
grant cannot store is ``invalid_request``, and an altered form gets no page. Never a 500."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import pytest
from oauth2_provider.models import get_grant_model

from apps.oauth.tests.helpers import (
    REDIRECT_URI,
    authorize_params,
    consent,
    form_fields,
    login,
    pkce_pair,
    redirect_query,
    register_client,
)

Grant = get_grant_model()

pytestmark = pytest.mark.django_db(transaction=True)


def assert_logged_no_error(caplog):
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


@pytest.mark.parametrize("where", ["form", "request"])
def test_a_nonce_too_long_for_the_grant_is_an_invalid_request(base_url, person, caplog, where):
    # DOT stores it in a 255-character column: a longer one was a 500 after Allow. (No OpenID scope
    # exists, so the page never fills it; it comes from an altered form or the request's URL.)
    caplog.set_level(logging.INFO)
    client = register_client(base_url)
    session = login(base_url, person.email)
    extra, tamper = ({}, {"nonce": "n" * 256}) if where == "form" else ({"nonce": "n" * 256}, None)
    params = authorize_params(client["client_id"], pkce_pair()[1], state="st", **extra)

    query = redirect_query(consent(session, base_url, params, tamper=tamper))

    assert query["error"] == "invalid_request" and query["state"] == "st"
    assert not Grant.objects.exists()
    assert_logged_no_error(caplog)


def test_a_nonce_the_grant_can_store_is_accepted(base_url, person):
    client = register_client(base_url)
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], pkce_pair()[1])

    query = redirect_query(consent(session, base_url, params, tamper={"nonce": "n" * 255}))

    assert "code" in query
    assert Grant.objects.get().nonce == "n" * 255


@pytest.mark.parametrize("state", ["abc\x00def", "line\nbreak", "tab\there", "caf\u00e9"])
def test_authorize_refuses_a_state_that_is_not_printable_ascii_before_asking(base_url, person, caplog, state):
    # RFC 6749 Appendix A.5: state is VSCHAR. The page's form could not send a NUL back (the
    # click answered a blank consent page whose buttons led to it again).
    caplog.set_level(logging.INFO)
    client = register_client(base_url)
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], pkce_pair()[1], state=state)

    response = session.get(f"{base_url}/oauth/authorize", params=params, allow_redirects=False, timeout=30)

    assert response.headers["Location"].startswith(REDIRECT_URI + "?")
    query = redirect_query(response)
    assert query["error"] == "invalid_request" and "state" in query["error_description"]
    assert query["state"] == state  # sent back as received (RFC 6749 §4.1.2.1), percent-encoded
    assert not Grant.objects.exists()
    assert_logged_no_error(caplog)


def test_a_state_with_spaces_comes_back_exactly_as_sent(base_url, person):
    # Spaces are VSCHAR; the form once stripped them, so the app could not match its state.
    client = register_client(base_url)
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], pkce_pair()[1], state="  two  spaces ")

    query = redirect_query(consent(session, base_url, params))

    assert "code" in query and query["state"] == "  two  spaces "


@pytest.mark.parametrize("allow", [True, False], ids=["Allow", "Deny"])
@pytest.mark.parametrize(
    "tamper",
    [{"state": "a\x00b"}, {"scope": ""}, {"response_type": ""}, {"client_id": ""}, {"redirect_uri": "x\x00"}],
    ids=["NUL in state", "no scope", "no response_type", "no client_id", "NUL in redirect_uri"],
)
def test_an_altered_consent_form_is_refused_without_a_page(base_url, person, caplog, tamper, allow):
    # DOT rendered the consent page with the form alone: no app, no scopes, no redirect host,
    # and Allow and Deny posting the same form again. Its redirect URI is not known good, so the
    # refusal stays here, as for an unknown client.
    caplog.set_level(logging.INFO)
    client = register_client(base_url)
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], pkce_pair()[1])

    response = consent(session, base_url, params, allow=allow, tamper=tamper)

    assert response.status_code == 400, response.text[:300]
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and error["details"]["oauth_error"] == "invalid_request"
    assert list(error["details"]["fields"]) == list(tamper)
    assert "no-store" in response.headers["Cache-Control"]
    assert not Grant.objects.exists()
    assert_logged_no_error(caplog)


def test_the_consent_page_is_still_shown_for_a_state_of_every_printable_character(base_url, person):
    state = "".join(chr(c) for c in range(0x20, 0x7F))
    client = register_client(base_url)
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], pkce_pair()[1], state=state)
    url = f"{base_url}/oauth/authorize?{urlencode(params)}"

    page = session.get(url, allow_redirects=False, timeout=30)

    assert page.status_code == 200 and form_fields(page.text)["state"] == state
    query = redirect_query(consent(session, base_url, params))
    assert "code" in query and query["state"] == state
