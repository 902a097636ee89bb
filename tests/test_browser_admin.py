"""The admin console and the user pages in a real browser (Playwright driving Debian's Chromium).

Screenshots of the main pages are written to ``test-artifacts/screenshots/`` (gitignored) so
anyone can look at what the pages render.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
import requests

from apps.accounts.models import ApiKey
from apps.accounts.services import api_key_create, user_create
from apps.decisions.services import decision_create
from apps.identity.services import kernel_update
from apps.oauth.tests.helpers import authorize_params, pkce_pair, register_client
from apps.products.services import product_state_write
from apps.scopes.services import space_ensure_personal
from tests.support.browser import browser_fixture  # noqa: F401 - provides the browser fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple 42"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def api_status(base_url: str, token: str) -> tuple[int, dict]:
    response = requests.get(f"{base_url}/api/v1/scope", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return response.status_code, response.json()


@pytest.fixture
def customer():
    """A pro user with a kernel, a product, two decisions and an API key."""
    user = user_create(email="ada@example.com", password=PASSWORD, tier="pro", name="Ada Lovelace")
    space = space_ensure_personal(user=user)
    kernel_update(
        space=space,
        changes={
            "identity": {"name": "Ada Lovelace", "company": "Analytical Engines", "timezone": "Europe/London"},
            "constraints": {"never": ["Invent facts"], "always": ["Cite the decision ids"]},
        },
        actor="setup",
        actor_user=user,
    )
    product_state_write(
        space=space,
        name="Atlas",
        changes={"status": "active", "what_works": ["Login", "Search"], "open_questions": ["Which region?"]},
    )
    decision_create(
        space=space,
        decision="Adopt pgvector for semantic recall",
        product_name="Atlas",
        reasoning="One database for text and vectors.",
        tags=["database", "search"],
    )
    decision_create(space=space, decision="Ship the MCP server before the mobile app", product_name="Atlas")
    _, raw_key = api_key_create(user=user, name="ada laptop", scope="write")
    user.raw_key = raw_key
    user.space = space
    return user


def test_staff_find_a_decision_open_its_memory_overview_and_revoke_a_key(live_server, browser, customer):
    base = live_server.url
    staff = user_create(email="ops@example.com", password=PASSWORD, is_staff=True, is_superuser=True)
    assert api_status(base, customer.raw_key)[0] == 200

    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{base}/admin/")
    assert urlsplit(page.url).path == "/admin/login/"
    shot(page, "admin-login")
    page.fill("#id_username", staff.email)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    assert urlsplit(page.url).path == "/admin/"
    assert "Synchronex admin" in page.inner_text("#site-name")
    shot(page, "admin-index")

    # Find the decision by searching the Decision Index.
    page.click("#content-main a[href='/admin/decisions/decision/']")
    page.fill("#searchbar", "pgvector")
    page.press("#searchbar", "Enter")
    page.wait_for_selector("#result_list")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "Adopt pgvector for semantic recall" in rows.first.inner_text()
    shot(page, "admin-decision-search")

    # Its page links to the memory overview of its space.
    rows.first.locator("th a").click()
    page.wait_for_selector("text=Memory overview")
    page.click("text=Memory overview")
    page.wait_for_selector("#injection-block")
    assert urlsplit(page.url).path == f"/admin/scopes/space/{customer.space.pk}/overview/"
    block = page.inner_text("#injection-block")
    assert "Ada Lovelace" in block and "Invent facts" in block
    assert int(page.inner_text("#kernel-tokens")) > 0
    assert "Atlas" in page.inner_text("#products")
    recent = page.inner_text("#recent-decisions")
    assert "Adopt pgvector for semantic recall" in recent and "Ship the MCP server" in recent
    shot(page, "admin-memory-overview")

    # Revoke the customer's key with the admin action; the API refuses it from then on.
    page.goto(f"{base}/admin/accounts/apikey/")
    page.fill("#searchbar", "ada laptop")
    page.press("#searchbar", "Enter")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == 1
    page.check("#result_list tbody tr input.action-select")
    page.select_option("select[name=action]", "revoke")
    page.click("button[name=index]")
    page.wait_for_selector("ul.messagelist li")
    assert "Revoked 1 key(s)." in page.inner_text("ul.messagelist")
    assert "revoked" in page.inner_text("#result_list tbody tr")
    shot(page, "admin-api-key-revoked")

    assert ApiKey.objects.get(user=customer).revoked_at is not None
    status, body = api_status(base, customer.raw_key)
    assert status == 401 and body["error"]["code"] == "UNAUTHORIZED"


def test_the_user_pages_share_one_base_with_local_assets(live_server, browser, customer):
    base = live_server.url
    page = browser.new_context(viewport={"width": 1100, "height": 800}).new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    # Every page is sent the Content-Security-Policy (synchronex/page_security.py): none may need
    # what it blocks (Chromium reports each blocked load or inline script on the console).
    refused: list[str] = []
    page.on("console", lambda message: "Content Security Policy" in message.text and refused.append(message.text))

    page.goto(f"{base}/accounts/login/")
    # The stylesheet is the site's own and it applied.
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(246, 247, 249)"
    shot(page, "login")
    page.fill("#id_username", customer.email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("nav")

    page.goto(f"{base}/settings/keys")
    page.fill("#id_name", "CI runner")
    page.click("form.grid button[type=submit]")
    page.wait_for_selector("#new-key")
    assert page.inner_text("nav a[aria-current=page]") == "API keys"
    assert "Admin" not in page.inner_text("nav")  # not staff
    shot(page, "settings-keys")

    page.click("nav >> text=Connected apps")
    page.wait_for_selector("#no-apps")
    assert page.inner_text("nav a[aria-current=page]") == "Connected apps"
    shot(page, "settings-apps")

    client = register_client(base, name="Notes Helper")
    params = authorize_params(client["client_id"], pkce_pair()[1], scope="memory:read decisions:read")
    page.goto(f"{base}/oauth/authorize?{urlencode(params)}")
    page.wait_for_selector("#consent")
    assert page.inner_text("#app-name") == "Notes Helper"
    assert page.locator("nav").count() == 1
    shot(page, "oauth-consent")

    # Every asset came from this server: no CDN, fonts or scripts from elsewhere.
    assert requested and all(url.startswith(base) for url in requested), requested
    assert not refused, refused
