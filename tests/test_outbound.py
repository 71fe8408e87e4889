"""Where Planner may call (core.outbound): link-local and cloud metadata addresses never,
at save and at call time; PLANNER_OUTBOUND_ALLOW, when set, limits agents, workflows and
channels to the networks and host names it lists. Real local servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from ipaddress import ip_address

import pytest
from sqlmodel import Session

from core.agents import registry
from core.automations import jobs
from core.automations.jobs import JobFields
from core.config import Settings, get_settings
from core.errors import ValidationError
from core.notifications import channels
from core.outbound import (
    ANYWHERE,
    Refused,
    addresses_to_call,
    check_address,
    parse_allowed,
    permitted,
)
from core.store.db import read_session
from core.store.models import Agent, Run, RunSource, RunStatus, utcnow
from support.cli import planner_here
from support.flights import execute_run
from support.stored import snapshot

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
NEVER_CALLED = [
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://METADATA.google.internal./computeMetadata/v1/",
    "http://[fe80::1]:8080/v1",
    "http://169.254.10.20:11434/v1",
    "http://2852039166/latest/",  # 169.254.169.254 as one number
    "http://0xa9.0xfe.0xa9.0xfe/latest/",  # and in hexadecimal
    "http://[::ffff:169.254.169.254]/latest/",  # and inside an IPv6 address
]
ALLOW_LOCAL = "127.0.0.1/32"
NOT_ALLOWED = "Planner may not call 10.0.0.5: PLANNER_OUTBOUND_ALLOW does not include it."


def allowing(settings: Settings, allow: str) -> Settings:
    return replace(settings, outbound_allow=parse_allowed(allow))


@pytest.fixture
def allow_list(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Sets PLANNER_OUTBOUND_ALLOW in this process's own settings: what a worker's flight
    reads (it makes its HTTP clients without an allow list of its own)."""

    def setting(allow: str) -> None:
        monkeypatch.setenv("PLANNER_OUTBOUND_ALLOW", allow)
        get_settings.cache_clear()

    yield setting
    get_settings.cache_clear()


def queued_chat_run(session: Session, agent_name: str) -> Run:
    fields = JobFields(agent=agent_name, schedule="0 9 * * *", chat="Hello")
    job = jobs.create_job(session, "Briefing", fields, NOW, "UTC")
    run = Run(job_id=job.id, source=RunSource.schedule, scheduled_for=NOW, due_at=NOW)
    session.add(run)
    session.commit()
    return run


def run_once(settings: Settings, queue, run: Run) -> Run:
    """One attempt of the run, as a worker's flight makes it; the run as stored after."""
    execute_run(run.id, queue, settings, clock=lambda: NOW)
    with read_session(settings.database_url) as session:
        return session.get(Run, run.id)


# Saving.


@pytest.mark.parametrize("url", NEVER_CALLED)
def test_an_agent_or_workflow_at_a_metadata_or_link_local_address_is_refused(
    settings, session, url
):
    before = snapshot(settings.database_url)
    with pytest.raises(ValidationError) as agent_refusal:
        registry.save_agent(session, "Thief", "http", url, settings=settings)
    with pytest.raises(ValidationError) as workflow_refusal:
        registry.save_workflow(session, "Thief", url, settings=settings)

    for refused in (agent_refusal.value, workflow_refusal.value):
        assert refused.field == "url"
        assert str(refused).startswith("Planner never calls ")
        assert "metadata" in str(refused)
    assert snapshot(settings.database_url) == before


def test_metadata_addresses_stay_refused_whatever_the_allow_list_says(settings, session):
    everything = allowing(settings, "0.0.0.0/0,::/0,*.internal")
    for url in NEVER_CALLED:
        with pytest.raises(ValidationError, match=r"^Planner never calls"):
            registry.save_workflow(session, "Thief", url, settings=everything)


def test_an_api_token_cannot_save_a_workflow_or_agent_at_a_metadata_address(api):
    made = api("POST", "/workflows", {"name": "steal", "url": "http://169.254.169.254/"})
    assert made.status_code == 400, made.text
    assert made.json()["error"] == {
        "message": "Planner never calls 169.254.169.254: it is a link-local or cloud "
        "metadata address.",
        "field": "url",
    }
    made = api("POST", "/agents", {"name": "steal", "backend": "http",
                                   "url": "http://metadata.google.internal/"})  # fmt: skip
    assert (made.status_code, made.json()["error"]["field"]) == (400, "url")
    assert api("GET", "/workflows").json()["items"] == []
    assert api("GET", "/agents").json()["items"] == []


def test_without_an_allow_list_local_agents_are_still_saved(settings, session, target):
    registry.save_agent(session, "Ollama", "openai", "http://localhost:11434/v1", "llama3.2",
                      settings=settings)  # fmt: skip
    registry.save_workflow(session, "Local", target.url + "/hooks/a", settings=settings)
    registry.save_workflow(session, "Private", "http://10.0.0.5/hooks", settings=settings)


def test_with_an_allow_list_only_what_it_names_is_saved(settings, session, target):
    local = allowing(settings, ALLOW_LOCAL)
    registry.save_agent(session, "Local", "http", target.url + "/agent", settings=local)
    registry.save_agent(session, "By name", "http", "http://localhost:9/agent", settings=local)

    with pytest.raises(ValidationError) as refused:
        registry.save_agent(session, "Other", "http", "http://10.0.0.5/agent", settings=local)
    assert (str(refused.value), refused.value.field) == (NOT_ALLOWED, "url")
    with pytest.raises(ValidationError, match=r"^Planner may not call api\.openai\.com: "):
        registry.save_workflow(session, "Cloud", "https://api.openai.com/v1", settings=local)


def test_host_names_on_the_allow_list_are_exact_or_below_a_domain(settings, session):
    named = allowing(settings, "ollama.internal,*.agents.example.com")
    for n, url in enumerate(("http://ollama.internal:11434/v1", "https://eu.agents.example.com/run",
                "https://A.B.agents.example.com./run")):  # fmt: skip
        registry.save_workflow(session, f"Allowed {n}", url, settings=named)
    for url in ("http://other.internal/v1", "https://registry.example.com/run",
                "https://evilagents.example.com/run", "http://127.0.0.1:9/"):  # fmt: skip
        with pytest.raises(ValidationError, match="PLANNER_OUTBOUND_ALLOW does not include it"):
            registry.save_workflow(session, "Refused", url, settings=named)


def test_the_cli_refuses_an_agent_outside_the_allow_list_and_tests_one_inside(settings, target):
    env = {"PLANNER_OUTBOUND_ALLOW": ALLOW_LOCAL}
    done = planner_here(settings, "agents", "add", "Other", "--url", "http://10.0.0.5/v1",
                   "--model", "m", **env)  # fmt: skip
    assert (done.returncode, done.stderr) == (2, f"planner: {NOT_ALLOWED}\n")

    added = planner_here(settings, "agents", "add", "Helper", "--url", target.url + "/v1",
                    "--model", "m", **env)  # fmt: skip
    assert added.returncode == 0, added.stderr
    tested = planner_here(settings, "agents", "test", "Helper", **env)
    assert tested.returncode == 0, tested.stderr
    assert len(target.received("/v1/chat/completions")) == 1


# Calling.


def test_a_run_inside_the_allow_list_calls_its_agent(settings, session, target, queue, allow_list):
    allow_list(ALLOW_LOCAL)
    local = allowing(settings, ALLOW_LOCAL)
    registry.save_agent(session, "Assistant", "http", target.url + "/agent", settings=local)
    done = run_once(local, queue, queued_chat_run(session, "Assistant"))
    assert done.status == RunStatus.succeeded, done.error
    assert len(target.received("/agent")) == 1


def test_a_run_outside_the_allow_list_fails_with_the_reason_and_calls_nothing(
    settings, session, target, queue, allow_list
):
    # Saved while anything could be; then the operator limits calls to the 10.x network.
    registry.save_agent(session, "Assistant", "http", target.url + "/agent", settings=settings)
    allow_list("10.0.0.0/8")
    done = run_once(allowing(settings, "10.0.0.0/8"), queue, queued_chat_run(session, "Assistant"))

    assert (done.status, done.attempt) == (RunStatus.failed, 1)  # not retried: it would not help
    assert (
        done.error == "Planner may not call 127.0.0.1: PLANNER_OUTBOUND_ALLOW does not include it."
    )
    assert target.received() == []
    assert queue.submitted == []


@pytest.mark.parametrize(
    ("url", "called"),
    [("http://169.254.169.254/latest/", "169.254.169.254"),
     ("http://2852039166/latest/", "2852039166 (169.254.169.254)")],
)  # fmt: skip
def test_an_agent_stored_at_a_metadata_address_fails_its_run_without_a_call(
    settings, session, queue, url, called
):
    # As an older Planner may have stored it: no save-time check ever saw it.
    session.add(Agent(name="Thief", backend="http", base_url=url))
    session.commit()
    done = run_once(settings, queue, queued_chat_run(session, "Thief"))

    assert (done.status, done.attempt) == (RunStatus.failed, 1)  # at once, not retried
    assert done.error == (
        f"Planner never calls {called}: it is a link-local or cloud metadata address."
    )


def test_a_name_is_looked_up_when_the_call_is_made_and_its_address_checked():
    # "localhost" is looked up by the system's resolver now, and its address refused.
    with pytest.raises(Refused) as refused:
        asyncio.run(addresses_to_call("localhost", 80, parse_allowed("10.0.0.0/8")))
    assert str(refused.value) == (
        "Planner may not call localhost (127.0.0.1): PLANNER_OUTBOUND_ALLOW does not include it."
    )
    assert asyncio.run(addresses_to_call("localhost", 80, parse_allowed(ALLOW_LOCAL))) == [
        "127.0.0.1"
    ]


def test_a_name_that_resolves_to_a_metadata_address_is_refused_at_call_time():
    # No resolver here can be made to answer 169.254.169.254 for a name, so this is the
    # check the connection code applies to whatever the lookup returned (DNS rebinding:
    # a name saved while it pointed elsewhere).
    found = [ip_address("93.184.215.14"), ip_address("169.254.169.254")]
    with pytest.raises(Refused) as refused:
        permitted("registry.example.com", found, ANYWHERE)
    assert str(refused.value) == (
        "Planner never calls registry.example.com (169.254.169.254): it is a link-local or cloud "
        "metadata address."
    )
    with pytest.raises(Refused, match="never calls"):
        permitted("registry.example.com", [ip_address("fd00:ec2::254")], parse_allowed("::/0"))
    # An allowed name still never reaches a metadata address.
    with pytest.raises(Refused, match="never calls"):
        permitted("ollama.internal", found, parse_allowed("ollama.internal"))
    assert permitted("ollama.internal", found[:1], parse_allowed("ollama.internal")) == found[:1]


def test_of_a_name_s_addresses_only_the_allowed_ones_are_called():
    found = [ip_address("::1"), ip_address("127.0.0.1")]
    assert permitted("localhost", found, parse_allowed(ALLOW_LOCAL)) == [ip_address("127.0.0.1")]


# Notification channels.


@pytest.mark.parametrize(
    "url",
    [
        "json://169.254.169.254/latest/meta-data/",
        "jsons://[fd00:ec2::254]/hook",
        "xml://metadata.google.internal/hook",
        "form://169.254.1.1:8080/hook",
        "mailto://user:password@example.com?smtp=169.254.169.254&to=me@example.com",
    ],
)
def test_a_channel_at_a_metadata_or_link_local_address_is_refused(settings, url):
    with pytest.raises(ValidationError, match=r"^Planner never calls ") as refused:
        check_address(url, settings.outbound_allow)
    assert refused.value.field == "url"


def test_a_channel_address_respects_the_allow_list(settings):
    check_address("json://127.0.0.1:8080/hook", settings.outbound_allow)  # no list: anything else
    check_address("json://10.0.0.5/hook", settings.outbound_allow)

    local = allowing(settings, f"{ALLOW_LOCAL},ntfy.example.com")
    check_address("json://127.0.0.1:8080/hook", local.outbound_allow)
    check_address("ntfy://ntfy.example.com/alerts", local.outbound_allow)
    with pytest.raises(ValidationError) as refused:
        check_address("json://10.0.0.5/hook", local.outbound_allow)
    assert (str(refused.value), refused.value.field) == (NOT_ALLOWED, "url")
    with pytest.raises(ValidationError, match=r"^Planner may not call smtp\.example\.com: "):
        check_address(
            "mailtos://me:password@example.com?smtp=smtp.example.com", local.outbound_allow
        )


def test_a_channel_service_at_its_own_fixed_address_names_no_server_to_check(settings):
    # Slack's URL holds tokens, not a host: Apprise always calls hooks.slack.com.
    local = allowing(settings, ALLOW_LOCAL)
    check_address(
        "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general", local.outbound_allow
    )
    check_address("not a channel at all", local.outbound_allow)  # left to the channel's own check


def test_a_channel_at_a_cloud_metadata_address_or_outside_the_allow_list_is_not_added(
    settings, session
):
    with pytest.raises(ValidationError) as refused:
        channels.add_channel(session, settings, "Meta", "json://169.254.169.254/x", utcnow())
    assert refused.value.field == "url"
    narrow = replace(settings, outbound_allow=parse_allowed("127.0.0.1/32"))
    with pytest.raises(ValidationError):
        channels.add_channel(session, narrow, "Far", "json://10.1.2.3/hook", utcnow())
    channels.add_channel(session, narrow, "Near", "json://127.0.0.1:9/hook", utcnow())
    assert [c.name for c in channels.list_channels(session)] == ["Near"]
