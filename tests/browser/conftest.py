"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against the
real web process (the Procfile's `streamlit run web/app.py`). Without Chromium every
browser test is skipped with the reason; CI sets PLANNER_REQUIRE_BROWSER=1 so that a
missing browser fails instead."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from support.browser import CHROMIUM, CHROMIUM_FLAGS
from support.processes import free_port, serve_web, settings_env, stop
from support.waiting import wait_until

# A page may be busy for seconds (the first Composio call imports its SDK), and many more
# on a loaded two-core machine running the rest of the suite beside it: assertions wait as
# long as actions do, on the condition itself, and a passing test never waits this long.
BROWSER_DEADLINE_MS = 90_000
expect.set_options(timeout=BROWSER_DEADLINE_MS)


@pytest.fixture(autouse=True)
def chromium() -> None:
    if not Path(CHROMIUM).exists():
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("PLANNER_REQUIRE_BROWSER"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


@pytest.fixture
def dashboard_settings(settings):
    """The settings the dashboard runs with; a test module may give others."""
    return settings


@pytest.fixture
def web_port() -> int:
    """The port the web process serves on: known before it starts, so that its settings
    can name its own address (PUBLIC_BASE_URL)."""
    return free_port()


@pytest.fixture
def dashboard_url(dashboard_settings, web_port, tmp_path) -> Iterator[str]:
    """The Procfile's web process, as a platform runs it: the dashboard at its address,
    with the intake beside it."""
    process, url = serve_web(settings_env(dashboard_settings), tmp_path / "web.log", web_port)

    def healthy() -> bool:
        try:
            return httpx.get(url + "/_stcore/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(healthy, timeout=60, what="the web process")
    yield url
    stop(process)


@pytest.fixture
def open_tab(dashboard_url) -> Iterator[Callable[..., Page]]:
    """Opens the dashboard in a new tab of one Chromium; `timezone_id` is the clock the
    browser reports (what the dashboard takes as the viewer's timezone)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)

        def open_one(timezone_id: str | None = None) -> Page:
            tab = browser.new_page(
                viewport={"width": 1400, "height": 1000}, timezone_id=timezone_id
            )
            tab.set_default_timeout(BROWSER_DEADLINE_MS)
            tab.goto(dashboard_url)
            return tab

        yield open_one
        browser.close()


@pytest.fixture
def page(open_tab) -> Page:
    """The dashboard, loaded when this fixture is set up: a test lists it after the
    fixtures that make what the first render must show (an agent: without one the page
    shows "No agents yet" until it is reloaded)."""
    return open_tab()
