"""A workflow trigger's input picked in a real browser: two of a Gmail event's fields
ticked and the input they make shown from the sample before saving; then a signed
delivery from Composio for that trigger, run by the real worker: the workflow gets exactly
those two fields of that event, and its answer reads as words on the card."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest
from playwright.sync_api import expect
from sqlmodel import select

from core.store.db import read_session
from core.store.models import EventTrigger
from support.browser import card, gmail_workflow_trigger
from support.delivery import event_body, signed
from support.fake_composio import connect_composio_and_gmail
from support.fakes import Reply

ANSWER = "Bob asks whether lunch on Friday still works."


@pytest.fixture
def dashboard_settings(settings, composio, web_port):
    """Composio's API (the fake) known; its key and deliveries' secret are stored by
    `gmail`, as Settings does, and deliveries go to the web process's own address."""
    return replace(
        settings, composio_api_key="", composio_webhook_secret="",
        composio_base_url=composio.url, public_base_url=f"http://127.0.0.1:{web_port}",
    )  # fmt: skip


@pytest.fixture
def gmail(dashboard_settings, composio) -> None:
    """Composio connected and Gmail signed in, through the core functions Settings calls."""
    connect_composio_and_gmail(dashboard_settings, composio)


def test_a_workflow_gets_the_ticked_fields_of_the_event_and_answers_in_words(
    open_tab, dashboard_settings, gmail, composio, agent, workflow, target, consumer
):
    consumer()
    target.script("/hooks/analyze", Reply(body={"summary": ANSWER, "run": {"id": 7}}))
    page = open_tab()
    dialog = gmail_workflow_trigger(page, "Analyze mail")
    for field in ("emailFrom", "emailSubject"):
        dialog.locator("label").filter(has=page.get_by_role("checkbox", name=field)).click()
        expect(dialog.get_by_role("checkbox", name=field)).to_be_checked()
    preview = dialog.get_by_test_id("stText").filter(has_text="emailFrom:")
    expect(preview).to_have_text(
        "emailFrom: Jane Doe <jane@example.com>\nemailSubject: Q4 planning doc"
    )
    dialog.get_by_role("button", name="Save").click()
    triage = card(page, "Analyze mail", "Send test event")
    expect(triage.get_by_text("Active", exact=True)).to_be_visible()
    with read_session(dashboard_settings.database_url) as session:
        [trigger] = session.exec(select(EventTrigger)).all()
    assert trigger.event == "GMAIL_NEW_GMAIL_MESSAGE"

    mail = {"sender": "Bob Roe <bob@example.org>", "subject": "Lunch on Friday?"}
    body, webhook_id = event_body(trigger.composio_trigger_id, data=mail)
    delivered = httpx.post(  # a web process busy beside the whole suite may take seconds
        dashboard_settings.webhook_url, content=body,
        headers=signed(body, webhook_id, composio.subscription["secret"]), timeout=30,
    )  # fmt: skip
    assert delivered.json() == {"status": "accepted", "id": webhook_id}
    target.wait_for(lambda calls: any(call.path == "/hooks/analyze" for call in calls), 60)
    [call] = target.received("/hooks/analyze")
    assert call.body["input"] == {"emailFrom": mail["sender"], "emailSubject": mail["subject"]}

    expect(triage.get_by_role("blockquote")).to_have_text(ANSWER, timeout=60_000)
    triage.get_by_text("History", exact=True).click()
    expect(triage.get_by_text("emailSubject: Lunch on Friday?")).to_be_visible()
    expect(triage.get_by_text(ANSWER).last).to_be_visible()
    expect(triage).not_to_contain_text('"summary"')  # words, not the JSON it came in
