"""The HTTP API keeps the contract its OpenAPI document states, through a real webhook
process: every answer has the schema its operation gives, null only where null is taken,
405 with Allow for a method a path does not have, 409 for removing what is in use, and
Schemathesis (every check, bounded) finds nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from core.store.models import EventStatus, RunStatus
from support.api import Api, serve
from webhook.api import SPEC
from webhook.api_models import BODIES
from webhook.api_routes import ENDPOINTS

HERE = Path(__file__).resolve().parent
PREFIX = "/api/v1"
SCHEMATHESIS_CONFIG = HERE / "api_contract.toml"
# Schemathesis's bounds: test cases per operation and phase, and the whole run's seconds
# (about 20 s on a loaded two-core machine; the limit is for a far slower one).
SCHEMATHESIS_EXAMPLES = 8
SCHEMATHESIS_SECONDS = 240

AGENT = {"name": "Assistant", "url": "http://127.0.0.1:9/v1", "model": "m"}
JOB = {"name": "Morning briefing", "agent": "Assistant", "schedule": "0 9 * * *",
       "config": {"template": "Good morning"}}  # fmt: skip
TRIGGER = {"name": "Mail", "agent": "Assistant", "event": "GMAIL_NEW_GMAIL_MESSAGE",
           "config": {"template": "From {emailFrom}"}}  # fmt: skip


def _seeded(api: Api) -> dict[str, Any]:
    """One of each thing the API shows (ids 1: the database is new), through the API."""
    made = {
        "agent": api("POST", "/agents", AGENT),
        "workflow": api("POST", "/workflows", {"name": "analyze", "url": "http://127.0.0.1:9/w"}),
        "job": api("POST", "/jobs", JOB),
        "trigger": api("POST", "/triggers", TRIGGER),
    }
    made["run"] = api("POST", "/jobs/1/run")
    made["test"] = api("POST", "/triggers/1/test", {"payload": {"from": "jane@example.com"}})
    for what, answer in made.items():
        assert answer.is_success, (what, answer.text)
    return {what: answer.json() for what, answer in made.items()}


@pytest.fixture
def seeded(settings, tmp_path: Path) -> Iterator[tuple[Api, dict[str, Any]]]:
    """A webhook process with one agent, workflow, job, trigger, run and event; its
    token's limit high enough for Schemathesis's thousands of requests."""
    for api in serve(replace(settings, api_requests_per_minute=1_000_000), tmp_path):
        yield api, _seeded(api)


def _schema_of(method: str, path: str, status: int) -> dict[str, Any] | None:
    """The schema the document gives for this operation's answer, with its components."""
    answer = SPEC["paths"][PREFIX + path][method.lower()]["responses"][str(status)]
    if "content" not in answer:
        return None
    schema = answer["content"]["application/json"]["schema"]
    return {**schema, "components": SPEC["components"]}


def _conforms(answer: httpx.Response, method: str, path: str) -> None:
    schema = _schema_of(method, path, answer.status_code)
    if schema is None:
        assert answer.content == b"", (method, path, answer.text)
        return
    checker = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = [error.message for error in checker.iter_errors(answer.json())]
    assert errors == [], (method, path, answer.status_code, errors)


def test_every_operation_answers_with_the_schema_its_document_gives(seeded):
    api, made = seeded
    added = [("POST", f"/{what}s") for what in ("agent", "workflow", "job", "trigger")]
    for method, path in added:  # the seeding's answers
        _conforms(httpx.Response(201, json=made[path[1:-1]]), method, path)
    event = api("GET", "/events").json()["items"][0]["id"]
    calls = [
        ("GET", "/jobs", None), ("GET", "/jobs/{ref}", None),
        ("PATCH", "/jobs/{ref}", {"retries": 2}), ("POST", "/jobs/{ref}/pause", None),
        ("POST", "/jobs/{ref}/resume", None), ("POST", "/jobs/{ref}/run", None),
        ("GET", "/triggers", None), ("GET", "/triggers/{ref}", None),
        ("PATCH", "/triggers/{ref}", {"overlap": "skip"}),
        ("POST", "/triggers/{ref}/pause", None), ("POST", "/triggers/{ref}/resume", None),
        ("POST", "/triggers/{ref}/test", {}),
        ("GET", "/agents", None), ("GET", "/agents/{ref}", None),
        ("PATCH", "/agents/{ref}", {"max_concurrency": 2}),
        ("GET", "/workflows", None), ("GET", "/workflows/{ref}", None),
        ("PATCH", "/workflows/{ref}", {"max_concurrency": None}),
        ("GET", "/runs", None), ("GET", "/runs/{ref}", None),
        ("POST", "/runs/{ref}/cancel", None), ("POST", "/runs/{ref}/retry", None),
        ("GET", "/events", None), ("GET", "/events/{ref}", None),
        ("DELETE", "/workflows/{ref}", None), ("DELETE", "/triggers/{ref}", None),
        ("DELETE", "/jobs/{ref}", None), ("DELETE", "/agents/{ref}", None),
    ]  # fmt: skip
    for method, path, body in calls:
        answer = api(method, path.replace("{ref}", event if "/events/" in path else "1"), body)
        assert answer.is_success, (method, path, answer.text)
        _conforms(answer, method, path)
    answered = {(method, path) for method, path, _ in calls} | set(added)
    assert answered == {(endpoint.method, endpoint.path) for endpoint in ENDPOINTS}
    refused = api("GET", "/jobs/nobody")
    assert refused.status_code == 404
    _conforms(refused, "GET", "/jobs/{ref}")


def test_every_operation_describes_its_answer_and_its_refusals():
    for endpoint in ENDPOINTS:
        responses = SPEC["paths"][PREFIX + endpoint.path][endpoint.method.lower()]["responses"]
        success = responses[str(endpoint.status)]
        if endpoint.status == 204:
            assert "content" not in success, endpoint.path
        else:
            schema = success["content"]["application/json"]["schema"]["$ref"]
            name = schema.removeprefix("#/components/schemas/")
            assert name in SPEC["components"]["schemas"], (endpoint.path, name)
            assert name.endswith("Page") == endpoint.listing, (endpoint.path, name)
        for status in ("400", "401", "413", "415", "429"):
            assert responses[status]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }
        assert ("404" in responses) == (
            "{ref}" in endpoint.path or endpoint.body is not None or "agent" in endpoint.filters
            or "job" in endpoint.filters
        ), endpoint.path  # fmt: skip
        assert "Retry-After" in responses["429"]["headers"]
    delete_agent = SPEC["paths"][PREFIX + "/agents/{ref}"]["delete"]["responses"]
    assert "409" in delete_agent and "409" in SPEC["paths"][PREFIX + "/jobs"]["post"]["responses"]


def test_null_is_in_a_body_schema_only_where_the_api_takes_it(api, agent):
    schemas = SPEC["components"]["schemas"]
    for model in BODIES:
        for name, field in schemas[model.__name__]["properties"].items():
            takes_null = {"type": "null"} in field.get("anyOf", []) or field.get("type") == "null"
            assert takes_null == (name in model.NULLABLE), (model.__name__, name)
    assert "anyOf" not in schemas["ActionConfig"]["properties"]["template"]
    assert api("POST", "/jobs", JOB).status_code == 201
    for name in ("notify", "name", "schedule", "timezone"):  # not nullable: refused
        answer = api("PATCH", "/jobs/Morning briefing", {name: None})
        assert (answer.status_code, answer.json()["error"]["field"]) == (400, name)
    for name in ("retries", "jitter", "starts_on"):  # nullable: taken
        assert api("PATCH", "/jobs/Morning briefing", {name: None}).status_code == 200, name


def test_query_parameters_say_their_values(api, agent):
    listing = SPEC["paths"][PREFIX + "/runs"]["get"]["parameters"]
    by_name = {parameter["name"]: parameter["schema"] for parameter in listing}
    schemas = SPEC["components"]["schemas"]
    run_status = schemas[by_name["status"]["$ref"].removeprefix("#/components/schemas/")]
    assert set(run_status["enum"]) == set(RunStatus)
    events = {
        p["name"]: p["schema"] for p in SPEC["paths"][PREFIX + "/events"]["get"]["parameters"]
    }
    event_status = schemas[events["status"]["$ref"].removeprefix("#/components/schemas/")]
    assert set(event_status["enum"]) == set(EventStatus)
    run_ref = SPEC["paths"][PREFIX + "/runs/{ref}/cancel"]["post"]["parameters"][0]["schema"]
    assert run_ref["pattern"] == "^[0-9]+$"
    # a cursor handed out has the documented pattern, and the API takes it back
    assert api("POST", "/jobs", JOB).status_code == 201
    started = [api("POST", "/jobs/1/run").json()["id"] for _ in range(2)]
    page = api("GET", "/runs?limit=1").json()
    jsonschema.validate(page["next_cursor"], by_name["cursor"])
    rest = api("GET", f"/runs?limit=1&cursor={page['next_cursor']}").json()
    assert [run["id"] for run in page["items"] + rest["items"]] == started[::-1]
    assert api("GET", "/runs?status=queued").status_code == 200
    wrong = api("GET", "/runs?status=done")
    assert (wrong.status_code, wrong.json()["error"]["field"]) == (400, "status")


def test_a_query_parameter_a_path_does_not_take_is_refused_by_its_name(api):
    answer = api("GET", "/runs?stauts=failed")
    assert answer.status_code == 400
    assert answer.json()["error"] == {
        "message": "Unknown query parameter 'stauts'; this path takes cursor, job, limit, "
        "status, trigger.",
        "field": "stauts",
    }
    assert api("GET", "/runs/1?limit=5").json()["error"]["field"] == "limit"


def test_a_method_an_action_path_does_not_have_is_405_with_allow(api, agent):
    assert api("POST", "/jobs", JOB).status_code == 201
    run = api("POST", "/jobs/1/run").json()["id"]
    for method, path, allow in [
        ("GET", f"/runs/{run}/cancel", "POST"), ("GET", "/runs/0/retry", "POST"),
        ("PATCH", "/jobs/1/run", "POST"), ("DELETE", "/triggers/Mail/test", "POST"),
        ("PUT", "/jobs/1", "DELETE, GET, HEAD, PATCH"), ("POST", "/runs", "GET, HEAD"),
        ("DELETE", "/openapi.json", "GET, HEAD"),
    ]:  # fmt: skip
        answer = api(method, path)
        assert answer.status_code == 405, (method, path, answer.text)
        assert answer.headers["allow"] == allow, (method, path)
        assert answer.json() == {"error": {
            "message": "This path does not take that method; see /api/v1/openapi.json.",
            "field": None,
        }}  # fmt: skip
    assert api("GET", f"/runs/{run}").json()["status"] == "queued"  # not cancelled
    for path in ("/runs/1/cancel/now", "/jobs/1/run/", "/nothing"):
        assert api("GET", path).status_code == 404, path


def test_a_name_that_ends_like_an_action_is_still_that_name(api, agent):
    made = api("POST", "/jobs", JOB | {"name": "reports/run"})
    assert made.status_code == 201, made.text
    assert api("GET", "/jobs/reports%2Frun").json()["id"] == made.json()["id"]
    assert api("POST", "/jobs/reports%2Frun/run").json()["job_id"] == made.json()["id"]
    assert api("GET", "/jobs/reports/run").status_code == 405  # the action's path


def test_removing_an_agent_or_workflow_in_use_is_409_and_says_who_uses_it(api, agent, workflow):
    flow = {"action": "workflow", "config": {"workflow": "analyze-email"}}
    assert api("POST", "/jobs", JOB | {"name": "Report"} | flow).status_code == 201
    for path, user in (("/agents/Assistant", "job 'Report'"),
                       ("/workflows/analyze-email", "job 'Report'")):  # fmt: skip
        answer = api("DELETE", path)
        assert answer.status_code == 409, answer.text
        assert f"is used by {user}" in answer.json()["error"]["message"]
    assert api("GET", "/agents/Assistant").status_code == 200
    assert api("DELETE", "/jobs/Report").status_code == 204
    assert api("DELETE", "/workflows/analyze-email").status_code == 204
    assert api("DELETE", "/agents/Assistant").status_code == 204


def test_schemathesis_finds_no_failure_with_every_check(seeded, tmp_path: Path):
    """Every check (server errors, status codes, content types, headers, answers'
    schemas, refusals of what the schemas refuse, acceptance of what they allow, 405 and
    Allow, stateful links: use after delete, resources available), bounded in examples and
    time. But ignored_auth, which sends a wrong token after each 2xx: past 10 a minute from
    one address those are 429 by design (webhook.api); test_api's
    test_a_request_needs_a_known_token sends no token, a wrong one and another scheme to
    every operation, each from an address of its own, and gets 401."""
    api, _ = seeded
    report = tmp_path / "schemathesis.txt"
    command = [
        str(Path(sys.executable).with_name("st")), "--no-color",
        "--config-file", str(SCHEMATHESIS_CONFIG), "run", api.url + "/openapi.json",
        "--header", f"Authorization: Bearer {api.token}", "--checks", "all",
        "--exclude-checks", "ignored_auth",
        "--max-examples", str(SCHEMATHESIS_EXAMPLES), "--seed", "22", "--workers", "2",
        "--request-timeout", "30", "--suppress-health-check", "all",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEMATHESIS_")}
    with report.open("w") as output:
        done = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, env=env,
                              timeout=SCHEMATHESIS_SECONDS, cwd=tmp_path, check=False)  # fmt: skip
    text = report.read_text()
    assert done.returncode == 0, text[-20_000:]
    assert f"Tested: {len(ENDPOINTS)}" in text, text[-5_000:]
