"""Dispatch benchmark: prints figures, asserts nothing.

(a) Start lag: N jobs due in the same minute, a real `huey_consumer` (as the Procfile
    starts it) and a fast local target; lag = when the target received the call minus
    the occurrence's time. Also counts missed and duplicated runs.
(b) Tick cost: one dispatcher pass over 1,000 / 10,000 / 100,000 jobs with 1% due.

    .venv/bin/python bench/dispatch.py [--jobs 1000] [--sizes 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import agents  # noqa: E402
from core.config import Settings  # noqa: E402
from core.db import get_engine, migrate, read_session  # noqa: E402
from core.db import session as open_session  # noqa: E402
from core.dispatch import JOB_TABLE, tick  # noqa: E402
from core.models import Run, utcnow  # noqa: E402
from tests.fakes import FakeTarget  # noqa: E402
from tests.processes import settings_env  # noqa: E402
from worker.queue import HueyRunQueue, make_huey  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def fresh_settings(folder: Path) -> Settings:
    settings = Settings(
        database_url=f"sqlite:///{folder / 'planner.db'}",
        queue_url=f"sqlite:///{folder / 'queue.db'}",
        http_timeout_seconds=10,
    )
    migrate(settings.database_url)
    return settings


def insert_jobs(settings: Settings, agent_id: int, count: int, schedule: Callable[[int], str],
                due: datetime, due_count: int) -> None:  # fmt: skip
    """Bulk-insert jobs: `due_count` of them due at `due`, the rest in a year."""
    now, later = utcnow(), due + timedelta(days=365)
    rows = [
        {
            "agent_id": agent_id, "name": f"job {n}", "schedule": schedule(n), "timezone": "UTC",
            "action": "chat", "config": {"template": "ping {runId}", "thread": "new"},
            "misfire_policy": "catch_up_once", "status": "active",
            "next_run_at": due if n < due_count else later, "consecutive_failures": 0,
            "created_at": now, "updated_at": now,
        }
        for n in range(count)
    ]  # fmt: skip
    with get_engine(settings.database_url).begin() as connection:
        connection.execute(sa.insert(JOB_TABLE), rows)


def start_lag(job_count: int, workers: int, worker_type: str) -> None:
    folder = Path(tempfile.mkdtemp(prefix="planner-bench-"))
    settings = fresh_settings(folder)
    target = FakeTarget().start()
    with open_session(settings.database_url) as session:
        agent = agents.save_agent(session, "Bench", "openai", target.url + "/v1", "m")
    due = (utcnow() + timedelta(minutes=1)).replace(second=0, microsecond=0)
    if (due - utcnow()).total_seconds() < 20:
        due += timedelta(minutes=1)
    schedule = f"{due.minute} {due.hour} * * *"
    insert_jobs(settings, agent.id, job_count, lambda _: schedule, due, job_count)
    log = (folder / "consumer.log").open("wb")
    consumer = subprocess.Popen(
        [str(Path(sys.executable).with_name("huey_consumer")), "worker.tasks.huey",
         "--workers", str(workers), "--worker-type", worker_type, "--max-delay", "0.5"],
        cwd=ROOT, env=settings_env(settings), stdout=log, stderr=log,
    )  # fmt: skip
    print(f"(a) {job_count} jobs due at {due:%H:%M:%S} UTC; consumer: {workers} {worker_type} "
          "workers", flush=True)  # fmt: skip
    deadline = time.monotonic() + (due - utcnow()).total_seconds() + 120
    try:
        while time.monotonic() < deadline:
            with read_session(settings.database_url) as session:
                finished = session.exec(
                    select(sa.func.count()).select_from(Run).where(Run.finished_at.is_not(None))
                ).one()
            if finished >= job_count:
                break
            time.sleep(0.5)
    finally:
        consumer.terminate()
        consumer.wait(timeout=30)
        target.stop()
    requests = target.received("/v1/chat/completions")
    keys = Counter(r.headers["Idempotency-Key"] for r in requests)
    with read_session(settings.database_url) as session:
        runs = session.exec(select(Run)).all()
    call_lags = [r.at - due.timestamp() for r in requests]
    claim_lags = [(run.started_at - due).total_seconds() for run in runs if run.started_at]
    succeeded = sum(1 for run in runs if run.status == "succeeded")
    print(f"    runs: {len(runs)}, succeeded: {succeeded}, missed: {job_count - succeeded}, "
          f"duplicate calls: {sum(n - 1 for n in keys.values())}")  # fmt: skip
    for label, lags in [("call received", call_lags), ("run claimed", claim_lags)]:
        if lags:
            print(f"    start lag ({label}): p50 {percentile(lags, 0.5):.3f} s, "
                  f"p99 {percentile(lags, 0.99):.3f} s, max {max(lags):.3f} s, "
                  f"min {min(lags):.3f} s")  # fmt: skip


def shared_schedule(n: int, due: datetime) -> str:
    """One of ten expressions that all fire at `due` (jobs usually share schedules)."""
    m, h = due.minute, due.hour
    kinds = [f"{m} {h} * * *", f"{m} * * * *", "* * * * *", f"{m} {h},{(h + 1) % 24} * * *",
             f"{m} {h} * * *", f"{m},{(m + 30) % 60} * * * *", f"{m} */1 * * *", f"{m} {h} * * *",
             f"{m} {h}-23 * * *", f"{m} 0-{h} * * *"]  # fmt: skip
    return kinds[n % len(kinds)]


def distinct_schedule(n: int, due: datetime) -> str:
    """A different expression per job, all firing at `due` (other hours listed in turn)."""
    m, h = due.minute, due.hour
    others = sorted({n % 24, n // 24 % 24, n // 576 % 24} - {h})
    return f"{m} {','.join(str(x) for x in [h, *others])} * * *"


def tick_cost(size: int, schedule: Callable[[int, datetime], str], repeats: int = 3) -> None:
    folder = Path(tempfile.mkdtemp(prefix="planner-bench-"))
    settings = fresh_settings(folder)
    queue = HueyRunQueue(make_huey(settings.queue_url), settings)
    with open_session(settings.database_url) as session:
        agent = agents.save_agent(session, "Bench", "openai", "http://127.0.0.1:9/v1", "m")
    first_due = (utcnow() + timedelta(minutes=2)).replace(second=0, microsecond=0)
    queue.submit([0], eta=first_due + timedelta(days=999))  # creates the queue's tables
    durations = []
    for attempt in range(repeats):
        due = first_due + timedelta(days=attempt)
        with get_engine(settings.database_url).begin() as connection:
            connection.execute(sa.delete(JOB_TABLE))
        insert_jobs(settings, agent.id, size, partial(schedule, due=due), due, size // 100)
        started = time.perf_counter()
        report = tick(settings, queue, due - timedelta(seconds=30), "bench")
        durations.append(time.perf_counter() - started)
        assert report.runs_created == size // 100, report
    median_ms = statistics.median(durations) * 1000
    kinds = schedule.__name__.split("_")[0]
    print(f"    {size:>7} jobs, {size // 100:>5} due, {kinds} schedules: "
          f"tick {median_ms:.0f} ms (median of {repeats})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4, help="consumer workers (Procfile: 4)")
    parser.add_argument("--worker-type", default="thread", choices=["thread", "process"])
    parser.add_argument("--sizes", default="1000,10000,100000", help="empty: skip (b)")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}")  # fmt: skip
    if args.jobs:
        start_lag(args.jobs, args.workers, args.worker_type)
    sizes = [int(size) for size in args.sizes.split(",") if size]
    if sizes:
        print("(b) tick cost")
    for schedule in (shared_schedule, distinct_schedule):
        for size in sizes:
            tick_cost(size, schedule)


if __name__ == "__main__":
    main()
