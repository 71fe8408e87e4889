"""Starting the Procfile's processes for tests: free ports, health probes, uvicorn."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.TransportError:
        return None


def serve_webhook(
    env: dict[str, str], log: Path, port: int | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """A real `uvicorn webhook.app:app` (as the Procfile runs it); returns its /healthz URL."""
    port = port or free_port()
    uvicorn = str(Path(sys.executable).with_name("uvicorn"))
    with log.open("ab") as output:
        process = subprocess.Popen(
            [uvicorn, "webhook.app:app", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=env, stdout=output, stderr=output,
        )  # fmt: skip
    return process, f"http://127.0.0.1:{port}/healthz"
