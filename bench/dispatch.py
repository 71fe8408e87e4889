"""Dispatch benchmark: prints figures, asserts nothing.

(a) Start lag: N jobs due in the same minute, `--workers` real consumers (each as the
    Procfile starts it) and a fast local agent; lag = when the agent received the call
    minus the occurrence's time. Also counts lost and doubled runs.
(b) Tick cost: one dispatcher pass over 1,000 / 10,000 / 100,000 jobs with 1% due.

    .venv/bin/python bench/dispatch.py [--jobs 1000] [--workers 1] [--backend sqlite]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import add_backend_option, bench_settings, describe  # noqa: E402
from core import agents  # noqa: E402
from core.config import Settings  # noqa: E402
from core.db import get_engine  # noqa: E402
from core.db import session as open_session  # noqa: E402
from core.dispatch import JOB_TABLE, tick  # noqa: E402
from core.models import utcnow  # noqa: E402
from support.fakes import FakeTarget  # noqa: E402
from support.load import Load, insert_jobs, prepare_agent, run_load  # noqa: E402
from support.processes import Workers  # noqa: E402
from worker.queue import HueyRunQueue, make_huey  # noqa: E402


def start_lag(backend: str, job_count: int, workers: int) -> None:
    with bench_settings(backend, http_timeout_seconds=10) as (settings, folder):
        target = FakeTarget().start()
        agent_id = prepare_agent(settings, target)
        load = Load(job_count, 0, 1, "bench")
        try:
            with Workers(settings, folder, workers) as pool:
                outcome = run_load(settings, target, agent_id, "", load, pool.start)
        finally:
            target.stop()
    print(f"(a) {job_count} jobs due at {outcome.due:%H:%M:%S} UTC; {workers} consumer "
          f"process(es) of 4 threads")  # fmt: skip
    lags = outcome.job_lags
    print(f"    runs lost: {outcome.lost}, doubled: {outcome.doubled}")
    print(f"    start lag: first {min(lags):.3f} s, p50 {outcome.job_lag(0.5):.3f} s, "
          f"p99 {outcome.job_lag(0.99):.3f} s, max {max(lags):.3f} s")  # fmt: skip


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


def tick_cost(backend: str, size: int, schedule: Callable[[int, datetime], str],
              repeats: int = 3) -> None:  # fmt: skip
    with bench_settings(backend) as (settings, _):
        durations = _tick_durations(settings, size, schedule, repeats)
    median_ms = statistics.median(durations) * 1000
    kinds = schedule.__name__.split("_")[0]
    print(f"    {size:>7} jobs, {size // 100:>5} due, {kinds} schedules: "
          f"tick {median_ms:.0f} ms (median of {repeats})")  # fmt: skip


def _tick_durations(settings: Settings, size: int, schedule: Callable[[int, datetime], str],
                    repeats: int) -> list[float]:  # fmt: skip
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
    return durations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000, help="0: skip (a)")
    parser.add_argument("--workers", type=int, default=1, help="consumer processes")
    parser.add_argument("--sizes", default="1000,10000,100000", help="empty: skip (b)")
    add_backend_option(parser)
    args = parser.parse_args()
    with bench_settings(args.backend) as (settings, _):
        print(describe(settings))
    if args.jobs:
        start_lag(args.backend, args.jobs, args.workers)
    sizes = [int(size) for size in args.sizes.split(",") if size]
    if sizes:
        print("(b) tick cost")
    for schedule in (shared_schedule, distinct_schedule):
        for size in sizes:
            tick_cost(args.backend, size, schedule)


if __name__ == "__main__":
    main()
