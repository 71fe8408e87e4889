"""Words a person reads, in a real browser: a trigger's card says "Tested just now" once
*Send test event* is pressed, and Activity's Details say what happened in words, with the
system's own names (event ids, event types) shown only once *Technical details* is opened."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from core.automations import triggers
from core.automations.triggers import TriggerFields
from core.store.models import utcnow
from support.browser import card


def test_a_test_event_says_tested_and_activity_folds_the_ids_away(
    session, settings, agent, page: Page
):
    fields = TriggerFields(agent="Assistant", event="GMAIL_NEW_GMAIL_MESSAGE", chat="New mail")
    triggers.create_trigger(session, "Triage", fields, settings, utcnow())
    page.reload()
    triage = card(page, "Triage", button="Send test event")
    expect(triage.get_by_text("Last fired: never")).to_be_visible()
    expect(triage.get_by_text("Tested", exact=False)).to_have_count(0)

    triage.get_by_role("button", name="Send test event").click()
    expect(triage.get_by_text("Tested just now")).to_be_visible()

    page.get_by_role("link", name="Activity", exact=True).click()
    arrived = page.get_by_text("Test event · Gmail")
    expect(arrived).to_be_visible()
    page.get_by_text("Details", exact=True).last.click()  # the event's, the newest entry below
    expect(page.get_by_text("A test event: made up from an example")).to_be_visible()
    expect(page.get_by_text("It started Triage: their runs are under What ran.")).to_be_visible()
    slug = page.get_by_text("GMAIL_NEW_GMAIL_MESSAGE", exact=False)
    expect(slug).not_to_be_visible()
    page.get_by_text("Technical details of the event", exact=True).click()
    expect(slug).to_be_visible()
