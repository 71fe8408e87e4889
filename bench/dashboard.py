"""Dashboard benchmark: prints figures, asserts nothing.

The Planner page of an agent with 200 jobs, 50 triggers and 10,000 runs in the
database, rendered by Streamlit's script runner (AppTest): the server-side time of one
page run, median of several.

    .venv/bin/python bench/dashboard.py [--runs 10000] [--repeats 5] [--backend sqlite]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from bench.common import add_backend_option, bench_settings, describe  # noqa: E402
from core.agents import registry  # noqa: E402
from core.automations import triggers  # noqa: E402
from core.automations.triggers import TriggerFields  # noqa: E402
from core.config import Settings, get_settings  # noqa: E402
from core.store.db import get_engine  # noqa: E402
from core.store.db import session as open_session  # noqa: E402
from core.store.models import Run, utcnow  # noqa: E402
from support.load import insert_jobs  # noqa: E402
from support.processes import settings_env  # noqa: E402

SCHEDULES = ["0 9 * * *", "30 8 * * 1-5", "0 * * * *", "0 9 * * 1", "*/15 * * * *"]


def populate(settings: Settings, jobs: int, trigger_count: int, runs: int) -> None:
    with open_session(settings.database_url) as session:
        agent = registry.save_agent(session, "Assistant", "openai", "http://127.0.0.1:9/v1", "m")
        for n in range(trigger_count):
            fields = TriggerFields(agent="Assistant", event="GMAIL_NEW_GMAIL_MESSAGE",
                                   chat=f"Mail {n} from {{emailFrom}}")  # fmt: skip
            triggers.create_trigger(session, f"Trigger {n}", fields, settings, utcnow())
    insert_jobs(settings, agent.id, jobs, lambda n: SCHEDULES[n % len(SCHEDULES)],
                utcnow() + timedelta(hours=1), jobs)  # fmt: skip
    now, automations = utcnow(), jobs + trigger_count
    rows = [
        {
            "job_id": n % automations + 1 if n % automations < jobs else None,
            "trigger_id": n % automations - jobs + 1 if n % automations >= jobs else None,
            "event_id": f"evt_{n}" if n % automations >= jobs else None,
            "source": "schedule" if n % automations < jobs else "event",
            "status": "succeeded" if n % 7 else "failed", "scheduled_for": None,
            "due_at": now - timedelta(minutes=n), "attempt": 1, "attempts": [],
            "started_at": now - timedelta(minutes=n), "finished_at": now - timedelta(minutes=n),
            "input": f"Message {n}", "output": f"Reply {n}", "error": None, "created_at": now,
        }
        for n in range(runs)
    ]  # fmt: skip
    with get_engine(settings.database_url).begin() as connection:
        connection.execute(sa.insert(Run.__table__), rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--triggers", type=int, default=50)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    add_backend_option(parser)
    args = parser.parse_args()
    with bench_settings(args.backend, composio_webhook_secret="bench") as (settings, _):
        print(describe(settings))
        populate(settings, args.jobs, args.triggers, args.runs)
        durations, app = page_runs(settings, args.repeats)
    assert not app.exception, app.exception
    print(f"Planner page, {args.jobs} jobs, {args.triggers} triggers, {args.runs:,} runs: "
          f"median {statistics.median(durations[1:]):.2f} s per page run "
          f"(first run {durations[0]:.2f} s; {args.repeats} repeats)")  # fmt: skip


def page_runs(settings: Settings, repeats: int) -> tuple[list[float], AppTest]:
    """Run the dashboard's script `repeats` + 1 times; the first run warms the caches."""
    os.environ.update(settings_env(settings))
    get_settings.cache_clear()
    durations = []
    app = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=120)
    for _ in range(repeats + 1):
        started = time.perf_counter()
        app.run()
        durations.append(time.perf_counter() - started)
    return durations, app


if __name__ == "__main__":
    main()
