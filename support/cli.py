"""`planner` run in the test's own process: its exit code returned and its output in
capsys (planner_cli), or answered as support.processes.planner answers (planner_here),
which runs it as a child process instead."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from typing import Any

import pytest

from cli.main import main
from core.config import Settings, get_settings
from support.processes import settings_env


@contextmanager
def planner_cli(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, **env: str
) -> Iterator[Callable[..., int]]:
    """`planner` run in this process with these settings (and `env`); calls return the exit
    code."""
    for name, value in settings_env(settings, **env).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        yield lambda *args: main(list(args))
    finally:
        get_settings.cache_clear()


def planner_here(
    settings: Settings, *args: str, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    """support.processes.planner's call and answer, run in this process: a command's logic
    and output, tested without paying a new interpreter's imports (seconds, with Composio's
    SDK) per command. What only a process shows (what reaches its real stderr, such as a
    log line or a traceback; its exit status) stays with support.processes.planner."""
    stdout, stderr = io.StringIO(), io.StringIO()
    piped = io.TextIOWrapper(io.BytesIO(stdin.encode()))  # not a terminal, as when piped
    with pytest.MonkeyPatch.context() as patch, planner_cli(settings, patch, **env) as cli:
        patch.setattr(sys, "stdin", piped)
        with redirect_stdout(stdout), redirect_stderr(stderr):
            code = cli(*args)
    return subprocess.CompletedProcess(["planner", *args], code, stdout.getvalue(),
                                       stderr.getvalue())  # fmt: skip


def json_printed(capsys: pytest.CaptureFixture[str]) -> Any:
    """What a `--json` command run by planner_cli printed, read back; capsys is emptied for
    the next command."""
    return json.loads(capsys.readouterr().out)
