"""Test connection: one short message to an agent through the real call, from the CLI
(`planner agents test NAME`) and the Agents & workflows page, answered in plain words."""

from __future__ import annotations

import json

import pytest

from support.cli import planner_here
from support.fakes import Reply
from support.processes import free_port
from support.screens import agents_page


def add_agent(settings, url: str, *extra: str) -> None:
    done = planner_here(settings, "agents", "add", "Helper", "--url", url, "--model", "m", *extra)
    assert done.returncode == 0, done.stderr


def test_the_agent_answers_the_test_message(settings, target):
    add_agent(settings, target.url + "/v1")
    done = planner_here(settings, "agents", "test", "Helper", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["agent"] == "Helper" and answer["reply"].startswith("reply to: This is a")
    [call] = target.received("/v1/chat/completions")
    assert call.body["messages"][-1]["content"].startswith("This is a connection test")
    assert call.headers["Idempotency-Key"]  # a key of its own, like any run


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply(401, {"error": "invalid key"}), "The key was refused (401): check the key in "
                                               "$HELPER_KEY."),
        (Reply(404, {"error": "no such model"}), "answered 404 (not found): check the address "
                                                 "and the model name."),
    ],
)  # fmt: skip
def test_a_refusal_is_said_in_plain_words(settings, target, monkeypatch, reply, message):
    monkeypatch.setenv("HELPER_KEY", "sk-test")
    add_agent(settings, target.url + "/v1", "--api-key-env", "HELPER_KEY")
    target.script("/v1/chat/completions", reply)
    done = planner_here(settings, "agents", "test", "Helper")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert message in done.stderr


def test_an_agent_that_is_not_running_is_said_in_plain_words(settings):
    url = f"http://127.0.0.1:{free_port()}/v1"
    add_agent(settings, url)
    done = planner_here(settings, "agents", "test", "Helper")
    assert done.returncode == 2
    assert done.stderr == f"planner: Could not reach the agent at {url} — is it running?\n"


def test_an_agent_outside_the_allow_list_is_not_called_and_the_test_says_why(settings, target):
    add_agent(settings, target.url + "/v1")  # before the operator limited the calls
    done = planner_here(settings, "agents", "test", "Helper", PLANNER_OUTBOUND_ALLOW="10.0.0.0/8")
    assert done.returncode == 2
    assert done.stderr == (
        "planner: Planner may not call 127.0.0.1: PLANNER_OUTBOUND_ALLOW does not include it.\n"
    )
    assert target.received() == []


def test_the_agents_page_tests_a_connection(page, agent, target):
    app = page(agents_page)
    app.button(key=f"test_agent_{agent.id}").click().run()
    [shown] = app.success
    assert "Assistant answered" in shown.value and "reply to" in shown.value
