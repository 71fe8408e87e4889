"""Deployed as a platform deploys it (Heroku's, Render's and Railway's Python builds): the
project's files alone, installed from requirements.txt into a fresh virtualenv, the
Procfile's `release`, then `web` (and `worker`) with nothing in their environment but
what the platform and its add-ons set — PORT, DATABASE_URL as postgres://…, REDIS_URL
and a generated secret. Everything is reached at web's one port.

Needs PostgreSQL + Redis (TEST_DATABASE_URL, TEST_QUEUE_URL, as CI sets them) and the
package registry that `pip install` uses (as every platform's build does)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
import sqlalchemy as sa

from core.access import credentials, tokens
from core.config import Settings
from core.store.db import session as open_session
from core.store.models import utcnow
from support.backends import BACKENDS, TEST_QUEUE_URL, postgres_database
from support.delivery import SECRET, event_body, signed
from support.fakes import FakeTarget
from support.processes import ROOT, free_port, procfile, procfile_command, stop
from support.waiting import wait_until

pytestmark = pytest.mark.skipif(
    "postgres" not in BACKENDS,
    reason="needs PostgreSQL + Redis: set TEST_DATABASE_URL and TEST_QUEUE_URL",
)


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    """The project's tracked files (what a clone has), installed as the buildpacks
    install them: `pip install -r requirements.txt` into a fresh virtualenv."""
    checkout = tmp_path_factory.mktemp("deploy") / "app"
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, checkout / name)
    venv = checkout / ".heroku" / "python"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    installed = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "-r", "requirements.txt"],
        cwd=checkout, capture_output=True, text=True,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]
    return checkout


@pytest.fixture
def platform(build) -> Iterator[dict[str, str]]:
    """What the platform sets: its PORT, the add-ons' DATABASE_URL (postgres://, as Heroku
    writes it) and REDIS_URL, the generated secret (64 hex characters, app.json's
    "generator": "secret"); PATH and HOME as a dyno has them."""
    redis.Redis.from_url(TEST_QUEUE_URL).flushdb()
    with postgres_database(migrated=False) as database_url:
        url = sa.make_url(database_url)
        heroku_style = (
            f"postgres://{url.username}:{url.password}@{url.host}:{url.port or 5432}/{url.database}"
        )
        yield {
            "PATH": f"{build / '.heroku' / 'python' / 'bin'}:/usr/bin:/bin",
            "HOME": os.environ.get("HOME", "/root"),
            "PORT": str(free_port()),
            "DATABASE_URL": heroku_style,
            "REDIS_URL": TEST_QUEUE_URL,
            "PLANNER_SECRET_KEY": secrets.token_hex(32),
        }


def start(build: Path, process: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(
            procfile_command(process, build), cwd=build, env=env,
            stdout=output, stderr=output,
        )  # fmt: skip


def operator(platform: dict[str, str]) -> Settings:
    """What someone with the app's settings does once (`heroku run` or a shell): here, in
    this process, a token for the API and the webhook's signing secret (sealed with the
    generated secret, which the deployed processes must open)."""
    return Settings.from_env(
        {
            "DATABASE_URL": platform["DATABASE_URL"],
            "PLANNER_SECRET_KEY": platform["PLANNER_SECRET_KEY"],
        }
    )


@pytest.mark.timeout(900)
def test_a_fresh_deploy_serves_everything_at_one_port_and_runs_jobs_and_events(
    build, platform, tmp_path
):
    commands = procfile(build)
    assert set(commands) == {"web", "worker", "release"}
    release = subprocess.run(
        ["/bin/sh", "-c", commands["release"]], cwd=build, env=platform, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert release.returncode == 0, release.stderr

    settings = operator(platform)
    with open_session(settings.database_url) as session:
        token = tokens.create_token(session, "deploy", utcnow()).token
        credentials.store(session, settings, credentials.COMPOSIO_WEBHOOK_SECRET, SECRET)
        session.commit()

    agent = FakeTarget().start()
    url = f"http://127.0.0.1:{platform['PORT']}"
    scaled = platform | {"PLANNER_EMBEDDED_WORKER": "0"}  # a web and a worker process
    web = start(build, "web", scaled, tmp_path / "web.log")
    worker = start(build, "worker", platform, tmp_path / "worker.log")
    try:
        wait_until(lambda: _get(url + "/healthz"), timeout=90, what="the deployed web process")
        page = httpx.get(url + "/")
        assert page.status_code == 200 and "<title>Streamlit</title>" in page.text

        bearer = {"Authorization": f"Bearer {token}"}
        api = httpx.Client(base_url=url + "/api/v1", headers=bearer, timeout=30)
        made = api.post("/agents", json={"name": "Assistant", "backend": "openai",
                                         "url": agent.url + "/v1", "model": "m"})  # fmt: skip
        assert made.status_code == 201, made.text
        trigger = {"name": "Mail", "agent": "Assistant", "event": "GMAIL_NEW_GMAIL_MESSAGE",
                   "config": {"template": "Mail: {subject}"}}  # fmt: skip
        assert api.post("/triggers", json=trigger).status_code == 201
        job = {"name": "Briefing", "agent": "Assistant", "schedule": "0 9 * * *",
               "timezone": "Europe/Berlin", "config": {"template": "Good morning"}}  # fmt: skip
        assert api.post("/jobs", json=job).status_code == 201

        body, webhook_id = event_body(data={"subject": "deployed"})
        delivered = httpx.post(
            url + "/webhooks/composio", content=body, headers=signed(body, webhook_id)
        )
        assert delivered.json() == {"status": "accepted", "id": webhook_id}
        assert api.post("/jobs/Briefing/run").status_code == 202
        both = ["Good morning", "Mail: deployed"]
        agent.wait_for(lambda calls: sorted(_said(c) for c in calls) == both)

        stop(worker)
        stop(web)
        alone = start(build, "web", platform, tmp_path / "alone.log")  # its own worker
        try:
            wait_until(lambda: _get(url + "/healthz"), timeout=90, what="the web process alone")
            assert api.post("/jobs/Briefing/run").status_code == 202
            agent.wait_for(lambda calls: len(calls) == 3, timeout=60)
            assert _said(agent.received()[-1]) == "Good morning"
        finally:
            stop(alone)
    finally:
        stop(worker)
        stop(web)
        agent.stop()


def _get(url: str) -> httpx.Response | None:
    try:
        answer = httpx.get(url, timeout=2)
    except httpx.TransportError:
        return None
    return answer if answer.status_code == 200 else None


def _said(call) -> str:
    return call.body["messages"][-1]["content"]
