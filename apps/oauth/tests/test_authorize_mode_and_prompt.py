"""Authorization request parameters the consent page cannot honour: a ``response_mode`` other than
``query`` (the only one the metadata advertises) and ``prompt=none`` (consent is always asked)."""

from __future__ import annotations

import pytest
import requests
from oauth2_provider.models import get_grant_model

from apps.oauth.tests.helpers import (
    REDIRECT_URI,
    authorize_params,
    consent,
    login,
    pkce_pair,
    redirect_query,
    register_client,
)

Grant = get_grant_model()

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_response_mode_other_than_query_is_refused_in_the_query(base_url, person):
    client = register_client(base_url)
    session = login(base_url, person.email)

    for mode in ("fragment", "form_post", "bogus"):
        params = authorize_params(client["client_id"], pkce_pair()[1], state="st", response_mode=mode)
        response = session.get(f"{base_url}/oauth/authorize", params=params, allow_redirects=False, timeout=30)

        assert response.status_code == 302, (mode, response.status_code)
        assert response.headers["Location"].startswith(REDIRECT_URI + "?") and "#" not in response.headers["Location"]
        query = redirect_query(response)
        assert (query["error"], query["state"], query["iss"]) == ("invalid_request", "st", base_url), mode
    assert not Grant.objects.exists()


def test_response_mode_query_is_the_default_spelled_out(base_url, person):
    client = register_client(base_url)
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], pkce_pair()[1], response_mode="query")

    assert "code" in redirect_query(consent(session, base_url, params))


def test_prompt_none_is_consent_required_for_a_signed_in_user(base_url, person):
    client = register_client(base_url)
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], pkce_pair()[1], state="st", prompt="none")

    response = session.get(f"{base_url}/oauth/authorize", params=params, allow_redirects=False, timeout=30)

    assert response.headers.get("Location", "").startswith(REDIRECT_URI + "?"), response.status_code
    query = redirect_query(response)
    assert (query["error"], query["state"], query["iss"]) == ("consent_required", "st", base_url)
    assert not Grant.objects.exists()


def test_prompt_none_is_login_required_for_an_anonymous_user(base_url):
    client = register_client(base_url)
    params = authorize_params(client["client_id"], pkce_pair()[1], state="st", prompt="none")

    response = requests.get(f"{base_url}/oauth/authorize", params=params, allow_redirects=False, timeout=30)

    query = redirect_query(response)
    assert (query["error"], query["state"]) == ("login_required", "st")
