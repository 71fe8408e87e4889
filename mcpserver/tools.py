"""The tools, as one MCPServer: each opens a session, keeps to the caller's scope and calls
core; it answers in words (for the model reading it) and as structured content (the JSON
of the CLI's --json), or with a tool error that says why in the CLI's words."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent
from sqlmodel import Session, col, select

from core.access.scopes import Scope
from core.automations import followups, jobs, text, triggers
from core.automations.shared import load_automation
from core.config import Settings
from core.errors import PlannerError, each_refusal
from core.running import runs
from core.running.queue import RunQueue
from core.store.db import session as open_session
from core.store.models import EventTrigger, Run, ScheduledJob, Status, utcnow
from core.views.overview import clock_of, local_time, moment_in_words, zone_label
from core.views.words import one_line, run_in_words, run_result

INSTRUCTIONS = (
    "Planner runs your jobs on a schedule and your triggers when events arrive. Use "
    "schedule_message to have a message sent to you later (once `at` a time, or on a "
    "`cron` schedule), with thread `continue` to come back into this conversation; list, "
    "pause, resume, delete or run your jobs now; read what your recent runs answered."
)
MOST_LISTED = 50
Answer = tuple[str, Any]


def refusal(error: PlannerError) -> CallToolResult:
    """A tool error: each reason on a line of its own, as the CLI says them."""
    said = "\n".join(str(one) for one in each_refusal(error))
    return CallToolResult(content=[TextContent(type="text", text=said)], is_error=True)


def answer(words: str, data: dict[str, Any]) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=words)], structured_content=data)


def job_line(job: ScheduledJob, now: datetime) -> str:
    """ "Briefing — active — At 09:00, every day (Berlin) — next run in 3 h — Mon…" """
    done = job.status == Status.active and job.next_run_at is None
    state = "done" if done else str(job.status)
    when = f"{job.timing.describe()} ({zone_label(job.timezone)})"
    upcoming = f" — next run {moment_in_words(job.next_run_at, job.timezone, now)}"
    return f"{job.name} — {state} — {when}{'' if done else upcoming}"


def trigger_line(trigger: EventTrigger, now: datetime, timezone: str) -> str:
    fired = trigger.last_fired_at
    last = local_time(fired, timezone, now) if fired else "never"
    return f"{trigger.name} — {trigger.status} — on {trigger.event} — last fired {last}"


def run_line(run: Run, name: str, now: datetime, timezone: str) -> str:
    """ "Briefing, Mon 07 Dec, 09:00 (UTC): ran on schedule — succeeded in 2.0 s — reply: …" """
    kind, said = run_result(run, " · ")
    result = f" — {kind}: {one_line(said)}" if said else ""
    moment = local_time(run.started_at or run.due_at, timezone, now)
    return f"{name}, {moment}: {run_in_words(run, now)}{result}"


def _keep_the_process_log() -> None:
    """MCPServer sets up the root logger (Rich's handler, every INFO line, wrapped to the
    terminal) unless it has a handler already: give it the one Python writes with when
    none is set up, so that the process logs as it did, warnings and up, a line each."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.lastResort or logging.StreamHandler())


def build(settings: Settings, queue: RunQueue, scope_now: Callable[[], Scope]) -> MCPServer:
    """The server with its tools; `scope_now` says whose request is being answered."""
    _keep_the_process_log()
    server = MCPServer("Planner", instructions=INSTRUCTIONS)

    async def call(work: Callable[[Session, Scope, datetime], Answer]) -> CallToolResult:
        """`work` in a thread of its own (the database is not async), in the caller's scope."""
        scope = scope_now()

        def in_session() -> Answer:
            with open_session(settings.database_url) as session:
                return work(session, scope, utcnow())

        try:
            words, data = await anyio.to_thread.run_sync(in_session)
        except PlannerError as error:
            return refusal(error)
        return answer(words, data)

    def own_job(session: Session, scope: Scope, job: str | int) -> ScheduledJob:
        return scope.find(session, ScheduledJob, job, "job")

    @server.tool()
    async def schedule_message(
        message: str,
        at: str | None = None,
        cron: str | None = None,
        timezone: str | None = None,
        name: str | None = None,
        thread: str = followups.NEW,
        until: str | None = None,
        agent: str | None = None,
    ) -> CallToolResult:
        """Have `message` sent to you later: once `at` a date and time ("2026-12-11 09:00")
        or on a 5-field `cron` schedule ("0 9 * * 1-5"), on `timezone`'s clock (an IANA
        name such as "Europe/Berlin"; Planner's own when left out), optionally `until` a
        last day ("2026-12-31"). `thread`: "new" (a conversation of its own), "continue"
        (back into the conversation you are in with Planner now) or a conversation's id
        (the threadId of its messages). `name` it, or it is named after the message.
        `agent`: only for a token that reaches every agent."""

        def work(session: Session, scope: Scope, now: datetime) -> Answer:
            followup = followups.Followup(
                message=message,
                at=text.read("at", at) if at is not None else None,
                cron=cron,
                timezone=timezone,
                name=name,
                thread=thread,
                until=text.read("ends_on", until) if until is not None else None,
            )
            job = followups.schedule_followup(
                session, scope, agent, followup, now, settings.timezone, queue
            )
            return followups.scheduled_in_words(job, now), {"job": jobs.job_json(job)}

        return await call(work)

    def listing(
        model: type[ScheduledJob] | type[EventTrigger], key: str, empty: str,
        line: Callable[[Any, datetime], str], shown: Callable[[Any], dict[str, Any]],
    ) -> Callable[[], Awaitable[CallToolResult]]:  # fmt: skip
        """A tool that lists the caller's jobs or triggers by name, in lines and as JSON."""

        async def tool() -> CallToolResult:
            def work(session: Session, scope: Scope, now: datetime) -> Answer:
                query = scope.only_own(select(model), model).order_by(model.name)
                found = session.exec(query.limit(MOST_LISTED)).all()
                lines = [line(row, now) for row in found] or [empty]
                return "\n".join(lines), {key: [shown(row) for row in found]}

            return await call(work)

        return tool

    server.tool(
        name="list_jobs", description="Your scheduled jobs: what each does, when, its next run."
    )(listing(ScheduledJob, "jobs", "No jobs yet.", job_line, jobs.job_json))

    def trigger_in_line(trigger: EventTrigger, now: datetime) -> str:
        return trigger_line(trigger, now, settings.timezone)

    server.tool(
        name="list_triggers",
        description="Your event triggers (read-only): what starts each, when it last fired.",
    )(listing(EventTrigger, "triggers", "No triggers.", trigger_in_line, triggers.trigger_json))

    def change(verb: str, act: Callable[[Session, int, datetime], ScheduledJob]) -> Callable:
        async def tool(job: str | int) -> CallToolResult:
            def work(session: Session, scope: Scope, now: datetime) -> Answer:
                changed = act(session, own_job(session, scope, job).id, now)
                return f"{changed.name}: {verb}. {job_line(changed, now)}", {
                    "job": jobs.job_json(changed)
                }

            return await call(work)

        return tool

    server.tool(name="pause_job", description="Pause one of your jobs (`job`: its name or id).")(
        change("paused", jobs.pause_job)
    )
    server.tool(
        name="resume_job", description="Resume one of your paused jobs (`job`: its name or id)."
    )(change("resumed", lambda s, ref, now: jobs.resume_job(s, ref, now, queue)))

    @server.tool()
    async def delete_job(job: str | int) -> CallToolResult:
        """Delete one of your jobs and its runs (`job`: its name or id)."""

        def work(session: Session, scope: Scope, now: datetime) -> Answer:
            found = own_job(session, scope, job)
            gone = jobs.job_json(found)
            jobs.delete_job(session, found.id)
            return f"Deleted {gone['name']!r}.", {"job": gone}

        return await call(work)

    @server.tool()
    async def run_job_now(job: str | int) -> CallToolResult:
        """Run one of your jobs now, once, also when it is paused (`job`: its name or id)."""

        def work(session: Session, scope: Scope, now: datetime) -> Answer:
            found = own_job(session, scope, job)
            run = jobs.run_job_now(session, found.id, queue, now)
            said = f"{found.name} is starting now; list_runs shows its reply once it has one."
            return said, {"run": runs.run_json(run)}

        return await call(work)

    @server.tool()
    async def list_runs(job: str | int | None = None, limit: int = 10) -> CallToolResult:
        """Your recent runs, newest first, with their replies or errors; only `job`'s when
        given (its name or id); at most `limit` (1 to 50)."""

        def work(session: Session, scope: Scope, now: datetime) -> Answer:
            size = max(1, min(limit, MOST_LISTED))
            query = scope.only_own_runs(select(Run))
            if job is not None:
                query = query.where(Run.job_id == own_job(session, scope, job).id)
            found = session.exec(query.order_by(col(Run.id).desc()).limit(size)).all()
            lines = []
            for run in found:
                owner = load_automation(session, run)
                if owner is not None:
                    clock = clock_of(owner, settings.timezone)
                    lines.append(run_line(run, owner.name, now, clock))
            return "\n".join(lines) or "No runs yet.", {"runs": [runs.run_json(r) for r in found]}

        return await call(work)

    return server
