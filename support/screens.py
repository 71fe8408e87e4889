"""What the dashboard tests share: what a page says, as a reader sees it, its fields and
buttons, the rows a page changed, and a job and a trigger to show (the app fixtures are in
tests/conftest.py)."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from sqlmodel import select
from streamlit.testing.v1 import AppTest

from core.automations import jobs, triggers
from core.automations.jobs import JobFields
from core.store.db import read_session
from core.store.models import EventTrigger, ScheduledJob, utcnow


def daily_away_from_now(timezone: str = "UTC") -> str:
    """A daily schedule about twelve hours from now in `timezone`: a test that runs a job
    by hand never has its scheduled run come due amid it (a fixed 09:00 did, once, in CI)."""
    hour = (utcnow().astimezone(ZoneInfo(timezone)).hour + 12) % 24
    return f"0 {hour} * * *"


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


def field(app: AppTest, label: str, index: int = 0):
    """The text field with this label (the first: agents come before workflows)."""
    return [w for w in app.text_input if w.label == label][index]


def submit(app: AppTest, label: str) -> AppTest:
    """Press the button with this label; the page as it is after the rerun."""
    [button] = [b for b in app.button if b.label == label]
    return button.click().run()


def briefing(session) -> ScheduledJob:
    """A daily job "Briefing" of the agent, saying "Hi"."""
    fields = JobFields(agent="Assistant", schedule=daily_away_from_now(), chat="Hi")
    job = jobs.create_job(session, "Briefing", fields, utcnow(), "UTC")
    session.commit()
    return job


def triage(session, settings) -> EventTrigger:
    """A Gmail trigger "Triage" of the agent (local: no Composio key)."""
    fields = triggers.TriggerFields(agent="Assistant", event="GMAIL_NEW_GMAIL_MESSAGE", chat="x")
    trigger = triggers.create_trigger(session, "Triage", fields, settings, utcnow())
    session.commit()
    return trigger


def agent_rows(settings) -> list:
    from core.store.models import Agent

    with read_session(settings.database_url) as session:
        return [(a.name, a.model, a.api_key_env) for a in session.exec(select(Agent))]


def agents_page():
    from dashboard.agents_page import render

    render()


def activity_page():
    from dashboard.activity_page import render

    render()


def settings_page():
    from dashboard.settings_page import render

    render()
