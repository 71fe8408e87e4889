"""The worker's state as people see it: when the dashboard calls a worker down (at most a
minute after its last beat, never while its beats are only a little late), a worker
that stops says so at once, the banner's words say what to do on a hosting platform, and
a run that started late says how late and why. On a real database; the runs are made and
started by the tick and the worker's own flight."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from core.automations import jobs
from core.automations.jobs import JobFields
from core.running.heartbeats import BEAT_EVERY, beat, stopped
from core.scheduling.tick import tick
from core.store.db import read_session
from core.store.models import Heartbeat, Run, utcnow
from core.views.overview import (
    LATE_AFTER,
    OFFLINE_AFTER,
    SHOWN_DOWN_WITHIN,
    WorkerStatus,
    late_in_words,
    worker_down_in_words,
    worker_status,
)
from queueing import HueyQueue, make_huey
from support.fakes import Reply
from support.flights import execute_run
from support.screens import activity_page, texts
from support.waiting import wait_until
from worker.consumer import Worker

NINE = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def test_a_silent_worker_is_shown_down_within_a_minute_but_not_for_two_late_beats(
    settings, session
):
    beat(settings, "host:1", NINE)
    two_beats_missed = NINE + 2 * BEAT_EVERY + timedelta(seconds=14)
    assert worker_status(session, two_beats_missed).online
    assert not worker_status(session, NINE + OFFLINE_AFTER).online
    # dead right after that beat: called down after OFFLINE_AFTER, read within seconds
    assert SHOWN_DOWN_WITHIN.total_seconds() <= 60


def test_a_worker_that_stops_is_counted_out_at_once(settings, session):
    beat(settings, "host:1", NINE)
    beat(settings, "host:2", NINE)
    stopped(settings, "host:1")
    assert worker_status(session, NINE).workers_online == 1
    session.rollback()  # end the read, so the next write can go ahead
    stopped(settings, "host:2")
    assert not worker_status(session, NINE).online


def test_a_worker_process_stopping_removes_its_heartbeat(settings):
    worker = Worker(HueyQueue(make_huey(settings.queue_url)), settings)
    worker.start_heartbeat()  # as huey does when it starts the process as a consumer

    def beats() -> int:
        with read_session(settings.database_url) as db:
            return len(db.exec(select(Heartbeat)).all())

    wait_until(lambda: beats() == 1, what="the first beat")
    worker.finish_calls()  # as huey does on a graceful stop (SIGTERM)
    worker.flight.close()
    assert beats() == 0
    assert "heartbeat" not in {t.name for t in threading.enumerate()}


def test_the_banner_says_what_to_do_on_a_hosting_platform_in_plain_words():
    said = worker_down_in_words(WorkerStatus(False, NINE, 0), NINE + timedelta(minutes=2))
    assert said.startswith("Nothing will run until the worker is started.")
    assert "is not running (last heard from 2 min ago)" in said
    assert "Restart Planner on your hosting platform" in said
    assert "Heroku: More → Restart all dynos" in said
    assert "make run" not in said and "`" not in said
    never = worker_down_in_words(WorkerStatus(False, None, 0), NINE)
    assert "is not running. Restart Planner" in never


def nine_o_clock_job(session):
    fields = JobFields(agent="Assistant", schedule="0 9 * * *", chat="Good morning")
    return jobs.create_job(session, "Briefing", fields, NINE - timedelta(minutes=5), "UTC")


def the_run(settings, run_id: int) -> Run:
    with read_session(settings.database_url) as db:
        return db.get(Run, run_id)


def test_an_occurrence_the_worker_came_back_for_ran_late_because_it_was_down(
    settings, session, agent, queue
):
    job = nine_o_clock_job(session)
    back = NINE + timedelta(seconds=53)  # no tick made the 9:00 run ahead: no worker ran
    tick(settings, queue, back, "host:1")
    [run] = session.exec(select(Run).where(Run.job_id == job.id)).all()
    session.close()  # end the read (its run still read), so the worker can write
    execute_run(run.id, queue, settings, clock=lambda: back)

    assert late_in_words(the_run(settings, run.id)) == "ran 53 s late — the worker was down"


def test_a_run_now_started_53_s_after_the_press_says_it_ran_late(settings, session, agent, queue):
    job = nine_o_clock_job(session)
    pressed = utcnow()
    run = jobs.run_job_now(session, job.id, queue, pressed)
    execute_run(run.id, queue, settings, clock=lambda: pressed + timedelta(seconds=53))

    said = late_in_words(the_run(settings, run.id))
    assert said == "ran 53 s late — the worker was down or busy"


def test_a_run_started_within_30_s_of_its_moment_says_nothing(settings, session, agent, queue):
    job = nine_o_clock_job(session)
    pressed = utcnow()
    run = jobs.run_job_now(session, job.id, queue, pressed)
    almost = LATE_AFTER - timedelta(seconds=1)
    execute_run(run.id, queue, settings, clock=lambda: pressed + almost)

    assert late_in_words(the_run(settings, run.id)) == ""


def test_a_retry_at_its_own_time_is_not_called_late(settings, session, agent, target, queue):
    target.script("/v1/chat/completions", Reply(503))
    job = nine_o_clock_job(session)
    pressed = utcnow()
    run = jobs.run_job_now(session, job.id, queue, pressed)
    execute_run(run.id, queue, settings, clock=lambda: pressed)
    retrying = the_run(settings, run.id)
    execute_run(run.id, queue, settings, clock=lambda: retrying.due_at)

    again = the_run(settings, run.id)
    assert (again.attempt, late_in_words(again)) == (2, "")


def test_a_card_its_history_and_the_activity_page_say_a_run_ran_late(
    settings, session, agent, queue, dashboard, page
):
    job = nine_o_clock_job(session)
    back = NINE + timedelta(seconds=53)
    tick(settings, queue, back, "host:1")
    [run] = session.exec(select(Run).where(Run.job_id == job.id)).all()
    session.close()  # end the read (its run still read), so the worker can write
    execute_run(run.id, queue, settings, clock=lambda: back)

    app = dashboard()
    late = "Ran 53 s late — the worker was down"
    assert texts(app).count(late) == 2  # under the latest run, and in the card's History
    assert "ran 53 s late — the worker was down" in texts(page(activity_page))
