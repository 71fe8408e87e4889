"""A whole setup as one YAML file: agents, workflows, jobs and triggers, to move it between
machines (`planner export`, `planner import`).

Things refer to each other by name, never by id, and no secret leaves: an agent's or a
workflow's pasted key stays where it was (the file only says there was one), and the
environment variables named by `api_key_env` or `auth_env` are set on each machine.
Importing creates what is new and changes what differs, by name, through the same
functions as the CLI and the dashboard, so a file is held to the same rules. It is first
applied to a copy of the setup in memory (`--dry-run` stops there): a file with one bad
entry changes nothing, and the check takes no lock that keeps others from writing. The
import itself then runs in short transactions, a batch of entries each.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, select

from core.agents import registry
from core.automations import jobs, triggers
from core.automations.fields import UNCHANGED
from core.automations.shared import named_like, names_at_hand
from core.config import Settings
from core.errors import PlannerError, ValidationError
from core.notifications import channels
from core.running.queue import RunQueue
from core.scheduling import timing
from core.setup.schema import FORMAT, SECTIONS, SINGULAR, Document, typed
from core.store.db import get_engine, read_session
from core.store.models import (
    ActionKind,
    Agent,
    Automation,
    EventTrigger,
    NotificationChannel,
    ScheduledJob,
    Status,
    Workflow,
)

MODELS: dict[str, type[Any]] = {
    "agents": Agent, "workflows": Workflow, "jobs": ScheduledJob, "triggers": EventTrigger,
}  # fmt: skip
# Agents', workflows' and channels' names by id.
Known = tuple[dict[int, str], dict[int, str], dict[int, str]]
# What the check copies: the setup's tables, and the channels its rules look up.
COPIED = (*MODELS.values(), NotificationChannel)
BATCH = 100  # entries one transaction of an import applies
# SQLite's busy handler looks again at most every 0.1 s: after each batch the import
# leaves the write lock free as long (or as long as it held it, when shorter), so a writer
# waiting for it (the worker, the webhook, the API) gets its turn between two batches.
LOCK_FREE_SECONDS = 0.1


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


def _by_id(session: Session, model: type[Agent | Workflow | NotificationChannel]) -> dict[int, str]:
    return {row.id: row.name for row in session.exec(select(model))}


def _names_by_id(session: Session) -> Known:
    """Agents', workflows' and channels' names by id: what entries name them by."""
    return _by_id(session, Agent), _by_id(session, Workflow), _by_id(session, NotificationChannel)


def _telling(automation: Automation, channels_named: dict[int, str]) -> dict[str, Any]:
    """Who is told, as `--notify` says it ("default": Settings' channels; "none": nobody;
    else the channels' names), and about what."""
    if automation.notify_as_settings:
        notify = channels.SETTINGS_WORD
    elif automation.notify_channel_ids:
        notify = ", ".join(channels_named[i] for i in automation.notify_channel_ids)
    else:
        notify = "none"
    return {"notify": notify, "notify_on": ", ".join(channels.told_about(automation.notify_on))}


def _action(automation: Automation, workflows: dict[int, str], with_input: bool) -> dict[str, Any]:
    """The action as a file says it; a workflow's input template always for a job, for a
    trigger only when it has one (a file from before trigger templates stays the same)."""
    if automation.action == ActionKind.chat:
        conversation = automation.config.get("conversation")
        return {"chat": automation.config.get("template", ""),
                "thread": automation.config.get("thread", "new"),
                **({"conversation": conversation} if conversation else {})}  # fmt: skip
    action = {"workflow": workflows.get(automation.config.get("workflow_id"), "")}
    template = automation.config.get("input") or {}
    return action | ({"input": template} if with_input or template else {})


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


def job_entry(job: ScheduledJob, known: Known) -> dict:
    names, workflows, channels_named = known
    return {
        "name": job.name, "agent": names[job.agent_id], "schedule": job.schedule,
        "timezone": job.timezone, "starts_on": _day(job.starts_on), "ends_on": _day(job.ends_on),
        "jitter": timing.duration_text(job.jitter_seconds),
        **_action(job, workflows, with_input=True),
        "misfire": str(job.misfire_policy), **_policies(job), **_telling(job, channels_named),
        "paused": job.status == Status.paused,
    }  # fmt: skip


def _policies(automation: Automation) -> dict[str, Any]:
    timeout = automation.timeout_seconds
    return {
        "retries": automation.max_retries,
        "timeout": timing.duration_text(timeout) if timeout is not None else None,
        "overlap": automation.overlap,
    }


def _fields_given(entry: dict[str, Any]) -> dict[str, Any]:
    """A typed entry as a job's or trigger's fields take it: all but its name and whether
    it is paused."""
    return {key: value for key, value in entry.items() if key not in ("name", "paused")}


def _day(day: date | None) -> str | None:
    return day.isoformat() if day else None


def trigger_entry(trigger: EventTrigger, known: Known) -> dict:
    names, workflows, channels_named = known
    return {
        "name": trigger.name, "agent": names[trigger.agent_id], "event": trigger.event,
        "filters": trigger.filters, "user_id": trigger.user_id,
        **_action(trigger, workflows, with_input=False),
        **_policies(trigger), **_telling(trigger, channels_named),
        "paused": trigger.status == Status.paused,
    }  # fmt: skip


def export_setup(session: Session) -> dict[str, Any]:
    """The setup as a document, each section in name order."""
    known = _names_by_id(session)

    def rows(model: type) -> list:
        return list(session.exec(select(model).order_by(model.name)))

    return {
        "planner": FORMAT,
        "agents": [agent_entry(a) for a in rows(Agent)],
        "workflows": [workflow_entry(w) for w in rows(Workflow)],
        "jobs": [job_entry(j, known) for j in rows(ScheduledJob)],
        "triggers": [trigger_entry(t, known) for t in rows(EventTrigger)],
    }


# Importing


def _differs(entry: dict[str, Any], current: dict[str, Any] | None) -> tuple[str, ...]:
    """The fields the entry gives that differ from the row as it would be exported (a
    job's or trigger's both `typed`: a timeout of 300 is one of 5m)."""
    if current is None:
        return ()

    def same(key: str, value: Any) -> bool:
        if key == "name":  # as it is stored: spaces folded (clean_name)
            return " ".join(value.split()) == current.get("name")
        return key == "pasted_key" or current.get(key) == value

    return tuple(key for key, value in entry.items() if not same(key, value))


class _Importer:
    """Applies a checked document entry by entry, section by section in the order they
    depend on; `session` and `queue` are those of the transaction at hand."""

    def __init__(self, settings: Settings, now: datetime) -> None:
        self.settings, self.now = settings, now
        self.outcome = Outcome()

    def use(self, session: Session, queue: RunQueue | None) -> None:
        self.session, self.queue = session, queue
        self._known: Known | None = None

    def _names(self) -> Known:
        """Agents', workflows' and channels' names by id, read once per transaction (and
        again after saving an agent or a workflow)."""
        if self._known is None:
            self._known = _names_by_id(self.session)
        return self._known

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
        agent = self._record("agents", entry, current, lambda: registry.save_agent(
            self.session, merged["name"], merged["backend"], merged.get("url", ""),
            merged["model"], merged["system_prompt"], merged["api_key_env"], existing,
            max_concurrency=merged["max_concurrency"], settings=self.settings,
        )) or existing  # fmt: skip
        self._known = None
        self._key_note("agents", entry, agent)

    def workflow(self, entry: dict[str, Any]) -> None:
        existing = named_like(self.session, Workflow, entry["name"])
        current = workflow_entry(existing) if existing else None
        merged = (current or {"auth_env": "", "max_concurrency": None}) | entry
        workflow = self._record("workflows", entry, current, lambda: registry.save_workflow(
            self.session, merged["name"], merged.get("url", ""), merged["auth_env"], existing,
            max_concurrency=merged["max_concurrency"], settings=self.settings,
        )) or existing  # fmt: skip
        self._known = None
        self._key_note("workflows", entry, workflow)

    def _pause_or_resume(self, row: Any, paused: bool | None, pause: Callable, resume: Callable):
        if paused is not None and paused != (row.status == Status.paused):
            (pause if paused else resume)(row.id)

    def job(self, entry: dict[str, Any]) -> None:
        entry = typed(entry)
        existing = named_like(self.session, ScheduledJob, entry["name"])
        current = typed(job_entry(existing, self._names())) if existing else None
        given = _fields_given(entry)
        fields = jobs.JobFields(name=entry["name"] if existing else UNCHANGED, **given)
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
        entry = typed(entry)
        existing = named_like(self.session, EventTrigger, entry["name"])
        current = typed(trigger_entry(existing, self._names())) if existing else None
        given = _fields_given(entry)
        fields = triggers.TriggerFields(name=entry["name"] if existing else UNCHANGED, **given)
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

    def apply(self, section: str, entry: dict[str, Any]) -> None:
        try:
            getattr(self, SINGULAR[section])(entry)
        except PlannerError as error:  # said with the entry it is about
            where = f"{SINGULAR[section]} {entry['name']!r}"
            raise ValidationError(f"{where}: {error}", getattr(error, "field", None)) from None


def _copy_of_setup(database_url: str) -> sa.Engine:
    """A database in memory with Planner's tables, holding the rows of COPIED as the
    database has them: read in one read-only transaction (on SQLite a plain read, which
    no writer waits for), one query per table."""
    copy = sa.create_engine("sqlite://", poolclass=sa.pool.StaticPool)
    sa.event.listen(copy, "connect", lambda dbapi, _: dbapi.execute("PRAGMA foreign_keys=ON"))
    SQLModel.metadata.create_all(copy)
    wanted = {model.__table__ for model in COPIED}
    with read_session(database_url) as source, copy.begin() as target:
        options = {}
        if source.get_bind().dialect.name == "postgresql":  # one snapshot for every table
            options = {"isolation_level": "REPEATABLE READ"}
        reading = source.connection(execution_options=options)
        for table in (t for t in SQLModel.metadata.sorted_tables if t in wanted):
            rows = [dict(row) for row in reading.execute(sa.select(table)).mappings()]
            if rows:
                target.execute(sa.insert(table), rows)
    return copy


def check_setup(
    database_url: str, document: Document, settings: Settings,
    now: datetime,
) -> Outcome:  # fmt: skip
    """What importing would change, found by importing into a copy of the setup in
    memory (`_copy_of_setup`): every rule is checked by the code that applies it, and
    nobody waits for the check. Nothing reaches Composio or the queue."""
    offline = dataclasses.replace(settings, composio_api_key="")
    copy = _copy_of_setup(database_url)
    try:
        with Session(copy, expire_on_commit=False) as session:
            importer = _Importer(offline, now)
            importer.use(session, None)
            with names_at_hand(session, *MODELS.values()):
                for section in SECTIONS:
                    for entry in document[section]:
                        importer.apply(section, entry)
            return importer.outcome
    finally:
        copy.dispose()


class _HeldQueue:
    """The queue, given the runs a batch planned only once the batch is committed (a
    worker handed them sooner might not find them)."""

    def __init__(self, queue: RunQueue) -> None:
        self.queue, self.held = queue, []

    def submit(self, run_ids: Sequence[int], eta: datetime | None = None) -> None:
        ids = list(run_ids)
        self.held.append(lambda: self.queue.submit(ids, eta))

    def submit_events(self, event_ids: Sequence[str]) -> None:
        ids = list(event_ids)
        self.held.append(lambda: self.queue.submit_events(ids))

    def hand_on(self) -> None:
        for send in self.held:
            send()
        self.held.clear()


def _batch(
    connection: sa.Connection, importer: _Importer, section: str, entries: list[dict],
    queue: RunQueue | None,
) -> None:  # fmt: skip
    """Apply `entries` in one transaction of `connection` (on SQLite it holds the write
    lock). Each entry is saved as the CLI saves it, its commit a savepoint; when one is
    refused, those before it are committed all the same, and the refusal raised."""
    held = _HeldQueue(queue) if queue is not None else None
    transaction = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    importer.use(session, held)
    try:
        with names_at_hand(session, MODELS[section]):
            for entry in entries:
                importer.apply(section, entry)
    except PlannerError:
        session.rollback()  # the refused entry's own savepoint
        transaction.commit()
        if held is not None:
            held.hand_on()
        raise
    except BaseException:
        transaction.rollback()
        raise
    finally:
        session.close()
    transaction.commit()
    if held is not None:
        held.hand_on()


def import_setup(
    database_url: str, document: Document, settings: Settings,
    queue: RunQueue | None, clock: Callable[[], datetime],
) -> Outcome:  # fmt: skip
    """Create or change what the document says, by name; check it first with
    `check_setup` so a bad entry changes nothing. Applied in short transactions of BATCH
    entries (one each for a trigger registered with Composio, which is asked while its
    transaction is open); on SQLite the write lock is left free between them
    (LOCK_FREE_SECONDS). Each transaction reads `clock` afresh: a long import's last jobs
    are planned from when they are saved, never for a moment that passed before. Each
    entry is saved as the CLI saves it, so when something outside refuses one (Composio,
    say), the refusal says what was done before it; importing again goes on from there
    (what is done is unchanged)."""
    engine = get_engine(database_url)
    sqlite = engine.dialect.name == "sqlite"
    importer = _Importer(settings, clock())
    try:
        held_for = 0.0  # how long the last batch had the write lock
        with engine.connect() as connection:
            for section in SECTIONS:
                size = 1 if section == "triggers" and settings.composio_api_key else BATCH
                entries = document[section]
                for start in range(0, len(entries), size):
                    if sqlite:
                        time.sleep(min(LOCK_FREE_SECONDS, held_for))
                    began = time.monotonic()
                    importer.now = clock()
                    _batch(connection, importer, section, entries[start : start + size], queue)
                    held_for = time.monotonic() - began
        return importer.outcome
    except PlannerError as error:
        done = [str(c) for c in importer.outcome.changes if c.verb != "unchanged"]
        before = "; ".join(done) if done else "nothing"
        raise PlannerError(
            f"{error} Stopped there; done before it: {before}. Import the file again to go on."
        ) from None
