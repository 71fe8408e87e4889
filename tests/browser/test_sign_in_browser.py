"""The password gate in a real browser, on the web process that also serves the intake:
every page's own address shows nothing but the sign-in until the password is entered;
an alert's link opens its card once signed in; wrong passwords are held back, said and
logged; the browser asks nothing of any other machine; Streamlit's own addresses give
away no Planner data."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from core.automations.shared import card_link
from support.browser import CHROMIUM, CHROMIUM_FLAGS
from support.screens import briefing

PASSWORD = "correct horse battery staple"
# Each page's address, and a heading only that page shows once signed in.
PAGES = {"": "Planner", "activity": "Activity", "agents": "Agents & workflows",
         "settings": "Settings"}  # fmt: skip
# The page's icon as Streamlit sends an SVG file: within the page.
WITHIN_THE_PAGE = re.compile(r"^data:image/svg\+xml")


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


def test_no_request_leaves_this_machine_before_or_after_signing_in(dashboard_url, agent, session):
    """The page's icon travels within the page: a ":material/…:" one made every page,
    the sign-in included, fetch it from fonts.gstatic.com."""
    briefing(session)
    asked: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.on("request", lambda request: asked.append(request.url))
        tab.on("websocket", lambda socket: asked.append(socket.url))
        tab.goto(dashboard_url)
        expect(tab.get_by_role("button", name="Sign in")).to_be_visible()
        icon = tab.locator("link[rel='shortcut icon']")
        expect(icon).to_have_attribute("href", WITHIN_THE_PAGE)
        tab.wait_for_load_state("networkidle")
        for path, heading in PAGES.items():  # each signed in to anew: a page load is a session
            tab.goto(f"{dashboard_url}/{path}")
            sign_in(tab, PASSWORD)
            expect(tab.get_by_role("heading", name=heading, exact=True)).to_be_visible()
            expect(icon).to_have_attribute("href", WITHIN_THE_PAGE)
            tab.wait_for_load_state("networkidle")
        browser.close()
    assert {"http", "ws"} <= {urlsplit(url).scheme for url in asked}  # the page, its socket
    elsewhere = [url for url in asked if urlsplit(url).scheme not in ("data", "blob")
                 and urlsplit(url).hostname != "127.0.0.1"]  # fmt: skip
    assert elsewhere == []


# What each of Streamlit's own addresses answers to anyone, without the password
# (method, path, status, and a text the answer holds). See web/app.py.
STREAMLIT_ADDRESSES = [
    ("GET", "/_stcore/health", 200, "ok"),
    ("GET", "/_stcore/host-config", 200, "allowedOrigins"),
    ("GET", "/_stcore/metrics", 404, "Not Found"),  # closed: sessions and function names
    ("GET", "/_stcore/metrics/", 404, "Not Found"),
    ("GET", "/_stcore/script-health-check", 200, "<noscript>"),  # off: the frontend's page
    ("GET", "/media/favicon.png", 404, "File not found"),
    ("PUT", "/_stcore/upload_file/session/file", 403, "XSRF"),
    ("GET", "/component/any/index.html", 404, "Component not found"),
    ("GET", "/_stcore/bidi-components/any/index.js", 404, "not found"),
    ("GET", "/_stcore/agent/openapi.json", 200, "switched off"),
    ("POST", "/_stcore/agent/interact", 403, "not_available"),
    ("POST", "/_stcore/agent/mcp", 400, "not_available"),
    ("GET", "/app/static/icon.svg", 200, "<noscript>"),  # static serving off: the page
    ("GET", "/auth/login", 302, ""),
    ("GET", "/settings", 200, "<noscript>"),
]


def test_streamlits_own_addresses_give_away_no_planner_data(
    open_tab, dashboard_url, dashboard_settings, agent, session
):
    """Asked while someone is signed in and looking at Planner's data, without the
    password: each answers what Streamlit answers any app, nothing of Planner's."""
    briefing(session)
    tab = open_tab()
    sign_in(tab, PASSWORD)
    expect(tab.get_by_role("heading", name="Briefing")).to_be_visible()
    secrets = ["Assistant", "Briefing", "Be brief", "dashboard.", "test-model", PASSWORD,
               dashboard_settings.secret_key, dashboard_settings.database_url]  # fmt: skip
    with httpx.Client(base_url=dashboard_url, follow_redirects=False) as client:
        for method, path, status, holds in STREAMLIT_ADDRESSES:
            body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize"})
            answer = client.request(
                method, path, content=body if method == "POST" else None,
                headers={"Content-Type": "application/json"},
            )  # fmt: skip
            assert (answer.status_code, holds in answer.text) == (status, True), path
            told = answer.text + str(answer.headers)
            assert [secret for secret in secrets if secret and secret in told] == [], path
