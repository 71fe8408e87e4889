"""Agents and workflows: the targets jobs and triggers act on.

Secrets never enter the database: an agent or workflow stores only the *name* of the
environment variable that holds its key.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar
from urllib.parse import urlparse

from sqlmodel import Session, func, select

from core.errors import NotFoundError, ValidationError
from core.models import ActionKind, Agent, Backend, ScheduledJob, Workflow

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
Named = TypeVar("Named", Agent, Workflow, ScheduledJob)


def clean_name(name: str, what: str) -> str:
    text = " ".join(name.split())
    if not text:
        raise ValidationError(f"Give the {what} a name.", "name")
    if len(text) > 200:
        raise ValidationError(f"The {what} name is longer than 200 characters.", "name")
    return text


def validate_url(url: str, field: str = "url") -> str:
    text = url.strip()
    parts = urlparse(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationError(
            f"{url!r} is not a web address; use one starting with http:// or https://.", field
        )
    return text


def validate_env_name(name: str, field: str) -> str:
    """An environment variable's name; refuses what looks like the secret itself."""
    text = name.strip()
    if text and not ENV_NAME.match(text):
        raise ValidationError(
            f"{field} takes the name of an environment variable (like OPENAI_API_KEY), "
            "not the key itself.",
            field,
        )
    return text


def find(session: Session, model: type[Named], ref: str | int, what: str | None = None) -> Named:
    """A row of a named table by exact name, else by id."""
    text = str(ref).strip()
    found = session.exec(select(model).where(model.name == text)).first()
    if found is None and text.isdigit():
        found = session.get(model, int(text))
    if found is None:
        raise NotFoundError(f"There is no {what or model.__name__.lower()} named {text!r}.")
    return found


def ensure_unique_name(
    session: Session, model: type[Named], name: str, what: str | None = None,
    own_id: int | None = None,
) -> None:  # fmt: skip
    """Refuse a name another row of the table already has."""
    other = session.exec(select(model).where(model.name == name)).first()
    if other is not None and other.id != own_id:
        label = what or model.__name__.lower()
        raise ValidationError(f"A {label} named {name!r} already exists.", "name")


def save_agent(
    session: Session,
    name: str,
    backend: str,
    base_url: str,
    model: str = "",
    system_prompt: str = "",
    api_key_env: str = "",
    existing: Agent | None = None,
) -> Agent:
    """Add an agent, or change `existing`; the same rules either way."""
    name = clean_name(name, "agent")
    if backend not in Backend.__members__:
        raise ValidationError(f"Backend must be 'openai' or 'http', not {backend!r}.", "backend")
    if backend == Backend.openai and not model.strip():
        raise ValidationError("An openai agent needs a model name, such as gpt-4o-mini.", "model")
    url, key_env = validate_url(base_url), validate_env_name(api_key_env, "api_key_env")
    ensure_unique_name(session, Agent, name, own_id=existing.id if existing else None)
    agent = existing or Agent(name=name, backend=backend, base_url=url)
    agent.name, agent.backend, agent.base_url = name, Backend(backend), url
    agent.model, agent.system_prompt, agent.api_key_env = model.strip(), system_prompt, key_env
    session.add(agent)
    session.commit()
    return agent


def save_workflow(
    session: Session, name: str, url: str, auth_env: str = "", existing: Workflow | None = None
) -> Workflow:
    """Add a workflow, or change `existing`."""
    name = clean_name(name, "workflow")
    url, token_env = validate_url(url), validate_env_name(auth_env, "auth_env")
    ensure_unique_name(session, Workflow, name, own_id=existing.id if existing else None)
    workflow = existing or Workflow(name=name, url=url)
    workflow.name, workflow.url, workflow.auth_env = name, url, token_env
    session.add(workflow)
    session.commit()
    return workflow


def list_all(session: Session, model: type[Named]) -> list[Named]:
    return list(session.exec(select(model).order_by(model.name)))


def jobs_using_workflow(session: Session, workflow: Workflow) -> list[ScheduledJob]:
    jobs = session.exec(select(ScheduledJob).where(ScheduledJob.action == ActionKind.workflow))
    return [job for job in jobs if job.config.get("workflow_id") == workflow.id]


def remove_agent(session: Session, ref: str | int) -> None:
    agent = find(session, Agent, ref)
    count = session.exec(
        select(func.count()).select_from(ScheduledJob).where(ScheduledJob.agent_id == agent.id)
    ).one()
    if count:
        raise ValidationError(
            f"Agent {agent.name!r} has {count} job(s); delete them or move them first.", "agent"
        )
    session.delete(agent)
    session.commit()


def remove_workflow(session: Session, ref: str | int) -> None:
    workflow = find(session, Workflow, ref)
    users = jobs_using_workflow(session, workflow)
    if users:
        names = ", ".join(repr(job.name) for job in users)
        raise ValidationError(
            f"Workflow {workflow.name!r} is run by {names}; change or delete them first.",
            "workflow",
        )
    session.delete(workflow)
    session.commit()


def row_json(row: Agent | Workflow) -> dict[str, Any]:
    return row.model_dump(mode="json")
