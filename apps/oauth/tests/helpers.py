"""Test helpers for OAuth flows over real HTTP: PKCE, registration, login, consent."""

from __future__ import annotations

import base64
import hashlib
import secrets
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

PASSWORD = "correct horse battery staple 42"
REDIRECT_URI = "http://127.0.0.1:8765/callback"


def pkce_pair() -> tuple[str, str]:
    """A code verifier and its S256 challenge (RFC 7636 §4)."""
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def register_client(base_url: str, redirect_uris=(REDIRECT_URI,), name: str = "Notes Helper", **extra) -> dict:
    body = {"redirect_uris": list(redirect_uris), "client_name": name, **extra}
    response = requests.post(f"{base_url}/api/oauth/register", json=body, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def login(base_url: str, email: str, password: str = PASSWORD) -> requests.Session:
    """A requests session logged in through the real login form."""
    session = requests.Session()
    session.get(f"{base_url}/accounts/login/", timeout=30)
    response = session.post(
        f"{base_url}/accounts/login/",
        data={"username": email, "password": password, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": f"{base_url}/accounts/login/"},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302, response.text
    return session


def authorize_params(client_id: str, challenge: str | None, *, redirect_uri=REDIRECT_URI, scope="memory:read", **extra):
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope}
    params["state"] = extra.pop("state", secrets.token_urlsafe(8))
    if challenge is not None:
        params["code_challenge"] = challenge
        params["code_challenge_method"] = "S256"
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


class _FormParser(HTMLParser):
    def __init__(self, form_id: str):
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("id") == self.form_id:
            self.inside = True
        elif tag == "input" and self.inside and attrs.get("name"):
            self.fields[attrs["name"]] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False


def form_fields(html: str, form_id: str = "consent-form") -> dict[str, str]:
    parser = _FormParser(form_id)
    parser.feed(html)
    return parser.fields


def consent(session: requests.Session, base_url: str, params: dict, *, allow: bool = True, tamper: dict | None = None):
    """Open the consent page and answer it; returns the response to the POST (not followed)."""
    url = f"{base_url}/oauth/authorize?{urlencode(params)}"
    page = session.get(url, allow_redirects=False, timeout=30)
    assert page.status_code == 200, (page.status_code, page.headers.get("Location"), page.text[:500])
    fields = form_fields(page.text)
    fields.update(tamper or {})
    if allow:
        fields["allow"] = "Allow"
    return session.post(url, data=fields, headers={"Referer": url}, allow_redirects=False, timeout=30)


def redirect_query(response) -> dict[str, str]:
    """The query of a redirect to the client, flattened."""
    assert response.status_code == 302, (response.status_code, response.text[:300])
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def exchange_data(client_id: str, code: str, verifier: str | None, *, redirect_uri=REDIRECT_URI, **extra) -> dict:
    """The code exchange's form; ``redirect_uri=None`` or ``verifier=None`` leaves that parameter out."""
    data = {"grant_type": "authorization_code", "code": code, "client_id": client_id}
    if redirect_uri is not None:
        data["redirect_uri"] = redirect_uri
    if verifier is not None:
        data["code_verifier"] = verifier
    return {**data, **extra}


def exchange(base_url: str, client_id: str, code: str, verifier: str | None, *, redirect_uri=REDIRECT_URI):
    """The code exchange; ``redirect_uri=None`` leaves the parameter out."""
    data = exchange_data(client_id, code, verifier, redirect_uri=redirect_uri)
    return requests.post(f"{base_url}/api/oauth/token", data=data, timeout=30)


def refresh(base_url: str, client_id: str, refresh_token: str):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    return requests.post(f"{base_url}/api/oauth/token", data=data, timeout=30)


def obtain_tokens(base_url: str, email: str, *, scope: str = "memory:read", client: dict | None = None, **extra):
    """Run the whole code flow with requests; returns (client, token response JSON)."""
    client = client or register_client(base_url)
    verifier, challenge = pkce_pair()
    session = login(base_url, email)
    params = authorize_params(client["client_id"], challenge, scope=scope, **extra)
    query = redirect_query(consent(session, base_url, params))
    response = exchange(base_url, client["client_id"], query["code"], verifier)
    assert response.status_code == 200, response.text
    return client, response.json()
