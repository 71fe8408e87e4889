"""What the database holds, as tests read it: every row (to show a refused command changed
nothing), a run as stored now, and runs waited for until they finish."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel, select

from core.config import Settings
from core.store.db import read_session
from core.store.models import TERMINAL_STATUSES, Run, RunStatus
from support.waiting import wait_until


def snapshot(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored row of every table, to show that a refused command changed nothing."""
    with read_session(database_url) as session:
        return {
            table.name: [
                tuple(row)
                for row in session.connection().execute(
                    sa.select(table).order_by(*table.primary_key.columns)
                )
            ]
            for table in SQLModel.metadata.sorted_tables
        }


def everything_stored(settings: Settings) -> str:
    """Every stored value, and for SQLite the bytes of the files themselves: a secret must
    be in none of them."""
    text = repr(snapshot(settings.database_url))
    if settings.database_url.startswith("sqlite:///"):
        database = Path(settings.database_url.removeprefix("sqlite:///"))
        for path in (database, Path(f"{database}-wal")):
            if path.exists():
                text += path.read_bytes().decode("latin-1")
    return text


def run_as_stored(settings: Settings, run: Run) -> Run:
    """The run as the database has it now."""
    with read_session(settings.database_url) as session:
        return session.get(Run, run.id)


def run_ends_as(settings: Settings, run: Run, status: RunStatus) -> Run:
    """The run, once the database has it in `status` (waited for, with a deadline)."""
    return wait_until(
        lambda: (found := run_as_stored(settings, run)).status == status and found,
        what=f"run {run.id} {status}",
    )


def all_runs(settings: Settings) -> list[Run]:
    """Every run, oldest first."""
    with read_session(settings.database_url) as session:
        return list(session.exec(select(Run).order_by(Run.id)))


def settled(settings: Settings, expected: int) -> Callable[[], list[Run]]:
    """A probe for wait_until: the runs once `expected` exist and all have finished."""

    def probe() -> list[Run]:
        runs = all_runs(settings)
        done = len(runs) == expected and all(r.status in TERMINAL_STATUSES for r in runs)
        return runs if done else []

    return probe
