"""What scheduled jobs and event triggers share: names, lookup, the action, who uses what.

`core.automations.jobs` and `core.automations.triggers` are siblings over this module; a
rule that concerns both lives here once, so it can never hold for one and be forgotten for
the other.
"""

from __future__ import annotations

import bisect
import string
import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, select

from core.automations.fields import UNCHANGED, AutomationFields, Unchanged, kept
from core.automations.policies import Policies, policies_json
from core.errors import Checks, NameInUseError, NotFoundError, ValidationError
from core.store import standard_json
from core.store.models import (
    ActionKind,
    Agent,
    Automation,
    EventTrigger,
    Run,
    ScheduledJob,
    Workflow,
    iso,
)

AUTOMATION_MODELS: tuple[type[Automation], ...] = (ScheduledJob, EventTrigger)
AUTOMATION_WORDS = {ScheduledJob: "job", EventTrigger: "trigger"}
THREAD_MODES = ("new", "continue")
THREAD_KEYS = ("thread", "conversation")  # a chat's config that a new message keeps
MAX_CONVERSATION = 200
MAX_NAME = 200
Named = TypeVar("Named", Agent, Workflow, ScheduledJob, EventTrigger)


def clean_name(name: str, what: str) -> str:
    """A name as people see it: spaces folded, not empty, not all digits (that is an id),
    nothing invisible in it."""
    text = storable_text(" ".join(name.split()), "name", f"{what} name")
    hidden = next((c for c in text if unicodedata.category(c) == "Cf"), None)
    if hidden is not None:
        # Bidi controls (U+202E turns "evil.exe" around on screen), zero-width spaces, a
        # byte order mark: a name that shows as another, or two names that look alike.
        raise ValidationError(
            f"The {what} name holds an invisible formatting character (U+{ord(hidden):04X}); "
            "type the name again without it.",
            "name",
        )
    if not text:
        raise ValidationError(f"Give the {what} a name.", "name")
    if len(text) > MAX_NAME:
        raise ValidationError(f"The {what} name is longer than {MAX_NAME} characters.", "name")
    if text.isdigit():
        article = "An" if what[0] in "aeiou" else "A"
        raise ValidationError(
            f"{article} {what} name can't be only digits (it would read as an id); add a word.",
            "name",
        )
    return text


def name_key(name: str) -> str:
    """What two names are compared by: "Morning briefing" and " morning  Briefing " are
    one name to a person, so they are one name here."""
    return " ".join(name.split()).casefold()


# Ids are 64-bit integers in every database; a longer number names no row (and the
# driver would refuse to send it).
MAX_ID = 2**63 - 1


def by_id(session: Session, model: type[Any], text: str) -> Any:
    """The row with this id (`text` all ASCII digits), or None."""
    number = int(text)
    return session.get(model, number) if number <= MAX_ID else None


def find(session: Session, model: type[Named], ref: str | int, what: str | None = None) -> Named:
    """A row by id when `ref` is all digits (names never are), else by exact name."""
    text, label = str(ref).strip(), what or model.__name__.lower()
    if text.isascii() and text.isdigit():
        found = by_id(session, model, text)
    else:
        found = session.exec(select(model).where(model.name == text)).first()
    if found is None:
        raise absent(label, text)
    return found


def absent(what: str, text: str) -> NotFoundError:
    """The refusal of a row that is not there, by id (all digits) or by name."""
    if text.isascii() and text.isdigit():
        return NotFoundError(f"There is no {what} with id {text}.", what)
    return NotFoundError(f"There is no {what} named {text!r}.", what)


def free_name(session: Session, model: type[Named], wanted: str) -> str:
    """`wanted`, or the first of "wanted (2)", "wanted (3)"… that no row is named like: a
    name Planner makes up must not be refused as taken."""
    candidate, number = wanted, 1
    while named_like(session, model, candidate) is not None:
        number += 1
        candidate = f"{wanted} ({number})"
    return candidate


def named_like(
    session: Session, model: type[Named], name: str, other_than: int | None = None
) -> Named | None:
    """The row (other than `other_than`) whose name is `name` to a person: case and spaces
    aside; the oldest, should there be several. Inside `names_at_hand`, from its dict;
    else the database is asked only for the rows that can be it (`_may_be_named`)."""
    key = name_key(name)
    index: _Names | None = session.info.get(_NAMES)
    if index is not None and model in index.ids:
        if session.autoflush:  # as a query would: what the session holds is counted
            session.flush()
        ids = index.ids[model].get(key, ())
    else:
        query = select(model.id, model.name).where(_may_be_named(session, model, key))
        ids = [row_id for row_id, row_name in session.exec(query) if name_key(row_name) == key]
    found = min((row_id for row_id in ids if row_id != other_than), default=None)
    return session.get(model, found) if found is not None else None


def _may_be_named(session: Session, model: type[Named], key: str) -> Any:
    """A condition the database checks on every row for a name whose key can be `key`:
    a name of plain ASCII with its spaces folded (as clean_name stores it) has its
    lowercase as its key, which SQL compares; any other name (a letter beyond ASCII, a
    control character, spaces to fold) passes, and is compared by name_key."""
    name = model.__table__.c.name
    if session.get_bind().dialect.name == "postgresql":  # lower() there follows a locale
        lowered = sa.func.translate(name, string.ascii_uppercase, string.ascii_lowercase)
        not_plain = name.regexp_match("[^ -~]")
    else:  # SQLite's lower() changes only A to Z
        lowered, not_plain = sa.func.lower(name), name.op("GLOB")("*[^ -~]*")
    unfolded = sa.or_(name.startswith(" "), name.endswith(" "), name.contains("  "))
    return sa.or_(lowered == key, not_plain, unfolded)


_NAMES = "planner_names_at_hand"


class _Names:
    """The ids of some tables' rows by the key of their name (name_key), each list
    oldest first: read with one query per table, then kept up to date with what the
    session flushes."""

    def __init__(self, session: Session, models: tuple[type[Any], ...]) -> None:
        self.ids: dict[type[Any], dict[str, list[int]]] = {model: {} for model in models}
        self.keys: dict[type[Any], dict[int, str]] = {model: {} for model in models}
        for model in models:
            for row_id, row_name in session.exec(select(model.id, model.name)):
                self.put(model, row_id, row_name)

    def put(self, model: type[Any], row_id: int, name: str | None) -> None:
        old = self.keys[model].pop(row_id, None)
        if old is not None:
            self.ids[model][old].remove(row_id)
        if name is not None:
            self.keys[model][row_id] = key = name_key(name)
            bisect.insort(self.ids[model].setdefault(key, []), row_id)

    def flushed(self, session: Session, _context: Any) -> None:
        """After a flush, what it wrote: `new` and `dirty` still hold what it was about."""
        for row in (*session.new, *session.dirty, *session.deleted):
            if type(row) in self.ids and row.id is not None:
                gone = row in session.deleted
                self.put(type(row), row.id, None if gone else row.name)


@contextmanager
def names_at_hand(session: Session, *models: type[Named]) -> Iterator[None]:
    """For many lookups in one transaction (an import): inside, named_like and so
    ensure_unique_name answer for `models` from a dict read once, not from the database.

    The dict follows what this session writes; what another connection writes after it
    was read is not in it, so use it inside a transaction that keeps other writers out
    (SQLite's write lock) or on a copy nobody else writes. A rollback drops it (what it
    holds may have been undone): lookups go to the database again."""
    index = _Names(session, models)
    session.info[_NAMES] = index

    def dropped(*_: Any) -> None:
        session.info.pop(_NAMES, None)

    sa.event.listen(session, "after_flush", index.flushed)
    sa.event.listen(session, "after_soft_rollback", dropped)
    try:
        yield
    finally:
        sa.event.remove(session, "after_flush", index.flushed)
        sa.event.remove(session, "after_soft_rollback", dropped)
        if session.info.get(_NAMES) is index:
            dropped()


def ensure_unique_name(
    session: Session, model: type[Named], name: str, what: str | None = None,
    own_id: int | None = None,
) -> None:  # fmt: skip
    """Refuse a name another row of the table already has, case and spaces aside."""
    other = named_like(session, model, name, own_id)
    if other is not None:
        label = what or model.__name__.lower()
        article = "An" if label[0] in "aeiou" else "A"
        message = f"{article} {label} named {other.name!r} already exists"
        if other.name != name:
            message += "; names that differ only in capitals or spaces count as the same"
        raise NameInUseError(f"{message}. Choose another name.", "name")


@dataclass(frozen=True)
class Checked:
    """What the fields jobs and triggers share come to, every one of them checked."""

    name: str
    action: str
    config: dict[str, Any]
    policies: Policies


def checked_name(
    checks: Checks, session: Session, model: type[Automation], name: str | Unchanged,
    automation: Automation | None,
) -> str | None:  # fmt: skip
    """The name given, cleaned and unique in its table (None with the refusal in
    `checks`); the automation's own when it is not given (checked when it was)."""
    if isinstance(name, Unchanged) and automation is not None:
        return automation.name
    what = AUTOMATION_WORDS[model]
    clean = checks.check(lambda: clean_name(str(kept(name, "")), what))
    if clean is not None:
        own_id = automation.id if automation is not None else None
        checks.check(lambda: ensure_unique_name(session, model, clean, what, own_id))
    return clean


def json_refused(error: ValueError, field: str, what: str) -> ValidationError:
    """The one sentence that refuses a value that is not standard JSON (`error` says why)."""
    return ValidationError(f"That is not valid JSON for the {what}: {error}.", field)


def checked_object(value: object, field: str, what: str) -> dict[str, Any]:
    """A JSON object as given; refused when it is another value, or holds what standard
    JSON has not (NaN or Infinity, a key that is not text, bytes) or text a database
    cannot store."""
    if not isinstance(value, dict):
        raise ValidationError(
            f'The {what} must be a JSON object, such as {{"scope": "week"}}.', field
        )
    try:
        standard_json.check(value)
    except ValueError as error:
        raise json_refused(error, field, what) from None
    return value


def storable_text(text: str, field: str, what: str) -> str:
    """Text a person gave, refused if it holds a NUL or a character that is not valid
    Unicode (a terminal's undecodable bytes): stored, it would break every listing."""
    try:
        standard_json.check_text(text)
    except ValueError:
        raise ValidationError(
            f"The {what} holds a character that cannot be stored; type it again.", field
        ) from None
    return text


def action_config(
    session: Session, fields: AutomationFields, automation: Automation | None, what: str
) -> tuple[str, dict[str, Any]]:
    """The action and config of a job or trigger after applying `fields` (None: new).

    A chat template or a workflow, never both; a thread mode only for chats.
    """
    if fields.chat is not UNCHANGED and fields.workflow is not UNCHANGED:
        raise ValidationError("Choose one action: start a chat or run a workflow, not both.")
    action = automation.action if automation else None
    config = dict(automation.config) if automation else {}
    if fields.chat is not UNCHANGED:
        if not fields.chat.strip():
            raise ValidationError(
                "The chat message is empty; write what the agent should be asked.", "chat"
            )
        template = storable_text(fields.chat, "chat", "chat message")
        action, config = ActionKind.chat, {"template": template, "thread": "new"}
        if automation and automation.action == ActionKind.chat:
            kept_thread = {k: v for k, v in automation.config.items() if k in THREAD_KEYS}
            config.update(kept_thread)
    if fields.workflow is not UNCHANGED:
        workflow = find(session, Workflow, fields.workflow)
        action, config = ActionKind.workflow, {"workflow_id": workflow.id, "input": {}}
        if automation and automation.action == ActionKind.workflow:
            config["input"] = automation.config.get("input", {})
    if action is None:
        raise ValidationError(f"Choose what the {what} does: a chat message or a workflow to run.")
    if fields.thread is not UNCHANGED:
        if fields.thread not in THREAD_MODES:
            raise ValidationError("Thread must be 'new' or 'continue'.", "thread")
        if action != ActionKind.chat:
            raise ValidationError(f"A thread mode only applies to chat {what}s.", "thread")
        config["thread"] = fields.thread
    if fields.conversation is not UNCHANGED:
        config["conversation"] = _conversation(fields.conversation, config, what)
    if config.get("thread") != "continue" or not config.get("conversation"):
        config.pop("conversation", None)
    if fields.input is not UNCHANGED:
        if action != ActionKind.workflow:
            raise ValidationError(f"Input only applies to workflow {what}s.", "input")
        config["input"] = checked_object(fields.input, "input", "workflow input")
    return action, config


def _conversation(given: str | None, config: dict[str, Any], what: str) -> str | None:
    """A conversation to go back into: its thread id, for a chat that continues its thread."""
    if given is None:
        return None
    if config.get("thread") != "continue":
        raise ValidationError(
            f"Only a chat {what} that continues its thread goes back into a conversation.",
            "thread",
        )
    text = storable_text(given.strip(), "thread", "conversation")
    if not text or len(text) > MAX_CONVERSATION or not text.isprintable():
        raise ValidationError(
            f"A conversation is named by its thread id: 1 to {MAX_CONVERSATION} characters "
            "on one line.",
            "thread",
        )
    return text


def users_of(
    session: Session, agent: Agent | None = None, workflow: Workflow | None = None
) -> list[str]:
    """The jobs and triggers that belong to `agent` or run `workflow`, as "job 'X'"."""
    found = []
    for model in AUTOMATION_MODELS:
        query = select(model).order_by(model.name)
        if agent is not None:
            automations = session.exec(query.where(model.agent_id == agent.id))
        else:
            candidates = session.exec(query.where(model.action == ActionKind.workflow))
            automations = (o for o in candidates if o.config.get("workflow_id") == workflow.id)
        found.extend(f"{AUTOMATION_WORDS[model]} {automation.name!r}" for automation in automations)
    return found


def list_owned(session: Session, model: type[Named], agent: str | int | None = None) -> list[Named]:
    """Jobs or triggers by name, only one agent's when given."""
    query = select(model).order_by(model.name)
    if agent is not None:
        query = query.where(model.agent_id == find(session, Agent, agent).id)
    return list(session.exec(query))


def automation_json(automation: Automation) -> dict[str, Any]:
    """What a job's and a trigger's JSON (CLI --json, outside scripts) have in common."""
    return {
        "id": automation.id,
        "key": automation.key,
        "agent_id": automation.agent_id,
        "name": automation.name,
        "action": str(automation.action),
        "config": automation.config,
        "status": str(automation.status),
        "health": automation.health,
        "last_run_at": iso(automation.last_run_at),
        "last_outcome": automation.last_outcome,
        "consecutive_failures": automation.consecutive_failures,
        **policies_json(automation),
        "notify_as_settings": automation.notify_as_settings,
        "notify_channel_ids": automation.notify_channel_ids,
        "notify_on": automation.notify_on,
        "created_at": iso(automation.created_at),
        "updated_at": iso(automation.updated_at),
    }


def automation_key(run: Run) -> tuple[type[Automation], int] | None:
    """The table and id of the job or trigger a run belongs to."""
    if run.job_id is not None:
        return ScheduledJob, run.job_id
    if run.trigger_id is not None:
        return EventTrigger, run.trigger_id
    return None


def automation_column(model: type[Automation]) -> Any:
    """The Run column that points at rows of `model`."""
    return Run.job_id if model is ScheduledJob else Run.trigger_id


def runs_of_agent(agent_id: int, action: ActionKind | None = None) -> Any:
    """A condition on runs: their job or trigger is the agent's (and does `action`)."""
    held = []
    for model in AUTOMATION_WORDS:
        own = select(model.id).where(model.agent_id == agent_id)
        if action is not None:
            own = own.where(model.action == action)
        held.append(automation_column(model).in_(own))
    return sa.or_(*held)


def card_link(base_url: str, model: type[Automation], key: str) -> str:
    """The address of a job's or trigger's card on the dashboard ("" without an address):
    by its key, unique forever, so an old link never opens another job that took its id."""
    base = base_url.rstrip("/")
    return f"{base}/?{AUTOMATION_WORDS[model]}={key}" if base else ""


def linked_automation(session: Session, query: Mapping[str, str]) -> Automation | None:
    """The job or trigger a card link names (its query parameters), if it still exists."""
    for model in AUTOMATION_MODELS:
        key = query.get(AUTOMATION_WORDS[model], "")
        if key:
            return session.exec(select(model).where(model.key == key)).first()
    return None


def load_automation(session: Session, run: Run) -> Automation | None:
    key = automation_key(run)
    return None if key is None else session.get(*key)
