"""Targets that misbehave, against a real worker process: one that trickles its answer a
byte at a time, and ones whose answer cannot be read or stored. Each attempt ends with a
failure that says why, within the call's deadline, and the run is never taken back as if
its worker had stopped."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from core.agents import registry
from core.automations import jobs
from core.automations.jobs import JobFields
from core.store.db import read_session
from core.store.models import TERMINAL_STATUSES, Run, ScheduledJob, utcnow
from queueing import queue_for
from support.fakes import Raw, Reply, TricklingTarget
from support.waiting import wait_until

# A short call deadline and lease margin, so a call that outlived its deadline would
# outlive its lease (3 s) too and be taken back by the sweep.
HOSTILE = {"http_timeout_seconds": 2, "lease_margin_seconds": 1}


def run_now(settings, session: Session, fields: JobFields) -> Run:
    job = jobs.create_job(session, "Report", fields, utcnow(), "UTC")
    return jobs.run_job_now(session, job.id, queue_for(settings), utcnow())


def finished(settings, run_id: int):
    def probe() -> tuple[Run, ScheduledJob] | None:
        with read_session(settings.database_url) as session:
            run = session.get(Run, run_id)
            if run.status not in TERMINAL_STATUSES:
                return None
            return run, session.get(ScheduledJob, run.job_id)

    return probe


@pytest.mark.parametrize("part", ["headers", "body"])
def test_a_trickling_target_sees_one_open_call_per_attempt_and_the_run_fails_in_time(
    settings, session, consumer, part
):
    trickling = TricklingTarget(part=part, interval=0.5).start()
    registry.save_agent(session, "Slow", "http", trickling.url + "/agent")
    consumer(max_retries=1, **HOSTILE)

    run = run_now(settings, session, JobFields(agent="Slow", schedule="0 9 * * 1", chat="Go"))

    done, job = wait_until(finished(settings, run.id), timeout=60, what="the trickled run")
    deadline = f"No complete answer from {trickling.url}/agent within 2 s (timeout)."
    assert (done.status, done.attempt) == ("failed", 2)
    assert [attempt["error"] for attempt in done.attempts] == [deadline, deadline]
    assert job.health == "red" and job.last_outcome == f"failed: {deadline}"
    calls = wait_until(lambda: len(trickling.finished_calls()) == 2 and trickling.calls)
    assert {call.key for call in calls} == {run.key}
    assert trickling.most_open_at_once(run.key) == 1
    trickling.stop()


UNREADABLE = {
    "invalid Content-Encoding": (
        Raw(b'{"ok": true}', {"content-type": "application/json", "content-encoding": "gzip"}),
        "sent an answer that could not be decoded",
    ),
    "NaN": (
        {"score": float("nan")},
        "answered JSON that is not standard (NaN is not a number JSON allows)",
    ),
}


@pytest.mark.parametrize("answer, reason", UNREADABLE.values(), ids=UNREADABLE)
def test_an_answer_that_cannot_be_read_or_stored_fails_the_run_with_the_reason(
    settings, session, agent, workflow, target, consumer, answer, reason
):
    target.script("/hooks/analyze", Reply(200, answer))
    consumer(**HOSTILE)

    fields = JobFields(agent="Assistant", schedule="0 9 * * 1", workflow="analyze-email")
    run = run_now(settings, session, fields)

    done, job = wait_until(finished(settings, run.id), what="the run")
    assert (done.status, done.attempt, done.output) == ("failed", 1, None)
    assert done.error.startswith(f"{target.url}/hooks/analyze ") and reason in done.error
    assert job.health == "red" and job.last_outcome == f"failed: {done.error}"
    assert len(target.received("/hooks/analyze")) == 1
