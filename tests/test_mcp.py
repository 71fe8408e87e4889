"""Agents plan for themselves: the MCP server at /mcp on the web address, through the
official MCP client against the real web process and its worker, and `planner mcp` over
stdio. A token made for one agent reaches that agent's jobs, triggers and runs alone;
refusals are tool errors in the CLI's words."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from mcp import ClientSession
from sqlmodel import select

from core.access import tokens
from core.agents import registry
from core.automations import jobs
from core.automations.jobs import JobFields
from core.store.db import read_session
from core.store.db import session as open_session
from core.store.models import Run, RunStatus, ScheduledJob, utcnow
from core.views.overview import late_in_words
from support.mcp_client import Work, calling, over_http, over_stdio, refusal_of, text_of, tool_names
from support.processes import ROOT, get, serve_web, settings_env, stop
from support.screens import daily_away_from_now
from support.waiting import wait_until

TOOLS = ["delete_job", "list_jobs", "list_runs", "list_triggers", "pause_job", "resume_job",
         "run_job_now", "schedule_message"]  # fmt: skip


@contextmanager
def web_process(settings, log: Path, **env: str) -> Iterator[str]:
    """The Procfile's web process with its own worker; its /mcp address."""
    variables = settings_env(settings, PLANNER_EMBEDDED_WORKER="1", **env)
    process, url = serve_web(variables, log)
    try:
        wait_until(lambda: get(url + "/healthz"), timeout=60, what="the web process")
        yield url + "/mcp"
    finally:
        stop(process)


@pytest.fixture
def web(settings, tmp_path) -> Iterator[str]:
    with web_process(settings, tmp_path / "web.log") as url:
        yield url


def token_for(settings, agent: str | None) -> str:
    with open_session(settings.database_url) as session:
        return tokens.create_token(session, f"mcp {agent}", utcnow(), agent).token


def next_whole_minute(timezone: str) -> datetime:
    """The next whole minute on `timezone`'s clock at least 5 s ahead (a one-off is set to
    the minute), as a naive local time."""
    soon = datetime.now(UTC).astimezone(ZoneInfo(timezone)) + timedelta(seconds=65)
    return soon.replace(second=0, microsecond=0, tzinfo=None)


def stored_jobs(settings) -> list[ScheduledJob]:
    with read_session(settings.database_url) as session:
        return list(session.exec(select(ScheduledJob).order_by(ScheduledJob.id)))


def test_an_agent_schedules_a_follow_up_that_calls_it_once_on_time(settings, agent, target, web):
    token = token_for(settings, "Assistant")
    at = next_whole_minute("Europe/Berlin")

    assert over_http(web, token, tool_names) == TOOLS
    result = over_http(web, token, calling(
        "schedule_message", message="Follow up on the invoice", at=f"{at:%Y-%m-%d %H:%M}",
        timezone="Europe/Berlin", name="Invoice follow-up",
    ))  # fmt: skip
    assert not result.is_error, text_of(result)
    assert (
        text_of(result) == f"Scheduled 'Invoice follow-up' for {at:%a %d %b}, {at:%H:%M} (Berlin)."
    )
    assert result.structured_content["job"]["name"] == "Invoice follow-up"

    def finished() -> list[Run]:
        with read_session(settings.database_url) as session:
            return [r for r in session.exec(select(Run)) if r.status == RunStatus.succeeded]

    [run] = wait_until(finished, timeout=150, what="the follow-up's run")
    calls = target.received("/v1/chat/completions")
    assert len(calls) == 1
    assert calls[0].body["messages"][-1] == {"role": "user", "content": "Follow up on the invoice"}
    assert run.scheduled_for == at.replace(tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC)
    assert late_in_words(run) == ""  # started within the product's "on time"

    runs = over_http(web, token, calling("list_runs"))
    assert "Invoice follow-up" in text_of(runs) and "succeeded" in text_of(runs)


def test_a_token_for_one_agent_cannot_see_or_change_another_agents_job(
    settings, session, agent, target, web
):
    registry.save_agent(session, "Other", "openai", target.url + "/v1", "test-model")
    fields = JobFields(agent="Other", schedule=daily_away_from_now(), chat="Secret plans")
    jobs.create_job(session, "Other's briefing", fields, utcnow(), "UTC")
    token = token_for(settings, "Assistant")
    before = [job.model_dump() for job in stored_jobs(settings)]

    listed = over_http(web, token, calling("list_jobs"))
    assert text_of(listed) == "No jobs yet." and listed.structured_content == {"jobs": []}
    for tool in ("pause_job", "delete_job", "run_job_now", "resume_job"):
        refused = over_http(web, token, calling(tool, job="Other's briefing"))
        assert refused.is_error
        assert text_of(refused) == 'There is no job named "Other\'s briefing".'
        by_id = over_http(web, token, calling(tool, job=before[0]["id"]))
        assert text_of(by_id) == f"There is no job with id {before[0]['id']}."
    assert [job.model_dump() for job in stored_jobs(settings)] == before

    everyone = over_http(web, token_for(settings, None), calling("list_jobs"))
    assert "Other's briefing — active" in text_of(everyone)


def test_a_bad_cron_is_a_tool_error_in_the_clis_words_and_saves_nothing(settings, agent, web):
    token = token_for(settings, "Assistant")
    refused = over_http(web, token, calling("schedule_message", message="Hi", cron="61 * * * *"))
    assert refused.is_error
    assert "minute" in text_of(refused) and "61" in text_of(refused)
    past = over_http(web, token, calling("schedule_message", message="Hi", at="2020-01-01 09:00"))
    assert past.is_error and "past" in text_of(past)
    neither = over_http(web, token, calling("schedule_message", message="Hi"))
    assert text_of(neither) == "Give either `at` (a date and time) or `cron`, one of them."
    misspelt = over_http(web, token, calling(
        "schedule_message", message="Hi", cron="0 9 * * *", tz="Asia/Tokyo"
    ))  # fmt: skip
    assert misspelt.is_error and "tz" in text_of(misspelt)
    too_many = over_http(web, token, calling("list_runs", limit=1000))
    assert too_many.is_error and text_of(too_many) == "limit is 1 to 50."
    assert stored_jobs(settings) == []


def test_a_request_without_a_known_token_is_refused(settings, web):
    for token in ("", "pln_not-a-token"):
        with pytest.raises(BaseException) as raised:
            over_http(web, token, tool_names)
        refusal = refusal_of(raised.value)
        assert refusal is not None and refusal.error.code == -32001


def test_planner_mcp_serves_the_same_tools_over_stdio(settings, agent):
    env = settings_env(settings)
    command = [sys.executable, "-m", "cli.main", "mcp", "--agent", "Assistant"]

    async def schedule_and_list(client: ClientSession) -> tuple[list[str], str, str]:
        names = await tool_names(client)
        made = await client.call_tool(
            "schedule_message", {"message": "Stand-up notes", "cron": "0 9 * * 1-5",
                                 "timezone": "Europe/Berlin", "name": "Stand-up"}
        )  # fmt: skip
        listed = await client.call_tool("list_jobs", {})
        return names, text_of(made), text_of(listed)

    names, made, listed = over_stdio(command, env, schedule_and_list)
    assert names == TOOLS
    assert made.startswith("Scheduled 'Stand-up': At 09:00, Monday through Friday (Berlin)")
    assert listed.startswith("Stand-up — active — At 09:00, Monday through Friday (Berlin)")
    [job] = stored_jobs(settings)
    assert job.agent_id == agent.id


def planner_mcp(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    """`planner mcp` with nothing on its stdin: what it says before it would serve."""
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "mcp", *args], cwd=ROOT, env=env, input=b"",
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("name", ["Nobody", ""])
def test_planner_mcp_for_an_unknown_agent_says_so_and_serves_nothing(settings, agent, name):
    """An empty name too: a desktop client's unset variable must not mean every agent."""
    done = planner_mcp(settings_env(settings), "--agent", name)
    assert done.returncode == 2 and done.stdout == b""
    assert done.stderr.decode().strip() == f"planner mcp: There is no agent named {name!r}."


def test_planner_mcp_on_a_database_not_set_up_says_what_to_do(settings, tmp_path):
    env = settings_env(settings) | {"DATABASE_URL": f"sqlite:///{tmp_path}/new.db"}
    done = planner_mcp(env)
    assert done.returncode == 2 and done.stdout == b""
    said = "planner mcp: the database is not set up yet; run 'planner migrate'."
    assert done.stderr.decode().strip() == said


def test_the_mcp_server_leaves_the_process_log_as_it_was(settings, agent, web, tmp_path):
    """The SDK would set up the root logger itself (Rich, every INFO line, wrapped): the
    web process's log keeps warnings and up, a line each."""
    token = token_for(settings, "Assistant")
    over_http(web, token, calling("list_jobs"))
    assert over_http(web, token, calling("pause_job", job="Nothing")).is_error
    log = (tmp_path / "web.log").read_text()
    assert "Terminating session" not in log and "INFO" not in log


def refused_with(url: str, token: str, work: Work = tool_names) -> int | None:
    """The JSON-RPC code of the refusal a session with `token` met, None if it met none."""
    try:
        over_http(url, token, work)
    except BaseException as raised:  # the SDK's task groups wrap the refusal
        refusal = refusal_of(raised)
        assert refusal is not None, raised
        return refusal.error.code
    return None


def test_mcp_requests_are_held_to_the_apis_rates(settings, agent, tmp_path):
    """Per token (a session is three requests: here 4 a minute), and unknown tokens per
    address (10 a minute), as /api/v1 holds them."""
    with web_process(settings, tmp_path / "web.log", PLANNER_API_REQUESTS_PER_MINUTE="4") as url:
        token = token_for(settings, "Assistant")
        assert refused_with(url, token) is None
        assert refused_with(url, token) == -32002
        codes = [refused_with(url, "pln_guessed") for _ in range(12)]
    assert codes[:10] == [-32001] * 10 and codes[-1] == -32002


def test_a_request_over_the_apis_size_is_refused_and_saves_nothing(settings, agent, web):
    token = token_for(settings, "Assistant")
    huge = calling("schedule_message", message="x" * 2**21, cron="0 9 * * *")
    assert refused_with(web, token, huge) == -32003
    assert stored_jobs(settings) == []
