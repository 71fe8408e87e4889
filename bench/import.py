"""Import benchmark: prints figures, asserts nothing.

`planner import` of a setup file with one agent and N jobs (1,000 and 9,000 by default),
each count on a fresh database, run as a user runs it (a process of its own): the check
alone (`--dry-run`), the import into the empty database, and the same file imported again
(every job unchanged). Beside each, a writer opens a short write transaction every 50 ms,
as the worker, the webhook and the API do; its longest wait is how long the import kept
writers out (SQLite's write lock; PostgreSQL has no such lock to wait for), and a wait
past the busy timeout (30 s) is the 'database is locked' a writer then gets.

    .venv/bin/python bench/import.py [--jobs 1000 9000] [--backend sqlite]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from bench.common import add_backend_option, bench_settings, describe, whole  # noqa: E402
from core.config import Settings  # noqa: E402
from core.store.db import get_engine  # noqa: E402
from support.processes import planner  # noqa: E402

SCHEDULES = ["0 9 * * *", "30 8 * * 1-5", "0 * * * *", "0 9 * * 1", "*/15 * * * *"]
WRITER_PAUSE = 0.05


def setup_text(jobs: int) -> str:
    """A setup file: one agent and `jobs` chat jobs on it."""
    return yaml.safe_dump({
        "planner": 1,
        "agents": [{"name": "Assistant", "url": "http://127.0.0.1:9/v1", "model": "m"}],
        "jobs": [{"name": f"Job {n}", "agent": "Assistant", "schedule": SCHEDULES[n % 5],
                  "chat": f"Report {n}"} for n in range(jobs)],
    }, sort_keys=False)  # fmt: skip


@dataclass
class Writer:
    """Short write transactions, one every WRITER_PAUSE seconds, until stopped."""

    settings: Settings
    waits: list[float] = field(default_factory=list)
    locked_out: int = 0
    stopping: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        engine = get_engine(self.settings.database_url)
        while not self.stopping.is_set():
            started = time.perf_counter()
            try:
                with engine.begin() as connection:  # SQLite: BEGIN IMMEDIATE
                    connection.execute(sa.text("SELECT 1"))
                self.waits.append(time.perf_counter() - started)
            except sa.exc.OperationalError:  # database is locked, after the busy timeout
                self.locked_out += 1
            self.stopping.wait(WRITER_PAUSE)


def timed(settings: Settings, path: Path, *options: str) -> tuple[float, Writer, str]:
    """Seconds `planner import` took, the writer beside it, and its last line."""
    writer = Writer(settings)
    thread = threading.Thread(target=writer.run, daemon=True)
    thread.start()
    started = time.perf_counter()
    done = planner(settings, "import", str(path), *options)
    seconds = time.perf_counter() - started
    writer.stopping.set()
    thread.join()
    if done.returncode != 0:
        raise SystemExit(f"planner import {' '.join(options)} failed: {done.stderr.strip()}")
    return seconds, writer, done.stdout.splitlines()[-1]


def said(step: str, seconds: float, writer: Writer, last_line: str) -> str:
    longest = max(writer.waits, default=0.0)
    refused = f", {writer.locked_out} gave up: database is locked" if writer.locked_out else ""
    return (f"  {step:<32} {seconds:7.2f} s   writer beside it: longest wait {longest:6.2f} s "
            f"of {len(writer.waits) + writer.locked_out}{refused}   [{last_line}]")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=whole, nargs="+", default=[1000, 9000])
    add_backend_option(parser)
    args = parser.parse_args()
    for count in args.jobs:
        with bench_settings(args.backend) as (settings, folder):
            if count == args.jobs[0]:
                print(describe(settings))
                started = time.perf_counter()
                planner(settings, "--help")
                print(f"(a planner process that only prints its help: "
                      f"{time.perf_counter() - started:.2f} s)")  # fmt: skip
            path = folder / "planner.yaml"
            path.write_text(setup_text(count))
            size = path.stat().st_size / 1024
            print(f"{count:,} jobs ({size:,.0f} KiB of YAML):")
            print(said("check (--dry-run)", *timed(settings, path, "--dry-run")))
            print(said("import into an empty database", *timed(settings, path)))
            print(said("import again (all unchanged)", *timed(settings, path)))
            get_engine(settings.database_url).dispose()


if __name__ == "__main__":
    main()
