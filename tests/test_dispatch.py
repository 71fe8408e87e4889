"""The dispatcher tick: look-ahead, exactly-once occurrences, misfire policy, sweeps."""

from __future__ import annotations

import multiprocessing
import sys
import types
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from core.automations import jobs
from core.automations.jobs import JobFields
from core.config import Settings
from core.running.claims import CLAIMS_OF_JOB
from core.running.sweeps import SWEEP_AFTER
from core.scheduling.tick import LOOKAHEAD, SUBMIT_AHEAD, tick
from core.store.db import session as open_session
from core.store.db import take_many_turns
from core.store.models import Heartbeat, Run, RunStatus, ScheduledJob
from core.views.overview import worker_status
from support.queues import RecordingQueue

pytestmark = pytest.mark.database  # about the database and the queue: PostgreSQL + Redis too

NOW = datetime(2026, 11, 26, 8, 59, 0, tzinfo=UTC)


def add_job(session: Session, name: str, schedule: str, **extra) -> ScheduledJob:
    fields = JobFields(agent="Assistant", schedule=schedule, chat="hi", **extra)
    return jobs.create_job(session, name, fields, NOW - timedelta(minutes=1), "UTC")


def runs_of(session: Session, job: ScheduledJob) -> list[Run]:
    session.expire_all()
    return list(session.exec(select(Run).where(Run.job_id == job.id).order_by(Run.scheduled_for)))


def set_next_run(session: Session, job: ScheduledJob, moment: datetime) -> None:
    job.next_run_at = moment
    session.add(job)
    session.commit()


def test_tick_queues_occurrences_within_the_look_ahead_with_an_eta(settings, session, agent, queue):
    nine = add_job(session, "Nine", "0 9 * * *")  # due in 60 s: inside the look-ahead
    ten = add_job(session, "Ten", "0 10 * * *")  # due in an hour: not yet

    report = tick(settings, queue, NOW, "w1")

    [run] = runs_of(session, nine)
    nine_o_clock = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    assert (run.status, run.source, run.scheduled_for, run.due_at) == (
        "queued",
        "schedule",
        nine_o_clock,
        nine_o_clock,
    )
    assert queue.submitted == [([run.id], nine_o_clock - SUBMIT_AHEAD)]
    assert runs_of(session, ten) == []
    assert report.runs_created == 1
    session.expire_all()
    assert session.get(ScheduledJob, nine.id).next_run_at == nine_o_clock + timedelta(days=1)


def test_a_stored_schedule_no_longer_valid_stops_that_job_alone(settings, session, agent, queue):
    nine = add_job(session, "Nine", "0 9 * * *")
    old = add_job(session, "Old", "0 9 * * *")
    old.schedule = "R R * * *"  # accepted by an older Planner, refused today
    set_next_run(session, old, old.next_run_at)

    tick(settings, queue, NOW, "w1")

    assert len(runs_of(session, nine)) == 1
    session.expire_all()
    stopped = session.get(ScheduledJob, old.id)
    assert (stopped.next_run_at, stopped.health) == (None, "red")
    assert "Edit the job's schedule." in stopped.last_outcome
    session.rollback()  # end the read, so the next tick can write
    tick(settings, queue, NOW + timedelta(days=1), "w1")
    assert runs_of(session, old) == []  # never picked up again until edited


def test_a_second_tick_adds_nothing(settings, session, agent):
    job = add_job(session, "Every minute", "* * * * *")
    first, second = RecordingQueue(), RecordingQueue()

    tick(settings, first, NOW, "w1")
    set_next_run(session, session.get(ScheduledJob, job.id), NOW + timedelta(minutes=1))
    tick(settings, second, NOW, "w2")

    assert second.run_ids == []
    occurrences = [run.scheduled_for for run in runs_of(session, job)]
    assert len(occurrences) == len(set(occurrences)) == len(first.run_ids)


def test_paused_jobs_are_not_dispatched(settings, session, agent, queue):
    job = add_job(session, "Nine", "0 9 * * *")
    jobs.pause_job(session, job.id, NOW)
    tick(settings, queue, NOW, "w1")
    assert runs_of(session, job) == [] and queue.submitted == []


def _tick_in_child(settings: Settings, now: datetime, worker: str, start, results) -> None:
    queue = RecordingQueue()
    start.wait(timeout=60)  # both dispatchers begin together
    tick(settings, queue, now, worker)
    results.put(queue.run_ids)


def test_two_concurrent_dispatchers_make_one_run_per_occurrence(
    settings, session, agent, monkeypatch
):
    # Spawned children re-run __main__; Streamlit's AppTest (other tests) points it at a
    # throwaway script, so give them a plain one.
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    jobs = [add_job(session, f"Job {n}", "59 * * * *") for n in range(120)]  # all due at NOW
    context = multiprocessing.get_context("spawn")
    results, start = context.Queue(), context.Barrier(2)
    workers = [
        context.Process(target=_tick_in_child, args=(settings, NOW, f"w{n}", start, results))
        for n in range(2)
    ]
    for process in workers:
        process.start()
    submitted = results.get(timeout=60) + results.get(timeout=60)
    for process in workers:
        process.join(timeout=30)

    with open_session(settings.database_url) as db:
        runs = db.exec(select(Run)).all()
    assert len(runs) == len(jobs)
    assert len({(run.job_id, run.scheduled_for) for run in runs}) == len(jobs)
    assert sorted(submitted) == sorted(run.id for run in runs), "each run submitted once"


def test_misfire_catch_up_once_runs_the_newest_and_counts_the_rest(settings, session, agent):
    job = add_job(session, "Hourly", "0 * * * *")
    set_next_run(session, job, NOW - timedelta(hours=3, minutes=59))  # 05:00, 06:00, 07:00, 08:00
    queue = RecordingQueue()

    report = tick(settings, queue, NOW, "w1")

    runs = runs_of(session, job)
    catch_up = [run for run in runs if run.source == "catch_up"]
    missed = [run for run in runs if run.status == "missed"]
    assert len(runs) == 3  # one catch-up, one missed entry, and the upcoming 09:00
    assert catch_up[0].scheduled_for == datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    assert catch_up[0].due_at == NOW and catch_up[0].status == "queued"
    assert missed[0].output["missed_occurrences"] == 3
    assert missed[0].error == (
        "Missed 3 runs between 2026-11-26 05:00 and 2026-11-26 07:00 UTC: no worker was running."
    )
    assert missed[0].finished_at == NOW
    assert report.occurrences_missed == 3
    assert catch_up[0].id in queue.run_ids


def test_misfire_skip_runs_nothing_old_and_counts_everything(settings, session, agent, queue):
    job = add_job(session, "Hourly", "0 * * * *", misfire="skip")
    set_next_run(session, job, NOW - timedelta(hours=3, minutes=59))

    tick(settings, queue, NOW, "w1")

    runs = runs_of(session, job)
    assert [run.source for run in runs if run.status == "queued"] == ["schedule"]  # 09:00 only
    [missed] = [run for run in runs if run.status == "missed"]
    assert missed.output["missed_occurrences"] == 4


def test_a_slightly_late_occurrence_still_runs_normally(settings, session, agent, queue):
    job = add_job(session, "Every minute", "* * * * *")
    set_next_run(session, job, NOW - timedelta(minutes=3))  # within the 300 s grace

    tick(settings, queue, NOW, "w1")

    runs = runs_of(session, job)
    late = [run for run in runs if run.scheduled_for == NOW - timedelta(minutes=1)]
    assert late[0].source == "schedule" and late[0].due_at == NOW
    [missed] = [run for run in runs if run.status == "missed"]
    assert missed.output["missed_occurrences"] == 2
    future = [run for run in runs if run.scheduled_for >= NOW]
    assert len(future) == len(range(0, int(LOOKAHEAD.total_seconds()) + 1, 60))


def test_sweep_resubmits_runs_whose_queue_message_was_lost(settings, session, agent, queue):
    job = add_job(session, "Nine", "0 9 * * *")
    old = NOW - SWEEP_AFTER - timedelta(seconds=1)
    lost = Run(job_id=job.id, source="run_now", due_at=old)
    fresh = Run(job_id=job.id, source="run_now", due_at=NOW)
    session.add_all([lost, fresh])
    session.commit()

    report = tick(settings, queue, NOW, "w1")

    assert ([lost.id], None) in queue.submitted
    assert fresh.id not in queue.run_ids
    assert report.runs_resubmitted == 1


def test_sweep_takes_back_runs_of_a_dead_worker(settings, session, agent, queue):
    job = add_job(session, "Nine", "0 9 * * *")
    orphan = Run(
        job_id=job.id, source="run_now", due_at=NOW - timedelta(minutes=5),
        status=RunStatus.running, attempt=1, started_at=NOW - timedelta(minutes=5),
        lease_expires_at=NOW - timedelta(seconds=1),
    )  # fmt: skip
    session.add(orphan)
    session.commit()

    report = tick(settings, queue, NOW, "w1")

    session.expire_all()
    taken = session.get(Run, orphan.id)
    assert taken.status == "retrying" and taken.lease_expires_at is None
    assert taken.attempts[0]["error"] == "The worker stopped during attempt 1."
    assert ([orphan.id], taken.due_at) in queue.submitted
    assert report.leases_expired == 1


def test_tick_writes_a_heartbeat(settings, session):
    tick(settings, RecordingQueue(), NOW, "host:1")
    tick(settings, RecordingQueue(), NOW + timedelta(minutes=1), "host:1")
    [beat] = session.exec(select(Heartbeat)).all()
    assert (beat.worker, beat.last_tick_at) == ("host:1", NOW + timedelta(minutes=1))


def test_workers_are_counted_and_long_gone_ones_forgotten(settings, session):
    tick(settings, RecordingQueue(), NOW - timedelta(days=2), "old-host:7")
    tick(settings, RecordingQueue(), NOW - timedelta(minutes=10), "host:1")
    tick(settings, RecordingQueue(), NOW - timedelta(seconds=30), "host:2")
    tick(settings, RecordingQueue(), NOW, "other-host:3")

    assert sorted(b.worker for b in session.exec(select(Heartbeat))) == [
        "host:1", "host:2", "other-host:3"
    ]  # fmt: skip
    status = worker_status(session, NOW)
    assert (status.online, status.workers_online, status.last_seen) == (True, 2, NOW)
    assert worker_status(session, NOW + timedelta(minutes=5)).online is False


def test_a_claim_in_progress_does_not_hide_its_job_from_the_tick(settings, session, agent, queue):
    if settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite runs one writer at a time: the tick waits for the claim")
    job = add_job(session, "Every minute", "* * * * *")
    with open_session(settings.database_url) as claiming:  # a claim of the job's last run
        take_many_turns(claiming, [(CLAIMS_OF_JOB, job.id)])
        report = tick(settings, queue, NOW, "w1")
        claiming.rollback()
    assert report.runs_created == len(runs_of(session, job)) > 0
