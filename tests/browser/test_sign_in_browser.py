"""The password gate in a real browser, on the web process that also serves the intake:
every page's own address shows nothing but the sign-in until the password is entered;
an alert's link opens its card once signed in."""

from __future__ import annotations

from dataclasses import replace

import pytest
from playwright.sync_api import Page, expect

from core.owners import card_link
from tests.screens import briefing

pytestmark = pytest.mark.sqlite_only  # about the browser, not the database

PASSWORD = "correct horse battery staple"
# Each page's address, and a heading only that page shows once signed in.
PAGES = {"": "Planner", "activity": "Activity", "agents": "Agents & workflows",
         "settings": "Settings"}  # fmt: skip


@pytest.fixture
def dashboard_settings(settings):
    return replace(settings, dashboard_password=PASSWORD)


def sign_in(tab: Page, password: str) -> None:
    tab.get_by_label("Password", exact=True).fill(password)
    tab.get_by_role("button", name="Sign in").click()


def test_every_page_shows_only_the_sign_in_until_the_password_is_entered(
    open_tab, dashboard_url, agent
):
    for path, heading in PAGES.items():
        tab = open_tab()
        tab.goto(f"{dashboard_url}/{path}")
        expect(tab.get_by_role("button", name="Sign in")).to_be_visible()
        expect(tab.get_by_role("heading", name=heading, exact=True)).to_have_count(
            1 if heading == "Planner" else 0  # the sign-in's own title says "Planner"
        )
        expect(tab.get_by_text("Assistant")).to_have_count(0)
        expect(tab.get_by_role("link", name="Settings")).to_have_count(0)
        sign_in(tab, "wrong")
        expect(tab.get_by_text("That password is not right.")).to_be_visible()
        sign_in(tab, PASSWORD)
        expect(tab.get_by_role("button", name="Sign in")).to_have_count(0)
        expect(tab.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        tab.close()


def test_an_alerts_link_opens_its_card_after_signing_in(open_tab, dashboard_url, agent, session):
    job = briefing(session)
    tab = open_tab()
    tab.goto(card_link(dashboard_url, type(job), job.key))
    sign_in(tab, PASSWORD)
    expect(tab.get_by_role("heading", name="Briefing")).to_be_visible()
    expect(
        tab.get_by_role("button", name="Show all of Assistant's jobs and triggers")
    ).to_be_visible()
