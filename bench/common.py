"""What the benchmarks share: the backend they run on, and the line that says where.

`--backend postgres` runs a benchmark on a fresh database on TEST_DATABASE_URL's server
and TEST_QUEUE_URL's Redis (the variables the tests use), so figures for both backends
come from the same code.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from core.config import Settings
from core.store.db import get_engine
from core.store.models import utcnow
from support.backends import backend_settings
from support.processes import Workers


def positive(text: str) -> float:
    """An option that counts or measures something: a number above zero, else a usage error."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be above zero and finite, got {text}")
    return value


def whole(text: str) -> int:
    """A count: a whole number above zero, else a usage error."""
    value = positive(text)
    if value != int(value):
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text}")
    return int(value)


def count(text: str) -> int:
    """A count that may be zero (`--jobs 0`: events alone), else as `whole`."""
    return 0 if text.strip() in ("0", "0.0") else whole(text)


def add_max_in_flight_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-in-flight", type=whole, default=Settings.max_in_flight, help="PLANNER_MAX_IN_FLIGHT"
    )


def add_backend_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend", choices=["sqlite", "postgres"], default="sqlite",
        help="postgres: a fresh database on TEST_DATABASE_URL's server, TEST_QUEUE_URL's Redis",
    )  # fmt: skip


@contextmanager
def bench_settings(backend: str, **fields: Any) -> Iterator[tuple[Settings, Path]]:
    """Fresh settings on `backend`, and a temporary folder for logs."""
    folder = Path(tempfile.mkdtemp(prefix="planner-bench-"))
    with backend_settings(backend, folder, **fields) as settings:
        yield settings, folder


def describe(settings: Settings) -> str:
    """The machine and the backend's versions, for the first line of a benchmark."""
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    if settings.database_url.startswith("sqlite"):
        return f"{machine}, SQLite {sqlite3.sqlite_version} (database and queue)"
    import redis

    with get_engine(settings.database_url).connect() as connection:
        postgres = connection.execute(sa.text("SHOW server_version")).scalar_one()
    info = redis.Redis.from_url(settings.queue_url).info("server")
    return f"{machine}, PostgreSQL {postgres.split()[0]}, Redis {info['redis_version']}"


def peak_rss_mib(pid: int) -> float:
    """VmHWM: the most memory the process ever had resident."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """The CPU time the process has used so far, in user and kernel mode (utime + stime)."""
    after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(after_name[11]) + int(after_name[12])) / os.sysconf("SC_CLK_TCK")


def worker_pids(workers: Workers) -> list[int]:
    """The worker processes' ids, checked to be the worker itself (`python -m worker`): the
    Procfile's line runs through `/bin/sh -c exec …`, and a shell's figures would measure
    nothing."""
    pids = [consumer.process.pid for consumer in workers.started if consumer.process]
    for pid in pids:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if command[-2:] != [b"worker", b""] or b"-m" not in command:
            raise RuntimeError(f"process {pid} is not the worker: {command!r}")
    return pids


def cpu_at(pool: Workers, moment: datetime) -> Callable[[], float]:
    """The workers' CPU seconds as read at `moment` (the answer waits for it)."""
    sample: list[float] = []

    def read() -> None:
        sample.append(sum(cpu_seconds(pid) for pid in worker_pids(pool)))

    timer = threading.Timer((moment - utcnow()).total_seconds(), read)
    timer.start()

    def value() -> float:
        timer.join()
        return sample[0]

    return value
