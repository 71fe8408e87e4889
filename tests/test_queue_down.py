"""A queue that fails after a run's row is committed (QUEUE_URL names a Redis port nothing
listens on): the row is the truth. Run now, a test event and a retry are answered with
the run, which says it starts by the sweep — through the real API server and the real
CLI — never a 500 or a traceback that makes a client's second try a second run."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from core.automations import jobs, triggers
from core.automations.jobs import JobFields
from core.automations.triggers import TriggerFields
from core.events.deliveries import inbox_row, store_rows
from core.events.envelope import parse
from core.running.runs import NOT_HANDED_ON, run_row
from core.running.sweeps import SWEEP_AFTER, resubmit_lost
from core.store.db import read_session
from core.store.db import session as open_session
from core.store.models import Run, RunSource, RunStatus, utcnow
from support.api import Api, serve
from support.delivery import event_body
from support.processes import free_port, planner
from support.queues import RecordingQueue

pytestmark = pytest.mark.database  # about the database and the queue: PostgreSQL + Redis too


@pytest.fixture
def down(settings):
    """The settings, with a queue that refuses every connection."""
    return replace(settings, queue_url=f"redis://127.0.0.1:{free_port()}/0")


@pytest.fixture
def automations(settings, session: Session, agent) -> None:
    """A job and a trigger (kept here: no Composio key) of the agent."""
    now = utcnow()
    fields = JobFields(agent="Assistant", schedule="0 9 1 1 *", chat="Hi")
    jobs.create_job(session, "Briefing", fields, now, "UTC")
    chat = TriggerFields(agent="Assistant", event="GMAIL_NEW_GMAIL_MESSAGE", chat="New mail")
    triggers.create_trigger(session, "Mail", chat, settings, now)


def failed_run(settings) -> int:
    """A run of the job that failed, to be tried again."""
    now = utcnow()
    with open_session(settings.database_url) as session:
        job = jobs.find_job(session, "Briefing")
        run = Run(**run_row(RunSource.run_now, now, now, job_id=job.id, status=RunStatus.failed,
                            finished_at=now, error="the model is down"))  # fmt: skip
        session.add(run)
        session.commit()
        return run.id


def stored_runs(settings) -> list[Run]:
    with read_session(settings.database_url) as session:
        return list(session.exec(select(Run).order_by(Run.id)))


def swept(settings) -> list[int]:
    """What the tick's sweep submits once the note's wait has passed."""
    queue = RecordingQueue()
    resubmit_lost(settings, queue, utcnow() + SWEEP_AFTER + timedelta(minutes=1))
    return queue.run_ids


@pytest.fixture
def api(down, tmp_path: Path) -> Iterator[Api]:
    yield from serve(down, tmp_path)


def test_the_api_answers_with_the_run_the_sweep_will_start(api, down, automations, tmp_path):
    retried = failed_run(down)

    ran = api("POST", "/jobs/Briefing/run")
    tested = api("POST", "/triggers/Mail/test")
    again = api("POST", f"/runs/{retried}/retry")

    assert (ran.status_code, tested.status_code, again.status_code) == (202, 202, 200), (
        ran.text, tested.text, again.text,
    )  # fmt: skip
    answered = [ran.json(), tested.json(), again.json()]
    assert [(r["source"], r["status"]) for r in answered] == [
        ("run_now", "queued"), ("test", "queued"), ("run_now", "retrying"),
    ]  # fmt: skip
    assert {r["waiting_reason"] for r in answered} == {NOT_HANDED_ON}
    stored = {run.id: run for run in stored_runs(down)}
    assert sorted(stored) == sorted(r["id"] for r in answered)  # one run each, no second
    assert {stored[r["id"]].waiting_reason for r in answered} == {NOT_HANDED_ON}
    assert api("GET", f"/runs/{ran.json()['id']}").json()["waiting_reason"] == NOT_HANDED_ON
    assert sorted(swept(down)) == sorted(stored)
    assert "not handed to the queue" in (tmp_path / "webhook.log").read_text()


def test_the_cli_prints_the_run_and_when_it_starts(down, automations):
    retried = failed_run(down)

    ran = planner(down, "jobs", "run", "Briefing")
    shown = planner(down, "jobs", "run", "Briefing", "--json")
    again = planner(down, "runs", "retry", str(retried))
    tested = planner(down, "triggers", "test", "Mail")

    for done in (ran, shown, again, tested):
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
    stored = {run.id: run for run in stored_runs(down)}
    said = re.fullmatch(r"Run (\d+) of job 'Briefing' is saved and starts as soon as the worker "
                        r"takes it; see how it goes with: planner runs --job Briefing\n",
                        ran.stdout)  # fmt: skip
    assert said is not None and int(said[1]) in stored, ran.stdout
    assert f"planner: note: run {said[1]}: {NOT_HANDED_ON}\n" in ran.stderr
    assert json.loads(shown.stdout)["waiting_reason"] == NOT_HANDED_ON
    assert again.stdout.split()[0] == str(retried) and "retrying" in again.stdout
    assert f"planner: note: run {retried}: {NOT_HANDED_ON}\n" in again.stderr
    assert int(tested.stdout.split()[1]) in stored and "of trigger 'Mail'" in tested.stdout
    assert len(stored) == 4  # the failed run, two run-nows and a test event's
    assert {run.waiting_reason for run in stored.values()} == {NOT_HANDED_ON}
    assert sorted(swept(down)) == sorted(stored)


def test_a_job_due_within_the_look_ahead_and_a_replay_are_saved_when_the_queue_fails(
    api, down, automations
):
    """A job made just before its time plans its run at once, and a replayed event is a
    new inbox entry: both are answered as saved (not a 500 or a traceback), and the
    sweeps submit them."""
    every_minute = {"name": "Soon", "agent": "Assistant", "schedule": "* * * * *",
                    "timezone": "UTC", "config": {"template": "Hi"}}  # fmt: skip
    made = api("POST", "/jobs", every_minute)  # its next minute is within the look-ahead
    assert made.status_code == 201, made.text
    planned = [run for run in stored_runs(down) if run.job_id == made.json()["id"]]
    assert planned and {run.status for run in planned} == {RunStatus.queued}

    body, webhook_id = event_body()
    store_rows(down.database_url, [inbox_row(webhook_id, parse(body), utcnow())])
    replayed = planner(down, "events", "replay", webhook_id)
    assert replayed.returncode == 0 and "Traceback" not in replayed.stderr, replayed.stderr
    assert "not handed to the queue" in replayed.stderr
