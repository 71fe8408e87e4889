"""The dashboard's dialogs through Streamlit's AppTest: presets, validation, the job
and trigger dialogs, deletion. Changes are checked in the database."""

from __future__ import annotations

from datetime import time

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from core import triggers
from core.db import read_session
from core.models import EventTrigger, utcnow
from tests.screens import briefing, stored_jobs, texts, triage


def add_job(app: AppTest, name: str, preset: str, template: str = "Hello {jobName}") -> AppTest:
    app.button(key="add_job").click().run()
    app.text_input(key="job_name").input(name)
    app.radio(key="job_preset").set_value(preset).run()
    app.text_area(key="action_template").input(template).run()
    return app.button(key="job_save").click().run()


@pytest.mark.parametrize(
    ("preset", "cron"),
    [
        ("Every hour", "0 * * * *"),
        ("Every day at 9:00", "0 9 * * *"),
        ("Every Monday at 9:00", "0 9 * * 1"),
        ("First day of the month at 9:00", "0 9 1 * *"),
    ],
)
def test_presets_set_the_right_cron(dashboard, agent, settings, preset, cron):
    app = add_job(dashboard(), "Briefing", preset)
    assert not app.exception
    [job] = stored_jobs(settings)
    assert (job.name, job.schedule, job.config["template"]) == ("Briefing", cron, "Hello {jobName}")
    assert "Briefing" in texts(app)


def test_custom_time_and_weekdays_build_the_cron(dashboard, agent, settings):
    app = dashboard()
    app.button(key="add_job").click().run()
    app.text_input(key="job_name").input("Standup")
    app.radio(key="job_preset").set_value("Custom").run()
    app.time_input(key="job_time").set_value(time(8, 30)).run()
    app.multiselect(key="job_days").set_value(["Mon", "Fri"]).run()
    assert "At 08:30, only on Monday and Friday" in texts(app)
    app.text_area(key="action_template").input("Standup time").run()
    app.button(key="job_save").click().run()
    assert [job.schedule for job in stored_jobs(settings)] == ["30 8 * * 1,5"]


def test_the_dialog_previews_the_message_and_flags_unknown_variables(dashboard, agent):
    app = dashboard()
    app.button(key="add_job").click().run()
    app.text_input(key="job_name").input("Briefing").run()
    app.text_area(key="action_template").input("Hi from {agentName}, {agenda}").run()
    assert "Hi from Assistant," in texts(app)
    assert "No value for: {agenda}" in texts(app)


@pytest.mark.parametrize(
    ("name", "cron", "template", "message"),
    [
        ("", "", "Hi", "Give the job a name."),
        ("Bad cron", "61 * * * *", "Hi", "The minute field '61' is not valid"),
        ("No message", "", "   ", "The chat message is empty"),
    ],
)
def test_validation_messages_show_and_nothing_is_saved(dashboard, agent, settings, name, cron,
                                                       template, message):  # fmt: skip
    app = dashboard()
    app.button(key="add_job").click().run()
    app.text_input(key="job_name").input(name)
    if cron:
        app.radio(key="job_preset").set_value("Custom").run()
        app.text_input(key="job_cron").input(cron).run()
    app.text_area(key="action_template").input(template).run()
    app.button(key="job_save").click().run()
    assert message in texts(app)
    assert stored_jobs(settings) == []


def test_edit_changes_the_job(dashboard, agent, settings, session):
    job = briefing(session)
    app = dashboard()
    app.button(key=f"edit_{job.id}").click().run()
    assert app.text_input(key="job_name").value == "Briefing"
    app.text_input(key="job_name").input("Morning briefing")
    app.radio(key="job_preset").set_value("Every Monday at 9:00").run()
    app.button(key="job_save").click().run()
    [changed] = stored_jobs(settings)
    assert (changed.name, changed.schedule, changed.config["template"]) == (
        "Morning briefing", "0 9 * * 1", "Hi"
    )  # fmt: skip
    assert [toast.value for toast in app.toast] == ["Saved Morning briefing."]


def test_delete_asks_first(dashboard, agent, settings, session):
    job = briefing(session)
    app = dashboard()
    app.button(key=f"delete_{job.id}").click().run()
    assert "Delete the job **Briefing** and its history?" in texts(app)
    app.button(key="delete_cancel").click().run()
    assert len(stored_jobs(settings)) == 1
    app.button(key=f"delete_{job.id}").click().run()
    app.button(key="delete_confirm").click().run()
    assert stored_jobs(settings) == []
    assert [toast.value for toast in app.toast] == ["Deleted Briefing."]


def test_a_trigger_is_created_from_app_and_event(dashboard, agent, workflow, settings):
    app = dashboard()
    app.button(key="add_trigger").click().run()
    app.text_input(key="trigger_name").input("Analyze mail")
    app.selectbox(key="trigger_app").set_value("Gmail").run()
    assert "emailFrom" in texts(app)
    app.radio(key="action_kind").set_value("Run a workflow").run()
    app.button(key="trigger_save").click().run()
    with read_session(settings.database_url) as session:
        [trigger] = session.exec(select(EventTrigger)).all()
    assert (trigger.name, trigger.event, trigger.action) == (
        "Analyze mail", "GMAIL_NEW_GMAIL_MESSAGE", "workflow"
    )  # fmt: skip
    assert "Not connected to Composio" in texts(app)


def test_the_trigger_dialog_previews_with_a_sample_event(dashboard, agent, settings, session):
    trigger = triage(session, settings)
    app = dashboard()
    app.button(key=f"tedit_{trigger.id}").click().run()
    app.text_area(key="action_template").input("From {emailFrom}: {emailSubject}").run()
    assert "From Jane Doe <jane@example.com>: Q4 planning doc" in texts(app)


def test_the_trigger_dialog_saves_continue_the_same_conversation(dashboard, agent, settings,
                                                                 session):  # fmt: skip
    trigger = triage(session, settings)
    app = dashboard()
    app.button(key=f"tedit_{trigger.id}").click().run()
    app.checkbox(key="action_thread").check().run()
    app.button(key="trigger_save").click().run()
    with read_session(settings.database_url) as db:
        assert db.get(EventTrigger, trigger.id).config["thread"] == "continue"


def test_editing_a_trigger_keeps_filters_it_has_no_field_for_and_its_instance(
    dashboard, agent, connected, composio, session
):
    fields = triggers.TriggerFields(
        agent="Assistant", event="GMAIL_NEW_GMAIL_MESSAGE", chat="x",
        filters={"interval": 15, "labelIds": ["INBOX", "IMPORTANT"], "include_spam": False},
    )  # fmt: skip
    trigger = triggers.create_trigger(session, "Triage", fields, connected, utcnow())
    composio.requests.clear()
    app = dashboard(COMPOSIO_API_KEY="test-key", COMPOSIO_BASE_URL=composio.url)
    app.button(key=f"tedit_{trigger.id}").click().run()
    app.text_input(key="trigger_name").input("Mail triage")
    app.button(key="trigger_save").click().run()
    with read_session(connected.database_url) as db:
        saved = db.get(EventTrigger, trigger.id)
    assert saved.name == "Mail triage"
    assert saved.filters == fields.filters
    assert saved.composio_trigger_id == trigger.composio_trigger_id
    assert [(m, p) for m, p, _ in composio.requests if m != "GET"] == []


def test_a_trigger_is_deleted_after_confirmation(dashboard, agent, settings, session):
    trigger = triage(session, settings)
    app = dashboard()
    app.button(key=f"tdelete_{trigger.id}").click().run()
    assert "Delete the trigger **Triage** and its history?" in texts(app)
    app.button(key="delete_confirm").click().run()
    with read_session(settings.database_url) as db:
        assert db.exec(select(EventTrigger)).all() == []


def test_a_trigger_needing_filters_says_so_in_the_dialog(dashboard, agent, settings):
    app = dashboard()
    app.button(key="add_trigger").click().run()
    app.text_input(key="trigger_name").input("Commits")
    app.selectbox(key="trigger_app").set_value("GitHub").run()
    app.selectbox(key="trigger_event").set_value("Commit Event").run()
    app.text_area(key="action_template").input("New commit: {commitMessage}").run()
    app.button(key="trigger_save").click().run()
    assert "GITHUB_COMMIT_EVENT needs these filters: owner, repo." in texts(app)
    with read_session(settings.database_url) as db:
        assert db.exec(select(EventTrigger)).all() == []
    app.text_input(key="f_owner").input("acme")
    app.text_input(key="f_repo").input("app").run()
    app.button(key="trigger_save").click().run()
    with read_session(settings.database_url) as db:
        [trigger] = db.exec(select(EventTrigger)).all()
    assert trigger.filters == {"owner": "acme", "repo": "app"}


def test_the_trigger_dialog_asks_composio_for_its_catalog_once(dashboard, agent, composio):
    app = dashboard(COMPOSIO_API_KEY="test-key", COMPOSIO_BASE_URL=composio.url)
    app.button(key="add_trigger").click().run()
    app.text_input(key="trigger_name").input("Commits").run()
    app.selectbox(key="trigger_app").set_value("GitHub").run()
    asked = [path for method, path, _ in composio.requests if path.endswith("/triggers_types")]
    assert len(asked) == 1
