"""Web process benchmark: prints figures, asserts nothing.

The dashboard's first render in the one-service deploy, where the web process runs the
worker too (PLANNER_EMBEDDED_WORKER, the default): headless Chromium opens the Planner
page (`--jobs` jobs of one agent) while the process is idle, then at the moment its
worker starts a burst of those jobs against an agent that answers after `--agent-delay`
seconds, and times from the request until the page shows its first card. Both processes
run as the Procfile starts them.

    .venv/bin/python bench/web.py [--jobs 1000] [--agent-delay 2] [--backend sqlite]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from bench.common import add_backend_option, bench_settings, describe, positive, whole  # noqa: E402
from core.store.models import utcnow  # noqa: E402
from support.browser import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402
from support.load import insert_jobs, prepare_agent  # noqa: E402
from support.processes import get, serve_web, settings_env, stop  # noqa: E402
from support.slow_agent import SlowAgent  # noqa: E402
from support.waiting import wait_until  # noqa: E402

RENDERS = 3  # first renders per condition, each in a new browser tab (a new session)


def first_renders(url: str, count: int) -> list[float]:
    """Seconds from opening the page in a new tab until its first card is on screen."""
    seconds = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        for _ in range(count):
            tab = browser.new_page()
            started = time.perf_counter()
            tab.goto(url)
            tab.get_by_role("button", name="Run now").first.wait_for(timeout=120_000)
            seconds.append(time.perf_counter() - started)
            tab.close()
        browser.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=whole, default=1000)
    parser.add_argument("--agent-delay", type=positive, default=2.0)
    add_backend_option(parser)
    args = parser.parse_args()
    with bench_settings(args.backend, embedded_worker=True, http_timeout_seconds=60) as (
        settings,
        folder,
    ):
        print(describe(settings))
        agent = SlowAgent(delay=args.agent_delay, log_path=folder / "agent.log").start()
        try:
            measure(settings, folder, agent, args.jobs)
        finally:
            agent.stop()


def measure(settings, folder: Path, agent: SlowAgent, jobs: int) -> None:
    agent_id = prepare_agent(settings, agent)
    due = (utcnow() + timedelta(seconds=45)).replace(microsecond=0)
    insert_jobs(settings, agent_id, jobs, lambda _: f"{due.minute} {due.hour} * * *", due, jobs)
    process, url = serve_web(settings_env(settings), folder / "web.log")
    try:
        wait_until(lambda: get(url + "/healthz"), timeout=60, what="the web process")
        idle = first_renders(url, RENDERS)
        pause = due.timestamp() + 0.2 - time.time()
        if pause > 0:
            time.sleep(pause)  # waiting for the burst's moment: pacing, not synchronisation
        busy = first_renders(url, RENDERS)
        called = len(agent.received("/v1/chat/completions"))
    finally:
        stop(process)
    print(f"Planner page of {jobs} jobs, first render in a new tab (median of {RENDERS}):")
    print(f"    web process idle: {statistics.median(idle):.2f} s "
          f"({', '.join(f'{s:.2f}' for s in idle)})")  # fmt: skip
    print(f"    its own worker starting {jobs} calls to a {agent.delay:g}-s agent: "
          f"{statistics.median(busy):.2f} s ({', '.join(f'{s:.2f}' for s in busy)}); "
          f"{called} calls made by the end")  # fmt: skip


if __name__ == "__main__":
    main()
