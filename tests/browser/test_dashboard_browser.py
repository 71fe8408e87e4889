"""A job and a trigger in a real browser, against the real `streamlit run`, a real worker
and a local fake agent (fixtures in conftest.py)."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import Page, expect
from sqlmodel import select

from core.access import tokens
from core.automations import jobs
from core.automations.jobs import JobFields
from core.notifications import channels
from core.scheduling.occurrences import next_occurrence
from core.scheduling.tick import tick
from core.store.db import read_session
from core.store.models import ScheduledJob, utcnow
from core.views.overview import moment_in_words
from support.browser import SCREENSHOTS, card, is_green, is_grey
from support.fakes import Reply
from support.queues import RecordingQueue
from support.screens import daily_away_from_now


def test_a_job_from_preset_to_deletion(session, settings, agent, target, consumer, page: Page):
    consumer()
    page.get_by_role("button", name="+ Add job").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill("Morning briefing")
    dialog.get_by_text("Every day at 9:00").click()
    dialog.get_by_label("Message to the agent").fill("Good morning from {agentName}!")
    dialog.get_by_label("Message to the agent").press("Control+Enter")
    expect(dialog.get_by_text("Good morning from Assistant!")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "job-dialog.png"))
    dialog.get_by_role("button", name="Save").click()

    briefing = card(page, "Morning briefing")
    expect(briefing.get_by_text("Active", exact=True)).to_be_visible()
    assert is_green(briefing.get_by_text("●").first.evaluate("e => getComputedStyle(e).color"))
    nine = next_occurrence("0 9 * * *", "UTC", utcnow())
    next_run = f"Next run: {moment_in_words(nine, 'UTC', utcnow())}"
    expect(briefing.get_by_text(next_run)).to_be_visible()

    briefing.get_by_role("button", name="Run now").click()
    reply = "reply to: Good morning from Assistant!"
    # The reply shows on the card (the latest run) without opening anything.
    expect(briefing.get_by_role("blockquote")).to_have_text(reply, timeout=60_000)
    briefing.get_by_text("History").click()
    expect(briefing.get_by_text("ran by hand — succeeded in").last).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "planner.png"), full_page=True)

    briefing.get_by_role("button", name="Pause").click()
    expect(card(page, "Morning briefing").get_by_text("Paused", exact=True)).to_be_visible()
    card(page, "Morning briefing").get_by_role("button", name="Resume").click()

    target.script("/v1/chat/completions", Reply(400, {"error": "model not found"}))
    card(page, "Morning briefing").get_by_role("button", name="Run now").click()
    expect(card(page, "Morning briefing").get_by_text("Failed", exact=True)).to_be_visible(
        timeout=60_000
    )

    card(page, "Morning briefing").get_by_role("button", name="Edit").click()
    page.get_by_role("dialog").get_by_label("Name").fill("Early briefing")
    page.get_by_role("dialog").get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Early briefing")).to_be_visible()

    card(page, "Early briefing").get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_text("No jobs yet")).to_be_visible()


def test_a_one_off_job_from_the_dialog_until_it_is_done(
    settings, agent, target, consumer, page: Page
):
    consumer()
    page.get_by_role("button", name="+ Add job").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill("Christmas greeting")
    dialog.get_by_text("Once", exact=True).click()
    tomorrow = utcnow() + timedelta(days=1)  # the dialog offers tomorrow at 9:00
    said = f"Once, on {tomorrow:%a %d %b %Y} at 09:00"
    expect(dialog.get_by_text(said)).to_be_visible()
    dialog.get_by_label("Message to the agent").fill("Merry Christmas!")
    page.screenshot(path=str(SCREENSHOTS / "job-dialog-once.png"))
    dialog.get_by_role("button", name="Save").click()
    expect(card(page, "Christmas greeting").get_by_text(said)).to_be_visible()

    with read_session(settings.database_url) as db:
        [job] = db.exec(select(ScheduledJob)).all()
    tick(settings, RecordingQueue(), job.next_run_at - timedelta(seconds=30), "test")  # planned
    card(page, "Christmas greeting").get_by_role("button", name="Run now").click()
    greeting = card(page, "Christmas greeting")
    expect(greeting.get_by_text("Done", exact=True)).to_be_visible(timeout=60_000)
    assert is_grey(greeting.get_by_text("●").first.evaluate("e => getComputedStyle(e).color"))
    expect(greeting.get_by_text("Next run: none, it has no run left")).to_be_visible()


def test_a_trigger_and_its_test_event(settings, agent, target, consumer, page: Page):
    consumer()
    page.get_by_role("button", name="+ Add trigger").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill("Email triage")
    dialog.get_by_label("Message to the agent").fill("New email from {emailFrom}")
    dialog.get_by_label("Message to the agent").press("Control+Enter")
    expect(dialog.get_by_text("New email from Jane Doe <jane@example.com>")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "trigger-dialog.png"))
    dialog.get_by_role("button", name="Save").click()

    triage = card(page, "Email triage", "Send test event")
    expect(triage.get_by_text("Not connected to Composio", exact=True)).to_be_visible()
    triage.get_by_role("button", name="Send test event").click()
    expect(triage.get_by_text("ran for a test event — succeeded").first).to_be_visible(
        timeout=60_000
    )
    [request] = target.received("/v1/chat/completions")
    assert request.body["messages"][-1]["content"] == "New email from Jane Doe <jane@example.com>"


def test_names_and_a_targets_answer_are_shown_as_text_never_as_markup(
    session, settings, agent, target, consumer, page: Page
):
    consumer()
    pixel = f"{target.url}/pixel.png"
    phishing = (
        f"400 ![x]({pixel}) [Reconnect your Gmail]({target.url}/login) "
        f"or sign in at {target.url}/phish or www.example.org or help@example.org"
    )
    target.script("/v1/chat/completions", Reply(400, phishing))
    name = f"**Boss** [click]({target.url}/name) {target.url}/bare"
    fields = JobFields(agent="Assistant", schedule=daily_away_from_now(), chat="Hi")
    jobs.create_job(session, name, fields, utcnow(), "UTC")
    page.reload()
    boss = card(page, re.compile(r"\*\*Boss\*\*"))
    boss.get_by_role("button", name="Run now").click()

    expect(boss.get_by_text("Failed", exact=True)).to_be_visible(timeout=60_000)
    expect(boss.get_by_role("blockquote")).to_contain_text("[Reconnect your Gmail](")
    hrefs = [link.get_attribute("href") for link in boss.get_by_role("link").all()]
    assert [href for href in hrefs if not href.startswith("#")] == []  # only the heading's anchor
    assert page.locator(f'img[src="{pixel}"]').count() == 0
    assert [r.path for r in target.received() if r.path != "/v1/chat/completions"] == []


def test_settings_tell_through_channels_and_make_api_tokens(page: Page, settings, session):
    channels.add_channel(session, settings, "Ops mail", "json://127.0.0.1:9/alerts", utcnow())
    tokens.create_token(session, "Zapier", utcnow())
    page.get_by_role("link", name="Settings", exact=True).click()
    # its entry in the list (the name is also a tag of "Tell me when anything fails")
    expect(page.get_by_role("strong").filter(has_text="Ops mail")).to_be_visible()
    page.get_by_role("heading", name="Notifications").scroll_into_view_if_needed()
    expect(page.get_by_text("Zapier", exact=True)).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "settings-notifications-api.png"))  # no token shown
    page.get_by_label("Name of a new token").fill("n8n")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_text("Copy it now: it is not shown again.")).to_be_visible()
    token = page.locator("code").filter(has_text="pln_").inner_text()
    assert token.startswith("pln_")
