"""Retry and cancel a run (`planner runs retry|cancel RUN`, the dashboard's buttons), through
a real worker against an agent that holds each call until the test lets it answer."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session

from core.agents import registry
from core.automations import jobs
from core.automations.jobs import JobFields
from core.running.runs import run_row
from core.store.db import read_session
from core.store.models import Run, RunSource, RunStatus, ScheduledJob, utcnow
from queueing import queue_for
from support.cli import planner_cli
from support.fakes import Reply
from support.stored import run_as_stored, run_ends_as, snapshot
from support.waiting import wait_until

pytestmark = pytest.mark.database  # about the database and the queue: PostgreSQL + Redis too

CHAT = "/v1/chat/completions"


@pytest.fixture
def job(session: Session, agent) -> ScheduledJob:
    fields = JobFields(agent="Assistant", schedule="0 9 1 1 *", chat="Hi {jobName}")
    return jobs.create_job(session, "Briefing", fields, utcnow(), "UTC")


def run_now(settings, session: Session, job: ScheduledJob) -> Run:
    queue = queue_for(settings)
    return jobs.run_job_now(session, job.id, queue, utcnow())


def test_a_failed_run_tried_again_keeps_its_key_and_records_each_attempt(
    settings, session, job, target, consumer, monkeypatch, capsys
):
    target.script(CHAT, Reply(500, {"error": "the model is down"}))
    consumer(max_retries=0)
    run = run_ends_as(settings, run_now(settings, session, job), RunStatus.failed)

    with planner_cli(settings, monkeypatch) as cli:
        assert cli("runs", "--json", "retry", str(run.id)) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["id"], shown["status"], shown["started_at"]) == (run.id, "retrying", None)
    done = run_ends_as(settings, run, RunStatus.succeeded)
    assert done.attempt == 2
    assert [a["outcome"] for a in done.attempts] == ["failed", "succeeded"]
    assert [r.headers["Idempotency-Key"] for r in target.received(CHAT)] == [run.key] * 2
    with read_session(settings.database_url) as db:
        assert db.get(ScheduledJob, job.id).health == "green"


def test_a_run_cancelled_before_it_starts_is_never_called(
    settings, session, job, target, consumer, monkeypatch
):
    cancelled = run_now(settings, session, job)  # no worker yet: it waits
    with planner_cli(settings, monkeypatch) as cli:
        assert cli("runs", "cancel", str(cancelled.id)) == 0
    assert run_as_stored(settings, cancelled).status == RunStatus.cancelled
    assert run_as_stored(settings, cancelled).error == "Cancelled by hand before it started."

    consumer()
    later = run_ends_as(settings, run_now(settings, session, job), RunStatus.succeeded)
    assert [r.headers["Idempotency-Key"] for r in target.received(CHAT)] == [later.key]
    assert run_as_stored(settings, cancelled).status == RunStatus.cancelled


def test_a_running_call_cancelled_is_abandoned_and_its_answer_not_recorded(
    settings, session, job, target, consumer, monkeypatch, capsys
):
    target.holding = True
    consumer()
    run = run_now(settings, session, job)
    target.wait_for(lambda received: len(received) == 1)
    run_ends_as(settings, run, RunStatus.running)
    with planner_cli(settings, monkeypatch) as cli:
        assert cli("runs", "cancel", str(run.id)) == 0
    cancelled = run_as_stored(settings, run)
    assert cancelled.status == RunStatus.cancelled
    assert "may still finish the work" in cancelled.error
    assert [(a["attempt"], a["outcome"]) for a in cancelled.attempts] == [(1, "cancelled")]
    with planner_cli(settings, monkeypatch) as cli:  # not while its call may be open
        assert cli("runs", "retry", str(run.id)) == 2
    assert "counts that call as open until its lease ends" in capsys.readouterr().err

    target.release_all()  # the agent answers after all; nobody is waiting for it
    run_ends_as(
        settings, run_now(settings, session, job), RunStatus.succeeded
    )  # the worker is past it
    after = run_as_stored(settings, run)
    assert (after.status, after.attempts, after.finished_at, after.output) == (
        RunStatus.cancelled, cancelled.attempts, cancelled.finished_at, None,
    )  # fmt: skip


def test_a_cancelled_call_keeps_its_agents_slot_until_its_lease_ends(
    settings, session, agent, job, target, consumer, monkeypatch
):
    """The call was abandoned, not ended: for an agent that takes one call at a time,
    another run waits until the cancelled call's timeout has passed."""
    registry.save_agent(session, agent.name, "openai", agent.base_url, agent.model,
                      existing=agent, max_concurrency=1)  # fmt: skip
    other = jobs.create_job(
        session, "Other", JobFields(agent="Assistant", schedule="0 9 1 1 *", chat="Hi"),
        utcnow(), "UTC",
    )  # fmt: skip
    target.holding = True
    consumer(lease_margin_seconds=1)
    cancelled = run_now(settings, session, job)
    target.wait_for(lambda received: len(received) == 1)
    run_ends_as(settings, cancelled, RunStatus.running)
    with planner_cli(settings, monkeypatch) as cli:
        assert cli("runs", "cancel", str(cancelled.id)) == 0

    waiting = run_now(settings, session, other)
    wait_until(
        lambda: (run_as_stored(settings, waiting).waiting_reason or "").startswith(
            "Waiting for a free"
        ),
        what="the other run waiting for the agent's slot",
    )
    assert len(target.received(CHAT)) == 1
    target.release_all()
    started = run_ends_as(settings, waiting, RunStatus.succeeded).started_at
    assert started >= run_as_stored(settings, cancelled).lease_expires_at


def stored_run(session: Session, job: ScheduledJob, status: RunStatus) -> Run:
    now = utcnow()
    run = Run(**run_row(RunSource.run_now, now, now, job_id=job.id, status=status))
    session.add(run)
    session.commit()
    return run


@pytest.mark.parametrize(
    ("verb", "status", "message"),
    [
        (
            "retry",
            RunStatus.succeeded,
            "has succeeded; only a failed or cancelled run can be retried",
        ),
        ("retry", RunStatus.running, "is running; only a failed or cancelled run can be"),
        ("cancel", RunStatus.failed, "has failed; only a waiting or running run can be"),
        ("cancel", RunStatus.missed, "only a waiting or running run can be cancelled"),
    ],
)
def test_a_run_that_cannot_be_retried_or_cancelled_is_refused(
    settings, session, job, monkeypatch, capsys, verb, status, message
):
    run = stored_run(session, job, status)
    before = snapshot(settings.database_url)
    with planner_cli(settings, monkeypatch) as cli:
        assert cli("runs", verb, str(run.id)) == 2
    assert message in capsys.readouterr().err
    assert snapshot(settings.database_url) == before


def test_unknown_runs_and_paused_jobs_are_refused(settings, session, job, monkeypatch, capsys):
    failed = stored_run(session, job, RunStatus.failed)
    jobs.pause_job(session, job.id, utcnow())
    before = snapshot(settings.database_url)
    with planner_cli(settings, monkeypatch) as cli:
        for ref in ("999999", "99999999999999999999"):  # the second is past any id
            assert cli("runs", "cancel", ref) == 2
            assert f"There is no run with id {ref}." in capsys.readouterr().err
        for ref in ("abc", "", "1e3", "٣"):
            assert cli("runs", "cancel", ref) == 2
            assert f"{ref!r} is not a run id" in capsys.readouterr().err
        assert cli("runs", "retry", str(failed.id)) == 2
        assert "Its job 'Briefing' is paused; resume it first." in capsys.readouterr().err
    assert snapshot(settings.database_url) == before
