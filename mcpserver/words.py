"""What the tools say: a line per job, trigger or run for the model to read, the answer
with its structured content, and a refusal as a tool error in the CLI's words."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mcp.types import CallToolResult, TextContent

from core.errors import PlannerError, each_refusal
from core.store.models import EventTrigger, Run, ScheduledJob, Status
from core.views.overview import local_time, moment_in_words, zone_label
from core.views.words import one_line, run_in_words, run_result


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
