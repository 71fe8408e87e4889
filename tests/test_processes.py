"""The webhook process's health check from a real uvicorn, and helpers for the tests that
start the Procfile's processes."""

from __future__ import annotations

import subprocess

import pytest

from core.access.secrets import TOO_SHORT
from support.processes import ROOT, get, procfile_command, procfile_env, serve_webhook, settings_env
from support.waiting import wait_until


def test_webhook_healthz_reports_the_database(settings, tmp_path):
    healthy, url = serve_webhook(settings_env(settings), tmp_path / "ok.log")
    broken_env = settings_env(settings, DATABASE_URL="sqlite:////proc/no-database-can-be-here.db")
    broken, broken_url = serve_webhook(broken_env, tmp_path / "broken.log")
    empty_env = settings_env(settings, DATABASE_URL=f"sqlite:///{tmp_path / 'never-migrated.db'}")
    empty, empty_url = serve_webhook(empty_env, tmp_path / "empty.log")
    try:
        answer = wait_until(lambda: get(url), what="the webhook process")
        assert (answer.status_code, answer.json()) == (200, {"status": "ok"})
        for unhealthy in (broken_url, empty_url):
            failing = wait_until(lambda url=unhealthy: get(url), what="a webhook process")
            assert failing.status_code == 503 and failing.json()["status"] == "error"
    finally:
        for process in (healthy, broken, empty):
            process.terminate()
            process.wait(timeout=10)


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("PLANNER_TICK_SECONDS", "0", "PLANNER_TICK_SECONDS must be at least 1, got 0"),
        ("PLANNER_TICK_SECONDS", "61", "PLANNER_TICK_SECONDS must be at most 60, got 61"),
        ("PLANNER_MAX_IN_FLIGHT", "0", "PLANNER_MAX_IN_FLIGHT must be at least 1, got 0"),
        ("PLANNER_MAX_IN_FLIGHT", "abc", "PLANNER_MAX_IN_FLIGHT must be a whole number, got 'abc'"),
        ("WORKER_THREADS", "0", "WORKER_THREADS must be at least 1, got 0"),
        ("PLANNER_SECRET_KEY", "short", TOO_SHORT),
    ],
)
def test_a_worker_with_a_bad_setting_says_so_in_one_line(settings, variable, value, said):
    env = procfile_env(settings) | {variable: value}
    worker = subprocess.run(
        procfile_command("worker"), cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert worker.returncode != 0
    assert worker.stderr.strip().splitlines()[-1] == f"planner worker: {said}"
    assert "Traceback" not in worker.stderr
