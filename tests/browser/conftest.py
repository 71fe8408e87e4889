"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against the
real `streamlit run`. Without Chromium every browser test is skipped with the reason; CI
sets PLANNER_REQUIRE_BROWSER=1 so that a missing browser fails instead."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from support.processes import ROOT, free_port, settings_env
from support.waiting import wait_until

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# A page may be busy for seconds (the first Composio call imports its SDK): assertions
# wait as long as actions do.
expect.set_options(timeout=30_000)
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


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
def dashboard_url(dashboard_settings, tmp_path) -> Iterator[str]:
    port = free_port()
    streamlit = str(Path(sys.executable).with_name("streamlit"))
    log = (tmp_path / "streamlit.log").open("wb")
    process = subprocess.Popen(
        [streamlit, "run", "dashboard/app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=settings_env(dashboard_settings), stdout=log, stderr=log,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(url + "/_stcore/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(healthy, timeout=60, what="streamlit")
    yield url
    process.terminate()
    process.wait(timeout=20)


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
            tab.set_default_timeout(30_000)
            tab.goto(dashboard_url)
            return tab

        yield open_one
        browser.close()


@pytest.fixture
def page(open_tab) -> Page:
    return open_tab()
