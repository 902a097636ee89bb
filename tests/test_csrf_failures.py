"""A failed CSRF check says so: the JSON envelope under the JSON prefixes (the consent page at
/oauth/authorize), Django's HTML page on the other browser pages."""

from __future__ import annotations

import pytest
import requests

from apps.oauth.tests.helpers import authorize_params, login, pkce_pair, register_client

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_consent_form_posted_without_its_csrf_token_is_a_forbidden_that_names_csrf(base_url, person):
    client = register_client(base_url)
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], pkce_pair()[1])
    url = f"{base_url}/oauth/authorize"

    response = session.post(url, params=params, data={**params, "allow": "Allow"}, allow_redirects=False, timeout=30)

    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "FORBIDDEN"
    # Not the bearer-token sentence of the other 403s: nothing is wrong with a token here.
    assert "CSRF" in error["message"]
    assert error["message"] != "This token is not allowed to do that."


def test_a_browser_page_posted_without_its_csrf_token_keeps_the_html_page(base_url, person):
    session = login(base_url, person.email)

    response = session.post(f"{base_url}/settings/keys", data={"name": "x", "scope": "read"}, timeout=30)

    assert response.status_code == 403
    assert response.headers["Content-Type"].startswith("text/html")
    assert "CSRF verification failed" in response.text


def test_an_api_route_never_asks_for_a_csrf_token(base_url):
    response = requests.post(f"{base_url}/api/v1/memory/decisions", json={}, timeout=30)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"
