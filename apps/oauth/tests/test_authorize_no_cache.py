"""Every answer of /oauth/authorize is one account's (its consent form, or what was wrong with its
request): never stored by a browser or any cache, its error envelopes included — those raised
through the view, refused before it, or put in place of its own answer."""

from __future__ import annotations

import json
import logging
from urllib.parse import urlencode

import pytest
import requests
from oauth2_provider.models import get_application_model
from requests.structures import CaseInsensitiveDict

from apps.oauth import views
from apps.oauth.tests.helpers import (
    REDIRECT_URI,
    authorize_params,
    consent,
    form_fields,
    login,
    pkce_pair,
    register_client,
)
from apps.oauth.tests.test_unreadable_requests import TOO_MANY_FIELDS, raw_request

Application = get_application_model()

pytestmark = pytest.mark.django_db(transaction=True)

# What Django's never_cache sets on the consent page itself.
NO_CACHE = "max-age=0, no-cache, no-store, must-revalidate, private"


class Answer:
    """``raw_request``'s answer, read as a ``requests`` response is."""

    def __init__(self, status: int, headers: dict, raw: bytes):
        self.status_code, self.headers, self.text = status, CaseInsensitiveDict(headers), raw.decode()

    def json(self):
        return json.loads(self.text)


def cookies(session: requests.Session) -> str:
    return "; ".join(f"{name}={value}" for name, value in session.cookies.items())


def unreadable_query(base_url, session, params, monkeypatch):
    return requests.get(f"{base_url}/oauth/authorize?{TOO_MANY_FIELDS}", allow_redirects=False, timeout=30)


def unknown_client(base_url, session, params, monkeypatch):
    params = {**params, "client_id": "no-such-client"}
    return session.get(f"{base_url}/oauth/authorize", params=params, allow_redirects=False, timeout=30)


def unknown_client_with_prompt_none(base_url, session, params, monkeypatch):
    params = {**params, "client_id": "no-such-client", "prompt": "none"}
    return session.get(f"{base_url}/oauth/authorize", params=params, allow_redirects=False, timeout=30)


def unregistered_redirect_uri(base_url, session, params, monkeypatch):
    params = {**params, "redirect_uri": "http://evil.example/callback"}
    return session.get(f"{base_url}/oauth/authorize", params=params, allow_redirects=False, timeout=30)


def method_not_allowed(base_url, session, params, monkeypatch):
    url = f"{base_url}/oauth/authorize?{urlencode(params)}"
    session.get(url, timeout=30)  # the CSRF cookie, so that the refusal is the method's
    headers = {"X-CSRFToken": session.cookies["csrftoken"], "Referer": url}
    return session.delete(url, headers=headers, allow_redirects=False, timeout=30)


def csrf_failure(base_url, session, params, monkeypatch):
    fields = {**params, "allow": "Allow"}
    return session.post(f"{base_url}/oauth/authorize", params=params, data=fields, allow_redirects=False, timeout=30)


def posted_unknown_client(base_url, session, params, monkeypatch):
    return consent(session, base_url, params, tamper={"client_id": "nope"})


def more_redirect_uris_since_the_page(base_url, session, params, monkeypatch):
    params = {**params, "redirect_uri": None}
    params = {name: value for name, value in params.items() if value is not None}
    url = f"{base_url}/oauth/authorize?{urlencode(params)}"
    fields = form_fields(session.get(url, timeout=30).text)
    Application.objects.filter(client_id=params["client_id"]).update(
        redirect_uris=f"{REDIRECT_URI} http://127.0.0.1:8765/other"
    )
    return session.post(url, data={**fields, "allow": "Allow"}, headers={"Referer": url}, timeout=30)


def unreadable_body(base_url, session, params, monkeypatch):
    # Refused before any view reads it (``ApiErrorMiddleware``); sent byte for byte.
    target = f"/oauth/authorize?{urlencode(params)}"
    return raw_request(base_url, "POST", target, headers={"Content-Length": "-1", "Cookie": cookies(session)})


def unexpected_error(base_url, session, params, monkeypatch):
    def broken(self, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(views.ConsentView, "get_context_data", broken)
    return session.get(f"{base_url}/oauth/authorize", params=params, allow_redirects=False, timeout=30)


@pytest.mark.parametrize(
    "request_, status",
    [
        (unreadable_query, 400),
        (unknown_client, 400),
        (unknown_client_with_prompt_none, 400),
        (unregistered_redirect_uri, 400),
        (method_not_allowed, 405),
        (csrf_failure, 403),
        (posted_unknown_client, 400),
        (more_redirect_uris_since_the_page, 400),
        (unreadable_body, 400),
        (unexpected_error, 500),
    ],
    ids=lambda case: getattr(case, "__name__", None),
)
def test_every_error_of_authorize_is_never_cached_like_the_consent_page(
    base_url, person, monkeypatch, caplog, request_, status
):
    caplog.set_level(logging.CRITICAL, logger="synchronex.api")  # the unexpected error's traceback
    client = register_client(base_url)
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], pkce_pair()[1])
    page = session.get(f"{base_url}/oauth/authorize", params=params, allow_redirects=False, timeout=30)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == NO_CACHE

    response = request_(base_url, session, params, monkeypatch)
    if isinstance(response, tuple):  # raw_request's answer
        response = Answer(*response)

    assert response.status_code == status, response.text[:300]
    assert response.headers["Content-Type"].startswith("application/json")
    assert "error" in response.json()
    assert response.headers["Cache-Control"] == page.headers["Cache-Control"]
    assert "Expires" in response.headers
