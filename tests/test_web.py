"""The web process as a platform runs it (the Procfile's `web` line on $PORT): one address
for the dashboard, Composio's deliveries, the HTTP API and the health check; the
dashboard's password does not guard the intake, which keeps its own checks; with its own
worker it runs jobs alone, and beside worker processes every run still happens once."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from core.access import tokens
from core.access.secrets import TOO_SHORT
from core.automations import jobs
from core.automations.jobs import JobFields
from core.store.db import read_session
from core.store.db import session as open_session
from core.store.models import Run, RunStatus, WebhookEvent, utcnow
from support.delivery import event_body, signed
from support.load import AGENT, Load, prepare_agent, run_load
from support.processes import Consumer, free_port, get, serve_web, settings_env, stop
from support.waiting import wait_until

pytestmark = pytest.mark.database  # about the database and the queue: PostgreSQL + Redis too

PASSWORD = "correct horse battery staple"


def children(pid: int) -> list[int]:
    """The processes `pid` started (Linux: /proc/PID/task/*/children)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.fixture
def web(settings, tmp_path) -> Iterator[Callable[..., tuple[str, int]]]:
    """Starts the web process with these settings (and extra variables); stops each."""
    started = []

    def start(settings=settings, port: int | None = None, **env: str) -> tuple[str, int]:
        process, url = serve_web(settings_env(settings, **env), tmp_path / "web.log", port)
        started.append(process)
        wait_until(lambda: get(url + "/healthz"), timeout=60, what="the web process")
        return url, process.pid

    yield start
    for process in started:
        stop(process)


def token(settings) -> dict[str, str]:
    with open_session(settings.database_url) as session:
        made = tokens.create_token(session, "web test", utcnow())
    return {"Authorization": f"Bearer {made.token}"}


def test_one_address_serves_the_dashboard_the_intake_and_the_api(settings, web, target):
    url, _ = web(DASHBOARD_PASSWORD=PASSWORD)
    prepare_agent(settings, target)

    page = httpx.get(url + "/")
    assert page.status_code == 200 and "<title>Streamlit</title>" in page.text
    assert httpx.get(url + "/settings").status_code == 200  # a page's own address
    assert httpx.get(url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(url + "/api/v1/openapi.json").json()["openapi"].startswith("3.")

    # the API and the deliveries answer by their own rules, not the dashboard's password
    assert httpx.get(url + "/api/v1/jobs").status_code == 401
    bearer = token(settings)
    listed = httpx.get(url + "/api/v1/agents", headers=bearer)
    assert listed.status_code == 200 and listed.json()["items"][0]["name"] == AGENT
    missing = httpx.get(url + "/api/v1/no-such-thing", headers=bearer)
    assert missing.status_code == 404 and "error" in missing.json()
    body, webhook_id = event_body()
    delivered = httpx.post(
        url + "/webhooks/composio", content=body, headers=signed(body, webhook_id)
    )
    assert delivered.json() == {"status": "accepted", "id": webhook_id}
    forged = httpx.post(
        url + "/webhooks/composio", content=body, headers=signed(body, "msg_x", "whsec_other")
    )
    assert forged.status_code == 401
    assert httpx.get(url + "/webhooks/composio").status_code == 405
    with read_session(settings.database_url) as session:
        assert [event.id for event in session.exec(select(WebhookEvent))] == [webhook_id]


def test_the_web_process_alone_runs_a_job_with_its_own_worker(settings, web, target):
    prepare_agent(settings, target)
    with open_session(settings.database_url) as session:
        fields = JobFields(agent=AGENT, schedule="0 9 * * *", chat="Alone {jobName}")
        jobs.create_job(session, "Alone", fields, utcnow(), "UTC")
        session.commit()
    url, pid = web(replace(settings, embedded_worker=True))
    [worker] = wait_until(lambda: children(pid), what="the embedded worker")

    ran = httpx.post(url + "/api/v1/jobs/Alone/run", headers=token(settings))
    assert ran.status_code == 202
    target.wait_for(lambda calls: len(calls) >= 1)

    def finished() -> Run | None:
        with read_session(settings.database_url) as session:
            run = session.get(Run, ran.json()["id"])
            return run if run.status == RunStatus.succeeded else None

    wait_until(finished, what="the run to succeed")
    [call] = target.received("/v1/chat/completions")
    assert call.body["messages"][-1]["content"] == "Alone Alone"

    os.kill(pid, 15)  # as a platform stops the web process: its worker ends with it
    wait_until(lambda: not alive(worker), what="the embedded worker to stop")


@pytest.mark.timeout(300)
def test_each_run_happens_once_with_the_embedded_worker_beside_a_worker_process(
    settings, web, target, tmp_path
):
    """Both workers' first ticks plan the same due jobs and both take runs off the queue;
    the deliveries go to the web process's own address."""
    agent_id = prepare_agent(settings, target)
    separate = Consumer(settings, tmp_path / "worker.log")
    port = free_port()

    def start_both() -> None:
        web(replace(settings, embedded_worker=True), port)
        separate.start()

    due = (utcnow() + timedelta(seconds=15)).replace(microsecond=0)
    load = Load(jobs=200, events=100, event_rate=50, label="both")
    deliveries = f"http://127.0.0.1:{port}/webhooks/composio"
    try:
        outcome = run_load(settings, target, agent_id, deliveries, load, start_both, 240, due)
    finally:
        separate.stop()
    assert outcome.events_accepted == 100 and len(outcome.job_lags) == 200
    assert (outcome.lost, outcome.doubled) == (0, 0)


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        # Heroku gives every dyno a disk of its own: SQLite there would split the data
        ("DYNO", "web.1", "DATABASE_URL is SQLite, but on Heroku"),
        ("PLANNER_SECRET_KEY", "short", TOO_SHORT),
        ("PLANNER_EMBEDDED_WORKER", "maybe", "PLANNER_EMBEDDED_WORKER must be one of"),
    ],
)
def test_the_web_process_refuses_a_bad_setting_in_one_line(
    settings, tmp_path, variable, value, said
):
    if variable == "DYNO" and not settings.database_url.startswith("sqlite"):
        pytest.skip("about SQLite")
    log = tmp_path / "refused.log"
    process, _ = serve_web(settings_env(settings, **{variable: value}), log)
    assert process.wait(timeout=60) != 0
    last = log.read_text().strip().splitlines()[-1]
    assert last.startswith(f"planner web: {said}")
    assert "Traceback" not in log.read_text()
