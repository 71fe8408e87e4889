"""Keys the outside world sees — Idempotency-Keys and thread ids — are unique forever:
a database id can be handed out again (SQLite reuses a deleted row's id), a key never."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from core.store.db import alembic_config, get_engine
from support.cli import planner_here

pytestmark = pytest.mark.database  # about the database and the queue: PostgreSQL + Redis too


def run(settings, *args: str) -> None:
    """A planner command, run in this process (the worker that calls is a real one)."""
    done = planner_here(settings, *args)
    assert done.returncode == 0, done.stderr


def test_deleted_and_recreated_jobs_never_reuse_a_key_or_a_thread(settings, target, consumer):
    consumer()
    run(settings, "agents", "add", "Remote", "--backend", "http", "--url", target.url + "/agent")
    for round_ in range(1, 4):
        run(settings, "jobs", "add", "Report", "--agent", "Remote", "--schedule", "@daily",
            "--chat", f"report {round_}", "--thread", "continue")  # fmt: skip
        run(settings, "jobs", "run", "Report")
        target.wait_for(lambda requests, n=round_: len(requests) == n)
        run(settings, "jobs", "rm", "Report")
    calls = target.received("/agent")
    assert [call.body["message"] for call in calls] == ["report 1", "report 2", "report 3"]
    assert len({call.headers["Idempotency-Key"] for call in calls}) == 3
    assert len({call.body["threadId"] for call in calls}) == 3


def test_a_continued_thread_never_sees_a_deleted_jobs_messages(settings, agent, target, consumer):
    def add_and_run(name: str, times: int) -> None:
        run(settings, "jobs", "add", name, "--agent", "Assistant", "--schedule", "@daily",
            "--chat", "{jobName}", "--thread", "continue")  # fmt: skip
        for _ in range(times):
            count = len(target.received())
            run(settings, "jobs", "run", name)
            target.wait_for(lambda requests, n=count + 1: len(requests) == n)

    consumer()
    add_and_run("Old", 2)
    run(settings, "jobs", "rm", "Old")
    add_and_run("New", 1)
    *_, new_call = target.received("/v1/chat/completions")
    sent = [m["content"] for m in new_call.body["messages"] if m["role"] != "system"]
    assert sent == ["New"]


def test_the_migration_gives_existing_rows_distinct_keys(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0002")
    with get_engine(url).begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO agent (id, name, backend, base_url, model, system_prompt, api_key_env,"
            " created_at) VALUES (1, 'A', 'http', 'http://x', '', '', '', '2026-01-01')"
        ))  # fmt: skip
        for job_id in (1, 2):
            connection.execute(sa.text(
                "INSERT INTO scheduled_job (id, agent_id, name, action, config, status,"
                " consecutive_failures, created_at, updated_at, schedule, timezone,"
                f" misfire_policy) VALUES ({job_id}, 1, 'J{job_id}', 'chat', :config, 'active',"
                " 0, '2026-01-01', '2026-01-01', '@daily', 'UTC', 'skip')"
            ), {"config": json.dumps({"template": "x"})})  # fmt: skip
            connection.execute(sa.text(
                "INSERT INTO run (job_id, source, status, due_at, attempt, attempts, created_at)"
                f" VALUES ({job_id}, 'run_now', 'succeeded', '2026-01-01', 1, '[]', '2026-01-01')"
            ))  # fmt: skip

    command.upgrade(alembic_config(url), "head")

    with get_engine(url).connect() as connection:
        for table in ("scheduled_job", "run"):
            keys = connection.execute(sa.text(f"SELECT key FROM {table}")).scalars().all()
            assert len(keys) == len(set(keys)) == 2 and all(len(key) == 32 for key in keys)
    get_engine(url).dispose()
