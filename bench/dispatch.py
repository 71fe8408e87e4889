"""Dispatch benchmark: prints figures, asserts nothing.

(a) Start lag: N jobs due in the same minute, `--workers` real consumers (each as the
    Procfile starts it, keeping at most `--max-in-flight` calls in flight on one event
    loop, and ticking as often as production does: PLANNER_TICK_SECONDS' default) and a
    local agent answering after each of `--agent-delay` seconds; lag = when the agent
    received the call minus the occurrence's time. A slow agent shows whether the calls
    wait for one another (the lags would grow with N) or are all open at once. Also counts
    lost and doubled runs, and reads the workers' peak RSS and CPU time.
(b) Tick cost: one dispatcher pass over 1,000 / 10,000 / 100,000 jobs with 1% due.

    .venv/bin/python bench/dispatch.py [--jobs 1000] [--workers 1] [--backend sqlite]
        [--agent-delay 0,2,10] [--max-in-flight 2000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    add_backend_option,
    add_max_in_flight_option,
    bench_settings,
    cpu_at,
    cpu_seconds,
    describe,
    peak_rss_mib,
    whole,
    worker_pids,
)
from core.agents import registry  # noqa: E402
from core.config import Settings  # noqa: E402
from core.scheduling.tick import JOB_TABLE, tick  # noqa: E402
from core.store.db import get_engine  # noqa: E402
from core.store.db import session as open_session  # noqa: E402
from core.store.models import utcnow  # noqa: E402
from queueing import queue_for  # noqa: E402
from support.load import Load, Outcome, due_for, insert_jobs, prepare_agent, run_load  # noqa: E402
from support.processes import Workers  # noqa: E402
from support.slow_agent import SlowAgent  # noqa: E402

# The worker's CPU is counted from this long before the jobs' time: after its start-up
# and the tick that planned them, before the due moment's fan-out.
CPU_FROM = timedelta(seconds=10)


@dataclass(frozen=True)
class StartLag:
    """One start-lag measurement: an agent's delay, and what the workers did."""

    delay: float
    jobs: int
    outcome: Outcome
    peak_rss_mib: float
    cpu_seconds: float  # from CPU_FROM before the jobs' time until every run ended
    cpu_seconds_all: float  # the workers' whole life: start-up and planning included

    def columns(self) -> list[float]:
        """all called, first, p50, p99, RSS, CPU ms per run (the table's order)."""
        outcome = self.outcome
        per_run = [self.cpu_seconds / self.jobs * 1000, self.cpu_seconds_all / self.jobs * 1000]
        return [outcome.all_jobs_called, outcome.first_job_lag, outcome.job_lag(0.5),
                outcome.job_lag(0.99), self.peak_rss_mib, *per_run]  # fmt: skip


@dataclass(frozen=True)
class Bench:
    backend: str
    jobs: int
    workers: int
    max_in_flight: int

    def measure(self, delay: float) -> StartLag:
        timeout = max(Settings.http_timeout_seconds, delay + 30)  # the shipped one, or longer
        fields = {"http_timeout_seconds": timeout, "max_in_flight": self.max_in_flight}
        with bench_settings(self.backend, **fields) as (settings, folder):
            agent = SlowAgent(delay, folder / "agent.log").start()
            try:
                return self._measure(settings, folder, agent, delay)
            finally:
                agent.stop()

    def _measure(self, settings: Settings, folder: Path, agent: SlowAgent,
                 delay: float) -> StartLag:  # fmt: skip
        agent_id = prepare_agent(settings, agent)
        load = Load(self.jobs, 0, 1, "bench")
        due = due_for(load)
        timeout = 300 + self.jobs * delay / 4
        with Workers(settings, folder, self.workers) as pool:
            cpu_before = cpu_at(pool, due - CPU_FROM)
            outcome = run_load(settings, agent, agent_id, "", load, pool.start, timeout, due)
            pids = worker_pids(pool)
            rss = max(peak_rss_mib(pid) for pid in pids)
            cpu_after = sum(cpu_seconds(pid) for pid in pids)
        return StartLag(delay, self.jobs, outcome, rss, cpu_after - cpu_before(), cpu_after)


HEADER = (f"{'agent':>6}  {'jobs':>5}  {'all called':>10}  {'first':>7}  {'p50':>8}  "
          f"{'p99':>8}  {'lost':>4}  {'doubled':>7}  {'peak RSS':>9}  {'CPU/run':>8}  "
          f"{'(life)':>7}")  # fmt: skip
# The units of StartLag.columns: lags in seconds, then memory and CPU time
UNITS = [" s"] * 4 + [" MiB", " ms", " ms"]


def _row(measure: StartLag) -> str:
    """A measurement's line of the table under HEADER."""
    texts = (_figure(value, unit) for value, unit in zip(measure.columns(), UNITS, strict=True))
    called, first, p50, p99, rss, cpu, cpu_all = texts
    delay, lost, doubled = f"{measure.delay:g} s", measure.outcome.lost, measure.outcome.doubled
    return (f"{delay:>6}  {measure.jobs:>5}  {called:>10}  {first:>7}  {p50:>8}  {p99:>8}  "
            f"{lost:>4}  {doubled:>7}  {rss:>9}  {cpu:>8}  {cpu_all:>7}")  # fmt: skip


def _figure(value: float, unit: str) -> str:
    """`value` with its unit: seconds to the hundredth (lags are short), the rest to a tenth."""
    digits = 2 if unit == " s" else 1
    return f"{value:.{digits}f}{unit}"


def start_lag(bench: Bench, delays: list[float]) -> None:
    threads = os.environ.get("WORKER_THREADS", "4")
    print(f"(a) start lag: {bench.jobs} jobs due in the same minute; {bench.workers} worker "
          f"process(es) as the Procfile starts them ({threads} huey threads), "
          f"PLANNER_MAX_IN_FLIGHT={bench.max_in_flight}")  # fmt: skip
    print("    lag: the agent received the call minus the job's time; all called: until the "
          "last job's call (the largest lag); first: until the first call")  # fmt: skip
    print(f"    CPU/run: the workers' CPU from {CPU_FROM.seconds} s before the jobs' time until "
          "all ended, per run (with a slow agent it includes the idle worker's polling); "
          "(life): their whole life, start-up and planning included")  # fmt: skip
    print(HEADER, flush=True)
    for delay in delays:
        print(_row(bench.measure(delay)), flush=True)


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
    queue = queue_for(settings)
    with open_session(settings.database_url) as session:
        agent = registry.save_agent(session, "Bench", "openai", "http://127.0.0.1:9/v1", "m")
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


def _numbers(text: str, kind: Callable[[str], float]) -> list:
    return [kind(item) for item in text.split(",") if item]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000, help="0: skip (a)")
    parser.add_argument("--workers", type=whole, default=1, help="consumer processes")
    parser.add_argument("--agent-delay", default="0", help="seconds the agent waits, e.g. 0,2,10")
    add_max_in_flight_option(parser)
    parser.add_argument("--sizes", default="1000,10000,100000", help="empty: skip (b)")
    add_backend_option(parser)
    args = parser.parse_args()
    with bench_settings(args.backend) as (settings, _):
        print(describe(settings))
    if args.jobs:
        bench = Bench(args.backend, args.jobs, args.workers, args.max_in_flight)
        start_lag(bench, _numbers(args.agent_delay, float))
    sizes = _numbers(args.sizes, int)
    if sizes:
        print("(b) tick cost")
    for schedule in (shared_schedule, distinct_schedule):
        for size in sizes:
            tick_cost(args.backend, size, schedule)


if __name__ == "__main__":
    main()
