"""
A real Chromium, driven by Playwright, against pytest-django's live server.

The browser is the system's (Debian's ``chromium`` package, or ``CHROMIUM_PATH``); nothing
here downloads one. Without Playwright or a browser the tests skip, and say so loudly.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
#: Seconds a browser expectation may take (a worker must claim and run the task first).
TIMEOUT = 20


def _unavailable() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install playwright)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)"
    return None


def pytest_collection_modifyitems(config, items) -> None:
    reason = _unavailable()
    browser_items = [i for i in items if i.get_closest_marker("browser")]
    if reason and browser_items:
        sys.stderr.write(
            "\n" + "!" * 78 + f"\n!! BROWSER TESTS SKIPPED: {reason}\n" + "!" * 78 + "\n"
        )
        skip = pytest.mark.skip(reason=f"BROWSER TESTS SKIPPED: {reason}")
        for item in browser_items:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT * 1000)
    # Playwright's sync API runs an event loop in this thread, so Django takes the test's
    # own (synchronous) ORM calls between browser steps for async code and refuses them.
    # Allowed for these tests only, and put back afterwards.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server, admin_user, client):
    """A fresh browser tab, logged in to the admin as a superuser."""
    from django.conf import settings

    client.force_login(admin_user)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    context.set_default_timeout(TIMEOUT * 1000)
    # The admin's app sidebar folded away: the page gets the width (and screenshots too).
    context.add_init_script(
        "window.localStorage.setItem('django.admin.navSidebarIsOpen', 'false');"
    )
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


@pytest.fixture
def screenshot():
    """``screenshot(page, "name")``: save a full-page PNG under test-artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
