"""Several workers on PostgreSQL + Redis, as a team deploys them once one machine is not
enough: each occurrence and each event still runs exactly once, and a burst does not
start later with three workers than with one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from support.backends import BACKENDS
from support.load import Load, prepare_agent, run_load
from support.processes import Workers
from support.slow_agent import SlowAgent

pytestmark = [
    pytest.mark.database,
    pytest.mark.skipif(
        "postgres" not in BACKENDS,
        reason="needs PostgreSQL + Redis: set TEST_DATABASE_URL and TEST_QUEUE_URL",
    ),
]


# What one worker cannot do alone: its calls in flight are all taken by a burst of slow calls.
# A CPU-bound burst on a 2-core machine is no faster in three processes than in one (they
# share the same cores), so there the comparison would be a coin toss; adding workers adds
# call slots everywhere, and cores wherever the workers run on several machines.
AGENT_SECONDS = 2
CALLS_IN_FLIGHT = 250


@pytest.fixture
def target(tmp_path) -> Iterator[SlowAgent]:
    """An agent in a process of its own that answers after AGENT_SECONDS: workers keep
    hundreds of calls open, more than a thread per call in the test's process could answer."""
    agent = SlowAgent(delay=AGENT_SECONDS, log_path=tmp_path / "agent.log").start()
    yield agent
    agent.stop()


@pytest.mark.timeout(600)  # two bursts, each waiting up to 80 s for its minute
@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
def test_three_workers_run_a_burst_once_and_start_it_no_later_than_one(
    settings, target, webhook, tmp_path
):
    # The shipped call timeout: a worker keeps hundreds of calls open and takes seconds of
    # CPU to open them all; the tests' 5 s would turn answers still being read into
    # retries, which this test would count as doubled calls.
    settings = replace(settings, http_timeout_seconds=60, max_in_flight=CALLS_IN_FLIGHT)
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
