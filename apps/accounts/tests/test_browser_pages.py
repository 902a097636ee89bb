"""The login form and the keys page in a real browser (Playwright driving Debian's Chromium)."""

from __future__ import annotations

import time
import unicodedata

import pytest

from apps.accounts.models import ApiKey
from apps.accounts.services import user_create
from tests.support.browser import browser_fixture  # noqa: F401 - provides the browser fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple 42"
SENT_TWICE = "This form was already sent"


def signed_in_page(browser, base: str, email: str):
    page = browser.new_context().new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/settings/keys")
    return page


@pytest.mark.parametrize("typed", ["jürgen@example.com", "Jürgen@Example.com", "nfd"])
def test_an_account_with_a_non_ascii_address_signs_in_through_the_form(live_server, browser, typed):
    # The README's own example account: an <input type=email> refused its address in the browser,
    # so the form was never sent.
    user_create(email="jürgen@example.com", password=PASSWORD, tier="pro")
    typed = unicodedata.normalize("NFD", "jürgen@example.com") if typed == "nfd" else typed
    page = signed_in_page(browser, live_server.url, typed)
    assert page.inner_text("nav .who") == "jürgen@example.com"


def test_reloading_the_page_that_showed_a_new_key_makes_no_other_key(live_server, browser):
    user = user_create(email="ada@example.com", password=PASSWORD)
    page = signed_in_page(browser, live_server.url, user.email)
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    page.fill("#id_name", "laptop")
    page.select_option("#id_scope", "write")
    page.click("form.grid button[type=submit]")
    page.wait_for_selector("#new-key-value")
    first = page.inner_text("#new-key-value")

    posts.clear()
    page.reload()  # Chromium sends the form again, as "Resubmit?" confirmed does
    assert posts == [f"{live_server.url}/settings/keys"]
    assert SENT_TWICE in page.inner_text("form.grid .error")
    assert page.locator("#new-key-value").count() == 0
    assert list(ApiKey.objects.filter(user=user).values_list("prefix", flat=True)) == [first[:14]]

    # The page's fresh form makes a key as usual.
    page.fill("#id_name", "desktop")
    page.click("form.grid button[type=submit]")
    page.wait_for_selector("#new-key-value")
    assert ApiKey.objects.filter(user=user).count() == 2


def test_a_form_sent_twice_at_once_makes_one_key(live_server, browser):
    user = user_create(email="ada@example.com", password=PASSWORD)
    page = signed_in_page(browser, live_server.url, user.email)
    page.fill("#id_name", "laptop")
    # The page's form sent twice at once, as a double click does in browsers that send both clicks
    # (or a second click while a slow first answer is awaited).
    pages = page.evaluate(
        """async () => {
            const form = document.querySelector("form.grid");
            const send = () => fetch(location.href, {method: "POST", body: new FormData(form)}).then(r => r.text());
            return Promise.all([send(), send()]);
        }"""
    )
    assert ApiKey.objects.filter(user=user).count() == 1
    assert sorted('id="new-key-value"' in html for html in pages) == [False, True]
    assert sum(SENT_TWICE in html for html in pages) == 1

    # A real double click on a fresh page's button (this Chromium sends it once): one key, and the
    # page shows it or says the form was sent.
    page.goto(f"{live_server.url}/settings/keys")
    page.fill("#id_name", "desktop")
    page.dblclick("form.grid button[type=submit]")
    page.wait_for_selector(f"#new-key-value, form.grid .error:has-text('{SENT_TWICE}')")
    deadline = time.monotonic() + 5
    while ApiKey.objects.filter(user=user).count() < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # a second key from the second click would be there by now
    assert sorted(ApiKey.objects.filter(user=user).values_list("name", flat=True)) == ["desktop", "laptop"]
