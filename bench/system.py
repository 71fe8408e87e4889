"""System benchmark: prints figures, asserts nothing.

The workers and the webhook run as the Procfile starts them (the workers keep at most
`--max-in-flight` calls in flight), with a local agent that answers after `--agent-delay`
seconds (2; support.slow_agent: it holds any number of calls open). Signed events arrive
at `--rate` (200/s) for `--seconds` (5), each sent at its moment whether or not the ones
before were acknowledged, while `--jobs` (1,000) jobs fall due in the minute in the
middle of them. Prints events/s accepted, the acknowledgement's wait, sent → agent call,
job start lag (agent call minus occurrence), runs lost and doubled (counted at the agent:
one call per run, keyed by Idempotency-Key), peak RSS.

    .venv/bin/python bench/system.py [--seconds 5] [--rate 200] [--jobs 1000]
                                     [--workers 1] [--backend sqlite|postgres]
                                     [--agent-delay 2] [--max-in-flight 2000]
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    add_backend_option,
    add_max_in_flight_option,
    bench_settings,
    count,
    cpu_at,
    cpu_seconds,
    describe,
    peak_rss_mib,
    positive,
    whole,
    worker_pids,
)
from core.config import Settings  # noqa: E402
from support.delivery import SECRET  # noqa: E402
from support.load import Load, Outcome, due_for, prepare_agent, run_load  # noqa: E402
from support.processes import Workers, get, serve_webhook, settings_env  # noqa: E402
from support.slow_agent import SlowAgent  # noqa: E402
from support.waiting import wait_until  # noqa: E402


def report(
    load: Load, args: argparse.Namespace, outcome: Outcome, rss: tuple[float, float], cpu: float
) -> None:
    """`cpu`: the workers' CPU seconds from just before the first event until the last run
    ended."""
    threads = os.environ.get("WORKER_THREADS", "4")
    print(f"{load.events} signed events at {load.event_rate:.0f}/s; {load.jobs} jobs due at "
          f"{outcome.due:%H:%M:%S} UTC; {args.workers} worker(s) of {threads} threads, "
          f"PLANNER_MAX_IN_FLIGHT={args.max_in_flight}; 1 webhook; "
          f"the agent answers in {args.agent_delay:g} s")  # fmt: skip
    print(f"    events accepted: {outcome.events_accepted} "
          f"({outcome.events_accepted / outcome.send_seconds:.1f}/s)")  # fmt: skip
    print(f"    acknowledged: p50 {outcome.acknowledgement(0.5) * 1000:.0f} ms, "
          f"p99 {outcome.acknowledgement(0.99) * 1000:.0f} ms")  # fmt: skip
    print(f"    sent → agent call: p50 {outcome.event_lag(0.5):.3f} s, "
          f"p99 {outcome.event_lag(0.99):.3f} s")  # fmt: skip
    if load.jobs:
        print(f"    job start lag: p50 {outcome.job_lag(0.5):.3f} s, "
              f"p99 {outcome.job_lag(0.99):.3f} s")  # fmt: skip
    print(f"    runs lost: {outcome.lost}, runs doubled: {outcome.doubled}")
    print(f"    worker CPU: {cpu * 1000 / (load.events + load.jobs):.2f} ms per run "
          f"({cpu:.1f} s for {load.events} events and {load.jobs} jobs)")  # fmt: skip
    print(f"    peak RSS: worker {rss[0]:.0f} MiB, webhook {rss[1]:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=positive, default=5)
    parser.add_argument("--rate", type=positive, default=200)
    parser.add_argument("--jobs", type=count, default=1000, help="0: events alone")
    parser.add_argument("--workers", type=whole, default=1, help="consumer processes")
    parser.add_argument("--agent-delay", type=float, default=2, help="seconds the agent waits")
    add_max_in_flight_option(parser)
    add_backend_option(parser)
    args = parser.parse_args()
    load = Load(args.jobs, int(args.seconds * args.rate), args.rate, "bench")
    due = due_for(load)
    timeout = max(Settings.http_timeout_seconds, args.agent_delay + 30)  # the shipped, or longer
    fields = {
        "composio_webhook_secret": SECRET,
        "http_timeout_seconds": timeout,
        "max_in_flight": args.max_in_flight,
    }
    with bench_settings(args.backend, **fields) as (settings, folder):
        print(describe(settings))
        target = SlowAgent(args.agent_delay, folder / "agent.log").start()
        agent_id = prepare_agent(settings, target)
        webhook, health = serve_webhook(settings_env(settings), folder / "webhook.log")
        wait_until(lambda: get(health), what="the webhook")
        url = health.removesuffix("/healthz") + "/webhooks/composio"
        try:
            with Workers(settings, folder, args.workers) as workers:
                cpu_before = cpu_at(workers, due - timedelta(seconds=args.seconds / 2 + 1))
                outcome = run_load(settings, target, agent_id, url, load, workers.start, due=due)
                cpu = sum(cpu_seconds(pid) for pid in worker_pids(workers)) - cpu_before()
                rss = (
                    max(peak_rss_mib(pid) for pid in worker_pids(workers)),
                    peak_rss_mib(webhook.pid),
                )
        finally:
            webhook.terminate()
            webhook.wait(timeout=30)
            target.stop()
    report(load, args, outcome, rss, cpu)


if __name__ == "__main__":
    main()
