"""The Settings page through AppTest: the worker's state and Composio."""

from __future__ import annotations

from datetime import timedelta

from core.models import Heartbeat, utcnow
from tests.screens import settings_page, texts


def test_settings_say_the_worker_is_offline_and_composio_not_set(page):
    app = page(settings_page)
    assert "Offline — nothing will run until the worker is started." in texts(app)
    assert "No COMPOSIO_API_KEY" in texts(app)


def test_settings_count_the_workers_online(page, session):
    now = utcnow()
    for worker, ago in [("a:1", 10), ("b:2", 30), ("gone:3", 600)]:
        session.add(Heartbeat(worker=worker, last_tick_at=now - timedelta(seconds=ago)))
    session.commit()
    app = page(settings_page)
    assert "Online — 2 workers, last seen" in texts(app)
