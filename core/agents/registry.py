"""Agents and workflows: the targets jobs and triggers act on.

A target's key is either named (the environment variable that holds it) or pasted and
stored encrypted (core.access.credentials); it is never shown again, in any output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlparse

from sqlmodel import Session, select

from core import outbound
from core.access.credentials import key_in_words, seal, sealed_column
from core.automations.shared import (
    AUTOMATION_MODELS,
    AUTOMATION_WORDS,
    clean_name,
    ensure_unique_name,
    find,
    storable_text,
    users_of,
)
from core.config import Settings, get_settings, is_own_variable
from core.errors import ValidationError
from core.store.models import ActionKind, Agent, ApiToken, Automation, Backend, Workflow

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# An example name of the environment variable holding a target's secret, by its field: an
# agent's key, a workflow's token (forms and refusals show it; a workflow is not OpenAI's).
ENV_EXAMPLES = {"api_key_env": "OPENAI_API_KEY", "auth_env": "ANALYZE_EMAIL_TOKEN"}


@dataclass(frozen=True)
class AgentPreset:
    """A common backend, so a person picks "Ollama" instead of typing its address."""

    backend: str
    base_url: str
    model: str
    needs_key: bool


AGENT_PRESETS = {
    "OpenAI": AgentPreset("openai", "https://api.openai.com/v1", "gpt-4o-mini", True),
    "Ollama on this computer": AgentPreset(
        "openai", "http://localhost:11434/v1", "llama3.2", False
    ),
    "Another OpenAI-compatible server": AgentPreset("openai", "", "", False),
    "HTTP agent (Planner sends JSON)": AgentPreset("http", "", "", False),
}
BACKEND_WORDS = {
    Backend.openai: "OpenAI-compatible API",
    Backend.http: "HTTP agent (Planner sends JSON)",
}
Target = TypeVar("Target", Agent, Workflow)
MOST_CALLS_AT_ONCE = 10_000  # the highest limit a target may have on its calls at once
NO_LIMIT = "none"  # typed for no limit (a form's field may also be left empty)


def validate_url(url: str, field: str = "url") -> str:
    """A web address as written (http or https, a host, one line); where it may lead is
    checked apart (check_target_url)."""
    text = url.strip()
    refusal = ValidationError(
        f"{url!r} is not a web address; use one starting with http:// or https://.", field
    )
    try:
        parts = urlparse(text)
        parts.port  # noqa: B018 -- reading it checks the port and the brackets of an IPv6 host
    except ValueError:
        raise refusal from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise refusal
    if any(character.isspace() or not character.isprintable() for character in text):
        raise refusal
    return text


def check_target_url(url: str, settings: Settings | None) -> None:
    """Refuses, naming the field "url", an address Planner may not call: a link-local or
    cloud metadata address, or one PLANNER_OUTBOUND_ALLOW leaves out (core.outbound).
    Without `settings`, the process's own."""
    outbound.check_url(url, (settings or get_settings()).outbound_allow)


def validate_env_name(name: str, field: str) -> str:
    """An environment variable's name; refuses what looks like the secret itself, and
    Planner's own settings (an agent must never be handed the webhook secret)."""
    text = name.strip()
    if text and not ENV_NAME.match(text):
        secret = "token" if field == "auth_env" else "key"
        raise ValidationError(
            f"Give the name of the environment variable that holds the {secret} (like "
            f"{ENV_EXAMPLES[field]}), not the {secret} itself.",
            field,
        )
    if text and is_own_variable(text):
        raise ValidationError(
            f"{text} is one of Planner's own settings; name the variable that holds this "
            "target's key instead.",
            field,
        )
    return text


def _limit_refusal(value: object, hint: str = "") -> ValidationError:
    return ValidationError(
        "The limit on calls at once (max concurrency) must be a whole number from 1 to "
        f"{MOST_CALLS_AT_ONCE}{hint}, not {value!r}.",
        "max_concurrency",
    )


def validate_max_concurrency(value: object) -> int | None:
    """A target's limit on calls open at once: None (no limit of its own) or a whole
    number from 1 to MOST_CALLS_AT_ONCE."""
    whole = isinstance(value, int) and not isinstance(value, bool)
    if value is None or (whole and 1 <= value <= MOST_CALLS_AT_ONCE):
        return value
    raise _limit_refusal(value)


def max_concurrency_from_text(text: str) -> int | None:
    """The limit as typed in a form or on a command line: a whole number; empty, or
    "none", for no limit."""
    typed = text.strip()
    if typed.lower() in ("", NO_LIMIT):
        return None
    try:
        number = int(typed)
    except ValueError:
        raise _limit_refusal(text, f" (empty or {NO_LIMIT} for no limit)") from None
    return validate_max_concurrency(number)


def limit_in_words(max_concurrency: int | None) -> str:
    """ "at most 2 calls at once", or "no limit on calls at once"."""
    if max_concurrency is None:
        return "no limit on calls at once"
    return f"at most {max_concurrency} call{'s' if max_concurrency != 1 else ''} at once"


def save_agent(
    session: Session,
    name: str,
    backend: str,
    base_url: str,
    model: str = "",
    system_prompt: str = "",
    api_key_env: str = "",
    existing: Agent | None = None,
    api_key_secret: str | None = None,
    max_concurrency: int | None = None,
    settings: Settings | None = None,
) -> Agent:
    """Add an agent, or change `existing`; the same rules either way. Every field is saved
    as given — `max_concurrency` too: None is no limit, also on a change (a caller that
    keeps the limit passes the current one). Only `api_key_secret`, a key sealed by
    credentials.seal that is never shown again, keeps the stored one when None. The
    address must be one Planner may call under `settings` (else the process's own)."""
    name = clean_name(name, "agent")
    limit = validate_max_concurrency(max_concurrency)
    if backend not in Backend.__members__:
        raise ValidationError(f"Backend must be 'openai' or 'http', not {backend!r}.", "backend")
    if backend == Backend.openai and not model.strip():
        raise ValidationError("An openai agent needs a model name, such as gpt-4o-mini.", "model")
    url, key_env = validate_url(base_url), validate_env_name(api_key_env, "api_key_env")
    check_target_url(url, settings)
    ensure_unique_name(session, Agent, name, own_id=existing.id if existing else None)
    agent = existing or Agent(name=name, backend=backend, base_url=url)
    agent.name, agent.backend, agent.base_url = name, Backend(backend), url
    model = storable_text(model.strip(), "model", "model name")
    system_prompt = storable_text(system_prompt, "system_prompt", "system prompt")
    agent.model, agent.system_prompt, agent.api_key_env = model, system_prompt, key_env
    agent.max_concurrency = limit
    if api_key_secret is not None:
        agent.api_key_secret = api_key_secret
    session.add(agent)
    session.commit()
    return agent


def save_workflow(
    session: Session,
    name: str,
    url: str,
    auth_env: str = "",
    existing: Workflow | None = None,
    auth_secret: str | None = None,
    max_concurrency: int | None = None,
    settings: Settings | None = None,
) -> Workflow:
    """Add a workflow, or change `existing`; `auth_secret`, `max_concurrency` and
    `settings` as for save_agent."""
    name = clean_name(name, "workflow")
    limit = validate_max_concurrency(max_concurrency)
    url, token_env = validate_url(url), validate_env_name(auth_env, "auth_env")
    check_target_url(url, settings)
    ensure_unique_name(session, Workflow, name, own_id=existing.id if existing else None)
    workflow = existing or Workflow(name=name, url=url)
    workflow.name, workflow.url, workflow.auth_env = name, url, token_env
    workflow.max_concurrency = limit
    if auth_secret is not None:
        workflow.auth_secret = auth_secret
    session.add(workflow)
    session.commit()
    return workflow


def list_all(session: Session, model: type[Target]) -> list[Target]:
    return list(session.exec(select(model).order_by(model.name)))


def _filed_under(session: Session, agent: Agent) -> tuple[list[str], list[Automation]]:
    """The jobs and triggers under `agent`: those that chat with it (in words, "job 'X'"),
    and those that run a workflow and so never call it — it only files them."""
    chatting: list[str] = []
    filed: list[Automation] = []
    for model in AUTOMATION_MODELS:
        for automation in session.exec(
            select(model).where(model.agent_id == agent.id).order_by(model.name)
        ):
            if automation.action == ActionKind.workflow:
                filed.append(automation)
            else:
                chatting.append(f"{AUTOMATION_WORDS[model]} {automation.name!r}")
    return chatting, filed


def _heir(session: Session, agent: Agent) -> Agent | None:
    """Where an agent's workflow jobs and triggers go when it is removed: the first other
    agent by name. Every job and trigger is shown under an agent (the Planner page), so
    they need one; which one changes nothing about what they do."""
    return session.exec(select(Agent).where(Agent.id != agent.id).order_by(Agent.name)).first()


def _names(automations: list[Automation]) -> str:
    """ "trigger 'A'", "trigger 'A' and job 'B'", "trigger 'A', job 'B' and job 'C'"."""
    names = [f"{AUTOMATION_WORDS[type(a)]} {a.name!r}" for a in automations]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def removable(session: Session, model: type[Target], ref: str | int) -> Target:
    """The agent or workflow, if nothing really uses it; else say what does (asked before
    "are you sure?", so nobody confirms a removal that cannot happen).

    An agent is used by the jobs and triggers that chat with it. One that runs a workflow
    is only filed under its agent — it never calls it — so it does not hold the agent: it
    moves to another agent (removal_in_words says which). Only when there is no other
    agent to move it to is the removal refused, with that reason."""
    target = find(session, model, ref)
    what = model.__name__.lower()
    if isinstance(target, Agent):
        users, filed = _filed_under(session, target)
    else:
        users, filed = users_of(session, workflow=target), []
    if users:
        raise ValidationError(
            f"{what.title()} {target.name!r} is used by {', '.join(users)}; "
            "change or delete them first.",
            what,
        )
    if filed and isinstance(target, Agent) and _heir(session, target) is None:
        one = len(filed) == 1
        it, they_are, run = ("it", "it is", "it runs a workflow") if one else (
            "them", "they are", "they run workflows"
        )  # fmt: skip
        raise ValidationError(
            f"Agent {target.name!r} is used by {_names(filed)} only as the agent {they_are} "
            f"shown under ({run}), and there is no other agent to move {it} to. Add "
            f"another agent, or delete {it} first.",
            what,
        )
    return target


@dataclass(frozen=True)
class Moves:
    """The workflow jobs and triggers filed under an agent, and the agent they move to
    when it is removed (see `removable`); none for a workflow, or an agent without any.
    `tokens`: the names of the API tokens made for the agent alone, which go with it (the
    database removes them with the agent)."""

    filed: list[Automation]
    heir: Agent | None
    tokens: tuple[str, ...] = ()

    def in_words(self) -> str:
        """ "Trigger 'Analyze' runs a workflow, not this agent: it moves to agent
        'Helper'.", then "Its API token 'n8n' is removed with it."; "" when neither."""
        said = [self._tokens_in_words()] if self.tokens else []
        if not self.filed or self.heir is None:
            return " ".join(said)
        one = len(self.filed) == 1
        names = _names(self.filed)
        moved = (
            f"{names[0].upper()}{names[1:]} {'runs a workflow' if one else 'run workflows'}, "
            f"not this agent: {'it moves' if one else 'they move'} to agent {self.heir.name!r}."
        )
        return " ".join([moved, *said])

    def _tokens_in_words(self) -> str:
        quoted = [repr(name) for name in self.tokens]
        if len(quoted) == 1:
            return f"Its API token {quoted[0]} is removed with it."
        return f"Its API tokens {', '.join(quoted[:-1])} and {quoted[-1]} are removed with it."

    def as_json(self) -> dict[str, Any] | None:
        """What moved and where, as the API answers a removal; None when nothing did."""
        if not self.filed or self.heir is None:
            return None
        return {
            "moved": [
                {"kind": AUTOMATION_WORDS[type(a)], "id": a.id, "name": a.name} for a in self.filed
            ],
            "to_agent": {"id": self.heir.id, "name": self.heir.name},
            "message": self.in_words(),
        }


def _moves(session: Session, target: Agent | Workflow) -> Moves:
    if not isinstance(target, Agent):
        return Moves([], None)
    own_tokens = select(ApiToken.name).where(ApiToken.agent_id == target.id)
    names = tuple(session.exec(own_tokens.order_by(ApiToken.name)))
    return Moves(_filed_under(session, target)[1], _heir(session, target), names)


def removal_in_words(session: Session, model: type[Target], ref: str | int) -> str:
    """What else a removal changes, for "are you sure?": "" when nothing; for an agent
    with workflow jobs or triggers filed under it, where they move (see `removable`)."""
    return _moves(session, find(session, model, ref)).in_words()


def remove_target(session: Session, model: type[Target], ref: str | int) -> Moves:
    """Remove an agent or workflow that nothing really uses, else say what does (see
    `removable`); returns what else changed: the jobs and triggers that moved, and where."""
    target = removable(session, model, ref)
    moves = _moves(session, target)
    if moves.heir is not None:  # removable: there is one when any are filed
        for automation in moves.filed:
            automation.agent_id = moves.heir.id
            session.add(automation)
        session.flush()  # moved before the agent goes: its foreign key restricts deletes
    session.delete(target)
    session.commit()
    return moves


def remove_agent(session: Session, ref: str | int) -> str:
    """Remove an agent; what else changed, in words (Moves.in_words)."""
    return remove_target(session, Agent, ref).in_words()


def remove_workflow(session: Session, ref: str | int) -> str:
    return remove_target(session, Workflow, ref).in_words()


def set_key(
    session: Session, settings: Settings, model: type[Target], ref: str | int, key: str
) -> Target:
    """Store a pasted key for an agent or workflow (encrypted), replacing the one before;
    an empty `key` removes the stored one."""
    target = find(session, model, ref)
    sealed = seal(settings, key, "key") if key else ""
    setattr(target, sealed_column(model), sealed)
    session.add(target)
    session.commit()
    return target


def row_json(row: Agent | Workflow) -> dict[str, Any]:
    """The row as JSON, its stored key replaced by where the key comes from."""
    return row.model_dump(mode="json", exclude={sealed_column(type(row))}) | {
        "key": key_in_words(row)
    }
