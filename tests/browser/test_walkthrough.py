"""Both flows of a first-time user, from an empty database, only with clicks and typing
in a real browser whose clock is in Berlin: add an agent with a pasted key and test it,
add the Morning Briefing and read its reply; connect Composio and Gmail in Settings; add
the analyze-email workflow and the Gmail → analyze-email trigger, and read the workflow's
input and answer after a signed event. Each step leaves a screenshot in
docs/screenshots/."""

from __future__ import annotations

import re
from dataclasses import replace

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from core.store.db import read_session
from core.store.models import Agent, EventTrigger
from support.browser import SCREENSHOTS, card, gmail_workflow_trigger
from support.delivery import event_body, signed
from support.fake_composio import connect_composio_and_gmail

KEY = "sk-walkthrough-5f0c1d2e"


@pytest.fixture
def dashboard_settings(settings, composio, web_port):
    """A fresh deployment: Composio's API (the fake) known but no key and no signing
    secret yet, PUBLIC_BASE_URL the web process's own address (deliveries go there too)."""
    return replace(
        settings, composio_api_key="", composio_webhook_secret="",
        composio_base_url=composio.url, public_base_url=f"http://127.0.0.1:{web_port}",
    )  # fmt: skip


def choose(page: Page, label: str, option: str) -> None:
    """Pick `option` in the select box labelled `label`, as a person does."""
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option).click()


def settled(page: Page) -> None:
    """Wait until the app has finished running (a click while it runs can be lost)."""
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)


def keyed(page: Page, key: str):
    """The button Streamlit made for widget `key` (several share a label, like Connect)."""
    return page.locator(f".st-key-{key} button")


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def add_an_agent(page: Page, target, key: str = "") -> None:
    """From the empty Planner page, the Ollama preset pointed at the fake agent; with a
    `key`, pasted into the form (and a screenshot of the form)."""
    expect(page.get_by_text("No agents yet")).to_be_visible()
    page.get_by_role("link", name="Add an agent on Agents & workflows").click()
    choose(page, "Start from", "Ollama on this computer")
    form = page.get_by_test_id("stForm").first
    expect(form.get_by_label("Address")).to_have_value("http://localhost:11434/v1")
    expect(form.get_by_label("Model")).to_have_value("llama3.2")
    form.get_by_label("Name", exact=True).fill("Assistant")
    form.get_by_label("Address").fill(target.url + "/v1")  # where this Ollama runs
    if key:
        form.get_by_label("API key (if it needs one)").fill(key)
        shot(page, "walkthrough-1-agent")
    form.get_by_role("button", name="Add agent").click()
    expect(page.get_by_role("button", name="Test connection")).to_be_visible()  # saved


def add_agent_with_a_key(page: Page, target) -> None:
    add_an_agent(page, target, KEY)
    page.get_by_role("button", name="Test connection").click()
    expect(
        page.get_by_text("Assistant answered: reply to: This is a connection test")
    ).to_be_visible()
    shot(page, "walkthrough-2-agent-tested")
    assert KEY not in page.content()
    [request] = target.received("/v1/chat/completions")
    assert request.headers["Authorization"] == f"Bearer {KEY}"


def test_morning_briefing_from_an_empty_database(open_tab, settings, target, consumer):
    consumer()
    page = open_tab("Europe/Berlin")
    add_agent_with_a_key(page, target)

    page.get_by_role("link", name="Planner", exact=True).click()
    page.get_by_role("button", name="+ Add job").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name", exact=True).fill("Morning Briefing")
    dialog.get_by_text("Every day at 9:00").click()
    expect(dialog.get_by_role("combobox", name="Timezone")).to_have_value(re.compile("Berlin"))
    message = dialog.get_by_label("Message to the agent")
    message.fill("Good morning! Today is {dayOfWeek}.")
    message.press("Control+Enter")
    shot(page, "walkthrough-3-job")
    dialog.get_by_role("button", name="Save").click()

    briefing = card(page, "Morning Briefing")
    expect(briefing.get_by_text(re.compile(r"09:00.*Berlin")).first).to_be_visible()
    briefing.get_by_role("button", name="Run now").click()
    reply = briefing.get_by_role("blockquote")
    expect(reply).to_contain_text("reply to: Good morning! Today is ", timeout=60_000)
    shot(page, "walkthrough-4-reply")
    with read_session(settings.database_url) as session:
        [agent] = session.exec(select(Agent)).all()
        assert agent.api_key_secret and KEY not in agent.api_key_secret


def test_composio_and_gmail_are_connected_from_settings_on_a_fresh_deployment(open_tab, composio):
    page = open_tab("Europe/Berlin")
    page.get_by_role("link", name="Settings", exact=True).click()
    page.get_by_role("textbox", name="Composio API key").fill("test-key")
    page.get_by_role("button", name="Save key").click()
    saved = "Saved. Now press Receive events below, then connect your apps."
    expect(page.get_by_text(saved)).to_be_visible()
    settled(page)
    keyed(page, "composio_connect").click()
    expect(page.get_by_text("Deliveries from Composio are checked")).to_be_visible()
    settled(page)
    keyed(page, "composio_connect_gmail").click()
    with page.context.expect_page() as signing_in:
        page.get_by_role("link", name="Sign in to Gmail ↗").click()
    signing_in.value.close()
    # (an invisible word joiner before the @ keeps the address from becoming a link)
    connected = re.compile("^Gmail — connected as jane\u2060?@example.com$")
    expect(page.get_by_text(connected)).to_be_visible()
    settled(page)
    shot(page, "walkthrough-5-composio")


def test_gmail_to_a_workflow_from_an_empty_database(
    open_tab, dashboard_settings, target, composio, consumer
):
    """Flow 2 on a deployment whose Composio is connected (the test above): the agent, the
    workflow and the trigger by clicks, then a real signed delivery."""
    connect_composio_and_gmail(dashboard_settings, composio)
    consumer()
    page = open_tab("Europe/Berlin")
    add_an_agent(page, target)  # its key and its test are the morning briefing's
    form = page.get_by_test_id("stForm").last
    form.get_by_label("Name", exact=True).fill("analyze-email")
    form.get_by_label("Address").fill(target.url + "/hooks/analyze")
    form.get_by_role("button", name="Add workflow").click()
    expect(page.get_by_text("Saved analyze-email.")).to_be_visible()

    page.get_by_role("link", name="Planner", exact=True).click()
    dialog = gmail_workflow_trigger(page, "Gmail to analyze-email")
    shot(page, "walkthrough-6-trigger")
    dialog.get_by_role("button", name="Save").click()
    triage = card(page, "Gmail to analyze-email", "Send test event")
    expect(triage.get_by_text("Active", exact=True)).to_be_visible()

    with read_session(dashboard_settings.database_url) as session:
        [trigger] = session.exec(select(EventTrigger)).all()
    body, webhook_id = event_body(trigger.composio_trigger_id)
    secret = composio.subscription["secret"]
    delivered = httpx.post(  # a web process busy beside the whole suite may take seconds
        dashboard_settings.webhook_url, content=body, headers=signed(body, webhook_id, secret),
        timeout=30,
    )  # fmt: skip
    assert delivered.status_code == 200, delivered.text
    expect(triage.get_by_role("blockquote")).to_contain_text("ok: yes", timeout=60_000)
    triage.get_by_text("History", exact=True).click()
    expect(triage.get_by_text("subject: Q4 planning doc").first).to_be_visible()
    shot(page, "walkthrough-7-workflow-history")
    [call] = target.received("/hooks/analyze")
    assert call.body["input"]["subject"] == "Q4 planning doc"
