"""Browser tests of the staff admin: Playwright (Python) driving Debian's Chromium (`/usr/bin/chromium`,
installed by scripts/ensure-chromium.sh; Playwright never downloads a browser) against pytest-django's live
server, with the demo data seeded. Screenshots go to docs/screenshots/ (the README shows two of them)."""

import io
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
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
VIEWPORT = {"width": 1280, "height": 800}
SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives Debian's Chromium through Playwright against the live server")


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module, with a new, empty profile (Playwright's temporary one)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure-chromium.sh (make test does).")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are synchronous.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def demo_site(live_server):
    """The live server (transactional database) with the demo data: `make run`'s clinic, in a test."""
    call_command("seed_demo", stdout=io.StringIO())
    return live_server


@pytest.fixture
def page(browser, demo_site):
    context = browser.new_context(viewport=VIEWPORT, base_url=demo_site.url, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def login(page):
    """login(username) signs in through the admin's login form as that demo staff member."""

    def sign_in(username: str):
        page.goto("/admin/login/?next=/admin/")
        page.fill("#id_username", username)
        page.fill("#id_password", settings.DEMO_PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url("**/admin/")
        return page

    return sign_in


@pytest.fixture
def screenshot(page):
    """screenshot(name) saves the viewport to docs/screenshots/<name>.png (1280x800)."""

    def save(name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path))
        return path

    return save
