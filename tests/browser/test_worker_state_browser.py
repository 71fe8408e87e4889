"""The worker's state, live, in a real browser: the banner comes and goes with a real
worker process while the page stays open — never reloaded."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from core.views.overview import SHOWN_DOWN_WITHIN

BANNER = "Nothing will run until the worker is started"


def test_the_banner_follows_the_worker_stopping_and_starting_without_a_reload(page: Page, consumer):
    banner = page.get_by_text(BANNER)
    expect(banner).to_be_visible()  # no worker yet
    # A mark in the page's own window: a reload would wipe it.
    page.evaluate("window.plannerNotReloaded = true")

    worker = consumer()
    expect(banner).to_be_hidden()

    worker.stop()  # as a platform stops it: SIGTERM
    stopped_at = time.monotonic()
    expect(banner).to_be_visible()
    assert time.monotonic() - stopped_at <= SHOWN_DOWN_WITHIN.total_seconds()
    expect(banner).to_contain_text("Restart Planner on your hosting platform")

    consumer()
    expect(banner).to_be_hidden()
    assert page.evaluate("window.plannerNotReloaded === true")
