"""An agent's own follow-ups: a chat job an agent schedules for itself in the middle of a
conversation ("remind me Friday at 9"), over MCP (mcpserver/).

A follow-up may come back into the conversation it was scheduled from. A conversation is
named by its *thread id*, the `threadId` an agent gets with each of Planner's messages:
`job-…`/`trigger-…` for a job or trigger that continues its thread, `run-…` for one run's
own conversation — or any id the agent's own host gives its conversations. "continue"
means the conversation Planner is in with the agent at that moment (its one chat run in
flight); an agent in several at once names the one it means. Its runs then send that
`threadId` (http agents resume the conversation themselves); OpenAI-compatible agents,
which keep no conversations, get that conversation's earlier exchanges, as Planner had
them (core.running.actions).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, select

from core.access.scopes import Scope
from core.automations import jobs
from core.automations.fields import UNCHANGED
from core.automations.shared import free_name, load_automation, runs_of_agent
from core.errors import ValidationError
from core.running.actions import thread_id
from core.running.queue import RunQueue
from core.store.models import (
    ActionKind,
    Agent,
    Run,
    RunStatus,
    ScheduledJob,
)
from core.views.overview import local_time, zone_label
from core.views.words import one_line

NEW, CONTINUE = "new", "continue"
NAME_FROM_MESSAGE = 40  # characters of the message a follow-up without a name is named by


@dataclass(frozen=True)
class Followup:
    """What an agent asks for: a message, once `at` (on `timezone`'s clock) or on `cron`,
    optionally until a day; `thread`: "new", "continue" or a conversation's thread id."""

    message: str
    at: datetime | None = None
    cron: str | None = None
    timezone: str | None = None
    name: str | None = None
    thread: str = NEW
    until: date | None = None


def schedule_followup(
    session: Session, scope: Scope, agent: str | int | None, followup: Followup,
    now: datetime, default_timezone: str, queue: RunQueue | None = None,
) -> ScheduledJob:  # fmt: skip
    """Save the follow-up as a chat job of the agent (`scope`'s own when scoped), checked as
    any job is; planned at once when it is due within the minute."""
    owner = scope.agent(session, agent)
    if (followup.at is None) == (followup.cron is None):
        raise ValidationError("Give either `at` (a date and time) or `cron`, one of them.", "at")
    thread, conversation = _thread(session, owner, followup.thread)
    fields = jobs.JobFields(
        agent=owner.id,
        chat=followup.message,
        thread=thread,
        conversation=conversation,
        at=followup.at if followup.at is not None else UNCHANGED,
        schedule=followup.cron if followup.cron is not None else UNCHANGED,
        timezone=followup.timezone or UNCHANGED,
        ends_on=followup.until if followup.until is not None else UNCHANGED,
    )
    wanted = followup.name or free_name(
        session, ScheduledJob, f"Follow-up: {one_line(followup.message, NAME_FROM_MESSAGE)}"
    )
    return jobs.create_job(session, wanted, fields, now, default_timezone, queue)


def _thread(session: Session, agent: Agent, thread: str) -> tuple[str, str | None]:
    """The thread mode and the conversation to go back into, of what `thread` says."""
    said = thread.strip()
    if said.lower() == NEW:
        return NEW, None
    if said.lower() == CONTINUE:
        return CONTINUE, current_conversation(session, agent)
    return CONTINUE, said


def current_conversation(session: Session, agent: Agent) -> str:
    """The thread id of the conversation Planner is in with `agent` now: its one chat run
    that is running. None running, or several, is refused: say which, by its id."""
    running = session.exec(
        select(Run).where(Run.status == RunStatus.running, runs_of_agent(agent.id, ActionKind.chat))
    ).all()
    if len(running) != 1:
        how_many = "no conversation" if not running else f"{len(running)} conversations"
        raise ValidationError(
            f"{agent.name} is in {how_many} with Planner right now, so `continue` cannot tell "
            "which to come back to: give `thread` as the conversation's id (the threadId "
            "Planner's message carried), or `new`.",
            "thread",
        )
    [run] = running
    return thread_id(run, load_automation(session, run))


def scheduled_in_words(job: ScheduledJob, now: datetime) -> str:
    """ "Scheduled 'Follow up' for Fri 11 Dec, 09:00 (Berlin)", or for a repeating one
    its schedule and first run; and whether it comes back into a conversation."""
    first = local_time(job.next_run_at, job.timezone, now) if job.next_run_at else "no run"
    if job.timing.once_at is not None:
        said = f"Scheduled {job.name!r} for {first}"
    else:
        said = (
            f"Scheduled {job.name!r}: {job.timing.describe()} ({zone_label(job.timezone)}); "
            f"first run {first}"
        )
    conversation = job.config.get("conversation")
    back = f", back into conversation {conversation}" if conversation else ""
    return f"{said}{back}."
