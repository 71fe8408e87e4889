"""The webhook process's health check from a real uvicorn, and helpers for the tests that
start the Procfile's processes."""

from __future__ import annotations

from support.processes import get, serve_webhook, settings_env
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
