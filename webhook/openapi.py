"""The API's OpenAPI 3.1 document, made from its endpoints and the pydantic models their
handlers validate bodies with, so what it says is what the API takes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from webhook.api_models import BODIES
from webhook.api_routes import Endpoint

SCHEMAS = "#/components/schemas/{model}"
ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {"message": {"type": "string"}, "field": {"type": ["string", "null"]}},
            "required": ["message", "field"],
        }
    },
    "required": ["error"],
}
REFUSALS = {
    "400": "Bad input; `field` names what is wrong",
    "401": "No API token, or not a known one",
    "404": "Nothing by that name or id",
    "429": "Too many requests with this token; see Retry-After",
}
BODY_REFUSALS = {
    "409": "A name in use",
    "413": "A body over 1 MiB",
    "415": "A body that is not JSON",
}
PATH_PARAMETER = re.compile(r"\{(\w+)\}")
LIST_PARAMETERS = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
    {"name": "cursor", "in": "query", "schema": {"type": "string"},
     "description": "the next_cursor of the page before"},
]  # fmt: skip


def _schemas() -> dict[str, Any]:
    found: dict[str, Any] = {"Error": ERROR}
    for model in BODIES:
        schema = model.model_json_schema(ref_template=SCHEMAS)
        found.update(schema.pop("$defs", {}))
        found[model.__name__] = schema
    return found


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    refused = {"application/json": {"schema": {"$ref": SCHEMAS.format(model="Error")}}}
    answers: dict[str, Any] = {
        str(endpoint.status): {"description": "Done" if endpoint.status != 204 else "Deleted"}
    }
    refusals = REFUSALS | (BODY_REFUSALS if endpoint.body is not None else {})
    for status, words in refusals.items():
        answers[status] = {"description": words, "content": refused}
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "operationId": f"{endpoint.method.lower()}_{endpoint.path.strip('/').replace('/', '_')}"
        .replace("{", "").replace("}", ""),
        "responses": answers,
        "security": [{"bearer": []}],
    }  # fmt: skip
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"},
         "description": "a name or an id"}
        for name in PATH_PARAMETER.findall(endpoint.path)
    ]  # fmt: skip
    if endpoint.method == "GET" and "{" not in endpoint.path:
        parameters += LIST_PARAMETERS
        parameters += [
            {"name": name, "in": "query", "schema": {"type": "string"},
             "description": "only these: a name or an id (a status for status)"}
            for name in endpoint.filters
        ]  # fmt: skip
    if parameters:
        operation["parameters"] = parameters
    if endpoint.body is not None:
        schema = {"$ref": SCHEMAS.format(model=endpoint.body.__name__)}
        operation["requestBody"] = {
            "required": endpoint.status == 201,
            "content": {"application/json": {"schema": schema}},
        }
    return operation


def document(endpoints: Sequence[Endpoint], prefix: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(prefix + endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Planner", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
