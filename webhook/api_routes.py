"""The API's endpoints (ENDPOINTS): jobs, triggers, runs and events here, agents and
workflows in api_targets; each the core function the CLI calls for the same command, with
the same JSON as its `--json` (webhook.api serves them over HTTP). Each reaches only what
its token's scope does (core.access.scopes): a job, trigger or run is found through it
first, then handed to core by its id."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

from sqlmodel import col, select

from core.access.scopes import Owned
from core.automations import jobs, text, triggers
from core.automations.fields import UNCHANGED, Unchanged
from core.automations.shared import AUTOMATION_WORDS
from core.errors import ValidationError
from core.events import inbox
from core.running import runs
from core.scheduling.timing import moment_from_text
from core.store.models import Agent, EventTrigger, Run, ScheduledJob, WebhookEvent, Workflow
from core.views import events
from webhook import api_models as models
from webhook.api_calls import Call, Endpoint, page
from webhook.api_targets import save_agent, save_workflow, target_endpoints


def _owned(call: Call, model: type[ScheduledJob] | type[EventTrigger]) -> dict[str, Any]:
    """A page of the jobs or triggers the token reaches, only one agent's with ?agent=."""
    query = call.scope.only_own(select(model), model)
    if "agent" in call.query:
        agent = call.scope.agent(call.session, call.query["agent"])
        query = query.where(model.agent_id == agent.id)
    shown = jobs.job_json if model is ScheduledJob else triggers.trigger_json
    return page(call, query, [col(model.id)], shown)


def _read(
    body: models.Body, key: str, reader: Callable[[Any], Any] | None = None, null: Any = None
) -> Any:
    """A body's field as core takes it: UNCHANGED when left out, `null` when null, else
    as pydantic gave it, or read by `reader` where the API takes text ("5m", a day)."""
    if key not in body.model_fields_set:
        return UNCHANGED
    value = getattr(body, key)
    if value is None:
        return null
    return value if reader is None else reader(value)


def _agent(call: Call) -> int | str | Unchanged:
    """The agent a body names, as core takes it; for a token made for one agent, its own
    (named, or left out), and any other is not there (core.access.scopes.Scope.agent)."""
    given = _read(call.body, "agent")
    if call.scope.whole:
        return given
    return call.scope.agent(call.session, None if given is UNCHANGED else given).id


def _action_fields(call: Call) -> dict[str, Any]:
    """A body's agent, action, retries, timeout, overlap and who is told, as a job's or
    trigger's fields; `null` policies go back to Planner's."""
    body: models.Owned = call.body
    config = body.config or models.ActionConfig()
    if body.action == "chat" and body.config is not None and config.template is None:
        raise ValidationError("A chat needs its message: config.template.", "config.template")
    if body.action == "workflow" and body.config is not None and config.workflow is None:
        raise ValidationError("A workflow action needs config.workflow.", "config.workflow")
    return {
        "agent": _agent(call), "chat": _read(config, "template"),
        "thread": _read(config, "thread"), "workflow": _read(config, "workflow"),
        "input": _read(config, "input"), "retries": _read(body, "retries"),
        "timeout": _read(body, "timeout", text.timeout),
        "overlap": _read(body, "overlap", text.overlap),
        "notify": _read(body, "notify"), "notify_on": _read(body, "notify_on"),
    }  # fmt: skip


def _job_fields(call: Call) -> jobs.JobFields:
    body: models.JobChange = call.body
    return jobs.JobFields(
        name=_read(body, "name"), schedule=_read(body, "schedule"),
        at=_read(body, "at", moment_from_text), timezone=_read(body, "timezone"),
        misfire=_read(body, "misfire_policy", text.misfire),
        starts_on=_read(body, "starts_on", partial(text.day, field="starts_on")),
        ends_on=_read(body, "ends_on", partial(text.day, field="ends_on")),
        jitter=_read(body, "jitter", text.delay, timedelta(0)), **_action_fields(call),
    )  # fmt: skip


def _trigger_fields(call: Call) -> triggers.TriggerFields:
    body: models.TriggerChange = call.body
    return triggers.TriggerFields(
        name=_read(body, "name"), event=_read(body, "event"), filters=_read(body, "filters"),
        user_id=_read(body, "user_id"), **_action_fields(call),
    )  # fmt: skip


# Jobs


def list_jobs(call: Call) -> Any:
    return _owned(call, ScheduledJob)


def create_job(call: Call) -> Any:
    fields = _job_fields(call)
    job = jobs.create_job(
        call.session, call.body.name, fields, call.now, call.settings.timezone, call.queue
    )
    return jobs.job_json(job)


def get_job(call: Call) -> Any:
    return jobs.job_json(call.own(ScheduledJob))


def update_job(call: Call) -> Any:
    job = call.own(ScheduledJob).id
    fields = _job_fields(call)
    return jobs.job_json(jobs.update_job(call.session, job, fields, call.now, call.queue))


def delete_job(call: Call) -> None:
    jobs.delete_job(call.session, call.own(ScheduledJob).id)


def run_job(call: Call) -> Any:
    job = call.own(ScheduledJob).id
    return runs.run_json(jobs.run_job_now(call.session, job, call.queue, call.now))


def pause_job(call: Call) -> Any:
    return jobs.job_json(jobs.pause_job(call.session, call.own(ScheduledJob).id, call.now))


def resume_job(call: Call) -> Any:
    job = call.own(ScheduledJob).id
    return jobs.job_json(jobs.resume_job(call.session, job, call.now, call.queue))


# Triggers


def list_triggers(call: Call) -> Any:
    return _owned(call, EventTrigger)


def create_trigger(call: Call) -> Any:
    fields = _trigger_fields(call)
    trigger = triggers.create_trigger(call.session, call.body.name, fields, call.settings, call.now)
    return triggers.trigger_json(trigger)


def get_trigger(call: Call) -> Any:
    return triggers.trigger_json(call.own(EventTrigger))


def update_trigger(call: Call) -> Any:
    found = call.own(EventTrigger).id
    fields = _trigger_fields(call)
    trigger = triggers.update_trigger(call.session, found, fields, call.settings, call.now)
    return triggers.trigger_json(trigger)


def delete_trigger(call: Call) -> None:
    triggers.delete_trigger(call.session, call.own(EventTrigger).id, call.settings)


def test_trigger(call: Call) -> Any:
    found = call.own(EventTrigger).id
    given = call.body.payload if call.body is not None else None
    payload = None if given is None else inbox.checked_payload(given)
    run = inbox.fire_test_event(call.session, call.settings, found, call.queue, call.now, payload)
    return runs.run_json(run)


def pause_trigger(call: Call) -> Any:
    found = call.own(EventTrigger).id
    trigger = triggers.pause_trigger(call.session, found, call.settings, call.now)
    return triggers.trigger_json(trigger)


def resume_trigger(call: Call) -> Any:
    found = call.own(EventTrigger).id
    trigger = triggers.resume_trigger(call.session, found, call.settings, call.now)
    return triggers.trigger_json(trigger)


# Runs and events


def _filter(call: Call, model: type[Owned]) -> int | None:
    """The id of the job or trigger a list of runs is kept to (?job=, ?trigger=), if the
    token reaches it; else it is not there."""
    what = AUTOMATION_WORDS[model]
    if what not in call.query:
        return None
    return call.scope.find(call.session, model, call.query[what], what).id


def list_runs(call: Call) -> Any:
    job, trigger = _filter(call, ScheduledJob), _filter(call, EventTrigger)
    query = runs.runs_query(call.session, job, trigger, call.query.get("status"))
    query = call.scope.only_own_runs(query)
    return page(call, query, [col(Run.id)], runs.run_json, newest_first=True)


def get_run(call: Call) -> Any:
    return runs.run_json(call.scope.run(call.session, call.ref))


def retry_run(call: Call) -> Any:
    return runs.run_json(runs.retry_run(call.session, call.own_run(), call.queue, call.now))


def cancel_run(call: Call) -> Any:
    return runs.run_json(runs.cancel_run(call.session, call.own_run(), call.now))


def list_events(call: Call) -> Any:
    query = events.events_query(call.query.get("status"))
    order = [col(WebhookEvent.received_at), col(WebhookEvent.id)]

    def shown(event: WebhookEvent) -> dict[str, Any]:
        return events.event_json(call.session, event)

    return page(call, query, order, shown, newest_first=True)


def get_event(call: Call) -> Any:
    return events.event_json(call.session, inbox.find_event(call.session, call.ref))


JOB, TRIGGER, RUN, EVENT = models.Job, models.Trigger, models.Run, models.Event
COMPOSIO = (502,)  # a trigger's change reaches Composio, which may refuse it
ENDPOINTS = [
    Endpoint("GET", "/jobs", "List jobs (?agent= for one agent's)", list_jobs, answer=JOB,
             listing=True, filters=("agent",)),
    Endpoint("POST", "/jobs", "Add a job", create_job, models.JobCreate, 201, JOB),
    Endpoint("GET", "/jobs/{ref}", "A job", get_job, answer=JOB),
    Endpoint("PATCH", "/jobs/{ref}", "Change a job", update_job, models.JobChange, answer=JOB),
    Endpoint("DELETE", "/jobs/{ref}", "Delete a job and its runs", delete_job, status=204),
    Endpoint("POST", "/jobs/{ref}/run", "Run a job now", run_job, status=202, answer=RUN),
    Endpoint("POST", "/jobs/{ref}/pause", "Pause a job", pause_job, answer=JOB),
    Endpoint("POST", "/jobs/{ref}/resume", "Resume a job", resume_job, answer=JOB),
    Endpoint("GET", "/triggers", "List triggers (?agent= for one agent's)", list_triggers,
             answer=TRIGGER, listing=True, filters=("agent",)),
    Endpoint("POST", "/triggers", "Add a trigger", create_trigger, models.TriggerCreate, 201,
             TRIGGER, refusals=COMPOSIO),
    Endpoint("GET", "/triggers/{ref}", "A trigger", get_trigger, answer=TRIGGER),
    Endpoint("PATCH", "/triggers/{ref}", "Change a trigger", update_trigger, models.TriggerChange,
             answer=TRIGGER, refusals=COMPOSIO),
    Endpoint("DELETE", "/triggers/{ref}", "Delete a trigger and its runs", delete_trigger,
             status=204, refusals=COMPOSIO),
    Endpoint("POST", "/triggers/{ref}/test", "Send a test event", test_trigger, models.TestEvent,
             202, RUN),
    Endpoint("POST", "/triggers/{ref}/pause", "Pause a trigger", pause_trigger, answer=TRIGGER,
             refusals=COMPOSIO),
    Endpoint("POST", "/triggers/{ref}/resume", "Resume a trigger", resume_trigger,
             answer=TRIGGER, refusals=COMPOSIO),
    *target_endpoints(Agent, save_agent, (models.AgentCreate, models.AgentChange)),
    *target_endpoints(Workflow, save_workflow, (models.WorkflowCreate, models.WorkflowChange)),
    Endpoint("GET", "/runs", "List runs, newest first (?job=, ?trigger=, ?status=)", list_runs,
             answer=RUN, listing=True, filters=("job", "trigger", "status")),
    Endpoint("GET", "/runs/{ref}", "A run", get_run, answer=RUN),
    Endpoint("POST", "/runs/{ref}/retry", "Try a failed or cancelled run again", retry_run,
             answer=RUN),
    Endpoint("POST", "/runs/{ref}/cancel", "Cancel a waiting or running run", cancel_run,
             answer=RUN),
    Endpoint("GET", "/events", "List inbox events, newest first (?status=)", list_events,
             answer=EVENT, listing=True, filters=("status",), one_agent=False),
    Endpoint("GET", "/events/{ref}", "An inbox event", get_event, answer=EVENT,
             one_agent=False),
]  # fmt: skip
