"""What a run sends: the action of its job or trigger, with the input filled in.

The input is fixed at the first attempt and stored on the run, so retries send exactly
what the first attempt sent.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.access.credentials import MissingCredential, token_for
from core.access.secrets import SecretKeyError
from core.automations.policies import timeout_of
from core.automations.shared import AUTOMATION_WORDS, automation_column, runs_of_agent
from core.automations.templates import default_variables, render
from core.automations.workflow_input import rendered
from core.config import Settings
from core.events.catalog import event_variables
from core.running.executor import Action, ChatAction, RunResult, WorkflowAction
from core.store.models import (
    ActionKind,
    Agent,
    Automation,
    Run,
    RunStatus,
    ScheduledJob,
    WebhookEvent,
    Workflow,
    iso,
)

THREAD_HISTORY = 20


def _source(run: Run, automation: Automation) -> dict[str, Any]:
    """Where the run comes from, for the target: keys, never database ids (those are
    handed out again after a delete)."""
    if isinstance(automation, ScheduledJob):
        return {
            "type": str(run.source),
            "jobId": automation.key,
            "jobName": automation.name,
            "runId": run.key,
            "scheduledFor": iso(run.scheduled_for),
        }
    return {
        "type": str(run.source),
        "triggerId": automation.key,
        "triggerName": automation.name,
        "runId": run.key,
        "event": automation.event,
        "eventId": run.event_id,
    }


def thread_id(run: Run, automation: Automation) -> str:
    """The conversation a chat run is part of, as its agent is told (`threadId`): a
    continuing chat's own, or the one it was scheduled back into (`conversation`, see
    core.automations.followups); else a conversation of the run alone."""
    if automation.config.get("thread") != "continue":
        return f"run-{run.key}"
    own = f"{AUTOMATION_WORDS[type(automation)]}-{automation.key}"
    return automation.config.get("conversation") or own


def _in_conversation(conversation: str, agent_id: int) -> Any:
    """The runs of a conversation with the agent, by its thread id: the run, or the
    continuing job's or trigger's runs, it is named after, and those of every job or
    trigger scheduled back into it (a chain of follow-ups too) — the agent's own only, so
    no id ever brings another agent's exchanges."""
    named: list[Any] = []
    kind, _, key = conversation.partition("-")
    if kind == "run":
        named.append(col(Run.key) == key)
    for model, word in AUTOMATION_WORDS.items():
        own = select(model.id).where(model.agent_id == agent_id)
        if kind == word:
            named.append(automation_column(model).in_(own.where(model.key == key)))
        following = own.where(model.config["conversation"].as_string() == conversation)
        named.append(automation_column(model).in_(following))
    return sa.and_(runs_of_agent(agent_id), sa.or_(*named))


def _thread(session: Session, run: Run, automation: Automation) -> list[dict[str, str]]:
    """The conversation's earlier exchanges, oldest first: the automation's succeeded chat
    runs, and those of the conversation it was scheduled back into."""
    held = automation_column(type(automation)) == automation.id
    conversation = automation.config.get("conversation")
    if conversation:
        held = sa.or_(held, _in_conversation(conversation, automation.agent_id))
    earlier = session.exec(
        select(Run)
        .where(held, Run.status == RunStatus.succeeded, col(Run.id) < run.id)
        .order_by(col(Run.id).desc())
        .limit(THREAD_HISTORY)
    ).all()
    messages = []
    for previous in reversed(earlier):
        messages.append({"role": "user", "content": str(previous.input)})
        messages.append({"role": "assistant", "content": str(previous.output)})
    return messages


def _event_data(session: Session, run: Run) -> tuple[str | None, dict[str, Any]]:
    event = session.get(WebhookEvent, run.event_id) if run.event_id else None
    if event is None:
        return None, {}
    return event.trigger_slug, event.payload.get("data") or {}


def _variables(
    session: Session, run: Run, automation: Automation, agent: Agent, timezone: str
) -> dict[str, Any]:
    moment = run.scheduled_for or run.due_at
    zone_name = automation.timezone if isinstance(automation, ScheduledJob) else timezone
    defaults = default_variables(moment, zone_name, automation.name, agent.name, run.key)
    slug, data = _event_data(session, run)
    return {**event_variables(slug, data), **defaults} if slug or data else defaults


def _workflow_input(session: Session, run: Run, automation: Automation, timezone: str) -> Any:
    """The workflow's input: its template rendered with the run's variables; without a
    template, what it was before templates: a job's {}, a trigger's event data."""
    template = automation.config.get("input") or {}
    if not template:
        return {} if isinstance(automation, ScheduledJob) else _event_data(session, run)[1]
    agent = session.get(Agent, automation.agent_id)
    return rendered(template, _variables(session, run, automation, agent, timezone))


def build_action(
    session: Session, run: Run, automation: Automation, settings: Settings
) -> Action | RunResult:
    """The action for one run of `automation`; sets `run.input` on the first attempt.

    The settings' timezone is used for a trigger's date and time variables (jobs have
    their own); a target's key that cannot be found or opened fails the run, in words.
    """
    try:
        return _action(session, run, automation, settings)
    except (MissingCredential, SecretKeyError) as error:
        return RunResult(succeeded=False, error=str(error))


def _action(
    session: Session, run: Run, automation: Automation, settings: Settings
) -> Action | RunResult:
    if automation.action == ActionKind.workflow:
        workflow = session.get(Workflow, automation.config.get("workflow_id"))
        if workflow is None:
            return RunResult(succeeded=False, error="The workflow no longer exists.")
        if run.input is None:
            run.input = {
                "input": _workflow_input(session, run, automation, settings.timezone),
                "source": _source(run, automation),
            }
        return WorkflowAction(
            workflow=workflow, body=run.input, token=token_for(workflow, settings),
            timeout=timeout_of(automation, settings),
        )  # fmt: skip
    agent = session.get(Agent, automation.agent_id)
    if run.input is None:
        variables = _variables(session, run, automation, agent, settings.timezone)
        run.input = render(automation.config["template"], variables)
    continues = automation.config.get("thread") == "continue"
    history = _thread(session, run, automation) if continues else []
    return ChatAction(
        agent=agent,
        messages=[*history, {"role": "user", "content": run.input}],
        thread_id=thread_id(run, automation),
        source=_source(run, automation),
        token=token_for(agent, settings),
        timeout=timeout_of(automation, settings),
    )
