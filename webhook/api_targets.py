"""The API's agents and workflows: the same five endpoints over either table, for tokens
that reach every agent (core.access.scopes); each the core function the CLI calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import col, select

from core.access import credentials
from core.agents import registry
from core.automations.shared import find
from core.errors import ValidationError
from core.store.models import Agent, Workflow
from webhook import api_models as models
from webhook.api_calls import Call, Endpoint, InUse, page


def _kept(body: models.Body, existing: Any, defaults: dict[str, Any]) -> dict[str, Any]:
    """An agent's or workflow's fields: as given; left out, as they are (a change) or
    their default (a new one)."""
    values = {}
    for key in type(body).model_fields:
        if key in body.model_fields_set:
            values[key] = getattr(body, key)
        elif existing is not None:
            column = "base_url" if key == "url" and isinstance(existing, Agent) else key
            values[key] = getattr(existing, column, None)
        else:
            values[key] = defaults.get(key)
    return values


def _sealed(call: Call, key: str | None, field: str) -> str | None:
    """A key given to store (encrypted), "" to remove the stored one, None to keep it."""
    if key is None:
        return None
    return credentials.seal(call.settings, key, field) if key.strip() else ""


def save_agent(call: Call) -> Any:
    """Add an agent (no name in the path) or change the one named."""
    existing = find(call.session, Agent, call.ref) if call.ref else None
    defaults = {"backend": "openai", "model": "", "system_prompt": "", "api_key_env": ""}
    given = _kept(call.body, existing, defaults)
    agent = registry.save_agent(
        call.session, given["name"], given["backend"], given["url"], given["model"],
        given["system_prompt"], given["api_key_env"], existing,
        api_key_secret=_sealed(call, call.body.api_key, "api_key"),
        max_concurrency=given["max_concurrency"],
    )  # fmt: skip
    return registry.row_json(agent)


def save_workflow(call: Call) -> Any:
    """Add a workflow (no name in the path) or change the one named."""
    existing = find(call.session, Workflow, call.ref) if call.ref else None
    given = _kept(call.body, existing, {"auth_env": ""})
    workflow = registry.save_workflow(
        call.session, given["name"], given["url"], given["auth_env"], existing,
        auth_secret=_sealed(call, call.body.token, "token"),
        max_concurrency=given["max_concurrency"],
    )  # fmt: skip
    return registry.row_json(workflow)


def target_endpoints(
    model: type[Agent] | type[Workflow], save: Callable[[Call], Any],
    bodies: tuple[type[models.Body], type[models.Body]],
) -> list[Endpoint]:  # fmt: skip
    """Agents' and workflows' endpoints: the same five over either table."""
    what = model.__name__.lower()
    plural, article = f"/{what}s", "an" if what[0] in "aeiou" else "a"

    def listing(call: Call) -> Any:
        return page(call, select(model), [col(model.id)], registry.row_json)

    def one(call: Call) -> Any:
        return registry.row_json(find(call.session, model, call.ref))

    def remove(call: Call) -> dict[str, Any] | None:
        """204, or (an agent) what moved to another agent and where (core.agents.registry)."""
        try:
            return registry.remove_target(call.session, model, call.ref).as_json()
        except ValidationError as refused:
            # core refuses a removal (past `find`'s 404) only for what still uses it
            raise InUse(str(refused), refused.field) from None

    answer = models.Agent if model is Agent else models.Workflow
    removed: dict[str, Any] = (
        {"status": 200, "answer": models.AgentRemoval, "empty": "Removed; nothing moved"}
        if model is Agent
        else {"status": 204}
    )
    return [
        Endpoint("GET", plural, f"List {what}s", listing, answer=answer, listing=True,
                 one_agent=False),
        Endpoint("POST", plural, f"Add {article} {what}", save, bodies[0], 201, answer,
                 one_agent=False),
        Endpoint("GET", plural + "/{ref}", f"{article.title()} {what}", one, answer=answer,
                 one_agent=False),
        Endpoint("PATCH", plural + "/{ref}", f"Change {article} {what}", save, bodies[1],
                 answer=answer, one_agent=False),
        Endpoint("DELETE", plural + "/{ref}", f"Remove {article} {what} nothing uses", remove,
                 refusals=(409,), **removed, one_agent=False),
    ]  # fmt: skip
