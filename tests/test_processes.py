"""The webhook process's health check from a real uvicorn, and helpers for the tests that
start the Procfile's processes."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import ROOT, settings_env, wait_until


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.TransportError:
        return None


def serve_webhook(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A real `uvicorn webhook.app:app` (as the Procfile runs it); returns its /healthz URL."""
    port = free_port()
    uvicorn = str(Path(sys.executable).with_name("uvicorn"))
    with log.open("ab") as output:
        process = subprocess.Popen(
            [uvicorn, "webhook.app:app", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=env, stdout=output, stderr=output,
        )  # fmt: skip
    return process, f"http://127.0.0.1:{port}/healthz"


def test_webhook_healthz_reports_the_database(settings, tmp_path):
    healthy, url = serve_webhook(settings_env(settings), tmp_path / "ok.log")
    broken_env = settings_env(settings, DATABASE_URL="sqlite:////proc/no-database-can-be-here.db")
    broken, broken_url = serve_webhook(broken_env, tmp_path / "broken.log")
    try:
        answer = wait_until(lambda: get(url), what="the webhook process")
        assert (answer.status_code, answer.json()) == (200, {"status": "ok"})
        failing = wait_until(lambda: get(broken_url), what="the second webhook process")
        assert failing.status_code == 503 and failing.json()["status"] == "error"
    finally:
        for process in (healthy, broken):
            process.terminate()
            process.wait(timeout=10)
