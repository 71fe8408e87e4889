"""The HTTP API (/api/v1) through a real uvicorn process, as scripts and other tools use
it: a bearer token, the CLI's JSON, every refusal in one shape, lists a page at a time."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import jsonschema
from sqlmodel import select

from core.access import tokens
from core.access.rates import FAILED_TOKENS_PER_MINUTE, RateLimit
from core.store.db import read_session
from core.store.db import session as open_session
from core.store.models import ApiToken, utcnow
from support.api import serve
from support.stored import everything_stored, snapshot
from webhook.api import SPEC
from webhook.api_routes import ENDPOINTS


def refusal(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    return answer.json()["error"]


def test_a_job_from_creation_to_deletion(api, agent, settings):
    made = api("POST", "/jobs", {
        "name": "Morning briefing", "agent": "Assistant", "schedule": "0 9 * * *",
        "timezone": "Europe/Berlin", "config": {"template": "Good morning"}, "retries": 2,
        "jitter": "5m",
    })  # fmt: skip
    assert made.status_code == 201, made.text
    job = made.json()
    assert (job["name"], job["schedule"], job["retries"], job["jitter_seconds"]) == (
        "Morning briefing", "0 9 * * *", 2, 300
    )  # fmt: skip
    assert api("GET", f"/jobs/{job['id']}").json() == api("GET", "/jobs/Morning briefing").json()
    changed = api("PATCH", f"/jobs/{job['id']}", {"schedule": "30 8 * * 1-5", "retries": None,
                                                   "jitter": None})  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert (changed.json()["schedule"], changed.json()["retries"]) == ("30 8 * * 1-5", None)
    assert changed.json()["jitter_seconds"] == 0
    assert changed.json()["config"] == {"template": "Good morning", "thread": "new"}  # kept
    assert api("POST", f"/jobs/{job['id']}/pause").json()["status"] == "paused"
    assert api("POST", f"/jobs/{job['id']}/resume").json()["status"] == "active"
    run = api("POST", f"/jobs/{job['id']}/run")
    assert run.status_code == 202 and run.json()["source"] == "run_now"
    assert [r["id"] for r in api("GET", f"/runs?job={job['id']}").json()["items"]] == [
        run.json()["id"]
    ]
    assert api("DELETE", f"/jobs/{job['id']}").status_code == 204
    assert refusal(api("GET", f"/jobs/{job['id']}"), 404)["message"] == (
        f"There is no job with id {job['id']}."
    )


def test_a_one_off_job_and_a_workflow_job(api, agent, workflow):
    once = api("POST", "/jobs", {"name": "Christmas", "agent": agent.id, "at": "2099-12-24 09:00",
                                 "config": {"template": "Hi"}})  # fmt: skip
    assert once.json()["schedule"] == "once 2099-12-24 09:00"
    report = api("POST", "/jobs", {
        "name": "Report", "agent": "Assistant", "schedule": "@weekly", "action": "workflow",
        "config": {"workflow": "analyze-email", "input": {"scope": "week"}}, "overlap": "queue",
    })  # fmt: skip
    assert report.status_code == 201, report.text
    assert report.json()["config"]["input"] == {"scope": "week"}
    assert report.json()["overlap"] == "queue"
    unknown = refusal(api("PATCH", "/jobs/Report", {"notify": ["Nobody"]}), 404)
    assert unknown["message"] == "There is no channel named 'Nobody'."


JOB = {"name": "J", "agent": "Assistant", "schedule": "0 9 * * *", "config": {"template": "x"}}


def test_who_is_told_reads_as_the_command_line_does_and_answers_what_is_told(
    api, agent, session, settings, target
):
    """[] is nobody; the CLI's word "none" is refused with the hint (no channel can be
    named so); a job following Settings answers the events it is told about, also when
    it gave none."""
    made = api("POST", "/jobs", JOB | {"notify_on": []})
    assert made.json()["notify_as_settings"] is True
    assert made.json()["notify_on"] == ["failure", "recovery"]
    nobody = refusal(api("PATCH", "/jobs/J", {"notify": ["none"]}), 400)
    assert nobody == {"field": "notify", "message": "There is no channel named 'none'; to tell "
                      "nobody, give no channel: [] in the API, --notify none on the command "
                      "line."}  # fmt: skip
    assert api("GET", "/jobs/J").json()["notify_as_settings"] is True  # unchanged
    silent = api("PATCH", "/jobs/J", {"notify": []}).json()
    assert (silent["notify_as_settings"], silent["notify_channel_ids"]) == (False, [])


REFUSED_JOBS = [
    ("bad cron", JOB | {"schedule": "61 * * * *"}, 400, "schedule", "minute field '61'"),
    ("unknown field", JOB | {"schedul": "x"}, 400, "schedul", "schedul is not a field this body"),
    ("wrong type", JOB | {"retries": "3"}, 400, "retries", "valid integer"),
    ("too many retries", JOB | {"retries": 11}, 400, "retries", "less than or equal to 10"),
    ("a yes for a number", JOB | {"retries": True}, 400, "retries", "valid integer"),
    ("no name", {k: v for k, v in JOB.items() if k != "name"}, 400, "name", "name is required."),
    ("chat without a message", JOB | {"action": "chat", "config": {"thread": "new"}}, 400,
     "config.template", "needs its message"),
    ("a past one-off", {k: v for k, v in JOB.items() if k != "schedule"}
     | {"at": "2020-01-01 09:00"}, 400, "schedule", "in the past"),
    ("a name in use", JOB | {"name": "Existing"}, 409, "name", "already exists"),
    ("an unknown agent", JOB | {"agent": "Nobody"}, 404, "agent", "no agent named 'Nobody'"),
    ("a body that is not an object", [1, 2], 400, None, "Send a JSON object."),
    ("a null agent", JOB | {"agent": None}, 400, "agent", "agent: Input should be"),
    ("a wrong type in a union", JOB | {"timeout": 1.5}, 400, "timeout", "timeout:"),
    ("an empty message", JOB | {"config": {"template": ""}}, 400, "config.template", "empty"),
]  # fmt: skip


def test_a_body_with_several_faults_lists_each_by_its_field(api, agent, settings):
    assert api("GET", "/jobs").status_code == 200  # the token's first use is stored
    before = snapshot(settings.database_url)
    body = JOB | {"name": " ", "schedule": "61 * * * *", "config": {"template": " "}}
    error = refusal(api("POST", "/jobs", body), 400)
    assert [one["field"] for one in error["errors"]] == ["name", "schedule", "config.template"]
    assert (error["field"], error["message"]) == ("name", error["errors"][0]["message"])
    assert "errors" not in refusal(api("POST", "/jobs", JOB | {"name": " "}), 400)
    typed = refusal(api("POST", "/jobs", JOB | {"retries": 99, "overlap": "maybe"}), 400)
    assert [one["field"] for one in typed["errors"]] == ["retries", "overlap"]
    assert snapshot(settings.database_url) == before


def test_bad_input_is_refused_with_its_field_and_changes_nothing(api, agent, settings):
    assert api("POST", "/jobs", JOB | {"name": "Existing"}).status_code == 201
    before = snapshot(settings.database_url)
    for what, body, status, field, message in REFUSED_JOBS:
        error = refusal(api("POST", "/jobs", body), status)
        assert (error["field"], message in error["message"]) == (field, True), (what, error)
    raw = {"Content-Type": "application/json"}
    error = refusal(api("POST", "/jobs", content=b'{"name": NaN}', headers=raw), 400)
    assert "not valid JSON" in error["message"]
    twice = b'{"name": "A", "name": "B", "agent": "Assistant", "schedule": "@daily"}'
    assert refusal(api("POST", "/jobs", content=twice, headers=raw), 400)["message"] == (
        "The body gives 'name' twice."
    )
    assert refusal(api("PATCH", "/jobs/Existing", {"name": None}), 400)["field"] == "name"
    nested = refusal(api("PATCH", "/jobs/Existing", {"config": {"template": None}}), 400)
    assert (nested["field"], nested["message"]) == (
        "config.template", "config.template cannot be null; leave it out to keep it."
    )  # fmt: skip
    assert refusal(api("POST", "/jobs", JOB | {"config": {"template": "x", "thread": None}}),
                   400)["field"] == "config.thread"  # fmt: skip
    assert refusal(api("PATCH", "/jobs/Existing", {"schedule": None}), 400)["field"] == "schedule"
    error = refusal(
        api("POST", "/jobs", content=b"name=x", headers={"Content-Type": "text/plain"}), 415
    )
    assert "as JSON" in error["message"]
    huge = b'{"name": "' + b"x" * (1024 * 1024) + b'"}'
    assert refusal(api("POST", "/jobs", content=huge, headers=raw), 413)["message"] == (
        "The body is larger than 1 MiB."
    )
    assert refusal(api("POST", "/jobs/Existing/run", {"x": 1}), 400)["message"] == (
        "This request takes no body."
    )
    assert refusal(api("GET", "/jobs/99999999999999999999"), 404)
    assert refusal(api("GET", "/jobs?cursor=bm90IGEgY3Vyc29y"), 400)["field"] == "cursor"
    past_64_bits = "WzkyMjMzNzIwMzY4NTQ3NzU4MDhd"  # [9223372036854775808]
    assert refusal(api("GET", f"/jobs?cursor={past_64_bits}"), 400)["field"] == "cursor"
    assert refusal(api("GET", "/nothing/here"), 404)["message"].startswith("There is no such path")
    assert refusal(api("PUT", "/jobs"), 405)["message"].startswith("This path does not take")
    assert api("HEAD", "/jobs").status_code == 200
    assert refusal(api("GET", "/jobs?limit=0"), 400)["field"] == "limit"
    assert snapshot(settings.database_url) == before


def test_triggers_agents_and_workflows(api, agent, settings):
    made = api("POST", "/triggers", {"name": "Mail", "agent": "Assistant",
                                     "event": "GMAIL_NEW_GMAIL_MESSAGE",
                                     "config": {"template": "From {emailFrom}"}})  # fmt: skip
    assert made.status_code == 201, made.text
    trigger = made.json()
    assert trigger["sync_state"] == "local"  # no Composio key: kept here
    fired = api("POST", "/triggers/Mail/test", {"payload": {"from": "Jane <jane@example.com>"}})
    assert fired.status_code == 202 and fired.json()["source"] == "test"
    assert api("PATCH", "/triggers/Mail", {"overlap": "skip"}).json()["overlap"] == "skip"
    assert api("POST", "/triggers/Mail/pause").json()["status"] == "paused"
    event = api("GET", "/events").json()["items"][0]
    assert api("GET", f"/events/{event['id']}").json()["id"] == event["id"]
    assert (
        refusal(api("GET", "/events/nope"), 404)["message"]
        == "There is no event 'nope' in the inbox."
    )

    helper = api("POST", "/agents", {"name": "Helper", "url": "http://127.0.0.1:9/v1",
                                     "model": "m", "api_key": "sk-secret-value"})  # fmt: skip
    assert helper.status_code == 201, helper.text
    assert "sk-secret-value" not in helper.text and helper.json()["key"] == "key saved (encrypted)"
    changed = api("PATCH", "/agents/Helper", {"max_concurrency": 2}).json()
    assert (changed["max_concurrency"], changed["model"], changed["key"]) == (
        2, "m", helper.json()["key"]
    )  # fmt: skip
    in_use = refusal(api("DELETE", "/agents/Assistant"), 409)
    assert "is used by trigger 'Mail'" in in_use["message"]
    assert api("DELETE", "/agents/Helper").status_code == 204
    flow = api("POST", "/workflows", {"name": "analyze", "url": "http://127.0.0.1:9/w"})
    assert (
        flow.status_code == 201 and api("GET", "/workflows").json()["items"][0]["name"] == "analyze"
    )
    assert api("DELETE", "/triggers/Mail").status_code == 204
    assert "sk-secret-value" not in everything_stored(settings)


def test_removing_an_agent_says_what_moved_to_another_agent(api, agent, workflow):
    """200 with what moved and where (its schema the document's); 204 when nothing did."""
    helper = api("POST", "/agents", {"name": "Helper", "url": "http://127.0.0.1:9/v1",
                                     "model": "m"}).json()  # fmt: skip
    made = api("POST", "/jobs", {"name": "Report", "agent": "Assistant", "schedule": "@weekly",
                                 "config": {"workflow": "analyze-email"}}).json()  # fmt: skip
    removed = api("DELETE", "/agents/Assistant")
    assert removed.status_code == 200, removed.text
    assert removed.json() == {
        "moved": [{"kind": "job", "id": made["id"], "name": "Report"}],
        "to_agent": {"id": helper["id"], "name": "Helper"},
        "message": "Job 'Report' runs a workflow, not this agent: it moves to agent 'Helper'.",
    }
    answers = SPEC["paths"]["/api/v1/agents/{ref}"]["delete"]["responses"]
    schema = answers["200"]["content"]["application/json"]["schema"]
    jsonschema.validate(removed.json(), {**schema, "components": SPEC["components"]})
    assert "content" not in answers["204"]
    assert api("GET", "/jobs/Report").json()["agent_id"] == helper["id"]
    api("POST", "/agents", {"name": "Spare", "url": "http://127.0.0.1:9/v1", "model": "m"})
    nothing = api("DELETE", "/agents/Spare")
    assert (nothing.status_code, nothing.content) == (204, b"")


def test_a_name_with_a_slash_is_reached_by_its_encoded_path(api, agent):
    made = api("POST", "/jobs", JOB | {"name": "Reports/weekly run"})
    assert made.status_code == 201, made.text
    assert api("GET", "/jobs/Reports%2Fweekly%20run").json()["id"] == made.json()["id"]
    assert api("POST", "/jobs/Reports%2Fweekly%20run/pause").json()["status"] == "paused"


def test_runs_a_page_at_a_time_then_cancelled_and_tried_again(api, agent):
    assert api("POST", "/jobs", JOB).status_code == 201
    started = [api("POST", "/jobs/J/run").json()["id"] for _ in range(3)]
    first = api("GET", "/runs?limit=2").json()
    assert [r["id"] for r in first["items"]] == started[:0:-1]
    rest = api("GET", f"/runs?limit=2&cursor={first['next_cursor']}").json()
    assert ([r["id"] for r in rest["items"]], rest["next_cursor"]) == ([started[0]], None)
    cancelled = api("POST", f"/runs/{started[0]}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    again = api("POST", f"/runs/{started[0]}/retry")
    assert (again.status_code, again.json()["status"]) == (200, "retrying")
    assert refusal(api("POST", f"/runs/{started[1]}/retry"), 400)["message"] == (
        f"Run {started[1]} is waiting to start; only a failed or cancelled run can be retried."
    )
    assert refusal(api("GET", "/runs/abc"), 400)["field"] == "run"


def from_address(address: str) -> httpx.Client:
    """A client whose requests come from another loopback address (a client of its own,
    as the API's per-address limit sees it)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)


def test_a_request_needs_a_known_token(api, settings):
    for n, endpoint in enumerate(ENDPOINTS):
        path = endpoint.path.replace("{ref}", "1")
        # each endpoint's unknown token from an address of its own: the limit on unknown
        # tokens per address (below) does not answer instead
        with from_address(f"127.0.1.{n + 1}") as client:
            for headers in (
                {},
                {"Authorization": "Bearer pln_not-a-token"},
                {"Authorization": "Basic x"},
            ):
                answer = client.request(endpoint.method, api.url + path, headers=headers)
                assert answer.status_code == 401, (endpoint.path, headers)
                assert answer.headers["www-authenticate"] == "Bearer"
    assert api("GET", "/jobs").status_code == 200
    with read_session(settings.database_url) as session:
        [row] = session.exec(select(ApiToken)).all()
    assert row.last_used_at is not None and api.token not in json.dumps(row.model_dump(mode="json"))
    with open_session(settings.database_url) as session:
        tokens.revoke_token(session, "tests")
    assert refusal(api("GET", "/jobs"), 401)["message"].startswith("That API token is not known")


def test_too_many_requests_wait_as_they_are_told(settings, tmp_path: Path):
    for api in serve(replace(settings, api_requests_per_minute=2), tmp_path):
        assert [api("GET", "/agents").status_code for _ in range(2)] == [200, 200]
        answer = api("GET", "/agents")
        assert refusal(answer, 429)["message"].startswith("Too many requests with this token")
        assert 1 <= int(answer.headers["retry-after"]) <= 30


def test_a_new_token_does_not_inherit_the_requests_of_a_revoked_one(settings, tmp_path: Path):
    """SQLite gives a new row the id of a deleted last one: the limit goes by the token."""
    for api in serve(replace(settings, api_requests_per_minute=2), tmp_path):
        assert [api("GET", "/agents").status_code for _ in range(3)] == [200, 200, 429]
        with open_session(settings.database_url) as session:
            old = tokens.authenticate(session, api.token).id
            tokens.revoke_token(session, "tests")
            made = tokens.create_token(session, "tests", utcnow())
        if settings.database_url.startswith("sqlite"):
            assert made.row.id == old
        assert api("GET", "/agents").status_code == 401
        assert replace(api, token=made.token)("GET", "/agents").status_code == 200


def test_unknown_tokens_from_one_address_are_slowed_and_told_when_to_try_again(api):
    wrong = {"Authorization": "Bearer pln_a-guess"}
    started, statuses = time.monotonic(), []
    with from_address("127.0.0.1") as client:
        while 429 not in statuses and len(statuses) < 3 * FAILED_TOKENS_PER_MINUTE:
            answer = client.get(api.url + "/jobs", headers=wrong)
            statuses.append(answer.status_code)
        # the bucket refills as the minute goes by: one more try per 60/N s taken
        refilled = (time.monotonic() - started) * FAILED_TOKENS_PER_MINUTE / 60
        assert statuses[-1] == 429, statuses
        assert (
            FAILED_TOKENS_PER_MINUTE <= statuses.count(401) <= FAILED_TOKENS_PER_MINUTE + refilled
        )
        error = refusal(answer, 429)
        assert error["message"].startswith("Too many requests with an unknown API token")
        assert 1 <= int(answer.headers["retry-after"]) <= 60 / FAILED_TOKENS_PER_MINUTE
        known = client.get(api.url + "/jobs", headers={"Authorization": f"Bearer {api.token}"})
        assert known.status_code == 200  # a known token is not held up by them
    with from_address("127.0.0.2") as other:
        assert other.get(api.url + "/jobs", headers=wrong).status_code == 401


def test_the_buckets_of_many_addresses_are_forgotten_once_full_again():
    limit = RateLimit(per_minute=6, most=4)  # one request back every 10 s
    assert [limit.wait(f"10.0.0.{n}", at=0.0) for n in range(4)] == [0.0] * 4
    assert limit.wait("10.0.0.0", at=5.0) == 0.0
    assert limit.wait("10.0.0.9", at=10.0) == 0.0  # the others are full again: forgotten
    assert sorted(limit.buckets) == ["10.0.0.0", "10.0.0.9"]
    busy = RateLimit(per_minute=6, most=4)
    assert [busy.wait(f"10.0.1.{n}", at=float(n)) for n in range(5)] == [0.0] * 5
    assert sorted(busy.buckets) == ["10.0.1.2", "10.0.1.3", "10.0.1.4"]  # the latest half


def test_a_body_of_many_keys_is_answered_at_once(api):
    """Finding a key given twice takes one pass, not one per key (90,000 keys: minutes)."""
    many = ("{" + ",".join(f'"{n:x}":0' for n in range(90_000)) + "}").encode()
    started = time.monotonic()
    answer = api("POST", "/jobs", content=many, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert time.monotonic() - started < 10


def test_the_openapi_document_describes_every_route_and_body(api):
    answer = httpx.get(api.url + "/openapi.json", timeout=30)
    assert answer.json() == SPEC
    paths = SPEC["paths"]
    for endpoint in ENDPOINTS:
        assert endpoint.method.lower() in paths["/api/v1" + endpoint.path], endpoint.path
    schemas = SPEC["components"]["schemas"]
    for ref in _refs(SPEC):
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    assert set(schemas["JobCreate"]["required"]) == {"name", "agent"}
    assert paths["/api/v1/jobs"]["post"]["requestBody"]["required"] is True


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)
