"""Shared fixtures: settings on a fresh database and queue of each backend (support/backends.py),
a fake agent/workflow server on 127.0.0.1, and real worker and webhook processes."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from core.agents import registry
from core.config import Settings, get_settings
from core.store.db import get_engine, migrate
from core.store.db import session as open_session
from core.store.models import Agent, Workflow
from support.api import Api, serve
from support.backends import BACKENDS, backend_settings
from support.cli import planner_cli
from support.fake_composio import FakeComposio
from support.fakes import FakeTarget, HoldingTarget
from support.processes import ROOT, Consumer, settings_env, webhook_process
from support.queues import RecordingQueue


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database migrated by Alembic; each test gets a copy of the file."""
    path = tmp_path_factory.mktemp("template") / "planner.db"
    migrate(f"sqlite:///{path}")
    get_engine(f"sqlite:///{path}").dispose()  # closing checkpoints the WAL into the file
    return path


def _test_settings(backend: str, folder: Path, template: Path) -> AbstractContextManager[Settings]:
    """Settings on a fresh database and queue: SQLite files, or (when TEST_DATABASE_URL and
    TEST_QUEUE_URL are set) a new PostgreSQL database and an emptied Redis queue. Workers
    started with them tick every second, so that no test waits for a minute to turn."""
    return backend_settings(
        backend, folder, template=template, retry_base_seconds=0.2, http_timeout_seconds=5,
        composio_webhook_secret="whsec_test_secret", tick_seconds=1,
    )  # fmt: skip


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path, migrated_database: Path):
    """A test's own settings, database and queue (_test_settings)."""
    with _test_settings(request.param, tmp_path, migrated_database) as configured:
        yield configured


@pytest.fixture(scope="module", params=BACKENDS)
def module_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
    migrated_database: Path,
) -> Iterator[Settings]:  # fmt: skip
    """Settings, database and queue (_test_settings) that a module's tests share, with the
    processes started on them (a webhook: seconds each): for tests that only need *a*
    database and compare it before and after their own request, or count rows by their own
    unique ids, so that they pass in any order and beside each other."""
    folder = tmp_path_factory.mktemp("module")
    with _test_settings(request.param, folder, migrated_database) as configured:
        yield configured


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    with open_session(settings.database_url) as db:
        yield db


@pytest.fixture
def target() -> Iterator[HoldingTarget]:
    """The fake agent and workflow server of the `agent` and `workflow` fixtures: it
    answers at once, unless a test holds its calls (`holding`)."""
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
def connected_cli(
    connected: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., int]]:
    """`planner` in this process (support.cli.planner_cli) with the `connected` settings:
    trigger commands reach the fake Composio API."""
    with planner_cli(connected, monkeypatch) as run:
        yield run


@pytest.fixture
def api(settings: Settings, tmp_path: Path) -> Iterator[Api]:
    """The HTTP API of a real webhook process, called with a token of its own."""
    yield from serve(settings, tmp_path)


@pytest.fixture
def webhook(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """A real webhook process (uvicorn) on a free port; yields its delivery URL."""
    with webhook_process(settings, tmp_path / "webhook.log") as url:
        yield url


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test runs on PostgreSQL + Redis too only when it is marked `database`: it is about
    what the database and the queue do (transactions, conflicts, locks, concurrent
    workers). Run there, the others would repeat themselves without testing anything new,
    so they are left out (and counted as deselected)."""
    repeats = [item for item in items if not item.get_closest_marker("database")
               and getattr(item, "callspec", None)
               and {item.callspec.params.get(name) for name in ("settings", "module_settings")}
               - {None, "sqlite"}]  # fmt: skip
    if repeats:
        config.hook.pytest_deselected(items=repeats)
        items[:] = [item for item in items if item not in repeats]


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`--numprocesses auto`: half as many workers again as there are cores, since most
    tests spend their time waiting on a process, a socket or a browser, not computing."""
    return max(2, (os.cpu_count() or 1) * 3 // 2)


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
