"""Several workers on PostgreSQL + Redis, as a team deploys them once one machine is not
enough: each occurrence and each event still runs exactly once, and a burst does not
start later with three workers than with one."""

from __future__ import annotations

import pytest

from support.backends import BACKENDS
from support.load import Load, prepare_agent, run_load
from support.processes import Workers

pytestmark = pytest.mark.skipif(
    "postgres" not in BACKENDS,
    reason="needs PostgreSQL + Redis: set TEST_DATABASE_URL and TEST_QUEUE_URL",
)


@pytest.mark.timeout(600)  # two bursts, each waiting up to 80 s for its minute
@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
def test_three_workers_run_a_burst_once_and_start_it_no_later_than_one(
    settings, target, webhook, tmp_path
):
    agent_id = prepare_agent(settings, target)
    outcomes = []
    for count, label in [(1, "one worker"), (3, "three workers")]:
        with Workers(settings, tmp_path, count) as workers:
            load = Load(2_000, 500, 50, label)
            outcomes.append(run_load(settings, target, agent_id, webhook, load, workers.start))
    one, three = outcomes

    for outcome in (one, three):
        assert outcome.events_accepted == 500
        assert (outcome.lost, outcome.doubled) == (0, 0)
        assert len(outcome.job_lags) == 2_000
    print(f"start lag p99: one worker {one.job_lag(0.99):.2f} s, three {three.job_lag(0.99):.2f} s")
    assert three.job_lag(0.99) <= one.job_lag(0.99)
