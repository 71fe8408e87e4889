"""Settings in a real browser, while Composio is slow to answer: the page says what it
waits for ("Checking the key with Composio…") instead of sitting still — the first call
to Composio can take seconds. Composio is the fake, held back by its own lock."""

from __future__ import annotations

from dataclasses import replace

import pytest
from playwright.sync_api import Page, expect

from dashboard.settings_page import ASKING_TO_SEND, CHECKING_KEY


@pytest.fixture
def dashboard_settings(settings, composio, web_port):
    """Composio's API (the fake) known, no key yet, and a public address to send to."""
    return replace(
        settings, composio_api_key="", composio_webhook_secret="",
        composio_base_url=composio.url, public_base_url=f"http://127.0.0.1:{web_port}",
    )  # fmt: skip


def settled(page: Page) -> None:
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)


def test_settings_say_what_they_wait_for_while_composio_answers(page: Page, composio):
    page.get_by_role("link", name="Settings", exact=True).click()
    page.get_by_role("textbox", name="Composio API key").fill("test-key")
    with composio.lock:  # Composio answers nothing until the page said it is checking
        page.get_by_role("button", name="Save key").click()
        expect(page.get_by_text(CHECKING_KEY)).to_be_visible()
    expect(page.get_by_text("Saved. Now press Receive events below")).to_be_visible()
    expect(page.get_by_text(CHECKING_KEY)).to_have_count(0)
    settled(page)
    with composio.lock:
        page.locator(".st-key-composio_connect button").click()
        expect(page.get_by_text(ASKING_TO_SEND)).to_be_visible()
    expect(page.get_by_text("Receiving events. Deliveries from Composio")).to_be_visible()
