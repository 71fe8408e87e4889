"""System benchmark: prints figures, asserts nothing.

The worker and the webhook run as the Procfile starts them, with a fast local agent.
For `--seconds` (60) a sender posts signed events at `--rate` (50/s) while 1,000 jobs
fall due in the same minute. Prints events/s accepted, event → agent-call latency,
job start lag (agent call minus occurrence), runs lost and doubled (counted at the agent:
one call per run, keyed by Idempotency-Key), and the processes' peak RSS.

    .venv/bin/python bench/system.py [--seconds 60] [--rate 50] [--jobs 1000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.dispatch import fresh_settings, insert_jobs, percentile  # noqa: E402
from core import agents, triggers  # noqa: E402
from core.db import session as open_session  # noqa: E402
from core.models import utcnow  # noqa: E402
from core.triggers import TriggerFields  # noqa: E402
from tests.conftest import wait_until  # noqa: E402
from tests.delivery import SECRET, numbered_event, signed  # noqa: E402
from tests.fakes import FakeTarget  # noqa: E402
from tests.processes import (  # noqa: E402
    get,
    serve_webhook,
    settings_env,
)


def peak_rss_mib(pid: int) -> float:
    """VmHWM: the most memory the process ever had resident."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--jobs", type=int, default=1000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="planner-bench-"))
    settings = fresh_settings(folder)
    settings = replace(settings, composio_webhook_secret=SECRET)
    target = FakeTarget().start()
    with open_session(settings.database_url) as session:
        agent = agents.save_agent(session, "Bench", "openai", target.url + "/v1", "m")
        fields = TriggerFields(agent="Bench", event="GMAIL_NEW_GMAIL_MESSAGE", chat="{subject}")
        triggers.create_trigger(session, "Bench", fields, settings, utcnow())
    due = (utcnow() + timedelta(seconds=args.seconds / 2 + 60)).replace(second=0, microsecond=0)
    insert_jobs(
        settings, agent.id, args.jobs, lambda _: f"{due.minute} {due.hour} * * *", due, args.jobs
    )
    env = settings_env(settings)
    consumer = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("huey_consumer")),
            "worker.tasks.huey",
            "--workers",
            "4",
            "--worker-type",
            "thread",
            "--max-delay",
            "0.5",
        ],
        cwd=ROOT,
        env=env,
        stdout=(folder / "consumer.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    webhook, health = serve_webhook(env, folder / "webhook.log")
    wait_until(lambda: get(health), what="the webhook")
    url = health.removesuffix("/healthz") + "/webhooks/composio"
    print(
        f"{args.seconds:.0f} s of signed events at {args.rate:.0f}/s; {args.jobs} jobs due "
        f"at {due:%H:%M:%S} UTC; worker 4 threads, webhook 1 process"
    )

    sent_at: dict[str, float] = {}
    started = time.monotonic()
    with httpx.Client() as client:
        for n in range(int(args.seconds * args.rate)):
            pause = started + n / args.rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)  # pacing the sender
            subject = f"event {n}"
            body, webhook_id = numbered_event(n)
            sent = time.time()
            if client.post(url, content=body, headers=signed(body, webhook_id)).status_code == 200:
                sent_at[subject] = sent
    elapsed = time.monotonic() - started

    def calls() -> list:
        return target.received("/v1/chat/completions")

    def drained() -> bool:
        done = {c.body["messages"][-1]["content"] for c in calls()}
        jobs_done = sum(1 for text in done if text.startswith("ping "))
        return set(sent_at) <= done and jobs_done >= args.jobs

    deadline = max(0.0, (due - utcnow()).total_seconds()) + 180
    try:
        wait_until(drained, timeout=deadline, what="every event and job")
    except AssertionError as error:
        print(f"    not drained: {error}")
    received = calls()
    rss = (peak_rss_mib(consumer.pid), peak_rss_mib(webhook.pid))
    for process in (consumer, webhook):
        process.terminate()
        process.wait(timeout=30)

    keys = Counter(c.headers["Idempotency-Key"] for c in received)
    event_calls = {
        c.body["messages"][-1]["content"]: c.at
        for c in received
        if c.body["messages"][-1]["content"].startswith("event ")
    }
    event_lags = [event_calls[s] - t for s, t in sent_at.items() if s in event_calls]
    job_lags = [
        c.at - due.timestamp()
        for c in received
        if c.body["messages"][-1]["content"].startswith("ping ")
    ]
    lost_events = len(set(sent_at) - set(event_calls))
    print(f"    events accepted: {len(sent_at)} ({len(sent_at) / elapsed:.1f}/s)")
    print(
        f"    event → agent call: p50 {percentile(event_lags, 0.5):.3f} s, "
        f"p99 {percentile(event_lags, 0.99):.3f} s"
    )
    print(
        f"    job start lag: p50 {percentile(job_lags, 0.5):.3f} s, "
        f"p99 {percentile(job_lags, 0.99):.3f} s ({len(job_lags)} of {args.jobs} jobs)"
    )
    print(
        f"    runs lost: {lost_events + args.jobs - len(job_lags)}, "
        f"runs doubled: {sum(n - 1 for n in keys.values())}"
    )
    print(f"    peak RSS: worker {rss[0]:.0f} MiB, webhook {rss[1]:.0f} MiB")
    target.stop()


if __name__ == "__main__":
    main()
