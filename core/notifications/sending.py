"""One message through Apprise, ended at a deadline: each send runs in a short-lived child
process (`python -m core.notifications.sending`) that is killed when its time is up.

Why a process and not a thread: Apprise's clients (requests, smtplib, …) give each read
of the socket a timeout, not the whole answer, so a service that trickles its answer a
byte at a time keeps a thread reading for as long as it likes, and a thread cannot be
ended from outside (nor can a name lookup that hangs). A process can: killing it closes
its sockets, whatever it was doing. The child gets the URL on its standard input (never
on its command line, where other users of the machine could read it), sends, and writes
what came of it as one line of JSON. It also ends itself shortly after its deadline,
should the process that started it be gone. Starting one costs about 0.2 s and 50 MB
while it lives, which is why a process sends to at most a few channels at once
(core.notifications.alerts.CHANNELS_AT_ONCE).

Only the standard library is imported here, so the child starts with Apprise alone.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

# A send that has not ended this long after it started is ended, and fails.
SEND_DEADLINE_SECONDS = 30.0
# A child whose parent is gone (killed, say) ends itself this long after its deadline.
ORPHAN_GRACE_SECONDS = 5
ROOT = Path(__file__).resolve().parents[2]  # where the `core` package is found


@dataclass(frozen=True)
class Tried:
    """What came of one send: `ok`, else why not (`reason`, which may name parts of the
    URL: the caller redacts it); `stopped` when a stop of the process ended it."""

    ok: bool
    reason: str = ""
    stopped: bool = False


def no_answer(seconds: float) -> str:
    return f"No answer from the channel within {seconds:g} s."


class Stopping:
    """A graceful stop of one process's sends: once `ask`ed, no new send starts; `end_all`
    ends those still open (their children are killed), and they report `stopped`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._asked = threading.Event()
        self._ending = False
        self._open: set[subprocess.Popen[bytes]] = set()
        self._ended: set[subprocess.Popen[bytes]] = set()

    def ask(self) -> None:
        self._asked.set()

    def is_set(self) -> bool:
        return self._asked.is_set()

    def end_all(self) -> None:
        with self._lock:
            self._asked.set()
            self._ending = True
            for process in self._open:
                _kill(process)
                self._ended.add(process)

    def _opened(self, process: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._open.add(process)
            if self._ending:
                _kill(process)
                self._ended.add(process)

    def _closed(self, process: subprocess.Popen[bytes]) -> bool:
        """Forget the process; whether the stop ended it."""
        with self._lock:
            self._open.discard(process)
            ended = process in self._ended
            self._ended.discard(process)
            return ended


def _kill(process: subprocess.Popen[bytes]) -> None:
    """The child and anything it started (it leads a process group of its own)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):  # it has ended already
        os.killpg(process.pid, signal.SIGKILL)


def _child_env() -> dict[str, str]:
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return os.environ | {"PYTHONPATH": os.pathsep.join(paths)}


def send(
    url: str, title: str, body: str, deadline: float = SEND_DEADLINE_SECONDS,
    stopping: Stopping | None = None, kind: str = "info",
) -> Tried:  # fmt: skip
    """Send one message to the Apprise URL, in a child process that is killed after
    `deadline` seconds (or when `stopping` ends all sends); `kind` is Apprise's notify
    type ("info", "success", "failure"), which services show as its colour or icon."""
    if stopping is not None and stopping.is_set():
        return Tried(False, "The worker is stopping; the message is sent later.", stopped=True)
    request = json.dumps(
        {"url": url, "title": title, "body": body, "deadline": deadline, "kind": kind}
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "core.notifications.sending"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=_child_env(), start_new_session=True,
    )  # fmt: skip
    # A session of its own: a signal meant for the worker's group (Ctrl-C, a platform's
    # SIGTERM) does not end a send behind the worker's back; the worker decides.
    if stopping is not None:
        stopping._opened(process)
    timed_out = False
    try:
        output, errors = process.communicate(request.encode(), timeout=deadline)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill(process)
        output, errors = process.communicate()
    finally:
        ended_by_stop = stopping is not None and stopping._closed(process)
    if ended_by_stop:
        return Tried(False, "The worker stopped before the channel answered.", stopped=True)
    if timed_out:
        return Tried(False, no_answer(deadline))
    lines = output.decode("utf-8", "replace").strip().splitlines()
    try:
        answer = json.loads(lines[-1])
        return Tried(bool(answer["ok"]), str(answer["reason"]))
    except (IndexError, ValueError, KeyError, TypeError):
        said = errors.decode("utf-8", "replace").strip().splitlines()
        last = said[-1] if said else f"exit status {process.returncode}"
        return Tried(False, f"The sender ended without an answer ({last}).")


def _child() -> None:
    """The child's side: the request on standard input, one line of JSON on standard
    output (whatever a service's client prints goes to standard error)."""
    request = json.loads(sys.stdin.read())
    signal.alarm(math.ceil(request["deadline"]) + ORPHAN_GRACE_SECONDS)  # SIGALRM ends it
    answer, sys.stdout = sys.stdout, sys.stderr
    import apprise

    sender = apprise.Apprise()
    sender.add(request["url"])
    with apprise.LogCapture(level=apprise.logging.WARNING, fmt="%(message)s") as log:
        try:
            kind = apprise.NotifyType(request["kind"])
            ok = bool(sender.notify(title=request["title"], body=request["body"], notify_type=kind))
        except Exception as error:  # a service's client failing in its own way
            ok, extra = False, f"{type(error).__name__}: {error}"
        else:
            extra = ""
        said = log.getvalue().strip().splitlines()
    reason = extra or (said[-1] if said else "the service did not accept the message")
    answer.write(json.dumps({"ok": ok, "reason": "" if ok else reason}) + "\n")
    answer.flush()


if __name__ == "__main__":
    _child()
