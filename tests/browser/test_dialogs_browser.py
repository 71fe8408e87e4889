"""The dialogs in a real browser, where AppTest can't look: Esc and a click outside keep a
half-filled dialog open, the timezone picker's own filter finds a city and a country, and
a variable chip writes itself into the message."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from support.browser import SCREENSHOTS
from support.screens import stored_jobs


def test_the_job_dialog_as_a_person_uses_it(settings, agent, page: Page):
    page.get_by_role("button", name="+ Add job").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill("Morning briefing")
    page.keyboard.press("Escape")
    page.mouse.click(5, 5)
    expect(dialog.get_by_label("Name")).to_have_value("Morning briefing")

    picker = dialog.get_by_role("combobox", name="Timezone")
    for typed, found in [("Munich", "Munich — Germany (Europe/Berlin)"),
                         ("Germany", "— Germany (Europe/Berlin)"),
                         ("New York", "New York — United States (America/New_York)"),
                         ("India", "— India (Asia/Kolkata)")]:  # fmt: skip
        picker.click()
        page.keyboard.type(typed)
        expect(page.get_by_role("option").filter(has_text=found).first).to_be_visible()
        page.keyboard.press("Escape")
    picker.click()
    page.keyboard.type("Munich")
    page.get_by_role("option", name="Munich — Germany (Europe/Berlin)").click()

    message = dialog.get_by_label("Message to the agent")
    message.fill("Good morning, it is")
    message.press("Control+Enter")
    dialog.get_by_role("button", name="{dayOfWeek}").click()
    expect(message).to_have_value("Good morning, it is {dayOfWeek}")
    expect(dialog.get_by_text("on its next run")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "job-dialog-timezone.png"))
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Morning briefing")).to_be_visible()
    assert [(job.timezone, job.config["template"]) for job in stored_jobs(settings)] == [
        ("Europe/Berlin", "Good morning, it is {dayOfWeek}")
    ]


def test_a_refusal_is_brought_into_view_and_goes_when_its_field_changes(agent, page: Page):
    page.set_viewport_size({"width": 1400, "height": 600})  # the dialog is taller than this
    page.get_by_role("button", name="+ Add job").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Message to the agent").fill("Hi")
    dialog.get_by_role("button", name="Save").click()  # scrolled to, at the dialog's foot
    refusal = dialog.get_by_text("Give the job a name.")
    expect(refusal).to_be_in_viewport()
    name = dialog.get_by_label("Name")
    name.fill("Morning briefing")
    name.press("Enter")
    expect(refusal).to_have_count(0)


def test_advanced_opens_at_one_click_while_the_message_grows_a_preview(agent, page: Page):
    page.get_by_role("button", name="+ Add job").click()
    dialog = page.get_by_role("dialog")
    message = dialog.get_by_label("Message to the agent")
    retries = dialog.get_by_text("Tries again after a failure")
    for typed in ("Hello {jobName}", "Hello again"):  # the preview appears, then changes
        message.fill(typed)
        dialog.get_by_text("Advanced").click()  # the click that also ends the typing
        expect(retries).to_be_visible()
        dialog.get_by_text("Advanced").click()
        expect(retries).not_to_be_visible()
