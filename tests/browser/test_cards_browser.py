"""Replies first, in a real browser: a run started on a card is followed until the real
worker finishes it, and its reply is on the card without opening anything; the Activity
page reads it as a log line."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from core.agents import registry
from core.automations import jobs
from core.automations.jobs import JobFields
from core.store.models import utcnow
from support.browser import card
from support.fakes import Reply
from support.screens import daily_away_from_now

REPLY = "reply to: Good morning, Berlin!"


def test_the_reply_shows_on_the_card_once_the_worker_finished(
    session, settings, agent, target, consumer, page: Page
):
    consumer()
    schedule = daily_away_from_now("Europe/Berlin")
    fields = JobFields(agent="Assistant", schedule=schedule, chat="Good morning, Berlin!")
    jobs.create_job(session, "Morning Briefing", fields, utcnow(), "Europe/Berlin")
    page.reload()
    briefing = card(page, "Morning Briefing")
    expect(briefing.get_by_text("No runs yet — press Run now to try it.")).to_be_visible()

    briefing.get_by_role("button", name="Run now").click()
    expect(briefing.get_by_role("blockquote")).to_have_text(REPLY, timeout=60_000)
    expect(briefing.get_by_text("ran by hand — succeeded in").first).to_be_visible()
    briefing.get_by_text("History", exact=True).click()
    expect(briefing.get_by_text("Sent:")).to_be_visible()
    expect(briefing.get_by_text("(Berlin) — ran by hand")).to_be_visible()

    page.get_by_role("link", name="Activity", exact=True).click()
    logged = page.get_by_text("Morning Briefing — ran by hand — succeeded in")
    expect(logged).to_contain_text(f"— reply: {REPLY}")


def test_an_empty_planner_links_to_the_page_that_fixes_it(page: Page):
    expect(page.get_by_text("No agents yet")).to_be_visible()
    page.get_by_role("link", name="Add an agent on Agents & workflows").click()
    expect(page.get_by_role("heading", name="Agents & workflows", level=1)).to_be_visible()


def test_the_chosen_agent_stays_chosen_on_the_way_back_from_another_page(
    session, settings, agent, target, page: Page
):
    registry.save_agent(session, "Aardvark", "http", target.url + "/agent")
    page.reload()
    choice = page.get_by_role("combobox", name="Agent")
    expect(choice).to_have_value("Aardvark")
    choice.click()
    page.get_by_role("option", name="Assistant").click()
    expect(page.get_by_text("No jobs yet — add one to have Assistant")).to_be_visible()
    page.get_by_role("link", name="Activity", exact=True).click()
    expect(page.get_by_role("heading", name="Activity")).to_be_visible()
    page.get_by_role("link", name="Planner", exact=True).click()
    expect(page.get_by_role("combobox", name="Agent")).to_have_value("Assistant")
    expect(page.get_by_text("No jobs yet — add one to have Assistant")).to_be_visible()


def test_a_failed_run_is_tried_again_and_a_waiting_one_cancelled_from_its_history(
    session, settings, agent, target, consumer, page: Page
):
    target.script("/v1/chat/completions", Reply(500, {"error": "the model is down"}))
    schedule = daily_away_from_now("Europe/Berlin")
    fields = JobFields(agent="Assistant", schedule=schedule, chat="Good morning, Berlin!")
    jobs.create_job(session, "Morning Briefing", fields, utcnow(), "Europe/Berlin")
    page.reload()
    briefing = card(page, "Morning Briefing")
    briefing.get_by_role("button", name="Run now").click()  # no worker yet: it waits
    briefing.get_by_text("History", exact=True).click()
    briefing.get_by_role("button", name="Cancel run").click()
    expect(page.get_by_text("Cancelled before it started.").first).to_be_visible()
    expect(briefing.get_by_text("Latest run: cancelled")).to_be_visible()

    consumer(max_retries=0)
    briefing.get_by_role("button", name="Run now").click()
    expect(briefing.get_by_text("Latest run failed")).to_be_visible(timeout=60_000)
    briefing.get_by_text("History", exact=True).click()
    briefing.get_by_role("button", name="Try again").first.click()
    expect(briefing.get_by_role("blockquote")).to_have_text(REPLY, timeout=60_000)
    assert len(target.received("/v1/chat/completions")) == 2  # the cancelled run never went
