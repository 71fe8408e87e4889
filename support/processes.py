"""Starting the Procfile's processes for tests and benchmarks: the environment that gives
a child process some settings, free ports, health probes, the worker and the webhook."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from core.config import Settings
from support.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that gives a child process these settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PLANNER_", "DATABASE_", "COMPOSIO_", "REDIS_", "QUEUE_"))
    }
    env |= {
        "DATABASE_URL": settings.database_url,
        "QUEUE_URL": settings.queue_url,
        "PLANNER_RETRY_BASE_SECONDS": str(settings.retry_base_seconds),
        "PLANNER_MAX_RETRIES": str(settings.max_retries),
        "PLANNER_HTTP_TIMEOUT_SECONDS": str(settings.http_timeout_seconds),
        "PLANNER_MISFIRE_GRACE_SECONDS": str(settings.misfire_grace_seconds),
        "PLANNER_LEASE_MARGIN_SECONDS": str(settings.lease_margin_seconds),
        "PLANNER_MAX_IN_FLIGHT": str(settings.max_in_flight),
        "PLANNER_TICK_SECONDS": str(settings.tick_seconds),
        "PLANNER_API_REQUESTS_PER_MINUTE": str(settings.api_requests_per_minute),
        "COMPOSIO_API_KEY": settings.composio_api_key,
        "COMPOSIO_BASE_URL": settings.composio_base_url,
        "COMPOSIO_WEBHOOK_SECRET": settings.composio_webhook_secret,
        "COMPOSIO_USER_ID": settings.composio_user_id,
        "PUBLIC_BASE_URL": settings.public_base_url,
        "PLANNER_SECRET_KEY": settings.secret_key,
        "PLANNER_EMBEDDED_WORKER": "1" if settings.embedded_worker else "0",
        "DASHBOARD_PASSWORD": settings.dashboard_password,
        "PLANNER_OUTBOUND_ALLOW": str(settings.outbound_allow),
    }
    return env | extra


def planner(
    settings: Settings, *args: str, stdout: int | None = None, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    """The `planner` command as a user runs it, in its own process with these settings
    (and `env`), `stdin` piped in; its output is captured unless `stdout` (a file
    descriptor) is given."""
    command = [str(Path(sys.executable).with_name("planner")), *args]
    output = subprocess.PIPE if stdout is None else stdout
    return subprocess.run(
        command, cwd=ROOT, env=settings_env(settings, **env), input=stdin, stdout=output,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def procfile(root: Path = ROOT) -> dict[str, str]:
    """The Procfile in `root`: each process's command, by its name."""
    processes = {}
    for line in (root / "Procfile").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            processes[name.strip()] = command.strip()
    return processes


def procfile_command(process: str, root: Path = ROOT) -> list[str]:
    """The Procfile's line for `process`, run by a shell as a PaaS runs it (so `${VAR:-…}`
    defaults apply); `procfile_env` puts this venv's programs first on the PATH."""
    commands = procfile(root)
    if process not in commands:
        raise KeyError(f"the Procfile has no {process!r} process")
    return ["/bin/sh", "-c", f"exec {commands[process]}"]


def procfile_env(settings: Settings) -> dict[str, str]:
    env = settings_env(settings)
    return env | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.TransportError:
        return None


class Consumer:
    """A real worker process (`python -m worker`), started as the Procfile starts it,
    with `env` added to its environment (variables Settings does not carry, such as
    WORKER_THREADS)."""

    def __init__(self, settings: Settings, log_path: Path, env: dict[str, str] | None = None):
        self.settings = settings
        self.log_path = log_path
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Consumer:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                procfile_command("worker"), cwd=ROOT, env=procfile_env(self.settings) | self.env,
                stdout=log, stderr=log,
            )  # fmt: skip
        return self

    def stop(self) -> None:
        """SIGTERM, as a PaaS (and honcho) stops a process: the worker finishes the calls
        in flight (the Procfile makes TERM huey's graceful signal)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class Workers:
    """`count` worker processes (each with `env` added, see Consumer), started together when
    asked and stopped on exit."""

    def __init__(
        self, settings: Settings, folder: Path, count: int, env: dict[str, str] | None = None
    ) -> None:
        self.settings, self.folder, self.count, self.env = settings, folder, count, env
        self.started: list[Consumer] = []

    def start(self) -> None:
        self.started += [
            Consumer(self.settings, self.folder / f"worker-{n}.log", self.env).start()
            for n in range(self.count)
        ]

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *_: object) -> None:
        for consumer in self.started:
            consumer.stop()


def serve_webhook(
    env: dict[str, str], log: Path, port: int | None = None, workers: int | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """A real `uvicorn webhook.app:app` (as the Procfile runs it), in `workers` processes
    sharing the port when given; returns its /healthz URL."""
    port = port or free_port()
    uvicorn = str(Path(sys.executable).with_name("uvicorn"))
    several = ["--workers", str(workers)] if workers else []
    with log.open("ab") as output:
        process = subprocess.Popen(
            [uvicorn, "webhook.app:app", "--host", "127.0.0.1", "--port", str(port),
             "--no-access-log", *several],
            cwd=ROOT, env=env, stdout=output, stderr=output,
        )  # fmt: skip
    return process, f"http://127.0.0.1:{port}/healthz"


@contextmanager
def webhook_process(settings: Settings, log: Path) -> Iterator[str]:
    """A webhook process (serve_webhook) with these settings, once it answers its health
    check; yields its delivery URL, and stops it on leaving."""
    process, health = serve_webhook(settings_env(settings), log)
    try:
        wait_until(lambda: get(health), what="the webhook process")
        yield health.removesuffix("/healthz") + "/webhooks/composio"
    finally:
        stop(process, timeout=10)


def serve_web(
    env: dict[str, str], log: Path, port: int | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """The Procfile's `web` process as a platform runs it, on `port` given as $PORT: the
    dashboard, the intake and (when `env` says so) its own worker; returns its address.
    `env` is a child's environment (settings_env); this venv's programs come first."""
    port = port or free_port()
    path = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    with log.open("ab") as output:
        process = subprocess.Popen(
            procfile_command("web"), cwd=ROOT, env=env | {"PORT": str(port), "PATH": path},
            stdout=output, stderr=output,
        )  # fmt: skip
    return process, f"http://127.0.0.1:{port}"


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM, as a platform stops a process, and wait for it; kill it past `timeout`."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
