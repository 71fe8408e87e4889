"""The browser, as tests and benchmarks use it: Debian's Chromium, headless and without
the background connections this machine's closed network refuses; where screenshots go,
and what the browser tests look for on a page (a card, its colours)."""

from __future__ import annotations

import re
import shutil

from playwright.sync_api import Page

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
