"""A job's or trigger's own retries, call timeout and overlap policy, through a real worker
against an agent that holds each call until the test lets it answer."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlmodel import Session, select

from core.automations import jobs, text, triggers
from core.automations.jobs import JobFields
from core.automations.policies import Overlap
from core.automations.triggers import TriggerFields
from core.errors import ValidationError
from core.events.inbox import fire_test_event
from core.running.claims import claim_prepared, prepare
from core.running.runs import run_row
from core.store.db import read_session
from core.store.models import Run, RunSource, RunStatus, ScheduledJob, utcnow
from queueing import HueyQueue, queue_for
from support.fakes import Reply
from support.stored import run_as_stored, run_ends_as, snapshot
from support.waiting import wait_until

pytestmark = pytest.mark.database  # about the database and the queue: PostgreSQL + Redis too

CHAT = "/v1/chat/completions"


def a_job(session: Session, name: str, **policies) -> ScheduledJob:
    fields = JobFields(agent="Assistant", schedule="0 9 1 1 *", chat="Hi", **policies)
    return jobs.create_job(session, name, fields, utcnow(), "UTC")


def run_now(settings, session: Session, job: ScheduledJob) -> Run:
    return jobs.run_job_now(session, job.id, queue_of(settings), utcnow())


def queue_of(settings) -> HueyQueue:
    return queue_for(settings)


def test_each_job_tries_again_as_often_as_it_says(settings, session, agent, target, consumer):
    target.script(CHAT, *[Reply(503, {"error": "busy"})] * 3, Reply(200, {}))
    never = a_job(session, "Never again", retries=0)
    once = a_job(session, "Once more", retries=1)
    consumer(max_retries=5)

    failed = run_ends_as(settings, run_now(settings, session, never), RunStatus.failed)
    assert [a["outcome"] for a in failed.attempts] == ["failed"]
    failed = run_ends_as(settings, run_now(settings, session, once), RunStatus.failed)
    assert [a["outcome"] for a in failed.attempts] == ["failed", "failed"]


def test_a_trigger_follows_its_own_retries(settings, session, agent, target, consumer):
    target.script(CHAT, *[Reply(503, {"error": "busy"})] * 3)
    fields = TriggerFields(agent="Assistant", event="GMAIL_NEW_GMAIL_MESSAGE", chat="New mail",
                           retries=0)  # fmt: skip
    trigger = triggers.create_trigger(session, "Mail", fields, settings, utcnow())
    consumer(max_retries=5)
    fire_test_event(session, settings, trigger.id, queue_of(settings), utcnow())

    def finished() -> list[Run]:
        with read_session(settings.database_url) as db:
            runs = db.exec(select(Run).where(Run.trigger_id == trigger.id)).all()
            return [run for run in runs if run.finished_at is not None]

    [run] = wait_until(finished, what="the trigger's run")
    assert run.status == RunStatus.failed and run.attempt == 1


def test_a_call_is_given_up_after_its_jobs_timeout_and_leased_for_that_long(
    settings, session, agent, target, consumer
):
    target.holding = True  # the agent never answers
    job = a_job(session, "Patient", timeout=timedelta(seconds=3), retries=0)
    consumer(lease_margin_seconds=7)
    run = run_now(settings, session, job)

    running = wait_until(
        lambda: (found := run_as_stored(settings, run)).status == RunStatus.running and found,
        what="the call",
    )
    assert running.lease_expires_at - running.started_at == timedelta(seconds=3 + 7)
    failed = run_ends_as(settings, run, RunStatus.failed)
    assert "within 3 s (timeout)" in failed.error
    target.release_all()


def test_overlap_skip_skips_a_run_while_the_previous_one_runs(
    settings, session, agent, target, consumer
):
    target.holding = True
    job = a_job(session, "Briefing")  # skip: a job's default
    consumer()
    first = run_now(settings, session, job)
    assert target.wait_open(1)
    second = run_ends_as(settings, run_now(settings, session, job), RunStatus.skipped)
    assert second.error == "The previous run of this job was still running."
    target.release_all()
    run_ends_as(settings, first, RunStatus.succeeded)


def test_overlap_queue_runs_one_after_the_previous_and_skips_more(
    settings, session, agent, target, consumer
):
    target.holding = True
    job = a_job(session, "Briefing", overlap=Overlap.queue)
    consumer()
    first = run_now(settings, session, job)
    assert target.wait_open(1)
    second = run_now(settings, session, job)
    waiting = wait_until(
        lambda: (found := run_as_stored(settings, second)).waiting_reason and found, what="the wait"
    )
    assert (waiting.status, waiting.waiting_reason) == (
        RunStatus.queued, "Waiting for the previous run of this job to finish."
    )  # fmt: skip
    third = run_ends_as(settings, run_now(settings, session, job), RunStatus.skipped)
    assert third.error == "Another run of this job was already waiting for the previous one."
    assert len(target.open_calls()) == 1  # never two at once

    target.release()
    run_ends_as(settings, first, RunStatus.succeeded)
    assert target.wait_open(1)  # the queued run's call, once the first ended
    target.release_all()
    done = run_ends_as(settings, second, RunStatus.succeeded)
    assert done.started_at >= run_as_stored(settings, first).finished_at
    assert target.most_open == 1


def test_overlap_allow_runs_both_at_once(settings, session, agent, target, consumer):
    target.holding = True
    job = a_job(session, "Briefing", overlap=Overlap.allow)
    consumer()
    first, second = run_now(settings, session, job), run_now(settings, session, job)
    assert target.wait_open(2), target
    target.release_all()
    run_ends_as(settings, first, RunStatus.succeeded)
    run_ends_as(settings, second, RunStatus.succeeded)


def test_a_trigger_can_skip_an_event_while_its_previous_run_runs(
    settings, session, agent, target, consumer
):
    target.holding = True
    fields = TriggerFields(agent="Assistant", event="GMAIL_NEW_GMAIL_MESSAGE", chat="New mail",
                           overlap=Overlap.skip)  # fmt: skip
    trigger = triggers.create_trigger(session, "Mail", fields, settings, utcnow())
    consumer()
    queue = queue_of(settings)
    fire_test_event(session, settings, trigger.id, queue, utcnow())
    assert target.wait_open(1)
    fire_test_event(session, settings, trigger.id, queue, utcnow())

    def skipped() -> list[Run]:
        with read_session(settings.database_url) as db:
            runs = db.exec(select(Run).where(Run.trigger_id == trigger.id)).all()
            return [run for run in runs if run.status == RunStatus.skipped]

    [run] = wait_until(skipped, what="the skipped run")
    assert run.error == "The previous run of this trigger was still running."
    target.release_all()


def test_one_run_waits_behind_the_previous_whatever_the_order_of_their_ids(
    settings, session, agent
):
    job = a_job(session, "Briefing", overlap=Overlap.queue)
    now = utcnow()

    def waiting_run(due: datetime, **extra) -> Run:
        run = Run(**run_row(RunSource.schedule, due, now, job_id=job.id, scheduled_for=due))
        for name, value in extra.items():
            setattr(run, name, value)
        session.add(run)
        session.commit()
        return run

    waiting_run(now - timedelta(hours=1), status=RunStatus.running, attempt=1)
    came_due_later = waiting_run(now)  # the lower id
    came_due_first = waiting_run(now - timedelta(seconds=5))

    later = claim_prepared(settings, prepare(settings, [came_due_later.id]), now)
    assert later.attempts == later.waiting == []
    skipped = run_as_stored(settings, came_due_later)
    assert (skipped.status, skipped.error) == (
        RunStatus.skipped, "Another run of this job was already waiting for the previous one."
    )  # fmt: skip
    first = claim_prepared(settings, prepare(settings, [came_due_first.id]), now)
    assert [(h.prepared.run.id, h.key, h.limit) for h in first.waiting] == [
        (came_due_first.id, f"job:{job.id}", 1)
    ]
    assert run_as_stored(settings, came_due_first).status == RunStatus.queued


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"retries": 11}, "Retries must be a whole number from 0 to 10 (or default), not '11'."),
        ({"retries": -1}, "from 0 to 10 (or default), not '-1'."),
        ({"timeout": timedelta(0)}, "A call's timeout must be at least 1 second."),
        ({"timeout": timedelta(hours=2)}, "A call's timeout of 2 hours is longer than 1 hour"),
        ({"timeout": timedelta(seconds=1.5)},
         "must be a whole number of seconds, 0 or more, not 1.5 s."),
    ],
)  # fmt: skip
def test_bad_policies_are_refused_and_change_nothing(settings, session, agent, fields, message):
    job = a_job(session, "Briefing", retries=2)
    before = snapshot(settings.database_url)
    with pytest.raises(ValidationError) as refused:
        jobs.update_job(session, job.id, JobFields(**fields), utcnow())
    assert message in str(refused.value)
    session.rollback()
    assert snapshot(settings.database_url) == before


@pytest.mark.parametrize(
    ("reader", "written", "read"),
    [
        (text.retries, "3", 3), (text.retries, 0, 0), (text.retries, " Default ", None),
        (text.timeout, "90", timedelta(seconds=90)), (text.timeout, 300, timedelta(minutes=5)),
        (text.timeout, "5 min", timedelta(minutes=5)), (text.timeout, "default", None),
        (text.overlap, " Queue", Overlap.queue), (text.overlap, "DEFAULT", None),
    ],
)  # fmt: skip
def test_policies_are_read_as_people_type_them(reader, written, read):
    assert reader(written) == read


@pytest.mark.parametrize(
    ("reader", "written", "message"),
    [
        (text.retries, "two", "from 0 to 10 (or default), not 'two'."),
        (text.retries, "-1", "from 0 to 10 (or default), not '-1'."),
        (text.retries, "", "from 0 to 10 (or default), not ''."),
        (text.timeout, "", "'' is not a length of time like 30s, 5m or 1h."),
        (text.timeout, "soon", "'soon' is not a length of time like 30s, 5m or 1h."),
        (text.overlap, "sideways", "Overlap must be skip, queue or allow (or default), not "
         "'sideways'."),
    ],
)  # fmt: skip
def test_text_that_is_no_policy_is_refused_in_words(reader, written, message):
    with pytest.raises(ValidationError) as refused:
        reader(written)
    assert str(refused.value).endswith(message)


def test_none_goes_back_to_planners_setting(session, agent):
    job = a_job(session, "Briefing", retries=2, timeout=timedelta(minutes=5), overlap=Overlap.queue)
    assert (job.max_retries, job.timeout_seconds, job.overlap) == (2, 300, "queue")
    kept = jobs.update_job(session, job.id, JobFields(name="Renamed"), utcnow())
    assert (kept.max_retries, kept.timeout_seconds, kept.overlap) == (2, 300, "queue")
    reset = jobs.update_job(
        session, job.id, JobFields(retries=None, timeout=None, overlap=None), utcnow()
    )
    assert (reset.max_retries, reset.timeout_seconds, reset.overlap) == (None, None, None)
