"""Plain words for what the dashboard shows people: how a run went, what an event was,
data as "key: value" lines, an error without the system's jargon.

The people reading these do not know enum values, slugs, JSON or HTTP; every page says
things through these functions so that one thing is always said the same way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.events.catalog import TOOLKIT_NAMES, event_variables, offline_catalog, toolkit_of
from core.events.envelope import ACCOUNT_EXPIRED, TRIGGER_DISABLED, TRIGGER_MESSAGE
from core.events.inbox import sign_in_expired
from core.store.models import (
    EventStatus,
    EventTrigger,
    Run,
    RunSource,
    RunStatus,
    Status,
    SyncState,
)
from core.views.overview import duration, relative

# Why a run is there; "ran " goes before it once the run has run (run_in_words).
SOURCE_WORDS = {
    RunSource.schedule: "on schedule",
    RunSource.catch_up: "to catch up after downtime",
    RunSource.run_now: "by hand",
    RunSource.event: "for an event",
    RunSource.test: "for a test event",
}
# The statuses of a run that has run, once it started (a skipped or missed run never did; a
# waiting one, also one tried again, has yet to).
RAN = frozenset({RunStatus.succeeded, RunStatus.failed, RunStatus.retrying, RunStatus.cancelled})
STATUS_WORDS = {
    RunStatus.queued: "Waiting",
    RunStatus.running: "Running",
    RunStatus.retrying: "Retrying",
    RunStatus.succeeded: "Succeeded",
    RunStatus.failed: "Failed",
    RunStatus.skipped: "Skipped",
    RunStatus.missed: "Missed",
    RunStatus.cancelled: "Cancelled",
}
# What an event of a toolkit says, in the catalog's friendly variable names; used when the
# event has a value for each of them, else the event type's name is said.
HEADLINES = {
    "GMAIL": "new email from {emailFrom}: {emailSubject}",
    "SLACK": "new message: {messageText}",
    "SLACKBOT": "new message: {messageText}",
    "GITHUB": "commit by {commitAuthor}: {commitMessage}",
    "GOOGLECALENDAR": "calendar event: {eventTitle}",
}
HEADLINE_FIELD = re.compile(r"\{(\w+)\}")
PERSON = re.compile(r'^\s*"?(?P<name>[^"<>]+?)"?\s*<[^<>]+>\s*$')
HTTP_ANSWER = re.compile(r"^(?P<url>\S+) answered HTTP (?P<status>\d{3}): ?(?P<detail>.*)\Z", re.S)
UNREACHABLE = re.compile(r"^Could not reach (?P<url>\S+): .*\Z", re.S)
HTTP_WORDS = {
    401: "refused the key",
    403: "refused the key",
    404: "was not found: check the address",
    408: "took too long",
    429: "asked to slow down (too many requests)",
}
EXCERPT = 300
SHORT = 80


def one_line(text: str, limit: int = EXCERPT) -> str:
    """Text on one line, cut to `limit` characters with "…"."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _scalar(value: Any) -> str:
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def value_lines(value: Any, path: str = "") -> list[str]:
    """Data as "key: value" lines, nested fields by their dotted path — the names a
    message template uses for them ("preview.subject: Q4 planning")."""
    if isinstance(value, dict):
        lines = [line for key, item in value.items() for line in value_lines(item, _at(path, key))]
        return lines or ([f"{path}: (empty)"] if path else [])
    if isinstance(value, list):
        if all(not isinstance(item, dict | list) for item in value):
            text = ", ".join(_scalar(item) for item in value) or "(none)"
            return [f"{path}: {text}" if path else text]
        return [line for i, item in enumerate(value) for line in value_lines(item, _at(path, i))]
    return [f"{path}: {_scalar(value)}" if path else _scalar(value)]


def _at(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def as_text(value: Any, between: str = "\n") -> str:
    """A reply or input as people read it: text as it is, data as key: value lines (on
    one line, `between` them)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return between.join(value_lines(value))


# A workflow's answer says itself in one of these top-level fields, the first one found.
ANSWER_FIELDS = ("text", "message", "answer", "summary")
# At most this many short `name: value` lines say an answer without such a field.
ANSWER_LINES = 6


@dataclass(frozen=True)
class Answer:
    """A target's answer as people read it: `lines` of text, and the rest of it for the
    technical (`details`, key: value lines; empty when nothing is left)."""

    lines: tuple[str, ...]
    details: str = ""

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _is_short(value: Any) -> bool:
    """A value a `name: value` line says whole: a number, yes/no, or short one-line text."""
    if isinstance(value, str):
        return len(value) <= SHORT and "\n" not in value
    return value is None or isinstance(value, bool | int | float)


def _details(rest: dict[str, Any]) -> str:
    return "\n".join(value_lines(rest)) if rest else ""


def answer_in_words(output: Any) -> Answer:
    """What a target answered, as words: text as it is; an object's top-level `text`,
    `message`, `answer` or `summary` when it is text; else its short top-level values as
    `name: value` lines. What is not said is left for *Technical details*."""
    if output is None or output == "":
        return Answer(())
    if isinstance(output, str):
        return Answer((output,))
    if not isinstance(output, dict):
        if _is_short(output):
            return Answer((_scalar(output),))
        return Answer(
            ("The answer is a list of values; see Technical details.",),
            _details({"answer": output}),
        )
    said = next(
        (key for key in ANSWER_FIELDS if isinstance(output.get(key), str) and output[key].strip()),
        None,
    )
    if said is not None:
        return Answer((output[said],), _details({k: v for k, v in output.items() if k != said}))
    short = [key for key, value in output.items() if _is_short(value)][:ANSWER_LINES]
    lines = tuple(f"{key}: {_scalar(output[key])}" for key in short)
    rest = {key: value for key, value in output.items() if key not in short}
    if not lines and rest:
        lines = ("The answer holds data only; see Technical details.",)
    return Answer(lines, _details(rest))


def sent_text(run: Run) -> str:
    """What the run sent: the chat message, or the workflow's input (without the
    `source` metadata every workflow call carries)."""
    sent = run.input
    if isinstance(sent, dict) and "input" in sent:
        sent = sent["input"]
    return as_text(sent)


def _said_in(detail: str) -> str:
    """What an error body says in words: its message when it is JSON in one of the usual
    shapes ({"error": {"message": …}}, {"error": …}, {"message": …}, {"detail": …}), else
    the body as it came (a cut-off or other JSON included)."""
    try:
        body = json.loads(detail)
    except ValueError:
        return detail
    for key in ("error", "message", "detail"):
        said = body.get(key) if isinstance(body, dict) else None
        if isinstance(said, dict):
            said = said.get("message")
        if isinstance(said, str) and said.strip():
            return said.strip()
    return detail


def error_in_words(error: str | None) -> str:
    """A stored error as a person would say it; what the target answered is kept."""
    if not error:
        return ""
    answered = HTTP_ANSWER.match(error)
    if answered:
        status = int(answered["status"])
        said = HTTP_WORDS.get(status) or (
            "had a problem of its own" if status >= 500 else "refused the request"
        )
        detail = _said_in(answered["detail"].strip())
        return f"{answered['url']} {said} (HTTP {status})" + (f": {detail}" if detail else ".")
    unreachable = UNREACHABLE.match(error)
    if unreachable:
        return f"Could not reach {unreachable['url']} — is it running?"
    return error


def waiting_in_words(run: Run) -> str:
    """Why a run past its time has not started — it waits for a free slot of its agent or
    workflow ("waiting for a free slot: Assistant takes at most 2 calls at once") — or ""
    when it is not waiting for one. Such a run is not late: it starts as a slot frees."""
    reason = one_line(run.waiting_reason or "", SHORT * 2).rstrip(".")
    if not reason or run.status not in (RunStatus.queued, RunStatus.retrying):
        return ""
    return reason[0].lower() + reason[1:]


def outcome_in_words(run: Run, now: datetime, worker_online: bool = True) -> str:
    """ "succeeded in 0.4 s", "failed after 4 tries", "waiting for the worker",
    "waiting for a free slot: …"…"""
    status = run.status
    waiting = waiting_in_words(run) if worker_online else ""
    if waiting:
        return f"failed, trying again — {waiting}" if status == RunStatus.retrying else waiting
    if status == RunStatus.succeeded:
        return f"succeeded in {duration(run)}"
    if status == RunStatus.failed:
        return "failed" + (f" after {run.attempt} tries" if run.attempt > 1 else "")
    if status == RunStatus.retrying:
        return f"failed, trying again {relative(run.due_at, now)}"
    if status == RunStatus.running:
        return "running now" + (f" (try {run.attempt})" if run.attempt > 1 else "")
    if status == RunStatus.queued:
        return "waiting to start" if worker_online else "waiting for the worker"
    return STATUS_WORDS.get(status, str(status)).lower()


def run_in_words(run: Run, now: datetime, worker_online: bool = True) -> str:
    """ "ran by hand — succeeded in 0.4 s"; a run that has not run (yet) is not said to
    have: "on schedule — waiting to start", "by hand — running now"."""
    ran = run.started_at is not None and run.status in RAN
    said = f"{'ran ' if ran else ''}{SOURCE_WORDS[run.source]}"
    return f"{said} — {outcome_in_words(run, now, worker_online)}"


def run_result(run: Run, between: str = "\n") -> tuple[str, str]:
    """What a run came to, named: ("reply", …), ("error", …), ("why", …) or ("", "");
    a reply that is data as key: value lines, `between` them."""
    if run.status == RunStatus.succeeded:
        return "reply", between.join(answer_in_words(run.output).lines)
    if run.status in (RunStatus.failed, RunStatus.retrying):
        return "error", error_in_words(run.error)
    if run.status in (RunStatus.skipped, RunStatus.missed, RunStatus.cancelled):
        return "why", run.error or ""
    return "", ""


def run_details(run: Run) -> str:
    """The part of a succeeded run's answer its reply does not say, for *Technical
    details* ("" when the reply says it all)."""
    return answer_in_words(run.output).details if run.status == RunStatus.succeeded else ""


def attempts_in_words(run: Run) -> list[str]:
    """Each try before the last one, in words (none for a single try): "Try 1: failed —
    …" (a person reads "tries", as alerts say; the code's word is attempt)."""
    if run.attempt <= 1:
        return []
    return [
        f"Try {entry.get('attempt')}: "
        + {"succeeded": "succeeded", "cancelled": "cancelled"}.get(entry.get("outcome"), "failed")
        + (f" — {error_in_words(entry['error'])}" if entry.get("error") else "")
        for entry in run.attempts
    ]


def _without_trigger(name: str) -> str:
    return re.sub(r"\s*Trigger$", "", name).strip() or name


def toolkit_name(toolkit: str) -> str:
    return TOOLKIT_NAMES.get(toolkit.upper(), toolkit.replace("_", " ").title())


def event_type_in_words(slug: str | None) -> str:
    """An event type as its app and name: "Gmail · New Gmail Message Received"."""
    if not slug:
        return "An event"
    known = next((t for t in offline_catalog() if t.slug == slug), None)
    if known is not None:
        return f"{known.toolkit_name} · {_without_trigger(known.name)}"
    toolkit = toolkit_of(slug)
    rest = slug.removeprefix(toolkit).strip("_").replace("_", " ").capitalize()
    return f"{toolkit_name(toolkit)} · {rest or 'an event'}"


def _short(value: Any) -> str:
    text = one_line(str(value), SHORT)
    person = PERSON.match(text)
    return person["name"] if person else text


def _said(value: Any) -> bool:
    return isinstance(value, str | int | float) and bool(str(value).strip())


def _headline(slug: str, data: dict[str, Any]) -> str | None:
    headline = HEADLINES.get(toolkit_of(slug))
    if headline is None:
        return None
    variables = event_variables(slug, data)
    values = {name: variables.get(name) for name in HEADLINE_FIELD.findall(headline)}
    if not all(
        isinstance(value, str | int | float) and str(value).strip() for value in values.values()
    ):
        return None
    return headline.format(**{name: _short(value) for name, value in values.items()})


def event_summary(kind: str, slug: str | None, data: dict[str, Any]) -> str:
    """What an event was: "Gmail · new email from Jane Doe: Q4 planning"."""
    if kind == ACCOUNT_EXPIRED:
        toolkit = data.get("toolkit")
        toolkit = toolkit.get("slug") if isinstance(toolkit, dict) else toolkit
        app = toolkit_name(toolkit) if isinstance(toolkit, str) and toolkit else "An app's"
        return f"Composio · {app} sign-in expired"
    if kind == TRIGGER_DISABLED:
        reason = data.get("disabled_reason")
        why = f" ({str(reason).replace('_', ' ')})" if reason else ""
        return f"Composio · a trigger was turned off{why}"
    if kind != TRIGGER_MESSAGE:
        return "Composio · a notice Planner does not act on"
    described = event_type_in_words(slug)
    headline = _headline(slug, data) if slug else None
    return f"{described.split(' · ')[0]} · {headline}" if headline else described


EVENT_OUTCOMES = {
    EventStatus.pending: "waiting to be processed",
    EventStatus.unmatched: "started nothing — no active trigger listens to it",
    EventStatus.failed: "could not be processed — it started nothing",
    EventStatus.duplicate: "already received — not processed again",
}


def event_outcome(status: str, kind: str, started: list[str], worker_online: bool) -> str:
    """What became of an event: "started Triage, Analyze", "waiting for the worker"…"""
    if status == EventStatus.pending and not worker_online:
        return "waiting for the worker"
    if status != EventStatus.dispatched:
        return EVENT_OUTCOMES.get(status, str(status))
    if started:
        return "started " + ", ".join(started)
    if kind in (ACCOUNT_EXPIRED, TRIGGER_DISABLED):
        return "marked the triggers it concerns"
    return "started nothing"


@dataclass(frozen=True)
class Trouble:
    """Why a trigger does not hear its events, and where that is fixed."""

    headline: str  # "Gmail sign-in expired — reconnect", "Not connected to Composio"
    advice: str  # what to do, or what Composio said
    red: bool
    fixed_in_settings: bool


def trigger_trouble(trigger: EventTrigger, has_composio_key: bool) -> Trouble | None:
    """A trigger's connection in words: its app's sign-in expired, Composio turned it off,
    or it is not connected yet (no key, Composio refused, or not pressed) — None when it
    is connected or paused."""
    if trigger.status == Status.paused:
        return None
    if sign_in_expired(trigger):
        app = toolkit_name(trigger.toolkit or toolkit_of(trigger.event))
        return Trouble(f"{app} sign-in expired — reconnect", f"sign in to {app} again", True, True)
    if trigger.sync_state == SyncState.error:
        said = trigger.sync_error or "Composio turned this trigger off."
        return Trouble("Failed", said, True, False)
    if trigger.sync_state != SyncState.local:
        return None
    if not has_composio_key:
        return Trouble("Not connected to Composio", "add the Composio key in Settings", False, True)
    if trigger.sync_error:
        said = f"Composio refused: {trigger.sync_error}"
        return Trouble("Not connected to Composio", said, False, True)
    return Trouble("Not connected to Composio", "press Connect to Composio", False, False)
