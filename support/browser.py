"""The browser, as tests and benchmarks use it: Debian's Chromium, headless and without
the background connections this machine's closed network refuses; where screenshots go,
and what the browser tests look for on a page (a card, its colours)."""

from __future__ import annotations

import re
import shutil

from playwright.sync_api import Locator, Page, expect

from support.processes import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SCREENSHOTS = ROOT / "docs" / "screenshots"


def is_green(css_color: str) -> bool:
    red, green, blue = (int(part) for part in re.findall(r"\d+", css_color)[:3])
    return green > red and green > blue


def is_grey(css_color: str) -> bool:
    red, green, blue = (int(part) for part in re.findall(r"\d+", css_color)[:3])
    return max(red, green, blue) - min(red, green, blue) < 40


def card(page: Page, name: str, button: str = "Run now"):
    """The card of `name`: the innermost block holding its heading, its main button and
    its history."""
    return (
        page.locator("div")
        .filter(has=page.get_by_role("heading", name=name))
        .filter(has=page.get_by_role("button", name=button))
        .filter(has=page.get_by_text("History", exact=True))
        .last
    )


def gmail_workflow_trigger(page: Page, name: str) -> Locator:
    """The trigger dialog opened and filled as a person starts a Gmail trigger that runs
    the workflow analyze-email (Gmail signed in); the dialog."""
    page.get_by_role("button", name="+ Add trigger").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name", exact=True).fill(name)
    expect(dialog.get_by_role("combobox", name="App")).to_have_value("Gmail · connected")
    dialog.get_by_text("Run a workflow").click()
    expect(dialog.get_by_role("combobox", name="Workflow")).to_have_value("analyze-email")
    return dialog
