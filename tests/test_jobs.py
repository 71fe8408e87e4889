"""Jobs, agents and workflows in core: what is stored, and that bad input changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, func, select

from core.agents import registry
from core.automations import jobs, text
from core.automations.jobs import JobFields
from core.errors import NotFoundError, ValidationError
from core.scheduling.tick import SUBMIT_AHEAD, tick
from core.store.models import Agent, Run, RunSource, RunStatus, ScheduledJob
from support.stored import snapshot

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
BRIEFING = JobFields(
    agent="Assistant", schedule="0 9 * * *", timezone="Europe/Berlin", chat="Today is {date}"
)


def count(session: Session, model: type) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def test_create_job_stores_it_with_its_next_run(session, agent):
    job = jobs.create_job(session, "Morning Briefing", BRIEFING, NOW, "UTC")

    stored = session.get(ScheduledJob, job.id)
    assert stored.name == "Morning Briefing" and stored.agent_id == agent.id
    assert stored.action == "chat"
    assert stored.config == {"template": "Today is {date}", "thread": "new"}
    assert stored.next_run_at == datetime(2026, 11, 27, 8, 0, tzinfo=UTC)  # 09:00 in Berlin
    assert (stored.status, stored.health, stored.misfire_policy) == (
        "active",
        "green",
        "catch_up_once",
    )


def test_timezone_defaults_to_the_configured_one(session, agent):
    fields = JobFields(agent="Assistant", schedule="0 9 * * *", chat="hi")
    job = jobs.create_job(session, "Daily", fields, NOW, "America/New_York")
    assert job.timezone == "America/New_York"
    assert job.next_run_at == datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


def test_workflow_job_keeps_its_input(session, agent, workflow):
    fields = JobFields(
        agent="Assistant", schedule="0 9 * * 1", workflow="analyze-email", input={"scope": "week"}
    )
    job = jobs.create_job(session, "Weekly report", fields, NOW, "UTC")
    assert job.action == "workflow"
    assert job.config == {"workflow_id": workflow.id, "input": {"scope": "week"}}


def test_update_changes_what_is_given_and_keeps_the_rest(session, agent, workflow):
    job = jobs.create_job(session, "Briefing", BRIEFING, NOW, "UTC")
    updated = jobs.update_job(
        session, "Briefing", JobFields(schedule="30 8 * * 1-5", thread="continue"), NOW
    )
    assert updated.schedule == "30 8 * * 1-5" and updated.timezone == "Europe/Berlin"
    assert updated.config == {"template": "Today is {date}", "thread": "continue"}
    assert updated.next_run_at == datetime(2026, 11, 27, 7, 30, tzinfo=UTC)

    renamed = jobs.update_job(session, job.id, JobFields(name="Early briefing"), NOW)
    assert renamed.name == "Early briefing" and renamed.config["thread"] == "continue"

    switched = jobs.update_job(session, job.id, JobFields(workflow="analyze-email"), NOW)
    assert switched.action == "workflow"
    assert switched.config == {"workflow_id": workflow.id, "input": {}}


def test_changing_the_schedule_drops_queued_occurrences_but_not_run_now(session, agent, queue):
    job = jobs.create_job(session, "Briefing", BRIEFING, NOW, "UTC")
    session.add(Run(job_id=job.id, source=RunSource.schedule, scheduled_for=NOW, due_at=NOW))
    run_now = jobs.run_job_now(session, job.id, queue, NOW)
    session.commit()

    jobs.update_job(session, job.id, JobFields(schedule="0 10 * * *"), NOW)

    remaining = session.exec(select(Run)).all()
    assert [run.id for run in remaining] == [run_now.id]


def test_pause_clears_next_run_and_resume_starts_from_now(session, agent):
    job = jobs.create_job(session, "Briefing", BRIEFING, NOW, "UTC")
    session.add(Run(job_id=job.id, source=RunSource.schedule, scheduled_for=NOW, due_at=NOW))
    session.commit()

    paused = jobs.pause_job(session, "Briefing", NOW)
    assert (paused.status, paused.health, paused.next_run_at) == ("paused", "yellow", None)
    assert count(session, Run) == 0

    later = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    resumed = jobs.resume_job(session, "Briefing", later)
    assert resumed.status == "active"
    assert resumed.next_run_at == datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def test_delete_removes_the_job_and_its_runs(session, agent, queue):
    job = jobs.create_job(session, "Briefing", BRIEFING, NOW, "UTC")
    jobs.run_job_now(session, job.id, queue, NOW)
    jobs.delete_job(session, "Briefing")
    assert count(session, ScheduledJob) == 0 and count(session, Run) == 0


def test_run_now_queues_a_run_and_submits_it(session, agent, queue):
    job = jobs.create_job(session, "Briefing", BRIEFING, NOW, "UTC")
    jobs.pause_job(session, job.id, NOW)
    run = jobs.run_job_now(session, job.id, queue, NOW)
    assert (run.status, run.source, run.due_at) == (RunStatus.queued, "run_now", NOW)
    assert queue.submitted == [([run.id], None)]


def test_jobs_are_found_by_exact_name_or_id(session, agent):
    job = jobs.create_job(session, "Briefing", BRIEFING, NOW, "UTC")
    assert jobs.find_job(session, "Briefing").id == job.id
    assert jobs.find_job(session, str(job.id)).id == job.id
    with pytest.raises(NotFoundError, match="no job named 'briefing'"):
        jobs.find_job(session, "briefing")


def test_health_is_red_after_a_failure_and_yellow_when_paused(session, agent):
    job = jobs.create_job(session, "Briefing", BRIEFING, NOW, "UTC")
    job.consecutive_failures = 1
    assert job.health == "red"
    job.status = "paused"
    assert job.health == "yellow"


BAD_JOBS = [
    (JobFields(agent="Nobody", schedule="0 9 * * *", chat="hi"), "no agent named 'Nobody'"),
    (JobFields(agent="Assistant", schedule="0 9 * * * *", chat="hi"), "has 6 fields"),
    (JobFields(agent="Assistant", schedule="0 9 * * *", timezone="Mars/Base", chat="hi"),
     "not a known timezone"),
    (JobFields(agent="Assistant", schedule="0 9 * * *", chat="   "), "chat message is empty"),
    (JobFields(agent="Assistant", schedule="0 9 * * *", workflow="nope"),
     "no workflow named 'nope'"),
    (JobFields(agent="Assistant", schedule="0 9 * * *", workflow="analyze-email",
               input={"ratio": float("nan")}), "not valid JSON for the workflow input: NaN"),
    (JobFields(agent="Assistant", schedule="0 9 * * *", workflow="analyze-email", input=[1, 2]),
     "must be a JSON object"),
    (JobFields(agent="Assistant", schedule="0 9 * * *", chat="hi", workflow="analyze-email"),
     "not both"),
    (JobFields(agent="Assistant", schedule="0 9 * * *", chat="hi", input={}),
     "Input only applies to workflow jobs"),
]  # fmt: skip
INCOMPLETE_NEW_JOBS = [
    (JobFields(agent="Assistant", schedule="0 9 * * *"), "Choose what the job does"),
    (JobFields(schedule="0 9 * * *", chat="hi"), "Choose the agent"),
    (JobFields(agent="Assistant", chat="hi"), "Give the job a schedule"),
]


@pytest.mark.parametrize(("fields", "message"), BAD_JOBS)
def test_bad_jobs_are_refused_and_nothing_changes(
    settings, session, agent, workflow, fields, message
):
    jobs.create_job(session, "Existing", BRIEFING, NOW, "UTC")
    before = snapshot(settings.database_url)

    with pytest.raises((ValidationError, NotFoundError), match=message):
        jobs.create_job(session, "New", fields, NOW, "UTC")
    with pytest.raises((ValidationError, NotFoundError), match=message):
        jobs.update_job(session, "Existing", fields, NOW)

    session.rollback()
    assert snapshot(settings.database_url) == before


@pytest.mark.parametrize(
    ("field", "written", "message"),
    [
        ("input", "{oops", "That is not valid JSON for the workflow input: Expecting"),
        ("input", "[1, 2]", 'The workflow input must be a JSON object, such as {"scope": "week"}.'),
        ("misfire", "later", "Misfire policy must be 'catch_up_once' or 'skip'."),
    ],
)
def test_text_a_job_cannot_take_is_refused_as_it_is_read(field, written, message):
    with pytest.raises(ValidationError) as refused:
        text.read(field, written)
    assert str(refused.value).startswith(message)


@pytest.mark.parametrize(("fields", "message"), INCOMPLETE_NEW_JOBS)
def test_a_new_job_needs_agent_schedule_and_action(session, agent, fields, message):
    with pytest.raises(ValidationError, match=message):
        jobs.create_job(session, "New", fields, NOW, "UTC")
    assert count(session, ScheduledJob) == 0


def test_duplicate_and_empty_names_are_refused(session, agent):
    jobs.create_job(session, "Briefing", BRIEFING, NOW, "UTC")
    with pytest.raises(ValidationError, match="already exists"):
        jobs.create_job(session, "Briefing", BRIEFING, NOW, "UTC")
    with pytest.raises(ValidationError, match="Give the job a name"):
        jobs.create_job(session, "  ", BRIEFING, NOW, "UTC")
    assert count(session, ScheduledJob) == 1


def test_agents_store_the_name_of_the_key_variable_never_the_key(session):
    with pytest.raises(ValidationError, match="not the key itself"):
        registry.save_agent(session, "A", "openai", "http://x/v1", "m", "", "sk-live-123abc!")
    with pytest.raises(ValidationError, match="not a web address"):
        registry.save_agent(session, "A", "openai", "localhost:11434", "m")
    with pytest.raises(ValidationError, match="needs a model"):
        registry.save_agent(session, "A", "openai", "http://x/v1", "")
    with pytest.raises(ValidationError, match="Backend must be"):
        registry.save_agent(session, "A", "llama", "http://x/v1", "m")
    assert count(session, Agent) == 0


EVERY_MINUTE = JobFields(agent="Assistant", schedule="* * * * *", chat="tick")


def planned(session: Session, job: ScheduledJob) -> list[Run]:
    return list(session.exec(select(Run).where(Run.job_id == job.id)))


def test_a_job_made_just_before_its_time_is_planned_at_once(settings, session, agent, queue):
    job = jobs.create_job(session, "Soon", EVERY_MINUTE, NOW, "UTC", queue)

    [run] = planned(session, job)
    assert (run.source, run.status, run.scheduled_for) == (
        "schedule",
        "queued",
        NOW.replace(minute=1),
    )
    assert queue.submitted == [([run.id], run.due_at - SUBMIT_AHEAD)]
    assert job.next_run_at == NOW.replace(minute=1)  # shown as the next run
    queue.submitted.clear()
    session.commit()
    tick(settings, queue, NOW + timedelta(seconds=30), "w1")
    assert planned(session, job) == [run] and queue.submitted == []  # planned once
    session.refresh(job)
    assert job.next_run_at == NOW.replace(minute=2)


def test_a_job_due_later_is_left_to_the_tick(session, agent, queue):
    job = jobs.create_job(session, "Later", BRIEFING, NOW, "UTC", queue)
    assert planned(session, job) == [] and queue.submitted == []


def test_a_resumed_or_rescheduled_job_is_planned_at_once(session, agent, queue):
    job = jobs.create_job(session, "Daily", BRIEFING, NOW, "UTC", queue)
    jobs.update_job(session, "Daily", JobFields(schedule="* * * * *"), NOW, queue)
    assert [run.scheduled_for for run in planned(session, job)] == [NOW.replace(minute=1)]

    jobs.pause_job(session, "Daily", NOW)
    later = NOW.replace(minute=30)
    jobs.resume_job(session, "Daily", later, queue)
    assert [run.scheduled_for for run in planned(session, job)] == [NOW.replace(minute=31)]
