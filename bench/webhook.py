"""Webhook benchmark: prints figures, asserts nothing.

Drives the intake from another process on loopback — signed ~1 KiB Composio events, a
fixed number of connections kept busy for a fixed time — where it runs: alone under
uvicorn (`uvicorn webhook.app:app`, the separate intake process), and in the Procfile's web
process beside the dashboard (the default deploy). Prints accepted events/s, p50/p99
latency, the web process's share of the separate one's, and events lost (a 200 without
its inbox row, or a row that does not become a run); and the same load against a bare
Starlette endpoint that only answers 200 — the ceiling here.

    .venv/bin/python bench/webhook.py [--seconds 20] [--concurrency 32] [--backend sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from sqlmodel import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import add_backend_option, bench_settings, describe, positive, whole  # noqa: E402
from core.agents import registry  # noqa: E402
from core.automations import triggers  # noqa: E402
from core.automations.triggers import TriggerFields  # noqa: E402
from core.config import Settings  # noqa: E402
from core.events.deliveries import signature  # noqa: E402
from core.events.processing import process_event  # noqa: E402
from core.store.db import read_session  # noqa: E402
from core.store.db import session as open_session  # noqa: E402
from core.store.models import Run, WebhookEvent, utcnow  # noqa: E402
from support.processes import (  # noqa: E402
    free_port,
    get,
    serve_web,
    serve_webhook,
    settings_env,
)
from support.queues import RecordingQueue  # noqa: E402
from support.waiting import wait_until  # noqa: E402

SECRET = "whsec_bench"
PADDING = "x" * 700  # brings an event to about 1 KiB
WORKERS = 1  # as the Procfile starts it (a second process added nothing on 2 cores)


def signed_request(port: int, path: str) -> tuple[str, bytes]:
    webhook_id = f"msg_{uuid.uuid4()}"
    body = json.dumps({
        "id": webhook_id, "type": "composio.trigger.message", "timestamp": "2026-11-26T09:00:00Z",
        "metadata": {"trigger_slug": "GMAIL_NEW_GMAIL_MESSAGE", "trigger_id": "ti_bench",
                     "user_id": "bench"},
        "data": {"sender": "Jane <jane@example.com>", "subject": "Bench", "message_text": PADDING},
    }).encode()  # fmt: skip
    timestamp = str(int(time.time()))
    head = (
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nwebhook-id: {webhook_id}\r\n"
        f"webhook-timestamp: {timestamp}\r\n"
        f"webhook-signature: {signature(SECRET, webhook_id, timestamp, body)}\r\n\r\n"
    )
    return webhook_id, head.encode() + body


async def _connection(port: int, path: str, until: float, results: list) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while time.monotonic() < until:
        webhook_id, request = signed_request(port, path)
        started = time.perf_counter()
        writer.write(request)
        status_line = await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await reader.readexactly(length)
        results.append((webhook_id, int(status_line.split()[1]), time.perf_counter() - started))
    writer.close()


def drive(port: int, path: str, seconds: float, concurrency: int, output) -> None:
    """The load generator (its own process): keep `concurrency` connections busy."""
    results: list = []
    until = time.monotonic() + seconds

    async def run() -> None:
        await asyncio.gather(*(_connection(port, path, until, results)
                               for _ in range(concurrency)))  # fmt: skip

    asyncio.run(run())
    output.put(results)


def serve_bare(port: int, env: dict[str, str], log: Path, workers: int) -> subprocess.Popen[bytes]:
    """The ceiling, started as serve_webhook starts the webhook (same uvicorn options)."""
    uvicorn = str(Path(sys.executable).with_name("uvicorn"))
    with log.open("ab") as output:
        return subprocess.Popen(
            [uvicorn, "bench.bare_app:app", "--host", "127.0.0.1", "--port", str(port),
             "--no-access-log", "--workers", str(workers)],
            cwd=ROOT, env=env, stdout=output, stderr=output,
        )  # fmt: skip


def load(app: str, env: dict, folder: Path, seconds: float, concurrency: int, workers: int):
    """Serve `app` ("bare", "webhook" alone, or the "web" process, which is one process) in
    `workers` processes and drive it."""
    port = free_port()
    path = "/webhooks/composio"
    if app == "bare":
        server, path = serve_bare(port, env, folder / "bare.log", workers), "/"
    elif app == "web":
        server, _ = serve_web(env, folder / "web.log", port)
    else:
        server, _ = serve_webhook(env, folder / "webhook.log", port, workers)
    wait_until(lambda: get(f"http://127.0.0.1:{port}/healthz"), what=app)
    context = multiprocessing.get_context("spawn")
    output = context.Queue()
    driver = context.Process(target=drive, args=(port, path, seconds, concurrency, output))
    driver.start()
    results = output.get(timeout=seconds + 120)
    driver.join()
    server.terminate()
    server.wait(timeout=30)
    return results


def report(label: str, results: list, seconds: float) -> None:
    ok = [r for r in results if r[1] == 200]
    latencies = sorted(r[2] * 1000 for r in ok)
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    print(f"    {label}: {len(ok) / seconds:,.0f} accepted/s, p50 "
          f"{statistics.median(latencies):.1f} ms, p99 {p99:.1f} ms "
          f"({len(results) - len(ok)} non-200)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=positive, default=20)
    parser.add_argument("--concurrency", type=whole, default=32)
    parser.add_argument(
        "--workers", type=whole, default=WORKERS,
        help="uvicorn worker processes, for the webhook and the bare endpoint alike",
    )  # fmt: skip
    add_backend_option(parser)
    args = parser.parse_args()
    with bench_settings(args.backend, composio_webhook_secret=SECRET) as (settings, folder):
        print(describe(settings))
        measure(settings, folder, args.seconds, args.concurrency, args.workers)


def measure(
    settings: Settings, folder: Path, seconds: float, concurrency: int, workers: int
) -> None:
    """The bare endpoint, then the webhook; then every accepted event is made a run."""
    with open_session(settings.database_url) as session:
        registry.save_agent(session, "Bench", "openai", "http://127.0.0.1:9/v1", "m")
        fields = TriggerFields(
            agent="Bench", event="GMAIL_NEW_GMAIL_MESSAGE", chat="{emailSubject}", user_id="bench"
        )
        trigger = triggers.create_trigger(session, "Bench", fields, settings, utcnow())
        # The instance the events name, as if Composio had registered it (events of an
        # instance no trigger has start nothing).
        trigger.composio_trigger_id = "ti_bench"
        session.add(trigger)
        session.commit()
    env = settings_env(settings)
    print(f"{concurrency} connections for {seconds:.0f} s, signed ~1 KiB events, "
          f"{workers} uvicorn worker process(es) each")  # fmt: skip

    ceiling = load("bare", env, folder, seconds, concurrency, workers)
    report("bare Starlette endpoint (ceiling)", ceiling, seconds)
    alone = load("webhook", env, folder, seconds, concurrency, workers)
    report("Planner intake, a process of its own", alone, seconds)
    web = load("web", env, folder, seconds, concurrency, workers)
    report("Planner intake in the web process (beside the dashboard)", web, seconds)
    share = sum(r[1] == 200 for r in web) / max(1, sum(r[1] == 200 for r in alone))
    print(f"    the web process takes {share:.0%} of the deliveries a process of its own takes")
    results = alone + web

    accepted = {r[0] for r in results if r[1] == 200}
    with read_session(settings.database_url) as session:
        stored = set(session.exec(select(WebhookEvent.id)))
    started = time.perf_counter()
    for event_id in sorted(accepted & stored):
        process_event(settings, event_id, RecordingQueue(), utcnow())
    drained = time.perf_counter() - started
    with read_session(settings.database_url) as session:
        with_runs = set(session.exec(select(Run.event_id)))
    print(f"    events lost: {len(accepted - stored)} without a row, "
          f"{len(accepted - with_runs)} without a run "
          f"(turned {len(accepted)} events into runs in {drained:.1f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
