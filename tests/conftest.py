"""Shared fixtures: settings on a fresh database and queue of each backend (support/backends.py),
a fake agent/workflow server on 127.0.0.1, and real worker and webhook processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, SQLModel
from streamlit.testing.v1 import AppTest

from cli.main import main
from core.agents import registry
from core.config import Settings, get_settings
from core.store.db import get_engine, migrate, read_session
from core.store.db import session as open_session
from core.store.models import Agent, Run, RunStatus, Workflow
from support.backends import BACKENDS, backend_settings
from support.fake_composio import FakeComposio
from support.fakes import FakeTarget, HoldingTarget
from support.processes import ROOT, Consumer, get, serve_webhook, settings_env
from support.queues import RecordingQueue
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


def everything_stored(settings) -> str:
    """Every stored value, and for SQLite the bytes of the files themselves."""
    text = repr(snapshot(settings.database_url))
    if settings.database_url.startswith("sqlite:///"):
        database = Path(settings.database_url.removeprefix("sqlite:///"))
        for path in (database, Path(f"{database}-wal")):
            if path.exists():
                text += path.read_bytes().decode("latin-1")
    return text


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database migrated by Alembic; each test gets a copy of the file."""
    path = tmp_path_factory.mktemp("template") / "planner.db"
    migrate(f"sqlite:///{path}")
    get_engine(f"sqlite:///{path}").dispose()  # closing checkpoints the WAL into the file
    return path


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path, migrated_database: Path):
    """Settings on a fresh database and queue: SQLite files, or (when TEST_DATABASE_URL and
    TEST_QUEUE_URL are set) a new PostgreSQL database and an emptied Redis queue. Workers
    started with them tick every second, so that no test waits for a minute to turn."""
    with backend_settings(
        request.param, tmp_path, template=migrated_database, retry_base_seconds=0.2,
        http_timeout_seconds=5, composio_webhook_secret="whsec_test_secret", tick_seconds=1,
    ) as configured:  # fmt: skip
        yield configured


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    with open_session(settings.database_url) as db:
        yield db


@pytest.fixture
def target() -> Iterator[FakeTarget]:
    fake = FakeTarget().start()
    yield fake
    fake.stop()


@pytest.fixture
def holding_target() -> Iterator[HoldingTarget]:
    """A fake agent that keeps each call open while the test holds it (`holding`)."""
    fake = HoldingTarget(holding=False).start()
    yield fake
    fake.stop()


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def agent(session: Session, target: FakeTarget) -> Agent:
    return registry.save_agent(
        session, "Assistant", "openai", target.url + "/v1", "test-model", "Be brief."
    )


@pytest.fixture
def workflow(session: Session, target: FakeTarget) -> Workflow:
    return registry.save_workflow(session, "analyze-email", target.url + "/hooks/analyze")


@contextmanager
def planner_cli(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., int]]:
    """`planner` run in this process with these settings; calls return the exit code."""
    for name, value in settings_env(settings).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        yield lambda *args: main(list(args))
    finally:
        get_settings.cache_clear()


@pytest.fixture
def consumer(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., Consumer]]:
    started: list[Consumer] = []

    def start(**overrides: Any) -> Consumer:
        process = Consumer(replace(settings, **overrides), tmp_path / "consumer.log").start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def composio() -> Iterator[FakeComposio]:
    fake = FakeComposio().start()
    yield fake
    fake.stop()


@pytest.fixture
def connected(settings: Settings, composio: FakeComposio) -> Settings:
    """Settings with a Composio API key, pointed at the fake Composio API."""
    return replace(
        settings,
        composio_api_key="test-key",
        composio_base_url=composio.url,
        public_base_url="https://planner.example.com",
    )


@pytest.fixture
def webhook(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """A real webhook process (uvicorn) on a free port; yields its delivery URL."""

    process, health = serve_webhook(settings_env(settings), tmp_path / "webhook.log")
    wait_until(lambda: get(health), what="the webhook process")
    yield health.removesuffix("/healthz") + "/webhooks/composio"
    process.terminate()
    process.wait(timeout=10)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test runs on PostgreSQL + Redis too only when it is marked `database`: it is about
    what the database and the queue do (transactions, conflicts, locks, concurrent
    workers). Run there, the others would repeat themselves without testing anything new,
    so they are left out (and counted as deselected)."""
    repeats = [item for item in items if not item.get_closest_marker("database")
               and getattr(item, "callspec", None) and item.callspec.params.get("settings")
               not in (None, "sqlite")]  # fmt: skip
    if repeats:
        config.hook.pytest_deselected(items=repeats)
        items[:] = [item for item in items if item not in repeats]


def pytest_report_header() -> str:
    """Says whether the PostgreSQL + Redis leg runs, and how to turn it on."""
    if "postgres" in BACKENDS:
        return "backends: SQLite, and PostgreSQL + Redis (TEST_DATABASE_URL, TEST_QUEUE_URL)"
    return (
        "backends: SQLite only; PostgreSQL + Redis skipped "
        "(set TEST_DATABASE_URL and TEST_QUEUE_URL to run them)"
    )


@pytest.fixture
def dashboard(settings, monkeypatch):
    """The dashboard app against the test database."""

    def start(**env: str) -> AppTest:
        for name, value in settings_env(settings, **env).items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        return AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=30).run()

    yield start
    get_settings.cache_clear()


@pytest.fixture
def page(settings, monkeypatch):
    """One dashboard page on its own, against the test database."""

    def start(function, **env: str) -> AppTest:
        for name, value in settings_env(settings, **env).items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        return AppTest.from_function(function, default_timeout=30).run()

    yield start
    get_settings.cache_clear()
