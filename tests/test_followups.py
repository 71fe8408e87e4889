"""An agent's own follow-ups (core.automations.followups): back into the conversation it
was scheduled from — the same threadId for an http agent, the earlier exchanges for an
OpenAI-compatible one — and refused in words when "continue" cannot tell which."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from core.access.scopes import Scope
from core.agents import registry
from core.automations import followups, jobs
from core.automations.jobs import JobFields
from core.automations.shared import free_name
from core.errors import ValidationError
from core.store.models import Run, RunStatus, ScheduledJob, utcnow
from support.flights import execute_run
from support.queues import RecordingQueue
from support.screens import daily_away_from_now


def origin_run(session, agent_name: str, status: RunStatus, **done) -> Run:
    """A run by hand of a daily job of `agent_name`, set to `status` (the conversation the
    agent is in, or was in), with what it sent and got."""
    fields = JobFields(agent=agent_name, schedule=daily_away_from_now(), chat="Plan my week")
    name = free_name(session, ScheduledJob, f"Weekly plan of {agent_name}")
    job = jobs.create_job(session, name, fields, utcnow(), "UTC")
    run = jobs.run_job_now(session, job.id, RecordingQueue(), utcnow())
    run.status = status
    for name, value in done.items():
        setattr(run, name, value)
    session.add(run)
    session.commit()
    return run


def follow_up(session, agent_name: str, thread: str) -> ScheduledJob:
    request = followups.Followup(
        message="How did Tuesday go?",
        at=(utcnow() + timedelta(days=2)).replace(tzinfo=None, second=0, microsecond=0),
        timezone="UTC", thread=thread,
    )  # fmt: skip
    return followups.schedule_followup(session, Scope(), agent_name, request, utcnow(), "UTC")


def run_now(session, settings, job: ScheduledJob) -> None:
    queue = RecordingQueue()
    run = jobs.run_job_now(session, job.id, queue, utcnow())
    execute_run(run.id, queue, settings)


def test_continue_comes_back_with_the_earlier_exchanges_for_an_openai_agent(
    session, settings, agent, target
):
    origin = origin_run(session, "Assistant", RunStatus.running)
    job = follow_up(session, "Assistant", "continue")
    assert job.config["conversation"] == f"run-{origin.key}"
    origin.status, origin.input, origin.output = RunStatus.succeeded, "Plan my week", "Mon: gym"
    session.add(origin)
    session.commit()

    run_now(session, settings, job)
    [call] = target.received("/v1/chat/completions")
    assert call.body["messages"][1:] == [
        {"role": "user", "content": "Plan my week"},
        {"role": "assistant", "content": "Mon: gym"},
        {"role": "user", "content": "How did Tuesday go?"},
    ]


def test_continue_sends_the_conversations_thread_id_to_an_http_agent(session, settings, target):
    registry.save_agent(session, "Helper", "http", target.url + "/agent")
    origin = origin_run(session, "Helper", RunStatus.running)
    job = follow_up(session, "Helper", "continue")
    run_now(session, settings, job)
    [call] = target.received("/agent")
    assert call.body["threadId"] == f"run-{origin.key}"
    assert call.body["message"] == "How did Tuesday go?"


def test_a_conversation_named_by_its_id_is_the_one_gone_back_into(session, settings, target):
    registry.save_agent(session, "Helper", "http", target.url + "/agent")
    job = follow_up(session, "Helper", "conv-42 of the agent's own host")
    run_now(session, settings, job)
    assert target.received("/agent")[0].body["threadId"] == "conv-42 of the agent's own host"


@pytest.mark.parametrize("running", [0, 2])
def test_continue_without_exactly_one_conversation_asks_which(session, agent, running):
    for _ in range(running):
        origin_run(session, "Assistant", RunStatus.running)
    with pytest.raises(ValidationError) as refused:
        follow_up(session, "Assistant", "continue")
    how_many = "no conversation" if running == 0 else f"{running} conversations"
    assert str(refused.value).startswith(f"Assistant is in {how_many} with Planner right now")
    assert refused.value.field == "thread"
    assert [job.name for job in session.exec(select(ScheduledJob))] == [
        "Weekly plan of Assistant",
        "Weekly plan of Assistant (2)",
    ][:running]


def test_a_follow_up_without_a_name_is_named_after_its_message_and_never_refused_as_taken(
    session, agent
):
    first, second = (follow_up(session, "Assistant", "new") for _ in range(2))
    assert (first.name, second.name) == (
        "Follow-up: How did Tuesday go?",
        "Follow-up: How did Tuesday go? (2)",
    )


@pytest.mark.database  # a JSON field in a query: each dialect's own
def test_a_chain_of_follow_ups_keeps_every_exchange_of_the_conversation(
    session, settings, agent, target
):
    origin = origin_run(
        session, "Assistant", RunStatus.succeeded, input="Plan my week", output="Mon: gym"
    )
    first = follow_up(session, "Assistant", f"run-{origin.key}")
    run_now(session, settings, first)
    second = follow_up(session, "Assistant", f"run-{origin.key}")  # what `continue` says then
    run_now(session, settings, second)
    last = target.received("/v1/chat/completions")[-1]
    assert [m["content"] for m in last.body["messages"][1:]] == [
        "Plan my week", "Mon: gym", "How did Tuesday go?", "reply to: How did Tuesday go?",
        "How did Tuesday go?",
    ]  # fmt: skip


@pytest.mark.database  # a JSON field in a query: each dialect's own
def test_another_agents_conversation_id_brings_none_of_its_exchanges(
    session, settings, agent, target
):
    origin = origin_run(
        session, "Assistant", RunStatus.succeeded, input="My secrets", output="Kept"
    )
    registry.save_agent(session, "Other", "openai", target.url + "/v1", "test-model")
    run_now(session, settings, follow_up(session, "Other", f"run-{origin.key}"))
    [call] = target.received("/v1/chat/completions")
    assert [m["content"] for m in call.body["messages"]] == ["How did Tuesday go?"]


def test_a_caller_of_every_agent_is_asked_which_agent_by_their_names(session, agent):
    request = followups.Followup(message="Hi", cron="0 9 * * *")
    with pytest.raises(ValidationError) as refused:
        followups.schedule_followup(session, Scope(), None, request, utcnow(), "UTC")
    assert (str(refused.value), refused.value.field) == (
        "Say which agent it is for: Assistant.",
        "agent",
    )
