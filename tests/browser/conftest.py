"""Browser tests: Debian's Chromium driven by Playwright against pytest-django's live server.

Outside CI a missing Chromium (or Playwright) skips these tests; in CI (CI=true) it fails them.
Never `playwright install`: the browser is the system's /usr/bin/chromium.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from tests.conftest import require_service

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Every wait is explicit (a selector, a navigation, a download); none takes longer than this.
TIMEOUT_MS = 20_000
PASSWORD = "correct horse battery staple"


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        require_service("Chromium", f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        require_service("Playwright", str(exc))
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are
    # still synchronous, so Django's async-safety check must not refuse them.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
            # Connections opened while Playwright ran live in its context (Django keeps them in
            # context variables): close them here, or PostgreSQL cannot drop the test database.
            connections.close_all()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(autouse=True)
def _fast_passwords(fast_passwords: None, settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def with_password(user: Any) -> Any:
    """A persona of tests/conftest.py who can sign in on the login page (log_in())."""
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    return user


@pytest.fixture
def account_manager(alice: Any) -> Any:
    return with_password(alice)


@pytest.fixture
def print_room(print_room: Any) -> Any:
    """tests/conftest.py's print room, with a password."""
    return with_password(print_room)


def log_in(page: Any, base_url: str, username: str, path: str = "/") -> None:
    """Open `path`, log in on the admin's login page it leads to, and wait to be back."""
    page.goto(base_url + path)
    page.wait_for_selector("#login-form")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("#login-form input[type=submit]")
    page.wait_for_selector("#user-tools")
