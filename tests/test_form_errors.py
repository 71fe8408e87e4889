"""A form says all that is wrong with it at once: core checks every field of a job or a
trigger before it refuses, and the dialogs show each refusal once, under its field (a fold
holding one opens), until that field changes. Nothing is saved meanwhile."""

from __future__ import annotations

from datetime import timedelta

import pytest
from streamlit.testing.v1 import AppTest

from core.automations import jobs, triggers
from core.automations.fields import UNCHANGED
from core.errors import ValidationError, ValidationErrors
from core.notifications import channels
from core.store.models import utcnow
from support.screens import texts
from support.stored import snapshot

NO_NAME = "Give the job a name."
BAD_CRON = "The minute field '61' is not valid"
NO_CHANNEL = "Tick the channels to tell, or choose Nobody."


def refusals(error: ValidationError) -> list[tuple[str | None, str]]:
    errors = error.errors if isinstance(error, ValidationErrors) else [error]
    return [(one.field, str(one)) for one in errors]


def test_core_refuses_every_bad_field_of_a_new_job_at_once(session, agent, settings):
    fields = jobs.JobFields(
        agent="Assistant", schedule="61 * * * *", chat=" ", retries=99, notify=[""]
    )
    with pytest.raises(ValidationErrors) as refused:
        jobs.create_job(session, " ", fields, utcnow(), "UTC")
    assert [field for field, _ in refusals(refused.value)] == [
        "name", "schedule", "chat", "retries", "notify",
    ]  # fmt: skip
    assert str(refused.value) == NO_NAME  # one sentence for who says only one
    assert snapshot(settings.database_url)["scheduled_job"] == []


def test_a_bad_cron_and_a_bad_timezone_are_both_said(session, agent):
    fields = jobs.JobFields(agent="Assistant", schedule="61 * * *", timezone="Mars/Base", chat="x")
    with pytest.raises(ValidationErrors) as refused:
        jobs.create_job(session, "J", fields, utcnow(), "UTC")
    assert [field for field, _ in refusals(refused.value)] == ["schedule", "timezone"]


def test_a_change_is_checked_whole_and_one_refusal_is_raised_as_itself(session, agent):
    job = jobs.create_job(
        session, "Briefing", jobs.JobFields(agent="Assistant", schedule="0 9 * * *", chat="Hi"),
        utcnow(), "UTC",
    )  # fmt: skip
    jobs.create_job(session, "Report", jobs.JobFields(agent="Assistant", schedule="0 9 * * *",
                    chat="Hi"), utcnow(), "UTC")  # fmt: skip
    with pytest.raises(ValidationErrors) as refused:
        fields = jobs.JobFields(name="report", jitter=timedelta(hours=2))
        jobs.update_job(session, job.id, fields, utcnow())
    assert [field for field, _ in refusals(refused.value)] == ["name", "jitter"]
    with pytest.raises(ValidationError) as one:
        jobs.update_job(session, job.id, jobs.JobFields(schedule="61 * * * *"), utcnow())
    assert not isinstance(one.value, ValidationErrors) and one.value.field == "schedule"


def test_core_refuses_every_bad_field_of_a_trigger_and_checks_without_saving(
    session, agent, settings
):
    fields = triggers.TriggerFields(
        agent="Assistant", event="GITHUB_COMMIT_EVENT", chat="", timeout=None, retries=-1
    )
    for attempt in (
        lambda: triggers.create_trigger(session, "", fields, settings, utcnow()),
        lambda: triggers.check_trigger(session, "", fields, None, settings),
    ):
        with pytest.raises(ValidationErrors) as refused:
            attempt()
        assert [field for field, _ in refusals(refused.value)] == [
            "name", "filters", "chat", "retries",
        ]  # fmt: skip
    assert snapshot(settings.database_url)["event_trigger"] == []


def test_a_new_trigger_without_an_event_is_told_so_beside_its_other_refusals(session, agent):
    fields = triggers.TriggerFields(agent="Assistant", chat="Hi", overlap=UNCHANGED)
    with pytest.raises(ValidationErrors) as refused:
        triggers.check_trigger(session, "", fields, None, None)
    assert refusals(refused.value) == [
        ("name", "Give the trigger a name."),
        ("event", "Choose the event that starts this trigger."),
    ]


def _bad_job(app: AppTest) -> AppTest:
    """A new job with no name, a cron that is not one and "These channels:" unticked."""
    app.button(key="add_job").click().run()
    app.radio(key="job_preset").set_value("Custom").run()
    app.text_input(key="job_cron").input("61 * * * *").run()
    app.text_area(key="action_template").input("Hi")
    app.radio(key="action_tell").set_value("chosen").run()
    return app.button(key="job_save").click().run()


def test_the_job_dialog_shows_every_refusal_once_and_each_goes_when_its_field_changes(
    dashboard, agent, session, settings
):
    channels.add_channel(session, settings, "Ops", "json://127.0.0.1:9/alerts", utcnow())
    before = snapshot(settings.database_url)
    app = _bad_job(dashboard())
    shown = texts(app)
    for message in (NO_NAME, BAD_CRON, NO_CHANNEL):
        assert shown.count(message) == 1, shown
    advanced = next(e for e in app.expander if e.label == "Advanced")
    assert advanced.proto.expanded  # the refusal in it is in sight
    assert snapshot(settings.database_url) == before

    app.text_input(key="job_name").input("Morning briefing").run()
    shown = texts(app)
    assert NO_NAME not in shown and BAD_CRON in shown and NO_CHANNEL in shown

    app.text_input(key="job_cron").input("0 9 * * *").run()
    app.radio(key="action_tell").set_value("nobody").run()
    shown = texts(app)
    assert BAD_CRON not in shown and NO_CHANNEL not in shown
    app.button(key="job_save").click().run()
    assert snapshot(settings.database_url) != before


def test_the_trigger_dialog_shows_its_own_refusals_beside_cores(dashboard, agent, settings):
    before = snapshot(settings.database_url)
    app = dashboard()
    app.button(key="add_trigger").click().run()
    app.selectbox(key="trigger_app").set_value("GitHub").run()
    app.selectbox(key="trigger_event").set_value("Commit Event").run()
    app.button(key="trigger_save").click().run()
    shown = texts(app)
    for message in (
        "Give the trigger a name.",
        "Fill in Owner and Repository: this event needs them.",
        "The chat message is empty",
    ):
        assert shown.count(message) == 1, shown
    assert "Fill in owner (owner)" not in shown  # core's own words for the same field: once
    assert snapshot(settings.database_url) == before
