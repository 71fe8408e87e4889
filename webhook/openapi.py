"""The API's OpenAPI 3.1 document, made from its endpoints and the pydantic models their
handlers validate bodies with and describe answers with, so what it says is what the API
takes and gives: each operation's 2xx with its schema, and each refusal it may answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from webhook.api_calls import Endpoint
from webhook.api_models import ANSWERS, BODIES, Answer, Body

SCHEMAS = "#/components/schemas/{model}"
ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "message": {"type": "string", "description": "one sentence, for a person"},
                "field": {"type": ["string", "null"], "description": "the field at fault"},
                "errors": {
                    "type": "array",
                    "description": "when a body has several faults: each, the first as above",
                    "items": {
                        "type": "object",
                        "properties": {
                            "message": {"type": "string"},
                            "field": {"type": ["string", "null"]},
                        },
                        "required": ["message", "field"],
                    },
                },
            },
            "required": ["message", "field"],
        }
    },
    "required": ["error"],
}
# What any operation may answer: its body and query are read before anything else.
REFUSALS = {
    "400": "Bad input; `field` names what is wrong (a field, a query parameter)",
    "401": "No API token, or not a known one",
    "413": "A body over 1 MiB",
    "415": "A body that is not JSON",
    "429": "Too many requests with this token; see Retry-After",
}
NOT_FOUND = "Nothing by that name or id (that this token reaches)"
DESCRIPTION = (
    "Planner's jobs, triggers, runs, agents, workflows and inbox events, as the `planner` "
    "command has them. Every request but this document's carries `Authorization: Bearer "
    "<token>` (Settings → API tokens, or `planner tokens create NAME`).\n\n"
    "A token made for one agent (`planner tokens create NAME --agent AGENT`, or *For* on "
    "Settings → API tokens) reaches only that agent's jobs, triggers and runs: another "
    "agent's are answered 404 exactly as ones that do not exist, the paths of agents, "
    "workflows and events answer it 404 as paths that are not there, and a job or trigger "
    "it adds belongs to its agent (`agent` may be left out)."
)
OWN_REFUSALS = {
    "409": "A name in use, or (a removal) something still uses it",
    "502": "Composio refused, or could not be reached",
}
HEADERS = {
    "401": {"WWW-Authenticate": "Bearer"},
    "429": {"Retry-After": "seconds to wait before trying again"},
}
# A cursor is base64url without padding (core.store.pages); only handed-out ones are taken.
CURSOR = {"type": "string", "minLength": 1, "pattern": "^[A-Za-z0-9_-]+$"}
NAME_OR_ID = {"type": "string", "minLength": 1}
RUN_ID = {"type": "string", "pattern": "^[0-9]+$"}
DONE = {200: "Done", 201: "Added", 202: "Saved: it runs soon", 204: "Done; nothing to show"}


def _closed_to_null(schema: dict[str, Any], nullable: frozenset[str]) -> dict[str, Any]:
    """A body's schema with null taken out of each field where the API refuses it
    (Body.NULLABLE names where null means something), and no default of null there."""
    for name, field in schema.get("properties", {}).items():
        if name in nullable:
            continue
        options = field.get("anyOf")
        if options is not None:
            kept = [option for option in options if option.get("type") != "null"]
            field.pop("anyOf")
            field.update(kept[0] if len(kept) == 1 else {"anyOf": kept})
        if field.get("default", ...) is None:
            field.pop("default")
    return schema


def _bodies() -> dict[str, Any]:
    """The request bodies and the models inside them, each closed to null where it is."""
    found: dict[str, Any] = {}
    models: dict[str, type[Body]] = {}
    for model in BODIES:
        schema = model.model_json_schema(ref_template=SCHEMAS)
        found.update(schema.pop("$defs", {}))
        found[model.__name__] = schema
        models[model.__name__] = model
        for field in model.model_fields.values():  # the bodies inside (ActionConfig)
            for inner in getattr(field.annotation, "__args__", (field.annotation,)):
                if isinstance(inner, type) and issubclass(inner, Body):
                    models[inner.__name__] = inner
    for name, schema in found.items():
        if name in models:
            _closed_to_null(schema, models[name].NULLABLE)
    return found


def _answers(listed: set[type[Answer]]) -> dict[str, Any]:
    """Each answer's schema, and a page of them for those a list gives (`listed`)."""
    found: dict[str, Any] = {}
    for model in ANSWERS:
        schema = model.model_json_schema(ref_template=SCHEMAS, mode="serialization")
        found.update(schema.pop("$defs", {}))
        found[model.__name__] = schema
        if model not in listed:
            continue
        found[f"{model.__name__}Page"] = {
            "type": "object",
            "description": f"A page of {model.__name__.lower()}s",
            "properties": {
                "items": {"type": "array", "items": {"$ref": SCHEMAS.format(model=model.__name__)}},
                "next_cursor": {
                    "anyOf": [CURSOR, {"type": "null"}],
                    "description": "?cursor= for the next page; null: this is the last",
                },
            },
            "required": ["items", "next_cursor"],
        }
    return found


def _ref(name: str) -> dict[str, str]:
    return {"$ref": SCHEMAS.format(model=name)}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _refusal(words: str, status: str) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": words, "content": _json(_ref("Error"))}
    if status in HEADERS:
        answer["headers"] = {
            name: {"required": True, "schema": {"type": "string"}, "description": words}
            for name, words in HEADERS[status].items()
        }
    return answer


def _success(endpoint: Endpoint) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": DONE[endpoint.status]}
    if endpoint.answer is not None:
        name = endpoint.answer.__name__ + ("Page" if endpoint.listing else "")
        answer["content"] = _json(_ref(name))
    return answer


def _names_something(endpoint: Endpoint) -> bool:
    """Whether it may answer 404: its path, a filter or its body names a row."""
    return (
        "{ref}" in endpoint.path
        or endpoint.body is not None
        or any(name != "status" for name in endpoint.filters)
    )


def _responses(endpoint: Endpoint) -> dict[str, Any]:
    statuses = dict(REFUSALS)
    if _names_something(endpoint):
        statuses["404"] = NOT_FOUND
    named = endpoint.body is not None and "name" in endpoint.body.model_fields
    for status in {str(s) for s in endpoint.refusals} | ({"409"} if named else set()):
        statuses[status] = OWN_REFUSALS[status]
    answers = {str(endpoint.status): _success(endpoint)}
    if endpoint.empty:
        answers["204"] = {"description": endpoint.empty}
    for status in sorted(statuses):
        answers[status] = _refusal(statuses[status], status)
    return answers


def _status_schema(endpoint: Endpoint) -> dict[str, Any]:
    """?status= takes the statuses its answers have (RunStatus, EventStatus)."""
    assert endpoint.answer is not None
    schema = endpoint.answer.model_json_schema(ref_template=SCHEMAS)
    return schema["properties"]["status"]


def _parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = []
    if "{ref}" in endpoint.path:
        is_run = endpoint.path.startswith("/runs/")
        parameters.append({
            "name": "ref", "in": "path", "required": True,
            "schema": RUN_ID if is_run else NAME_OR_ID,
            "description": "the run's id" if is_run else "a name or an id",
        })  # fmt: skip
    if endpoint.listing:
        parameters += [
            {"name": "limit", "in": "query",
             "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
            {"name": "cursor", "in": "query", "schema": CURSOR,
             "description": "the next_cursor of the page before"},
        ]  # fmt: skip
    for name in endpoint.filters:
        status = name == "status"
        parameters.append({
            "name": name, "in": "query",
            "schema": _status_schema(endpoint) if status else NAME_OR_ID,
            "description": "only those of this status" if status else f"only this {name}'s: "
            "a name or an id",
        })  # fmt: skip
    return parameters


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "operationId": f"{endpoint.method.lower()}_{endpoint.path.strip('/').replace('/', '_')}"
        .replace("{", "").replace("}", ""),
        "responses": _responses(endpoint),
        "security": [{"bearer": []}],
    }  # fmt: skip
    parameters = _parameters(endpoint)
    if parameters:
        operation["parameters"] = parameters
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": endpoint.status == 201,
            "content": _json(_ref(endpoint.body.__name__)),
        }
    return operation


def document(endpoints: Sequence[Endpoint], prefix: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    listed = {endpoint.answer for endpoint in endpoints if endpoint.listing and endpoint.answer}
    for endpoint in endpoints:
        paths.setdefault(prefix + endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Planner", "version": "1", "description": DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR, **_bodies(), **_answers(listed)},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
