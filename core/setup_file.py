"""A whole setup as one YAML file: agents, workflows, jobs and triggers, to move it between
machines (`planner export`, `planner import`).

Things refer to each other by name, never by id, and no secret leaves: an agent's or a
workflow's pasted key stays where it was (the file only says there was one), and the
environment variables named by `api_key_env` or `auth_env` are set on each machine.
Importing creates what is new and changes what differs, by name, through the same
functions as the CLI and the dashboard, so a file is held to the same rules. It is first
applied in a transaction that is rolled back (`--dry-run` stops there): a file with one
bad entry changes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, select

from core import agents, jobs, policies, timing, triggers
from core.config import Settings
from core.db import get_engine
from core.errors import PlannerError, ValidationError
from core.models import ActionKind, ActionOwner, Agent, EventTrigger, ScheduledJob, Status, Workflow
from core.owners import named_like
from core.queue import RunQueue
from core.setup_document import FORMAT, POLICIES, SECTIONS, SINGULAR, Document


@dataclass(frozen=True)
class Change:
    """What importing did (or would do) to one entry."""

    section: str
    name: str
    verb: str  # "created", "updated" or "unchanged"
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        changed = f": {', '.join(self.fields)}" if self.fields else ""
        return f"{self.verb} {SINGULAR[self.section]} {self.name!r}{changed}"


@dataclass
class Outcome:
    changes: list[Change] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)


# Export


def _by_id(session: Session, model: type[Agent] | type[Workflow]) -> dict[int, str]:
    return {row.id: row.name for row in session.exec(select(model))}


def _action(owner: ActionOwner, workflows: dict[int, str], with_input: bool) -> dict[str, Any]:
    if owner.action == ActionKind.chat:
        return {"chat": owner.config.get("template", ""),
                "thread": owner.config.get("thread", "new")}  # fmt: skip
    action = {"workflow": workflows.get(owner.config.get("workflow_id"), "")}
    return action | ({"input": owner.config.get("input", {})} if with_input else {})


def agent_entry(agent: Agent) -> dict[str, Any]:
    entry = {
        "name": agent.name, "backend": str(agent.backend), "url": agent.base_url,
        "model": agent.model, "system_prompt": agent.system_prompt,
        "api_key_env": agent.api_key_env, "max_concurrency": agent.max_concurrency,
    }  # fmt: skip
    return entry | ({"pasted_key": True} if agent.api_key_secret else {})


def workflow_entry(workflow: Workflow) -> dict[str, Any]:
    entry = {"name": workflow.name, "url": workflow.url, "auth_env": workflow.auth_env,
             "max_concurrency": workflow.max_concurrency}  # fmt: skip
    return entry | ({"pasted_key": True} if workflow.auth_secret else {})


def job_entry(job: ScheduledJob, names: dict[int, str], workflows: dict[int, str]) -> dict:
    return {
        "name": job.name, "agent": names[job.agent_id], "schedule": job.schedule,
        "timezone": job.timezone, "starts_on": _day(job.starts_on), "ends_on": _day(job.ends_on),
        "jitter": timing.duration_text(job.jitter_seconds),
        **_action(job, workflows, with_input=True),
        "misfire": str(job.misfire_policy), **_policies(job), "paused": job.status == Status.paused,
    }  # fmt: skip


def _policies(owner: ActionOwner) -> dict[str, Any]:
    timeout = owner.timeout_seconds
    return {
        "retries": owner.max_retries,
        "timeout": timing.duration_text(timeout) if timeout is not None else None,
        "overlap": owner.overlap,
    }


def _as_exported(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry with its lengths of time written as an export writes them ("5m" for 300),
    so that an entry compares alike with the row it came from."""
    entry = dict(entry)
    for key in POLICIES:  # "default" as the CLI takes it: null in the file
        if isinstance(entry.get(key), str) and entry[key].strip().lower() == policies.DEFAULT:
            entry[key] = None
    if "jitter" in entry:
        entry["jitter"] = timing.duration_text(timing.jitter_from_text(str(entry["jitter"])))
    if entry.get("timeout") is not None:
        entry["timeout"] = timing.duration_text(policies.timeout_from_text(entry["timeout"]))
    return entry


def _fields_given(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as a job's or trigger's fields take it: a null day is none, a null
    policy Planner's."""
    given = {key: value for key, value in entry.items() if key not in ("name", "paused")}
    for key in ("starts_on", "ends_on"):
        if key in given and given[key] is None:
            given[key] = ""
    for key in POLICIES:
        if key in given and given[key] is None:
            given[key] = policies.DEFAULT
    return given


def _day(day: date | None) -> str | None:
    return day.isoformat() if day else None


def trigger_entry(trigger: EventTrigger, names: dict[int, str], workflows: dict[int, str]) -> dict:
    return {
        "name": trigger.name, "agent": names[trigger.agent_id], "event": trigger.event,
        "filters": trigger.filters, "user_id": trigger.user_id,
        **_action(trigger, workflows, with_input=False),
        **_policies(trigger), "paused": trigger.status == Status.paused,
    }  # fmt: skip


def export_setup(session: Session) -> dict[str, Any]:
    """The setup as a document, each section in name order."""
    names, workflows = _by_id(session, Agent), _by_id(session, Workflow)

    def rows(model: type) -> list:
        return list(session.exec(select(model).order_by(model.name)))

    return {
        "planner": FORMAT,
        "agents": [agent_entry(a) for a in rows(Agent)],
        "workflows": [workflow_entry(w) for w in rows(Workflow)],
        "jobs": [job_entry(j, names, workflows) for j in rows(ScheduledJob)],
        "triggers": [trigger_entry(t, names, workflows) for t in rows(EventTrigger)],
    }


# Importing


def _differs(entry: dict[str, Any], current: dict[str, Any] | None) -> tuple[str, ...]:
    """The fields the entry gives that differ from the row as it would be exported."""
    if current is None:
        return ()

    def same(key: str, value: Any) -> bool:
        if key == "name":  # as it is stored: spaces folded (clean_name)
            return " ".join(value.split()) == current.get("name")
        return key == "pasted_key" or current.get(key) == value

    return tuple(key for key, value in entry.items() if not same(key, value))


class _Importer:
    """Applies a checked document section by section, in the order they depend on."""

    def __init__(
        self, session: Session, settings: Settings, queue: RunQueue | None, now: datetime
    ) -> None:
        self.session, self.settings, self.queue, self.now = session, settings, queue, now
        self.outcome = Outcome()

    def _names(self) -> tuple[dict[int, str], dict[int, str]]:
        return _by_id(self.session, Agent), _by_id(self.session, Workflow)

    def _record(self, section: str, entry: dict, current: dict | None, save: Callable) -> Any:
        changed = _differs(entry, current)
        verb = "created" if current is None else ("updated" if changed else "unchanged")
        saved = save() if verb != "unchanged" else None
        name = " ".join(entry["name"].split())  # as it is stored and shown
        self.outcome.changes.append(Change(section, name, verb, changed))
        return saved

    def _key_note(self, section: str, entry: dict, row: Agent | Workflow) -> None:
        stored = row.api_key_secret if isinstance(row, Agent) else row.auth_secret
        if entry.get("pasted_key") and not stored:
            what, secret = ("agent", "API key") if section == "agents" else ("workflow", "token")
            self.outcome.notes.append(
                f"{what} {row.name!r} had a pasted {secret} where this file comes from; paste it "
                f"here too, on the dashboard or with: planner {section} key {row.name!r}"
            )

    def agent(self, entry: dict[str, Any]) -> None:
        existing = named_like(self.session, Agent, entry["name"])
        current = agent_entry(existing) if existing else None
        merged = (current or {"backend": "openai", "model": "", "system_prompt": "",
                              "api_key_env": "", "max_concurrency": None}) | entry  # fmt: skip
        agent = self._record("agents", entry, current, lambda: agents.save_agent(
            self.session, merged["name"], merged["backend"], merged.get("url", ""),
            merged["model"], merged["system_prompt"], merged["api_key_env"], existing,
            max_concurrency=merged["max_concurrency"],
        )) or existing  # fmt: skip
        self._key_note("agents", entry, agent)

    def workflow(self, entry: dict[str, Any]) -> None:
        existing = named_like(self.session, Workflow, entry["name"])
        current = workflow_entry(existing) if existing else None
        merged = (current or {"auth_env": "", "max_concurrency": None}) | entry
        workflow = self._record("workflows", entry, current, lambda: agents.save_workflow(
            self.session, merged["name"], merged.get("url", ""), merged["auth_env"], existing,
            max_concurrency=merged["max_concurrency"],
        )) or existing  # fmt: skip
        self._key_note("workflows", entry, workflow)

    def _pause_or_resume(self, row: Any, paused: bool | None, pause: Callable, resume: Callable):
        if paused is not None and paused != (row.status == Status.paused):
            (pause if paused else resume)(row.id)

    def job(self, entry: dict[str, Any]) -> None:
        entry = _as_exported(entry)
        existing = named_like(self.session, ScheduledJob, entry["name"])
        current = job_entry(existing, *self._names()) if existing else None
        given = _fields_given(entry)
        fields = jobs.JobFields(name=entry["name"] if existing else None, **given)
        job = self._record("jobs", entry, current, lambda: (
            jobs.update_job(self.session, existing.id, fields, self.now, self.queue,
                            finished_ok=True)
            if existing else jobs.create_job(self.session, entry["name"], fields, self.now,
                                             self.settings.timezone, self.queue, finished_ok=True)
        )) or existing  # fmt: skip
        self._pause_or_resume(
            job, entry.get("paused"),
            lambda ref: jobs.pause_job(self.session, ref, self.now),
            lambda ref: jobs.resume_job(self.session, ref, self.now, self.queue),
        )  # fmt: skip

    def trigger(self, entry: dict[str, Any]) -> None:
        entry = _as_exported(entry)
        existing = named_like(self.session, EventTrigger, entry["name"])
        current = trigger_entry(existing, *self._names()) if existing else None
        given = _fields_given(entry)
        fields = triggers.TriggerFields(name=entry["name"] if existing else None, **given)
        settings, now = self.settings, self.now
        trigger = self._record("triggers", entry, current, lambda: (
            triggers.update_trigger(self.session, existing.id, fields, settings, now)
            if existing else triggers.create_trigger(self.session, entry["name"], fields,
                                                     settings, now)
        )) or existing  # fmt: skip
        self._pause_or_resume(
            trigger, entry.get("paused"),
            lambda ref: triggers.pause_trigger(self.session, ref, settings, now),
            lambda ref: triggers.resume_trigger(self.session, ref, settings, now),
        )  # fmt: skip

    def apply(self, document: Document) -> Outcome:
        for section in SECTIONS:
            for entry in document[section]:
                try:
                    getattr(self, SINGULAR[section])(entry)
                except PlannerError as error:  # said with the entry it is about
                    where = f"{SINGULAR[section]} {entry['name']!r}"
                    raise ValidationError(
                        f"{where}: {error}", getattr(error, "field", None)
                    ) from None
        return self.outcome


def check_setup(
    database_url: str, document: Document, settings: Settings,
    now: datetime,
) -> Outcome:  # fmt: skip
    """What importing would change, found by doing it in a transaction that is rolled
    back: every rule is checked by the code that applies it. Nothing reaches Composio or
    the queue."""
    offline = dataclasses.replace(settings, composio_api_key="")
    with get_engine(database_url).connect() as connection:
        outer = connection.begin()
        try:
            session = Session(
                bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
            )
            return _Importer(session, offline, None, now).apply(document)
        finally:
            outer.rollback()


def import_setup(
    session: Session, document: Document, settings: Settings,
    queue: RunQueue | None, now: datetime,
) -> Outcome:  # fmt: skip
    """Create or change what the document says, by name; check it first with
    `check_setup` so a bad entry changes nothing. Each entry is saved as the CLI saves
    it, so when something outside refuses one (Composio, say), the refusal says what was
    done before it; importing again goes on from there (what is done is unchanged)."""
    importer = _Importer(session, settings, queue, now)
    try:
        return importer.apply(document)
    except PlannerError as error:
        done = [str(c) for c in importer.outcome.changes if c.verb != "unchanged"]
        before = "; ".join(done) if done else "nothing"
        raise PlannerError(
            f"{error} Stopped there; done before it: {before}. Import the file again to go on."
        ) from None
