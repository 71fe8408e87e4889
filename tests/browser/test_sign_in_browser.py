"""The password gate in a real browser, on the web process that also serves the intake:
every page's own address shows nothing but the sign-in until the password is entered;
an alert's link opens its card once signed in; wrong passwords are held back,
said and logged."""

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


def test_wrong_passwords_are_held_back_said_and_logged_once(open_tab, dashboard_url, tmp_path):
    tab = open_tab()
    for _ in range(4):  # each on a page of its own, so that each try is seen to be answered
        sign_in(tab, "guess-7f3a")
        expect(tab.get_by_text("That password is not right.")).to_be_visible()
        tab.reload()
    expect(tab.get_by_role("button", name="Sign in")).to_be_visible()
    expect(tab.get_by_text("Too many wrong passwords")).to_have_count(0)
    sign_in(tab, "guess-7f3a")
    expect(
        tab.get_by_text("Too many wrong passwords from here: try again in 1 second.")
    ).to_be_visible()
    log = (tmp_path / "web.log").read_text()
    assert log.count("sign-in: 5 wrong passwords from this machine;") == 1
    assert "guess-7f3a" not in log
