"""What the browser tests share: where screenshots go and how to find a card."""

from __future__ import annotations

import re

from playwright.sync_api import Page

from support.processes import ROOT

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
