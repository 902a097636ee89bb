"""A scope named more than once (``decisions:read decisions:read``) is granted once: the consent
page, the grant, the issued token and its refreshes name each scope once, in the order first asked."""

from __future__ import annotations

import pytest
import requests
from oauth2_provider.models import get_access_token_model, get_grant_model

from apps.oauth.tests.helpers import (
    authorize_params,
    consent,
    exchange,
    form_fields,
    login,
    pkce_pair,
    redirect_query,
    refresh,
    register_client,
)

AccessToken = get_access_token_model()
Grant = get_grant_model()

pytestmark = pytest.mark.django_db(transaction=True)

REPEATED = "decisions:read memory:read decisions:read memory:read"


def test_the_consent_page_lists_a_repeated_scope_once(base_url, person):
    client = register_client(base_url)
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], pkce_pair()[1], scope=REPEATED)

    page = session.get(f"{base_url}/oauth/authorize", params=params, timeout=30)

    assert page.status_code == 200, page.text[:300]
    assert page.text.count('data-scope="decisions:read"') == 1
    assert page.text.count('data-scope="memory:read"') == 1
    assert form_fields(page.text)["scope"] == "decisions:read memory:read"


@pytest.mark.parametrize("where", ["request", "form"])
def test_a_repeated_scope_is_granted_and_issued_once(base_url, person, where):
    client = register_client(base_url)
    verifier, challenge = pkce_pair()
    session = login(base_url, person.email)
    # Repeated in the authorization request, or in a consent form altered in the browser.
    scope, tamper = (REPEATED, None) if where == "request" else ("decisions:read memory:read", {"scope": REPEATED})
    params = authorize_params(client["client_id"], challenge, scope=scope)

    code = redirect_query(consent(session, base_url, params, tamper=tamper))["code"]

    assert Grant.objects.get().scope == "decisions:read memory:read"
    response = exchange(base_url, client["client_id"], code, verifier)
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "decisions:read memory:read"
    assert AccessToken.objects.get(user=person).scope == "decisions:read memory:read"


def test_a_refresh_repeating_a_scope_is_issued_it_once(base_url, person):
    client = register_client(base_url)
    verifier, challenge = pkce_pair()
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], challenge, scope="decisions:read memory:read")
    code = redirect_query(consent(session, base_url, params))["code"]
    tokens = exchange(base_url, client["client_id"], code, verifier).json()

    response = refresh_with_scope(base_url, client["client_id"], tokens["refresh_token"], "memory:read memory:read")

    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "memory:read"
    assert AccessToken.objects.get(user=person).scope == "memory:read"
    # And a refresh without scope keeps it so.
    again = refresh(base_url, client["client_id"], response.json()["refresh_token"])
    assert again.json()["scope"] == "memory:read"


def refresh_with_scope(base_url, client_id, refresh_token, scope):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id, "scope": scope}
    return requests.post(f"{base_url}/api/oauth/token", data=data, timeout=30)
