"""Tokens made for one agent, through the HTTP API of a real webhook process: such a token
sees and changes that agent's jobs, triggers and runs alone, and everything else answers
it exactly as what does not exist (core.access.scopes, webhook.api)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from core.access import tokens
from core.agents import registry
from core.store.models import Agent, utcnow
from support.api import Api
from support.fakes import FakeTarget
from support.stored import snapshot
from webhook.api_routes import ENDPOINTS

# One-offs far ahead: no run comes due amid a test, so the runs listed are the tests' own.
JOB = {"at": "2099-12-24 09:00", "config": {"template": "Hello"}}
TRIGGER = {"event": "GMAIL_NEW_GMAIL_MESSAGE", "config": {"template": "From {emailFrom}"}}


@dataclass
class TwoAgents:
    """Assistant's and Helper's job, trigger and runs; `every` a token for every agent,
    `mine` one made for Assistant alone."""

    every: Api
    mine: Api
    own: dict[str, Any]  # "job", "trigger", "job_run" (its id), "runs" (their ids)
    theirs: dict[str, Any]


def _made(api: Api, method: str, path: str, body: Any = None) -> dict[str, Any]:
    answer = api(method, path, body)
    assert answer.is_success, (method, path, answer.text)
    return answer.json()


def _filed(api: Api, owner: str, suffix: str) -> dict[str, Any]:
    """A job and a trigger under `owner`, each run once."""
    job = _made(api, "POST", "/jobs", JOB | {"name": f"Job {suffix}", "agent": owner})
    trigger = _made(api, "POST", "/triggers", TRIGGER | {"name": f"Mail {suffix}", "agent": owner})
    ran = _made(api, "POST", f"/jobs/{job['id']}/run")
    tested = _made(api, "POST", f"/triggers/{trigger['id']}/test", {})
    return {"job": job, "trigger": trigger, "job_run": ran["id"], "runs": {ran["id"], tested["id"]}}


@pytest.fixture
def two_agents(api: Api, agent: Agent, session: Session, target: FakeTarget) -> TwoAgents:
    registry.save_agent(session, "Helper", "openai", target.url + "/v1", "m", "")
    own, theirs = _filed(api, "Assistant", "mine"), _filed(api, "Helper", "theirs")
    token = tokens.create_token(session, "assistant only", utcnow(), agent="Assistant").token
    return TwoAgents(api, replace(api, token=token), own, theirs)


def _answer(answer: httpx.Response) -> tuple[int, Any]:
    return answer.status_code, answer.json()


def _ids(api: Api, path: str) -> set[int]:
    answer = api("GET", path)
    assert answer.status_code == 200, answer.text
    return {item["id"] for item in answer.json()["items"]}


def test_a_token_for_one_agent_lists_only_its_jobs_triggers_and_runs(two_agents):
    mine, every, own, theirs = (two_agents.mine, two_agents.every, two_agents.own,
                                two_agents.theirs)  # fmt: skip
    assert _ids(mine, "/jobs") == {own["job"]["id"]}
    assert _ids(mine, "/triggers") == {own["trigger"]["id"]}
    assert _ids(mine, "/runs") == own["runs"]
    assert _ids(mine, "/jobs?agent=Assistant") == {own["job"]["id"]}
    assert _ids(mine, f"/runs?job={own['job']['id']}") == {own["job_run"]}
    # a token for every agent still reaches everything
    assert _ids(every, "/jobs") == {own["job"]["id"], theirs["job"]["id"]}
    assert _ids(every, "/triggers") == {own["trigger"]["id"], theirs["trigger"]["id"]}
    assert _ids(every, "/runs") == own["runs"] | theirs["runs"]
    assert _ids(every, "/jobs?agent=Helper") == {theirs["job"]["id"]}
    assert every("GET", "/agents").status_code == 200
    assert every("GET", "/events").status_code == 200


def _reaching_theirs(theirs: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """Every request that names Helper's job, trigger, runs or Helper itself."""
    job, trigger = theirs["job"], theirs["trigger"]
    requests: list[tuple[str, str, Any]] = []
    for ref in (job["id"], job["name"]):
        path = f"/jobs/{ref}"
        requests += [("GET", path, None), ("PATCH", path, {"retries": 1}),
                     ("POST", path + "/run", None), ("POST", path + "/pause", None),
                     ("POST", path + "/resume", None), ("DELETE", path, None)]  # fmt: skip
    for ref in (trigger["id"], trigger["name"]):
        path = f"/triggers/{ref}"
        requests += [("GET", path, None), ("PATCH", path, {"overlap": "skip"}),
                     ("POST", path + "/test", {}), ("POST", path + "/pause", None),
                     ("POST", path + "/resume", None), ("DELETE", path, None)]  # fmt: skip
    for run in sorted(theirs["runs"]):
        requests += [("GET", f"/runs/{run}", None), ("POST", f"/runs/{run}/cancel", None),
                     ("POST", f"/runs/{run}/retry", None)]  # fmt: skip
    requests += [
        ("GET", f"/runs?job={job['name']}", None), ("GET", f"/runs?trigger={trigger['id']}", None),
        ("GET", "/jobs?agent=Helper", None), ("GET", "/triggers?agent=Helper", None),
        ("POST", "/jobs", JOB | {"name": "New", "agent": "Helper"}),
        ("POST", "/triggers", TRIGGER | {"name": "New", "agent": "Helper"}),
    ]  # fmt: skip
    return requests


def test_another_agents_rows_are_refused_exactly_as_rows_that_do_not_exist(two_agents, settings):
    """What the token is told of Helper's job, trigger and runs (by id and by name), and of
    Helper, is what it would be told once they are gone; and it changes nothing."""
    mine, every, own, theirs = (two_agents.mine, two_agents.every, two_agents.own,
                                two_agents.theirs)  # fmt: skip
    assert mine("GET", "/jobs").status_code == 200  # the token's first use is noted
    before = snapshot(settings.database_url)
    requests = _reaching_theirs(theirs)
    told = [_answer(mine(method, path, body)) for method, path, body in requests]
    moved = _answer(mine("PATCH", f"/jobs/{own['job']['id']}", {"agent": "Helper"}))
    assert snapshot(settings.database_url) == before
    assert {status for status, _ in told} | {moved[0]} == {404}

    for path in (f"/jobs/{theirs['job']['id']}", f"/triggers/{theirs['trigger']['id']}",
                 "/agents/Helper"):  # fmt: skip
        assert every("DELETE", path).status_code == 204, path  # their runs go with them
    missing = [_answer(every(method, path, body)) for method, path, body in requests]
    assert told == missing
    assert moved == _answer(every("PATCH", f"/jobs/{own['job']['id']}", {"agent": "Helper"}))
    assert moved[1]["error"] == {"message": "There is no agent named 'Helper'.", "field": "agent"}
    assert every("GET", f"/jobs/{own['job']['id']}").json()["agent_id"] == own["job"]["agent_id"]


def test_a_job_or_trigger_added_with_the_token_belongs_to_its_agent(two_agents):
    mine, own = two_agents.mine, two_agents.own
    assistant = own["job"]["agent_id"]
    job = _made(mine, "POST", "/jobs", JOB | {"name": "Unnamed agent"})
    named = _made(mine, "POST", "/jobs", JOB | {"name": "Named agent", "agent": "Assistant"})
    trigger = _made(mine, "POST", "/triggers", TRIGGER | {"name": "Mail without agent"})
    assert {job["agent_id"], named["agent_id"], trigger["agent_id"]} == {assistant}
    changed = _made(mine, "PATCH", "/jobs/Unnamed agent", {"retries": 3})
    assert (changed["retries"], changed["agent_id"]) == (3, assistant)
    ran = mine("POST", "/jobs/Unnamed agent/run")
    assert ran.status_code == 202 and ran.json()["job_id"] == job["id"]
    assert _made(mine, "POST", f"/runs/{ran.json()['id']}/cancel")["status"] == "cancelled"
    # a token for every agent must still say which agent
    refused = two_agents.every("POST", "/jobs", JOB | {"name": "Whose"})
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "agent"


def test_agents_workflows_and_events_are_no_path_at_all_to_the_token(two_agents):
    mine = two_agents.mine
    unknown = _answer(mine("GET", "/nothing/here"))
    assert unknown == (404, {"error": {"message": "There is no such path in the API; see "
                                       "/api/v1/openapi.json.", "field": None}})  # fmt: skip
    hidden = [e for e in ENDPOINTS if e.path.split("/")[1] in ("agents", "workflows", "events")]
    assert hidden and all(not endpoint.one_agent for endpoint in hidden)
    for endpoint in hidden:
        path = endpoint.path.replace("{ref}", "Assistant")
        body = {"name": "Sneaky", "url": "http://127.0.0.1:9/v1"} if endpoint.body else None
        assert _answer(mine(endpoint.method, path, body)) == unknown, endpoint.path
        # not even a query parameter or a body it would refuse tells the path is there
        assert _answer(mine(endpoint.method, path + "?bogus=1", [1])) == unknown, endpoint.path
    assert two_agents.every("GET", "/agents/Assistant").status_code == 200


def test_removing_an_agent_removes_its_tokens_and_says_so(session, agent):
    tokens.create_token(session, "assistant only", utcnow(), agent="Assistant")
    tokens.create_token(session, "everything", utcnow())
    said = registry.removal_in_words(session, Agent, "Assistant")
    assert said == "Its API token 'assistant only' is removed with it."
    assert registry.remove_agent(session, "Assistant") == said
    assert [row.name for row in tokens.list_tokens(session)] == ["everything"]


def test_an_id_past_any_row_is_not_there_for_a_token_of_one_agent(two_agents: TwoAgents):
    """A number too large for the database is refused as missing, not a server error."""
    huge = "9" * 30
    for path in (f"/jobs/{huge}", f"/triggers/{huge}", f"/runs/{huge}"):
        answer = two_agents.mine("GET", path)
        assert answer.status_code == 404, (path, answer.text)
        assert answer.json()["error"]["message"].endswith(f"with id {huge}.")
