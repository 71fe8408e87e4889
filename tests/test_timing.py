"""One-off jobs, first and last days, and the random delay: the occurrences they have,
what the tick makes of them, what is refused, and a one-off run by a real worker."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session, select

from core.automations import jobs, text
from core.automations.jobs import JobFields
from core.errors import ValidationError
from core.scheduling import occurrences
from core.scheduling.tick import SUBMIT_AHEAD, tick
from core.scheduling.timing import Timing, delay, moment_from_text
from core.store.models import Run, RunStatus, ScheduledJob, utcnow
from support.stored import snapshot
from support.waiting import wait_until

NOW = datetime(2026, 11, 26, 8, 59, 0, tzinfo=UTC)
BERLIN = "Europe/Berlin"


def add_job(session: Session, name: str, **fields) -> ScheduledJob:
    given = JobFields(agent="Assistant", chat="hi", **fields)
    return jobs.create_job(session, name, given, NOW, "UTC")


def runs_of(session: Session, job: ScheduledJob) -> list[Run]:
    session.expire_all()
    return list(session.exec(select(Run).where(Run.job_id == job.id).order_by(Run.scheduled_for)))


def reread(session: Session, job: ScheduledJob) -> ScheduledJob:
    session.expire_all()
    return session.get(ScheduledJob, job.id)


# Occurrences


def test_a_one_off_has_one_occurrence_on_its_own_clock():
    once = Timing("once 2026-12-24 09:00", BERLIN)
    assert list(once.occurrences(NOW)) == [datetime(2026, 12, 24, 8, 0, tzinfo=UTC)]
    assert list(once.occurrences(datetime(2026, 12, 24, 8, 0, tzinfo=UTC))) == []
    assert once.describe() == "Once, on Thu 24 Dec 2026 at 09:00"


def test_days_bound_a_cron_schedule_inclusively_on_the_jobs_clock():
    advent = Timing("0 9 * * *", BERLIN, date(2026, 12, 1), date(2026, 12, 24))
    every = list(advent.occurrences(NOW))
    assert len(every) == 24
    assert every[0] == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert every[-1] == datetime(2026, 12, 24, 8, 0, tzinfo=UTC)
    assert advent.describe() == "At 09:00, every day, from Tue 01 Dec 2026 to Thu 24 Dec 2026"
    # midnight on the first day counts: the day begins on the job's clock, not UTC's
    midnight = Timing("0 0 * * *", BERLIN, date(2026, 12, 1))
    assert midnight.next_after(NOW) == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    assert Timing("0 9 * * *", "UTC", None, date(2026, 11, 26)).next_after(NOW) is not None
    assert Timing("0 9 * * *", "UTC", None, date(2026, 11, 25)).next_after(NOW) is None


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("0", 0), ("none", 0), ("90", 90), ("30s", 30), ("5m", 300), ("5 min", 300), ("1h", 3600),
     (120, 120)],
)  # fmt: skip
def test_a_delay_is_read_in_seconds_minutes_or_hours(written, seconds):
    assert text.delay(written) == timedelta(seconds=seconds)


def test_the_delay_is_within_its_bound_the_same_each_time_and_spread_across_jobs():
    moment = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    delays = {delay(f"job-{n}", moment, 300) for n in range(200)}
    assert all(timedelta(0) <= d <= timedelta(seconds=300) for d in delays)
    assert len(delays) > 100  # not all at once: that is the point
    assert delay("job-1", moment, 300) == delay("job-1", moment, 300)
    assert delay("job-1", moment, 0) == timedelta(0)


# What the tick makes of them


def test_a_one_off_runs_once_at_its_time_and_then_is_done(settings, session, agent, queue):
    job = add_job(session, "Christmas", at=datetime(2026, 11, 26, 10, 0), timezone=BERLIN)
    nine = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    assert job.next_run_at == nine and job.health == "green"

    tick(settings, queue, NOW, "w1")
    [run] = runs_of(session, job)
    assert (run.scheduled_for, run.due_at, run.status) == (nine, nine, RunStatus.queued)
    assert queue.submitted == [([run.id], nine - SUBMIT_AHEAD)]
    session.rollback()
    tick(settings, queue, NOW + timedelta(days=1), "w1")
    assert runs_of(session, job) == [run]  # nothing more, ever
    done = reread(session, job)
    assert (done.next_run_at, done.health) == (None, "grey")
    session.rollback()
    jobs.resume_job(session, job.id, NOW + timedelta(days=1))  # resuming changes nothing
    assert reread(session, job).next_run_at is None


def test_a_one_off_missed_while_no_worker_ran_catches_up_once(settings, session, agent, queue):
    job = add_job(session, "Once", at=datetime(2026, 11, 26, 9, 0))
    tick(settings, queue, NOW + timedelta(hours=3), "w1")
    [run] = runs_of(session, job)
    assert (run.source, run.scheduled_for) == ("catch_up", datetime(2026, 11, 26, 9, 0, tzinfo=UTC))
    assert reread(session, job).next_run_at is None


def test_a_bounded_schedule_stops_after_its_last_day(settings, session, agent, queue):
    job = add_job(session, "Two days", schedule="0 9 * * *", ends_on=date(2026, 11, 27))
    tick(settings, queue, NOW, "w1")
    assert reread(session, job).next_run_at == datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    session.rollback()
    tick(settings, queue, datetime(2026, 11, 27, 8, 59, tzinfo=UTC), "w1")
    assert [r.scheduled_for.day for r in runs_of(session, job)] == [26, 27]
    assert (reread(session, job).next_run_at, reread(session, job).health) == (None, "grey")


def test_a_schedule_with_a_first_day_waits_for_it(session, agent):
    job = add_job(session, "Advent", schedule="0 9 * * *", starts_on=date(2026, 12, 1))
    assert job.next_run_at == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_each_run_starts_within_its_random_delay_keyed_by_its_time(settings, session, agent, queue):
    job = add_job(session, "Spread", schedule="0 9 * * *", jitter=timedelta(minutes=5))
    tick(settings, queue, NOW, "w1")
    [run] = runs_of(session, job)
    nine = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    assert run.scheduled_for == nine
    assert run.due_at == nine + delay(job.key, nine, 300)
    assert nine <= run.due_at <= nine + timedelta(minutes=5)
    assert queue.submitted == [([run.id], run.due_at - SUBMIT_AHEAD)]


def test_a_done_job_can_be_renamed_and_given_a_new_time(settings, session, agent, queue):
    job = add_job(session, "Once", at=datetime(2026, 11, 26, 9, 0))
    tick(settings, queue, NOW, "w1")
    session.rollback()
    jobs.update_job(session, job.id, JobFields(name="Once again"), NOW + timedelta(days=1))
    assert reread(session, job).next_run_at is None
    later = jobs.update_job(session, job.id, JobFields(at=datetime(2026, 12, 1, 9, 0)), NOW)
    assert later.next_run_at == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert later.health == "green"


# Refusals


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"at": datetime(2026, 11, 26, 8, 0)}, "is in the past"),
        ({"at": datetime(2027, 3, 28, 2, 30), "timezone": BERLIN}, "the clocks jump over it"),
        ({"at": moment_from_text("2026-12-24T09:00+01:00")},
         "Give the time '2026-12-24 09:00[+]01:00' without an offset"),
        ({"at": moment_from_text("2026-12-24 09:00:30")},
         "Give the time '2026-12-24 09:00:30' to the minute"),
        ({"at": datetime(2026, 12, 24, 9, 0), "schedule": "0 9 * * *"}, "not both"),
        ({"at": datetime(2026, 12, 24, 9, 0), "starts_on": date(2026, 12, 1)},
         "no first or last day"),
        ({"schedule": "0 9 * * *", "ends_on": date(2026, 11, 25)}, "has no run left after now"),
        ({"schedule": "0 9 * * *", "starts_on": date(2026, 12, 5), "ends_on": date(2026, 12, 1)},
         "before the first day"),
        ({"schedule": "0 9 * * *", "jitter": timedelta(hours=2)},
         "A random delay of 2 hours is longer than 1 hour"),
        ({"schedule": "0 9 * * *", "jitter": timedelta(minutes=-5)}, "whole number of seconds"),
        ({"at": datetime(9999, 12, 31, 23, 59), "timezone": "America/New_York"},
         "between the years"),
        ({"schedule": "0 9 * * *", "starts_on": date(1, 1, 1)}, "between the years"),
    ],
)  # fmt: skip
def test_timings_that_cannot_run_are_refused_and_nothing_changes(
    settings, session, agent, fields, message
):
    before = snapshot(settings.database_url)
    with pytest.raises(ValidationError, match=message):
        add_job(session, "Refused", **fields)
    session.rollback()
    assert snapshot(settings.database_url) == before


@pytest.mark.parametrize(
    ("read", "written", "message"),
    [
        (moment_from_text, "next friday", "'next friday' is not a date and time like"),
        (moment_from_text, "2027-01-01", "not a date and time like 2026-12-24 09:00."),
        (moment_from_text, "2027-W01-1 09:00", "not a date and time like"),
        (moment_from_text, "2026-02-30 09:00", "not a date and time like"),
        (text.READERS["starts_on"], "05/12/2026", "'05/12/2026' is not a date like 2026-12-24."),
        (text.READERS["ends_on"], "2027-1-1", "not a date like"),
        (text.delay, "-5m", "'-5m' is not a length of time like 30s, 5m or 1h."),
        (text.delay, "5 days", "not a length of time like"),
    ],
)  # fmt: skip
def test_timing_text_that_is_no_time_is_refused_in_words(read, written, message):
    with pytest.raises(ValidationError) as refused:
        read(written)
    assert message in str(refused.value)


def test_days_are_read_as_written_and_none_is_no_day():
    assert text.day("2026-12-24", "starts_on") == date(2026, 12, 24)
    assert text.day(" None ", "ends_on") is text.day("", "ends_on") is None
    assert moment_from_text("2026-12-24T09:00") == datetime(2026, 12, 24, 9, 0)


# A real worker


def test_a_one_off_fires_once_through_the_worker(settings, session, agent, target, consumer):
    later = (utcnow() + timedelta(days=1)).replace(second=0, microsecond=0)
    job = jobs.create_job(
        session, "Soon", JobFields(agent="Assistant", at=later.replace(tzinfo=None), chat="once"),
        utcnow(), "UTC",
    )  # fmt: skip
    # As if it had been made a day ago for this minute, which began a moment ago (a run up
    # to PLANNER_MISFIRE_GRACE_SECONDS late runs as scheduled): no waiting for a minute.
    soon = utcnow().replace(second=0, microsecond=0)
    job.schedule, job.next_run_at = f"once {soon:%Y-%m-%d %H:%M}", soon
    session.add(job)
    session.commit()
    consumer()

    def finished() -> list[Run]:
        with Session(session.get_bind()) as db:
            runs = db.exec(select(Run).where(Run.job_id == job.id)).all()
            return [run for run in runs if run.finished_at is not None]

    [run] = wait_until(finished, timeout=30, what="the one-off run")
    assert (run.status, run.scheduled_for) == (RunStatus.succeeded, soon)
    assert len(target.received("/v1/chat/completions")) == 1
    assert reread(session, job).health == "grey"


def test_a_job_made_to_run_once_drops_its_days(session, agent):
    job = add_job(session, "Advent", schedule="0 9 * * *", starts_on=date(2026, 12, 1),
                  jitter=timedelta(minutes=1))  # fmt: skip
    once = jobs.update_job(session, job.id, JobFields(at=datetime(2026, 12, 24, 9, 0)), NOW)
    assert (once.schedule, once.starts_on, once.ends_on) == ("once 2026-12-24 09:00", None, None)
    assert once.jitter_seconds == 60  # a delay still applies to a one-off


def test_a_one_off_whose_time_passed_while_paused_is_not_resumed_as_done(settings, session, agent):
    job = add_job(session, "Paused", at=datetime(2026, 11, 26, 10, 0))
    jobs.pause_job(session, job.id, NOW)
    before = snapshot(settings.database_url)
    with pytest.raises(ValidationError, match="has no run left: Once, on Thu 26 Nov 2026"):
        jobs.resume_job(session, job.id, NOW + timedelta(hours=2))
    session.rollback()
    assert snapshot(settings.database_url) == before
    later = jobs.update_job(session, job.id, JobFields(at=datetime(2026, 11, 27, 10, 0)), NOW)
    assert jobs.resume_job(session, later.id, NOW).next_run_at is not None


def test_a_one_off_at_a_time_the_clocks_skip_runs_a_second_after_the_jump():
    """As a skipped cron time does (docs/guide/jobs.md: 03:00:01); not at 03:30, where the
    UTC offset before the change would put it. A one-off is refused at such a time when it
    is set, but a zone's rules can change after that."""
    timing = Timing("once 2027-03-28 02:30", "Europe/Berlin")
    assert timing.next_after(datetime(2027, 1, 1, tzinfo=UTC)) == datetime(
        2027, 3, 28, 1, 0, 1, tzinfo=UTC
    )
    cron = next(
        occurrences.occurrences(
            "30 2 * * *", "Europe/Berlin", datetime(2027, 3, 27, 12, tzinfo=UTC)
        )
    )
    assert cron == datetime(2027, 3, 28, 1, 0, 1, tzinfo=UTC)
