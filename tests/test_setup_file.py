"""A setup moves between machines as one YAML file: `planner export`, `planner import`.

The command runs in the test's process (support.cli.planner_here): what is tested is its
logic and its output, and each child process would pay seconds of imports. Two tests run
the import as a process of its own, as they are about two processes: one holding SQLite's
write lock or writing while the other imports."""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from sqlmodel import select

from core.agents import registry
from core.automations import jobs
from core.errors import PlannerError, ValidationError
from core.outbound import parse_allowed
from core.setup import schema, transfer
from core.store.db import read_session
from core.store.db import session as open_session
from core.store.models import Run, ScheduledJob, utcnow
from support.cli import planner_cli, planner_here
from support.processes import planner
from support.stored import snapshot
from support.waiting import wait_until

pytestmark = pytest.mark.database  # about the database and the queue: PostgreSQL + Redis too


def ok(settings, *args: str, stdin: str = "") -> str:
    """`planner` in this process: it must succeed; its standard output."""
    done = planner_here(settings, *args, stdin=stdin)
    assert done.returncode == 0, done.stderr
    return done.stdout


def a_setup(settings) -> None:
    """Two agents (one with a pasted key), a workflow, a chat job, a paused workflow job
    that tells nobody and a workflow trigger that tells a channel of its own about
    failures."""
    ok(settings, "notify", "add", "Ops", "--url", "json://127.0.0.1:9/alerts")
    ok(settings, "agents", "add", "Assistant", "--url", "http://127.0.0.1:9/v1",
       "--model", "gpt-4o-mini", "--api-key-env", "OPENAI_API_KEY")  # fmt: skip
    ok(settings, "agents", "add", "Helper", "--url", "http://127.0.0.1:9/v1", "--model", "m",
       "--max-concurrency", "2", "--api-key-stdin", stdin="sk-pasted-secret\n")  # fmt: skip
    ok(settings, "workflows", "add", "analyze-email", "--url", "http://127.0.0.1:9/hook")
    ok(settings, "jobs", "add", "Morning briefing", "--agent", "Assistant", "--schedule",
       "0 9 * * 1-5", "--timezone", "Europe/Berlin", "--chat", "Good morning, {date}",
       "--thread", "continue", "--until", "2099-12-31", "--jitter", "5m")  # fmt: skip
    ok(settings, "jobs", "add", "Weekly report", "--agent", "Helper", "--schedule", "@weekly",
       "--workflow", "analyze-email", "--input", '{"scope": "week"}',
       "--misfire", "skip", "--retries", "0", "--timeout", "300", "--overlap", "queue",
       "--notify", "none")  # fmt: skip
    ok(settings, "jobs", "pause", "Weekly report")
    ok(settings, "triggers", "add", "New mail", "--agent", "Assistant", "--event",
       "GMAIL_NEW_GMAIL_MESSAGE", "--workflow", "analyze-email", "--notify", "Ops",
       "--notify-on", "failure")  # fmt: skip


def wipe(settings) -> None:
    for kind, name in [("jobs", "Morning briefing"), ("jobs", "Weekly report"),
                       ("triggers", "New mail"), ("workflows", "analyze-email"),
                       ("agents", "Assistant"), ("agents", "Helper")]:  # fmt: skip
        ok(settings, kind, "rm", name)


def job_keys(settings) -> set[str]:
    with read_session(settings.database_url) as session:
        return {job.key for job in session.exec(select(ScheduledJob))}


def test_a_setup_moves_through_a_file_and_comes_back_the_same(settings, tmp_path: Path):
    a_setup(settings)
    exported = ok(settings, "export")
    assert "sk-pasted-secret" not in exported
    document = yaml.safe_load(exported)
    helper = next(a for a in document["agents"] if a["name"] == "Helper")
    assert helper["pasted_key"] is True and helper["max_concurrency"] == 2
    [weekly] = [j for j in document["jobs"] if j["name"] == "Weekly report"]
    assert weekly == {
        "name": "Weekly report", "agent": "Helper", "schedule": "@weekly", "timezone": "UTC",
        "starts_on": None, "ends_on": None, "jitter": "0",
        "workflow": "analyze-email", "input": {"scope": "week"}, "misfire": "skip",
        "retries": 0, "timeout": "5m", "overlap": "queue", "notify": "none",
        "notify_on": "failure, recovery", "paused": True,
    }  # fmt: skip
    [mail] = document["triggers"]
    assert (mail["retries"], mail["timeout"], mail["overlap"]) == (None, None, None)
    assert (mail["notify"], mail["notify_on"]) == ("Ops", "failure")
    [morning] = [j for j in document["jobs"] if j["name"] == "Morning briefing"]
    assert morning["notify"] == "default"  # Settings' channels, as a new job tells
    [morning] = [j for j in document["jobs"] if j["name"] == "Morning briefing"]
    assert (morning["ends_on"], morning["jitter"]) == ("2099-12-31", "5m")
    old_keys = job_keys(settings)
    wipe(settings)  # as on a new machine

    path = tmp_path / "planner.yaml"
    path.write_text(exported)
    done = planner_here(settings, "import", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "Imported (6 created, 0 updated, 0 unchanged)."
    assert "created job 'Weekly report'" in done.stdout
    assert "agent 'Helper' had a pasted API key" in done.stderr  # and it says how to paste it
    # the same setup, but for the key, which stays on the machine it was pasted on
    assert ok(settings, "export") == exported.replace("  pasted_key: true\n", "")
    assert job_keys(settings).isdisjoint(old_keys)  # thread ids are never handed out again


def test_a_dry_run_says_what_would_change_and_changes_nothing(settings, tmp_path: Path):
    a_setup(settings)
    path = tmp_path / "planner.yaml"
    path.write_text(
        ok(settings, "export")
        .replace("0 9 * * 1-5", "30 8 * * 1-5")
        .replace("name: New mail", "name: Incoming mail")
    )
    before = snapshot(settings.database_url)
    output = ok(settings, "import", str(path), "--dry-run").splitlines()
    assert "updated job 'Morning briefing': schedule" in output
    assert "created trigger 'Incoming mail'" in output
    assert "unchanged job 'Weekly report'" in output
    assert output[-1] == "Dry run: nothing was changed (1 created, 1 updated, 4 unchanged)."
    assert snapshot(settings.database_url) == before


def test_importing_again_changes_only_what_differs(settings, tmp_path: Path):
    a_setup(settings)
    path = tmp_path / "planner.yaml"
    path.write_text(ok(settings, "export"))
    before = snapshot(settings.database_url)
    output = ok(settings, "import", str(path)).splitlines()
    assert output[-1] == "Imported (0 created, 0 updated, 6 unchanged)."
    assert snapshot(settings.database_url) == before  # not even a changed updated_at

    spaced = path.read_text().replace("name: Weekly report", "name: '  Weekly   report '")
    path.write_text(spaced)  # the same name as a person sees it
    assert "unchanged job 'Weekly report'" in ok(settings, "import", str(path))
    assert snapshot(settings.database_url) == before

    path.write_text(path.read_text().replace("paused: true", "paused: false"))
    assert "updated job 'Weekly report': paused" in ok(settings, "import", str(path))
    assert "[active" in ok(settings, "jobs", "show", "Weekly report")


GOOD = """planner: 1
agents:
- name: Assistant
  url: http://127.0.0.1:9/v1
  model: gpt-4o-mini
jobs:
- name: First
  agent: Assistant
  schedule: 0 9 * * *
  chat: Hello
"""
WITH_WORKFLOW = GOOD.replace("chat: Hello", "workflow: analyze").replace(
    "jobs:", "workflows:\n- name: analyze\n  url: http://127.0.0.1:9/w\njobs:"
)
REFUSALS = [
    ("not yaml", "planner: 1\nagents: [\n", "not valid YAML"),
    ("not a setup", "agents: []\n", "not a Planner setup file"),
    ("a list", "- planner: 1\n", "not a Planner setup file"),
    ("another version", "planner: 2\n", "not a Planner setup file"),
    ("a yes for a version", "planner: true\n", "not a Planner setup file"),
    ("unknown section", "planner: 1\nschedules: []\n", "Unknown section 'schedules'"),
    ("section not a list", "planner: 1\njobs: {}\n", "'jobs' must be a list"),
    ("entry not a mapping", "planner: 1\njobs: [First]\n", "jobs, entry 1"),
    ("no name", "planner: 1\nagents:\n- url: http://x\n", "give it a name"),
    ("unknown field", GOOD + "  scheduel: '* * * * *'\n", "unknown field 'scheduel'"),
    ("wrong type", GOOD.replace("chat: Hello", "chat: [Hello]"), "'chat' must be text"),
    ("a yes for a number", GOOD.replace("model: gpt-4o-mini", "model: m\n  max_concurrency: yes"),
     "'max_concurrency' must be a whole number or null"),
    ("twice", GOOD + "- name: first\n  agent: Assistant\n  schedule: '@daily'\n  chat: Hi\n",
     "in the file twice"),
    ("bad cron last", GOOD + "- name: Second\n  agent: Assistant\n  schedule: 61 * * * *\n"
     "  chat: Hi\n", "job 'Second':"),
    ("unknown agent", GOOD.replace("agent: Assistant", "agent: Nobody"), "no agent named 'Nobody'"),
    ("unknown workflow", GOOD.replace("chat: Hello", "workflow: none"), "no workflow named 'none'"),
    ("thread on a workflow", GOOD.replace("chat: Hello", "workflow: analyze\n  thread: new")
     .replace("jobs:", "workflows:\n- name: analyze\n  url: http://127.0.0.1:9/w\njobs:"),
     "A thread mode only applies to chat jobs"),
    ("a key twice", "planner: 1\njobs: []\njobs: []\n", "'jobs' is given twice"),
    ("a number too long", "planner: 1\nagents:\n- name: a\n  max_concurrency: " + "9" * 5000,
     "a value that is not plain data"),
    ("bytes in input", WITH_WORKFLOW + "  input: {b: !!binary aGVsbG8=}\n",
     "bytes data, which JSON cannot hold"),
    ("a number as a key", WITH_WORKFLOW + "  input: {1: one}\n", "a key is not text"),
    ("aliases", "planner: 1\nx: &a [1]\nagents: *a\n", "aliases"),
    ("a number for a day", GOOD + "  starts_on: 5\n", "'starts_on' must be text or null"),
    ("a yes for a delay", GOOD + "  jitter: true\n", "'jitter' must be text or a number"),
    ("a list for a timeout", GOOD + "  timeout: [1]\n", "'timeout' must be text, a number or null"),
    ("an unknown overlap", GOOD + "  overlap: sideways\n", "skip, queue or allow"),
    ("a day out of range", GOOD + "  starts_on: '0001-01-01'\n", "between the years"),
    ("a bidi control in a name", GOOD.replace("name: First", 'name: "First\\u202E"'),
     "The job name holds an invisible formatting character (U+202E)"),
    ("too deep", "planner: 1\njobs:\n- name: x\n  input: {a: " + "[" * 5000 + "]" * 5000 + "}\n",
     "nested more than 64 levels deep"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_a_bad_file_is_refused_with_one_line_and_changes_nothing(
    settings, monkeypatch, capsys, tmp_path: Path, text: str, message: str
):
    path = tmp_path / "planner.yaml"
    path.write_text(text)
    before = snapshot(settings.database_url)
    with planner_cli(settings, monkeypatch) as cli:
        assert cli("import", str(path)) == 2
    error = capsys.readouterr().err
    assert message in error and error.startswith("planner: ") and error.count("\n") == 1
    assert snapshot(settings.database_url) == before


def test_default_in_a_file_is_planners_as_on_the_cli(settings, tmp_path: Path):
    path = tmp_path / "planner.yaml"
    path.write_text(GOOD + "  retries: default\n  timeout: default\n  overlap: default\n")
    assert ok(settings, "import", str(path)).splitlines()[-1] == (
        "Imported (2 created, 0 updated, 0 unchanged)."
    )
    assert ok(settings, "import", str(path)).splitlines()[-1] == (
        "Imported (0 created, 0 updated, 2 unchanged)."
    )


def test_a_job_that_ran_already_is_restored_as_done(settings, tmp_path: Path):
    path = tmp_path / "planner.yaml"
    path.write_text(
        GOOD.replace("schedule: 0 9 * * *", "schedule: once 2020-01-01 09:00")
        + "- name: Advent\n  agent: Assistant\n  schedule: 0 9 * * *\n  starts_on: '2020-12-01'\n"
        "  ends_on: '2020-12-24'\n  chat: Door\n"
    )
    done = planner_here(settings, "import", str(path))
    assert done.returncode == 0, done.stderr
    shown = json.loads(ok(settings, "jobs", "list", "--json"))
    assert [(j["name"], j["next_run_at"], j["health"]) for j in shown] == [
        ("Advent", None, "grey"), ("First", None, "grey")
    ]  # fmt: skip
    assert ok(settings, "import", str(path)).splitlines()[-1] == (
        "Imported (0 created, 0 updated, 3 unchanged)."
    )


def test_an_unreadable_file_is_refused(settings, monkeypatch, capsys, tmp_path: Path):
    (tmp_path / "latin1.yaml").write_bytes("planner: 1\n# caf\xe9\n".encode("latin-1"))
    (tmp_path / "huge.yaml").write_bytes(b"planner: 1\n" + b"#" * (10 * 1024 * 1024))
    with planner_cli(settings, monkeypatch) as cli:
        assert cli("import", str(tmp_path / "missing.yaml")) == 2
        assert "Cannot read" in capsys.readouterr().err
        assert cli("import", "") == 2
        assert "Name the file to import" in capsys.readouterr().err
        assert cli("import", str(tmp_path / "latin1.yaml")) == 2
        assert "is not UTF-8 text" in capsys.readouterr().err
        assert cli("import", str(tmp_path / "huge.yaml")) == 2
        assert "larger than 10 MiB" in capsys.readouterr().err


BIG = 500  # jobs in a file that takes five transactions to import
AN_AGENT = "planner: 1\nagents:\n- name: Assistant\n  url: http://127.0.0.1:9/v1\n  model: m\n"


def big_setup(tmp_path: Path) -> Path:
    """A file of one agent and BIG chat jobs."""
    path = tmp_path / "big.yaml"
    path.write_text(AN_AGENT + "jobs:\n" + "".join(
        f"- name: Job {n}\n  agent: Assistant\n  schedule: 0 9 * * *\n  chat: Report {n}\n"
        for n in range(BIG)
    ))  # fmt: skip
    return path


def only_on_sqlite(settings) -> None:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("about SQLite's write lock (PostgreSQL has none for a whole database)")


def test_a_dry_run_holds_no_write_lock(settings, tmp_path: Path):
    """The check is an import into a copy in memory: another connection holds SQLite's
    write lock, and writes, the whole time a dry run of a big file runs, and the dry run
    ends all the same (it used to take the lock for the whole check, minutes on such a
    file, and writers got 'database is locked')."""
    only_on_sqlite(settings)
    path = big_setup(tmp_path)
    with open_session(settings.database_url) as session:
        registry.save_workflow(session, "analyze", "http://127.0.0.1:9/w")
        # A write transaction (BEGIN IMMEDIATE: the write lock), open while the dry run runs.
        session.connection().execute(sa.text("UPDATE workflow SET auth_env = 'HELD'"))
        done = planner(settings, "import", str(path), "--dry-run")
        session.commit()
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == (
        f"Dry run: nothing was changed ({BIG + 1} created, 0 updated, 0 unchanged)."
    )
    assert json.loads(ok(settings, "workflows", "list", "--json"))[0]["auth_env"] == "HELD"
    assert job_keys(settings) == set()


def written_midway(settings) -> int | None:
    """How many jobs there were when a job of this test's own was written while the
    import had saved some of its jobs, not all; None when it had saved none or all. Its
    write transaction waits for the lock as every writer does (up to 30 s)."""
    with open_session(settings.database_url) as session:
        count = session.exec(select(sa.func.count()).select_from(ScheduledJob)).one()
        if not 0 < count < BIG:
            return None
        fields = jobs.JobFields(agent="Assistant", schedule="@daily", chat="hi")
        jobs.create_job(session, "Written meanwhile", fields, utcnow(), "UTC")
        return count


def test_an_import_lets_others_write_between_its_transactions(settings, tmp_path: Path):
    """A real import applies a big file in short transactions, leaving the write lock free
    between them: a writer that waits for it gets in part-way, its job is kept, and the
    import goes on to the end."""
    only_on_sqlite(settings)
    path = big_setup(tmp_path)
    with ThreadPoolExecutor(1) as pool:
        importing = pool.submit(planner, settings, "import", str(path))
        midway = wait_until(
            lambda: written_midway(settings) or (importing.done() and "the import ended"),
            timeout=240, what="a write while the import is part-way",
        )  # fmt: skip
        done = importing.result()
    assert isinstance(midway, int), "no writer got in while the import was part-way"
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"Imported ({BIG + 1} created, 0 updated, 0 unchanged)."
    with read_session(settings.database_url) as session:
        names = set(session.exec(select(ScheduledJob.name)))
    assert names == {f"Job {n}" for n in range(BIG)} | {"Written meanwhile"}


def test_a_refusal_part_way_keeps_what_was_done_and_says_it(settings, session):
    """Someone removes a workflow the file uses after the check found the file good: the
    import stops at the first job that needs it. What it saved before, in the same
    transaction too, stays and is named; importing again goes on from there."""
    registry.save_workflow(session, "analyze", "http://127.0.0.1:9/w")
    document = schema.read_setup(
        AN_AGENT + "jobs:\n"
        "- {name: First, agent: Assistant, schedule: '@daily', chat: hi}\n"
        "- {name: Second, agent: Assistant, schedule: '@daily', workflow: analyze}\n"
        "- {name: Third, agent: Assistant, schedule: '@daily', chat: hi}\n"
    )
    now = utcnow()
    transfer.check_setup(settings.database_url, document, settings, now)
    registry.remove_workflow(session, "analyze")
    with pytest.raises(PlannerError) as refused:
        transfer.import_setup(settings.database_url, document, settings, None, lambda: now)
    assert str(refused.value) == (
        "job 'Second': There is no workflow named 'analyze'. Stopped there; done before it: "
        "created agent 'Assistant'; created job 'First'. Import the file again to go on."
    )
    with read_session(settings.database_url) as reading:
        assert list(reading.exec(select(ScheduledJob.name))) == ["First"]

    registry.save_workflow(session, "analyze", "http://127.0.0.1:9/w")
    outcome = transfer.import_setup(settings.database_url, document, settings, None, lambda: now)
    assert [str(c) for c in outcome.changes] == [
        "unchanged agent 'Assistant'", "unchanged job 'First'", "created job 'Second'",
        "created job 'Third'",
    ]  # fmt: skip


class LookingQueue:
    """A RunQueue that looks up each run it is handed in a connection of its own, as a
    worker does."""

    def __init__(self, database_url: str) -> None:
        self.database_url, self.found = database_url, []

    def submit(self, run_ids: Sequence[int], eta: datetime | None = None) -> None:
        with read_session(self.database_url) as session:
            self.found += [session.get(Run, run_id) is not None for run_id in run_ids]

    def submit_events(self, event_ids: Sequence[str]) -> None:
        raise AssertionError("an import hands over no events")


def test_runs_an_import_plans_are_handed_over_once_committed(settings):
    """Jobs due within the minute have their runs planned as they are imported; a worker
    is handed them only once the transaction that made them is committed."""
    count = transfer.BATCH + 20  # a transaction and part of the next
    document = schema.read_setup(AN_AGENT + "jobs:\n" + "".join(
        f"- {{name: Minute {n}, agent: Assistant, schedule: '* * * * *', chat: hi}}\n"
        for n in range(count)
    ))  # fmt: skip
    queue = LookingQueue(settings.database_url)
    transfer.import_setup(settings.database_url, document, settings, queue, utcnow)
    assert len(queue.found) >= count and all(queue.found)


def test_a_long_import_plans_each_job_from_when_it_is_saved(settings):
    """An import that takes minutes (a clock that moves on a minute per transaction here)
    plans no job for a moment that passed before the job was saved."""
    count = transfer.BATCH * 2 + 20
    document = schema.read_setup(AN_AGENT + "jobs:\n" + "".join(
        f"- {{name: Minute {n}, agent: Assistant, schedule: '* * * * *', chat: hi}}\n"
        for n in range(count)
    ))  # fmt: skip
    read: list[datetime] = []

    def clock() -> datetime:
        read.append(utcnow() + timedelta(seconds=61 * len(read)))
        return read[-1]

    transfer.import_setup(settings.database_url, document, settings, None, clock)
    batches = read[-3:]  # the jobs' three transactions come last
    with read_session(settings.database_url) as session:
        for job in session.exec(select(ScheduledJob)):
            saved = batches[int(job.name.split()[1]) // transfer.BATCH]
            assert job.next_run_at > saved, (job.name, job.next_run_at, saved)


def test_a_trigger_composio_refuses_stops_the_import_and_says_what_was_done(
    connected, composio, tmp_path: Path
):
    path = tmp_path / "planner.yaml"
    path.write_text(
        GOOD + "triggers:\n- name: New mail\n  agent: Assistant\n"
        "  event: GMAIL_NEW_GMAIL_MESSAGE\n  chat: 'New mail: {emailSubject}'\n"
    )
    composio.fail(400, "That connected account is gone")
    done = planner_here(connected, "import", str(path))
    assert done.returncode != 0
    assert done.stderr.startswith("planner: trigger 'New mail': ")
    assert done.stderr.rstrip().endswith(
        "Stopped there; done before it: created agent 'Assistant'; created job 'First'. "
        "Import the file again to go on."
    )
    assert ok(connected, "import", str(path)).splitlines() == [
        "unchanged agent 'Assistant'", "unchanged job 'First'", "created trigger 'New mail'",
        "Imported (1 created, 0 updated, 2 unchanged).",
    ]  # fmt: skip


def test_an_import_holds_addresses_to_the_settings_it_is_given(settings):
    """PLANNER_OUTBOUND_ALLOW as the import's settings say, in the check and after."""
    document = schema.read_setup(AN_AGENT.replace("127.0.0.1:9", "10.0.0.5"))
    only_here = replace(settings, outbound_allow=parse_allowed("127.0.0.1/32"))
    refusal = "agent 'Assistant': Planner may not call 10.0.0.5: PLANNER_OUTBOUND_ALLOW"
    with pytest.raises(ValidationError, match=refusal):
        transfer.check_setup(settings.database_url, document, only_here, utcnow())
    with pytest.raises(PlannerError, match=refusal):
        transfer.import_setup(settings.database_url, document, only_here, None, utcnow)
    assert job_keys(settings) == set() and snapshot(settings.database_url)["agent"] == []
