"""The whole OAuth flow in a real browser (Playwright driving Debian's Chromium).

A third-party app is played by this test: it registers over HTTP, sends the browser to the
authorize URL, receives the code on a loopback redirect served by a tiny http.server, and
exchanges it with its PKCE verifier.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from apps.oauth.tests.helpers import PASSWORD, authorize_params, exchange, pkce_pair, refresh, register_client
from synchronex.api.scopes import SCOPES
from tests.support.browser import browser_fixture  # noqa: F401 - provides the browser fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class _AppHandler(BaseHTTPRequestHandler):
    """The third-party app's loopback listener (RFC 8252 §7.3)."""

    def do_GET(self):  # noqa: N802 - http.server's naming
        parts = urlsplit(self.path)
        if parts.path == "/callback":
            self.server.callbacks.append({k: v[0] for k, v in parse_qs(parts.query).items()})
            body = b"<!doctype html><title>Done</title><p id='done'>Connected. You can close this window.</p>"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def app_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AppHandler)
    server.callbacks = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


def log_in(page, email):
    assert "/accounts/login/" in page.url
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#consent")


def api_get(base_url, token):
    return requests.get(f"{base_url}/api/v1/scope", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def start(base_url, app_server, browser, person, *, scope="memory:read decisions:read"):
    """Register the app, open the authorize URL, log in; returns (client, verifier, state, page)."""
    callback = f"{app_server.url}/callback"
    client = register_client(base_url, redirect_uris=[callback], name="Browser Notes")
    verifier, challenge = pkce_pair()
    params = authorize_params(client["client_id"], challenge, redirect_uri=callback, scope=scope)
    page = browser.new_context().new_page()
    page.goto(f"{base_url}/oauth/authorize?{urlencode(params)}")
    log_in(page, person.email)
    return client, verifier, params["state"], page


def allow(page, app_server) -> dict:
    page.click("#allow")
    page.wait_for_selector("#done")
    assert page.url.startswith(f"{app_server.url}/callback?")
    return app_server.callbacks[-1]


def test_browser_flow_consent_exchange_api_refresh_revoke(base_url, app_server, browser, person):
    client, verifier, state, page = start(base_url, app_server, browser, person)

    host = urlsplit(app_server.url).netloc
    assert page.inner_text("#app-name") == "Browser Notes"
    assert page.inner_text("#redirect-host") == host
    scope_items = page.locator("#scopes li")
    assert scope_items.count() == 2
    assert SCOPES["memory:read"] in scope_items.nth(0).inner_text()
    assert SCOPES["decisions:read"] in scope_items.nth(1).inner_text()
    assert page.locator("#deny").is_visible()

    received = allow(page, app_server)
    assert received["state"] == state
    assert received["iss"] == base_url
    tokens = exchange(base_url, client["client_id"], received["code"], verifier, redirect_uri=page.url.split("?")[0])
    assert tokens.status_code == 200, tokens.text
    tokens = tokens.json()
    assert tokens["access_token"].startswith("sxo_")
    assert api_get(base_url, tokens["access_token"]).status_code == 200

    rotated = refresh(base_url, client["client_id"], tokens["refresh_token"]).json()
    assert rotated["access_token"] != tokens["access_token"]
    assert api_get(base_url, tokens["access_token"]).status_code == 401
    assert api_get(base_url, rotated["access_token"]).status_code == 200

    revoked = requests.post(
        f"{base_url}/api/oauth/revoke",
        data={"token": rotated["access_token"], "client_id": client["client_id"]},
        timeout=30,
    )
    assert revoked.status_code == 200
    refused = api_get(base_url, rotated["access_token"])
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "UNAUTHORIZED"


def test_browser_deny_sends_access_denied_to_the_app(base_url, app_server, browser, person):
    _, _, state, page = start(base_url, app_server, browser, person)

    page.click("#deny")
    page.wait_for_selector("#done")

    received = app_server.callbacks[-1]
    assert received["error"] == "access_denied"
    assert received["state"] == state
    assert "code" not in received


def test_browser_disconnect_from_settings_apps_revokes_the_app(base_url, app_server, browser, person):
    client, verifier, _, page = start(base_url, app_server, browser, person)
    received = allow(page, app_server)
    callback = f"{app_server.url}/callback"
    tokens = exchange(base_url, client["client_id"], received["code"], verifier, redirect_uri=callback).json()
    assert api_get(base_url, tokens["access_token"]).status_code == 200

    page.goto(f"{base_url}/settings/apps")
    row = page.locator(f'tr[data-client-id="{client["client_id"]}"]')
    assert "Browser Notes" in row.inner_text()
    assert SCOPES["decisions:read"] in row.inner_text()
    assert row.locator(".last-used").inner_text() != "never"
    row.locator("button", has_text="Disconnect").click()
    page.wait_for_selector(".messages")

    assert "Disconnected “Browser Notes”." in page.inner_text(".messages")
    assert page.locator(f'tr[data-client-id="{client["client_id"]}"]').count() == 0
    assert api_get(base_url, tokens["access_token"]).status_code == 401
    assert refresh(base_url, client["client_id"], tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_browser_refuses_to_show_the_consent_page_in_a_frame(base_url, app_server, browser, person):
    _, _, _, page = start(base_url, app_server, browser, person)
    consent_url = page.url
    # A page on the server's own origin (so the session cookie goes along) that frames the
    # consent page next to a control frame: only the headers can stop the first one.
    framing_url = f"{base_url}/framing-test"
    html = (
        f'<!doctype html><iframe id="control" src="{base_url}/static/css/site.css"></iframe>'
        f'<iframe id="victim" src="{consent_url}"></iframe>'
    )
    page.route(framing_url, lambda route: route.fulfill(status=200, content_type="text/html", body=html))

    page.goto(framing_url)
    page.wait_for_load_state("load")

    assert "--fg" in page.frame_locator("#control").locator("body").inner_text()
    victim = page.frame_locator("#victim")
    assert victim.locator("#consent").count() == 0
    assert victim.locator("#allow").count() == 0
    assert app_server.callbacks == []
