"""`planner` run in the test's own process (its output in capsys, its exit code returned);
support.processes.planner runs it as a child process instead."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from cli.main import main
from core.config import Settings, get_settings
from support.processes import settings_env


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
