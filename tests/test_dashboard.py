"""The dashboard through Streamlit's AppTest: every dialog path, presets, validation,
the cards' buttons, and the password gate. Changes are checked in the database."""

from __future__ import annotations

import re
from datetime import time, timedelta

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from core import jobs, triggers
from core.config import get_settings
from core.db import read_session
from core.jobs import JobFields
from core.models import EventTrigger, Heartbeat, Run, ScheduledJob, WebhookEvent, utcnow
from support.processes import ROOT, settings_env

APP = str(ROOT / "dashboard" / "app.py")


@pytest.fixture
def dashboard(settings, monkeypatch):
    """The dashboard app against the test database."""

    def start(**env: str) -> AppTest:
        for name, value in settings_env(settings, **env).items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        return AppTest.from_file(APP, default_timeout=30).run()

    yield start
    get_settings.cache_clear()


def stored_jobs(settings) -> list[ScheduledJob]:
    with read_session(settings.database_url) as session:
        return list(session.exec(select(ScheduledJob).order_by(ScheduledJob.id)))


def texts(app: AppTest) -> str:
    """What the page says, as a reader sees it (Markdown's backslash escapes undone)."""
    parts = [
        *app.markdown,
        *app.text,
        *app.info,
        *app.error,
        *app.warning,
        *app.caption,
        *app.success,
    ]
    return re.sub(r"\\(.)", r"\1", "\n".join(str(part.value) for part in parts))


def test_without_agents_the_planner_says_what_to_do(dashboard):
    app = dashboard()
    assert not app.exception
    assert "No agents yet" in texts(app)
    assert "Nothing will run until the worker is started" in texts(app)


def test_empty_states_say_what_to_do(dashboard, agent):
    app = dashboard()
    assert "No jobs yet — add one to have Assistant start a chat on a schedule." in texts(app)
    assert "No triggers yet" in texts(app)


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


def briefing(session) -> ScheduledJob:
    """A daily job "Briefing" of the agent, saying "Hi"."""
    fields = JobFields(agent="Assistant", schedule="0 9 * * *", chat="Hi")
    job = jobs.create_job(session, "Briefing", fields, utcnow(), "UTC")
    session.commit()
    return job


def triage(session, settings) -> EventTrigger:
    """A Gmail trigger "Triage" of the agent (local: no Composio key)."""
    fields = triggers.TriggerFields(agent="Assistant", event="GMAIL_NEW_GMAIL_MESSAGE", chat="x")
    trigger = triggers.create_trigger(session, "Triage", fields, settings, utcnow())
    session.commit()
    return trigger


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


def test_card_buttons_pause_resume_and_run_now(dashboard, agent, settings, session):
    job = briefing(session)
    app = dashboard()
    assert "**Active**" in texts(app)
    app.button(key=f"pause_{job.id}").click().run()
    assert stored_jobs(settings)[0].status == "paused"
    assert "**Paused**" in texts(app)
    app.button(key=f"resume_{job.id}").click().run()
    assert stored_jobs(settings)[0].status == "active"
    app.button(key=f"run_{job.id}").click().run()
    with read_session(settings.database_url) as db:
        [run] = db.exec(select(Run)).all()
    assert (run.job_id, run.source) == (job.id, "run_now")


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


def test_a_local_trigger_is_connected_to_composio_from_its_card(dashboard, agent, settings,
                                                                composio, session):  # fmt: skip
    trigger = triage(session, settings)
    app = dashboard()
    assert not [b for b in app.button if b.key == f"sync_{trigger.id}"]  # no key yet
    app = dashboard(COMPOSIO_API_KEY="test-key", COMPOSIO_BASE_URL=composio.url)
    app.button(key=f"sync_{trigger.id}").click().run()
    with read_session(settings.database_url) as db:
        synced = db.get(EventTrigger, trigger.id)
    assert (synced.sync_state, synced.composio_trigger_id) == ("registered", "ti_0001")
    assert "Not connected to Composio" not in texts(app)


def test_a_password_keeps_everything_hidden_until_entered(dashboard, agent):
    app = dashboard(DASHBOARD_PASSWORD="open sesame")
    assert "No jobs yet" not in texts(app)
    app.text_input[0].input("guess")
    app.button[0].click().run()
    assert "That password is not right." in texts(app)
    app.text_input[0].input("open sesame")
    app.button[0].click().run()
    assert "No jobs yet" in texts(app)


def _agents_page():
    from dashboard.agents_page import render

    render()


def _activity_page():
    from dashboard.activity_page import render

    render()


def _settings_page():
    from dashboard.settings_page import render

    render()


@pytest.fixture
def page(settings, monkeypatch):
    """One dashboard page on its own, against the test database."""

    def start(function) -> AppTest:
        for name, value in settings_env(settings).items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        return AppTest.from_function(function, default_timeout=30).run()

    yield start
    get_settings.cache_clear()


def agent_rows(settings) -> list:
    from core.models import Agent

    with read_session(settings.database_url) as session:
        return [(a.name, a.model, a.api_key_env) for a in session.exec(select(Agent))]


def test_agents_are_added_and_edited_never_with_a_key(page, settings):
    app = page(_agents_page)
    assert "No agents yet" in texts(app)
    app.text_input[0].input("Assistant")
    app.text_input[1].input("http://localhost:11434/v1")
    app.text_input[2].input("llama3.2")
    app.text_input[3].input("sk-live-abc!")
    app.button[0].click().run()  # the add form's submit button
    assert "not the key itself" in texts(app)
    assert agent_rows(settings) == []
    app.text_input[3].input("OPENAI_API_KEY")
    app.button[0].click().run()
    assert agent_rows(settings) == [("Assistant", "llama3.2", "OPENAI_API_KEY")]
    app.text_input[2].input("llama3.3")
    app.button[0].click().run()
    assert agent_rows(settings) == [("Assistant", "llama3.3", "OPENAI_API_KEY")]


def test_an_agent_in_use_is_not_removed(page, settings, session, agent):
    jobs.create_job(session, "Briefing", JobFields(agent="Assistant", schedule="@daily",
                                                      chat="hi"), utcnow(), "UTC")  # fmt: skip
    session.commit()
    app = page(_agents_page)
    app.button(key=f"rm_agent_{agent.id}").click().run()
    app.button(key=f"confirm_rm_agent_{agent.id}").click().run()
    assert "is used by job 'Briefing'" in texts(app)
    assert len(agent_rows(settings)) == 1


def test_removing_an_agent_asks_first(page, settings, agent):
    app = page(_agents_page)
    app.button(key=f"rm_agent_{agent.id}").click().run()
    assert "Remove the agent **Assistant**? This cannot be undone." in texts(app)
    app.button(key=f"keep_rm_agent_{agent.id}").click().run()
    assert len(agent_rows(settings)) == 1
    app.button(key=f"rm_agent_{agent.id}").click().run()
    app.button(key=f"confirm_rm_agent_{agent.id}").click().run()
    assert agent_rows(settings) == []


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


def test_activity_lists_runs_and_replays_events(page, settings, session, agent, queue):
    from core.inbox import fire_test_event

    triage(session, settings)
    fire_test_event(session, settings, "Triage", queue, utcnow())
    app = page(_activity_page)
    assert not app.exception
    assert app.dataframe[0].value["What"].tolist() == ["Triage"]
    app.button(key="replay").click().run()
    with read_session(settings.database_url) as db:
        assert len(db.exec(select(Run)).all()) == 1
        assert len(db.exec(select(WebhookEvent)).all()) == 2


def test_settings_say_the_worker_is_offline_and_composio_not_set(page):
    app = page(_settings_page)
    assert "Offline — nothing will run until the worker is started." in texts(app)
    assert "No COMPOSIO_API_KEY" in texts(app)


def test_settings_count_the_workers_online(page, session):
    now = utcnow()
    for worker, ago in [("a:1", 10), ("b:2", 30), ("gone:3", 600)]:
        session.add(Heartbeat(worker=worker, last_tick_at=now - timedelta(seconds=ago)))
    session.commit()
    app = page(_settings_page)
    assert "Online — 2 workers, last seen" in texts(app)


def test_the_trigger_dialog_asks_composio_for_its_catalog_once(dashboard, agent, composio):
    app = dashboard(COMPOSIO_API_KEY="test-key", COMPOSIO_BASE_URL=composio.url)
    app.button(key="add_trigger").click().run()
    app.text_input(key="trigger_name").input("Commits").run()
    app.selectbox(key="trigger_app").set_value("GitHub").run()
    asked = [path for method, path, _ in composio.requests if path.endswith("/triggers_types")]
    assert len(asked) == 1
