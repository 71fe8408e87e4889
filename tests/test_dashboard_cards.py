"""The Planner page's cards, the Activity page and the password gate, through AppTest."""

from __future__ import annotations

from sqlmodel import select

from core.db import read_session
from core.models import EventTrigger, Run, WebhookEvent, utcnow
from tests.screens import activity_page, briefing, stored_jobs, texts, triage


def test_without_agents_the_planner_says_what_to_do(dashboard):
    app = dashboard()
    assert not app.exception
    assert "No agents yet" in texts(app)
    assert "Nothing will run until the worker is started" in texts(app)


def test_empty_states_say_what_to_do(dashboard, agent):
    app = dashboard()
    assert "No jobs yet — add one to have Assistant start a chat on a schedule." in texts(app)
    assert "No triggers yet" in texts(app)


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


def test_activity_lists_runs_and_replays_events(page, settings, session, agent, queue):
    from core.inbox import fire_test_event

    triage(session, settings)
    fire_test_event(session, settings, "Triage", queue, utcnow())
    app = page(activity_page)
    assert not app.exception
    assert app.dataframe[0].value["What"].tolist() == ["Triage"]
    app.button(key="replay").click().run()
    with read_session(settings.database_url) as db:
        assert len(db.exec(select(Run)).all()) == 1
        assert len(db.exec(select(WebhookEvent)).all()) == 2


def test_a_password_keeps_everything_hidden_until_entered(dashboard, agent):
    app = dashboard(DASHBOARD_PASSWORD="open sesame")
    assert "No jobs yet" not in texts(app)
    app.text_input[0].input("guess")
    app.button[0].click().run()
    assert "That password is not right." in texts(app)
    app.text_input[0].input("open sesame")
    app.button[0].click().run()
    assert "No jobs yet" in texts(app)
