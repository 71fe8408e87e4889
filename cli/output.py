"""What every `planner` command shares: JSON or text output, keys read from standard
input, and the worker's queue."""

from __future__ import annotations

import argparse
import getpass
import json
import shlex
import sys
from collections.abc import Callable, Sequence
from typing import Any

from core.config import get_settings
from core.running.queue import RunQueue


def emit(args: argparse.Namespace, value: Any, text: Callable[[], str]) -> None:
    """Print `value` as JSON with --json, else the human text."""
    print(json.dumps(value, indent=2, ensure_ascii=False) if args.json else text())


def run_started(run: dict[str, Any], what: str, name: str) -> str:
    """What a run just queued is, and the command that follows it (`planner runs` lists an
    automation's runs, newest first)."""
    return (
        f"Run {run['id']} of {what} {name!r} is saved and starts as soon as the worker takes "
        f"it; see how it goes with: planner runs --{what} {shlex.quote(name)}"
    )


def lines(
    items: Sequence[dict[str, Any]], line: Callable[[dict[str, Any]], str], empty: str
) -> str:
    return "\n".join(line(item) for item in items) if items else empty


def read_secret(what: str) -> str:
    """A key from standard input, never from the command line (where `ps` and the shell's
    history would keep it): typed without echo at a terminal, else its first line."""
    if sys.stdin.isatty():
        return getpass.getpass(f"Paste the {what} (it is not shown): ")
    return sys.stdin.readline()


def task_queue() -> RunQueue:
    """The queue client for the settings in force (imported only by the commands
    that submit work)."""
    from queueing import queue_for

    return queue_for(get_settings())
