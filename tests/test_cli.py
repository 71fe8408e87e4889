"""The `planner` command: docs/cli.md's walkthrough, and its error contract.

The command runs in the test's process (planner_cli, planner_here) where a test is about
its logic and its output: each child process would pay seconds of imports. The installed
command runs as a process of its own where the process is what is tested: its first
command and a run it queues for a real worker, its exit into a closed pipe, and the one
line of a release step that cannot reach the database."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from subprocess import CompletedProcess

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel, select

from cli.main import main
from core.config import get_settings
from core.store.db import get_engine, migrate, read_session
from core.store.models import ScheduledJob
from queueing import queue_for
from support.cli import planner_cli, planner_here
from support.processes import free_port, planner
from support.stored import everything_stored, snapshot
from support.waiting import wait_until


@pytest.fixture
def cli(settings, monkeypatch):
    """Run `planner` in this process against the test database; returns the exit code."""
    with planner_cli(settings, monkeypatch) as run:
        yield run


def test_the_cli_walkthrough(settings, target, consumer):
    """docs/cli.md from `planner migrate` on. End to end, the installed command in a process
    of its own migrates the database and queues a run, which a real worker calls the agent
    for; the steps between are the same commands in this process."""

    def ok(*args: str, run: Callable[..., CompletedProcess[str]] = planner_here) -> str:
        done = run(settings, *args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    ok("migrate", run=planner)
    ok("migrate")  # idempotent
    ok("agents", "add", "Assistant", "--backend", "openai", "--url", target.url + "/v1",
       "--model", "llama3.2")  # fmt: skip
    ok("workflows", "add", "analyze-email", "--url", target.url + "/hooks/analyze",
       "--auth-env", "ANALYZE_TOKEN")  # fmt: skip
    template = "Good morning! Today is {dayOfWeek} {date}. Here's today's agenda: {agenda}"
    ok("jobs", "add", "Morning Briefing", "--agent", "Assistant", "--schedule", "0 9 * * *",
       "--timezone", "Europe/Berlin", "--chat", template)  # fmt: skip
    ok("jobs", "add", "Weekly report", "--agent", "Assistant", "--schedule", "0 9 * * 1",
       "--workflow", "analyze-email", "--input", '{"scope":"week"}')  # fmt: skip

    jobs = json.loads(ok("jobs", "list", "--json"))
    assert [job["name"] for job in jobs] == ["Morning Briefing", "Weekly report"]
    briefing = jobs[0]
    assert briefing["description"] == "At 09:00, every day"
    assert (briefing["status"], briefing["health"], briefing["timezone"]) == (
        "active",
        "green",
        "Europe/Berlin",
    )
    assert briefing["next_run_at"].endswith(("T08:00:00+00:00", "T07:00:00+00:00"))
    assert {"id", "agent_id", "name", "schedule", "timezone", "description", "action",
            "config", "status", "health", "next_run_at", "last_run_at",
            "last_outcome"} <= set(briefing)  # fmt: skip

    consumer()
    run_id = json.loads(ok("jobs", "run", "Morning Briefing", "--json", run=planner))["id"]

    def finished() -> list:
        runs = json.loads(ok("runs", "--job", "Morning Briefing", "--json"))
        return [run for run in runs if run["finished_at"]]

    [run] = wait_until(finished, what="the run-now run to finish")
    assert run["id"] == run_id and run["status"] == "succeeded"
    assert {"id", "job_id", "trigger_id", "source", "status", "attempt", "scheduled_for",
            "started_at", "finished_at", "input", "output", "error"} <= set(run)  # fmt: skip
    assert run["input"].startswith("Good morning! Today is ")
    assert run["input"].endswith("Here's today's agenda: ")

    ok("jobs", "pause", "Weekly report")
    assert json.loads(ok("jobs", "show", "Weekly report", "--json"))["health"] == "yellow"
    ok("jobs", "resume", "Weekly report")
    updated = json.loads(ok("jobs", "update", "Morning Briefing", "--schedule", "30 8 * * 1-5",
                            "--json"))  # fmt: skip
    assert updated["description"] == "At 08:30, Monday through Friday"
    ok("jobs", "rm", "Weekly report")
    assert [job["name"] for job in json.loads(ok("jobs", "list", "--json"))] == ["Morning Briefing"]


def test_cron_shows_the_next_runs_in_the_timezone(cli, capsys):
    code = cli("cron", "0 9 * * 1", "--timezone", "America/New_York", "--next", "5",
               "--from", "2026-11-01T00:00", "--json")  # fmt: skip
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["valid"] is True and result["description"] == "At 09:00, only on Monday"
    assert result["next"] == [
        "2026-11-02T09:00:00-05:00",
        "2026-11-09T09:00:00-05:00",
        "2026-11-16T09:00:00-05:00",
        "2026-11-23T09:00:00-05:00",
        "2026-11-30T09:00:00-05:00",
    ]


def test_cron_reports_an_invalid_expression_as_json_and_exit_2(cli, capsys):
    assert cli("cron", "0 9 * * * *", "--json") == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {
        "valid": False,
        "error": "'0 9 * * * *' has 6 fields; use the standard 5 (minute hour day-of-month "
        "month day-of-week): seconds and years are not supported.",
    }
    assert captured.err.count("\n") == 1


BAD_COMMANDS = [
    (["jobs", "add", "J", "--agent", "Assistant", "--schedule", "61 * * * *", "--chat", "x"],
     "minute field '61' is not valid"),
    (["jobs", "add", "J", "--agent", "Assistant", "--schedule", "0 9 * * *", "--timezone",
      "Moon/Base", "--chat", "x"], "not a known timezone"),
    (["jobs", "add", "J", "--agent", "Nobody", "--schedule", "0 9 * * *", "--chat", "x"],
     "no agent named 'Nobody'"),
    (["jobs", "add", "J", "--agent", "Assistant", "--schedule", "0 9 * * *", "--workflow",
      "nope"], "no workflow named 'nope'"),
    (["jobs", "add", "J", "--agent", "Assistant", "--schedule", "0 9 * * *", "--chat", ""],
     "chat message is empty"),
    (["jobs", "add", "J", "--agent", "Assistant", "--schedule", "0 9 * * *", "--workflow",
      "analyze-email", "--input", "{not json"], "planner: --input is not JSON: write an object "
     """such as '{"from": "{emailFrom}"}', in single quotes so that the shell keeps the double """
     "quotes.\n"),
    (["triggers", "add", "T", "--agent", "Assistant", "--event", "GMAIL_NEW_GMAIL_MESSAGE",
      "--filters", "label: INBOX", "--chat", "x"], "--filters is not JSON: write an object "
     """such as '{"labelIds": "INBOX"}'"""),
    (["jobs", "update", "Existing", "--schedule", "* * *"], "has 3 fields"),
    (["jobs", "update", "Missing", "--schedule", "0 9 * * *"], "no job named 'Missing'"),
    (["jobs", "run", "Missing"], "no job named 'Missing'"),
    (["runs", "--status", "exploded"], "Unknown run status 'exploded'"),
    (["cron", "0 9 * * *", "--from", "next tuesday"], "is not a date and time"),
    (["agents", "add", "A2", "--url", "not-a-url", "--model", "m"], "not a web address"),
    (["agents", "rm", "Assistant"], "is used by job 'Existing'"),
    (["jobs", "add", "J", "--agent", "Assistant", "--schedule", "0 9 * * *", "--workflow",
      "analyze-email", "--input", '{"ratio": NaN}'], "NaN is not a number JSON allows"),
    (["jobs", "update", "Existing", "--workflow", "analyze-email", "--input",
      '{"x": [Infinity]}'], "Infinity is not a number JSON allows"),
    (["triggers", "add", "T", "--agent", "Assistant", "--event", "GMAIL_NEW_GMAIL_MESSAGE",
      "--filters", '{"interval": NaN}', "--chat", "x"], "NaN is not a number JSON allows"),
    (["agents", "add", "A2", "--url", "http://x/v1", "--model", "m", "--max-concurrency", "0"],
     "a whole number from 1 to 10000, not 0."),
    (["agents", "update", "Assistant", "--max-concurrency", "10001"], "not 10001."),
    (["agents", "update", "Assistant", "--name", "Renamed", "--max-concurrency", "two"],
     "(empty or none for no limit), not 'two'."),
    (["workflows", "update", "analyze-email", "--max-concurrency", "1.5"], "not '1.5'."),
    (["workflows", "update", "nope", "--max-concurrency", "2"], "no workflow named 'nope'"),
    (["jobs", "add", "J", "--agent", "Assistant", "--at", "2020-01-01 09:00", "--chat", "x"],
     "is in the past"),
    (["jobs", "update", "Existing", "--until", "2020-01-01"], "has no run left after now"),
    (["jobs", "update", "Existing", "--from", "tomorrow"], "'tomorrow' is not a date like"),
    (["jobs", "update", "Existing", "--jitter", "3h"], "longer than 1 hour"),
    (["jobs", "update", "Existing", "--retries", "11"], "from 0 to 10 (or default), not '11'."),
    (["jobs", "update", "Existing", "--timeout", "0s"], "at least 1 second"),
    (["triggers", "add", "T", "--agent", "Assistant", "--event", "GMAIL_NEW_GMAIL_MESSAGE",
      "--chat", "x", "--timeout", "a while"], "not a length of time like 30s, 5m or 1h"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "message"), BAD_COMMANDS)
def test_bad_input_says_why_on_one_line_exits_2_and_changes_nothing(
    cli, capsys, settings, agent, workflow, args, message
):
    assert cli("jobs", "add", "Existing", "--agent", "Assistant", "--schedule", "0 9 * * *",
               "--chat", "hi") == 0  # fmt: skip
    capsys.readouterr()
    before = snapshot(settings.database_url)

    assert cli(*args) == 2

    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.err.count("\n") == 1 and captured.err.startswith("planner: ")
    assert snapshot(settings.database_url) == before


def test_every_fault_of_a_command_is_said_on_a_line_of_its_own(cli, capsys, settings, agent):
    before = snapshot(settings.database_url)
    assert cli("jobs", "add", "9", "--agent", "Assistant", "--schedule", "61 * * * *",
               "--chat", " ", "--jitter", "3h") == 2  # fmt: skip
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" ")[:3] for line in lines] == [
        ["planner:", "A", "job"], ["planner:", "The", "minute"], ["planner:", "A", "random"],
        ["planner:", "The", "chat"],
    ], lines  # fmt: skip
    assert snapshot(settings.database_url) == before


@pytest.mark.parametrize(
    "args",
    [
        ["jobs", "add", "J", "--chat", "x", "--workflow", "w"],  # two actions
        ["jobs", "add", "J", "--schedule", "0 9 * * *", "--at", "2099-01-01 09:00"],
        ["jobs", "update", "J", "--overlap", "sometimes"],
        ["jobs", "add", "J", "--thread", "sideways"],
        ["cron", "0 9 * * *", "--next", "0"],
        ["frobnicate"],
    ],
)
def test_malformed_command_lines_exit_2(cli, args):
    with pytest.raises(SystemExit) as exit_:
        cli(*args)
    assert exit_.value.code == 2


def test_an_unmigrated_database_says_to_migrate(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    get_settings.cache_clear()
    try:
        assert main(["jobs", "list"]) == 2
    finally:
        get_settings.cache_clear()
    assert "run 'planner migrate'" in capsys.readouterr().err


def test_a_job_runs_once_or_between_days_with_a_random_delay(cli, capsys, agent):
    assert cli("jobs", "add", "Christmas", "--agent", "Assistant", "--at", "2099-12-24 09:00",
               "--timezone", "Europe/Berlin", "--chat", "Hi", "--json") == 0  # fmt: skip
    once = json.loads(capsys.readouterr().out)
    assert (once["schedule"], once["next_run_at"]) == (
        "once 2099-12-24 09:00",
        "2099-12-24T08:00:00+00:00",
    )
    assert once["description"] == "Once, on Thu 24 Dec 2099 at 09:00"
    assert cli("jobs", "add", "Advent", "--agent", "Assistant", "--schedule", "0 9 * * *",
               "--from", "2099-12-01", "--until", "2099-12-24", "--jitter", "5m",
               "--chat", "Door {date}", "--json") == 0  # fmt: skip
    advent = json.loads(capsys.readouterr().out)
    assert (advent["starts_on"], advent["ends_on"], advent["jitter_seconds"]) == (
        "2099-12-01",
        "2099-12-24",
        300,
    )
    assert advent["next_run_at"] == "2099-12-01T09:00:00+00:00"
    assert cli("jobs", "update", "Advent", "--from", "none", "--jitter", "0", "--json") == 0
    cleared = json.loads(capsys.readouterr().out)
    assert (cleared["starts_on"], cleared["ends_on"], cleared["jitter_seconds"]) == (
        None, "2099-12-24", 0
    )  # fmt: skip


def test_api_tokens_are_made_listed_and_revoked(cli, capsys, settings):
    assert cli("tokens", "create", "n8n", "--json") == 0
    made = json.loads(capsys.readouterr().out)
    assert made["token"].startswith("pln_") and made["prefix"] == made["token"][:12]
    assert made["token"] not in everything_stored(settings)
    assert cli("tokens", "list", "--json") == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert "token" not in listed and listed["last_used_at"] is None
    assert cli("tokens", "create", " N8N ") == 2
    assert "already exists" in capsys.readouterr().err
    assert cli("tokens", "rm", "n8n") == 0
    assert cli("tokens", "rm", "n8n") == 2
    assert "There is no token named 'n8n'." in capsys.readouterr().err


def test_migrate_is_idempotent_and_matches_the_models(settings):
    migrate(settings.database_url)
    with get_engine(settings.database_url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
    with read_session(settings.database_url) as db:
        assert db.exec(select(ScheduledJob)).all() == []


def test_a_job_added_just_before_its_time_is_handed_to_the_queue_without_waiting_for_a_tick(
    settings, agent
):
    """The command submits what falls inside the look-ahead itself, each run for its own
    moment; that a worker then starts such a message on time is test_worker's (a due job
    starts within a second of its time), so nothing here waits for the minute to turn."""
    added = planner_here(settings, "jobs", "add", "Soon", "--agent", "Assistant", "--schedule",
                         "* * * * *", "--chat", "on time", "--json")  # fmt: skip
    assert added.returncode == 0, added.stderr
    job = json.loads(added.stdout)
    runs = json.loads(planner_here(settings, "runs", "--job", "Soon", "--json").stdout)
    # Every occurrence inside the tick's 75-s look-ahead: the next minute, and the one
    # after when it is added late in a minute.
    assert {(r["source"], r["status"]) for r in runs} == {("schedule", "queued")}
    assert job["next_run_at"] == min(r["scheduled_for"] for r in runs)  # shown as next
    huey = queue_for(settings).huey  # no worker and no tick: only the command submitted
    messages = [*huey.pending(), *huey.scheduled()]  # scheduled: 3 s before the moment
    assert {m.name for m in messages} == {"start_runs"}
    assert sorted(i for m in messages for i in m.args[0]) == sorted(r["id"] for r in runs)


def test_output_into_a_closed_pipe_ends_quietly(settings, agent):
    """`planner jobs list | head -1` stops reading early; no traceback may follow."""
    reader, writer = os.pipe()
    os.close(reader)
    done = planner(settings, "agents", "list", stdout=writer)
    os.close(writer)
    assert (done.returncode, done.stderr) == (1, "")


def test_a_near_miss_variable_is_pointed_out_when_a_job_is_saved(settings, agent):
    done = planner_here(
        settings, "jobs", "add", "Briefing", "--agent", "Assistant", "--schedule", "0 9 * * *",
        "--chat", "Today is {dayofweek}.",
    )  # fmt: skip
    assert done.returncode == 0
    assert done.stderr == (
        "planner: note: No value for: {dayofweek} — did you mean {dayOfWeek}? As it is, it "
        "will be left empty.\n"
    )
    fixed = planner_here(settings, "jobs", "update", "Briefing", "--chat", "Today is {dayOfWeek}.")
    assert fixed.returncode == 0 and fixed.stderr == ""


def test_a_database_that_does_not_answer_is_one_line_in_the_release_log(settings):
    """`planner migrate` is a deploy's release step: an unreachable database says why."""
    closed = f"postgresql+psycopg://planner:pw@127.0.0.1:{free_port()}/planner"
    migrated = planner(settings, "migrate", DATABASE_URL=closed)
    assert migrated.returncode == 1
    [said] = migrated.stderr.strip().splitlines()
    assert said.startswith("planner: cannot use the database: ") and "refused" in said


def test_a_token_for_one_agent_is_made_and_listed_with_its_agent(cli, capsys, settings, agent):
    assert cli("tokens", "create", "assistant only", "--agent", "Assistant", "--json") == 0
    assert json.loads(capsys.readouterr().out)["agent"] == "Assistant"
    assert cli("tokens", "create", "everything") == 0
    capsys.readouterr()
    before = snapshot(settings.database_url)
    assert cli("tokens", "create", "stray", "--agent", "Nobody") == 2
    assert capsys.readouterr().err == "planner: There is no agent named 'Nobody'.\n"
    assert snapshot(settings.database_url) == before
    assert cli("tokens", "list", "--json") == 0
    listed = [(token["name"], token["agent"]) for token in json.loads(capsys.readouterr().out)]
    assert listed == [("assistant only", "Assistant"), ("everything", None)]
    assert cli("tokens", "list") == 0
    mine, everything = capsys.readouterr().out.splitlines()
    assert "  for agent Assistant  " in mine and "  for every agent  " in everything
