"""The tools, as one MCPServer: each opens a session, keeps to the caller's scope and calls
core; it answers in words (for the model reading it) and as structured content (the JSON
of the CLI's --json), or with a tool error that says why in the CLI's words (words.py)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from importlib.metadata import version
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import ConfigDict
from sqlmodel import Session, col, select

from core.access.scopes import Scope
from core.automations import followups, jobs, text, triggers
from core.automations.shared import load_automation
from core.config import Settings
from core.errors import PlannerError, ValidationError
from core.running import runs
from core.running.queue import RunQueue
from core.store.db import session as open_session
from core.store.models import EventTrigger, Run, ScheduledJob, utcnow
from core.views.overview import clock_of
from mcpserver.words import answer, job_line, refusal, run_line, trigger_line

INSTRUCTIONS = (
    "Planner runs your jobs on a schedule and your triggers when events arrive. Use "
    "schedule_message to have a message sent to you later (once `at` a time, or on a "
    "`cron` schedule), with thread `continue` to come back into this conversation; list, "
    "pause, resume, delete or run your jobs now; read what your recent runs answered."
)
MOST_LISTED = 50
READS = ToolAnnotations(readOnlyHint=True)
Answer = tuple[str, Any]
Work = Callable[[Session, Scope, datetime], Answer]


def _keep_the_process_log() -> None:
    """MCPServer sets up the root logger (Rich's handler, every INFO line, wrapped to the
    terminal) unless it has a handler already: give it the one Python writes with when
    none is set up, so that the process logs as it did, warnings and up, a line each."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.lastResort or logging.StreamHandler())


def _strict(tool: Tool) -> Tool:
    """The tool with its arguments checked whole: one it does not take (a misspelt
    `tz`) is refused, never left out unsaid (a follow-up at the wrong hour)."""
    loose = tool.fn_metadata.arg_model
    config = ConfigDict(**{**loose.model_config, "extra": "forbid"})  # type: ignore[typeddict-item]
    strict = type(loose.__name__, (loose,), {"model_config": config, "__module__": __name__})
    tool.fn_metadata.arg_model = strict
    tool.parameters = strict.model_json_schema(by_alias=True)
    return tool


def build(settings: Settings, queue: RunQueue, scope_now: Callable[[], Scope]) -> MCPServer:
    """The server with its tools; `scope_now` says whose request is being answered."""
    _keep_the_process_log()
    made = [_strict(Tool.from_function(fn, **options)) for fn, options in
            _tools(settings, queue, scope_now)]  # fmt: skip
    return MCPServer("Planner", version=version("planner"), instructions=INSTRUCTIONS, tools=made)


def _tools(
    settings: Settings, queue: RunQueue, scope_now: Callable[[], Scope]
) -> list[tuple[Callable[..., Awaitable[CallToolResult]], dict[str, Any]]]:
    """Each tool's function, with its name and description when not its own."""

    async def call(work: Work) -> CallToolResult:
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

    def trigger_in_line(trigger: EventTrigger, now: datetime) -> str:
        return trigger_line(trigger, now, settings.timezone)

    def change(verb: str, act: Callable[[Session, int, datetime], ScheduledJob]) -> Callable:
        async def tool(job: str | int) -> CallToolResult:
            def work(session: Session, scope: Scope, now: datetime) -> Answer:
                changed = act(session, own_job(session, scope, job).id, now)
                said = f"{changed.name}: {verb}. {job_line(changed, now)}"
                return said, {"job": jobs.job_json(changed)}

            return await call(work)

        return tool

    async def delete_job(job: str | int) -> CallToolResult:
        """Delete one of your jobs and its runs (`job`: its name or id)."""

        def work(session: Session, scope: Scope, now: datetime) -> Answer:
            found = own_job(session, scope, job)
            gone = jobs.job_json(found)
            jobs.delete_job(session, found.id)
            return f"Deleted {gone['name']!r}.", {"job": gone}

        return await call(work)

    async def run_job_now(job: str | int) -> CallToolResult:
        """Run one of your jobs now, once, also when it is paused (`job`: its name or id)."""

        def work(session: Session, scope: Scope, now: datetime) -> Answer:
            found = own_job(session, scope, job)
            run = jobs.run_job_now(session, found.id, queue, now)
            said = f"{found.name} is starting now; list_runs shows its reply once it has one."
            return said, {"run": runs.run_json(run)}

        return await call(work)

    async def list_runs(job: str | int | None = None, limit: int = 10) -> CallToolResult:
        """Your recent runs, newest first, with their replies or errors; only `job`'s when
        given (its name or id); at most `limit` (1 to 50)."""

        def work(session: Session, scope: Scope, now: datetime) -> Answer:
            if not 1 <= limit <= MOST_LISTED:
                raise ValidationError(f"limit is 1 to {MOST_LISTED}.", "limit")
            query = scope.only_own_runs(select(Run))
            if job is not None:
                query = query.where(Run.job_id == own_job(session, scope, job).id)
            found = session.exec(query.order_by(col(Run.id).desc()).limit(limit)).all()
            lines = []
            for run in found:
                owner = load_automation(session, run)
                if owner is not None:
                    clock = clock_of(owner, settings.timezone)
                    lines.append(run_line(run, owner.name, now, clock))
            return "\n".join(lines) or "No runs yet.", {"runs": [runs.run_json(r) for r in found]}

        return await call(work)

    return [
        (schedule_message, {}),
        (listing(ScheduledJob, "jobs", "No jobs yet.", job_line, jobs.job_json),
         {"name": "list_jobs", "annotations": READS,
          "description": "Your scheduled jobs: what each does, when, its next run."}),
        (change("paused", jobs.pause_job),
         {"name": "pause_job", "description": "Pause one of your jobs (`job`: its name or id)."}),
        (change("resumed", lambda s, ref, now: jobs.resume_job(s, ref, now, queue)),
         {"name": "resume_job",
          "description": "Resume one of your paused jobs (`job`: its name or id)."}),
        (delete_job, {"annotations": ToolAnnotations(destructiveHint=True)}),
        (run_job_now, {}),
        (list_runs, {"annotations": READS}),
        (listing(EventTrigger, "triggers", "No triggers.", trigger_in_line, triggers.trigger_json),
         {"name": "list_triggers", "annotations": READS,
          "description": "Your event triggers (read-only): what starts each, when it last fired."}),
    ]  # fmt: skip
