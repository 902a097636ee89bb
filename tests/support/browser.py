"""A real Chromium for browser tests: Playwright driving Debian's ``/usr/bin/chromium``.

``playwright install`` cannot download browsers here, so the system Chromium is launched with
flags that keep it headless and off the network except for the pages a test opens. Import the
``browser`` fixture into a test module with ``from tests.support.browser import browser_fixture``
(it is named ``browser`` for the tests that use it).
"""

from __future__ import annotations

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(name="browser")
def browser_fixture(monkeypatch):
    from django.db import connections
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # between browser steps are still plain synchronous calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
        # While Playwright's event loop runs, Django keeps this thread's connections per context
        # (asgiref's Local), so the ORM calls made meanwhile opened a connection of their own:
        # closed here, in that context, or it would keep the test database from being dropped.
        connections.close_all()
