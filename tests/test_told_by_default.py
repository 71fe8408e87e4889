"""Told without asking twice: once a channel exists, every job's and trigger's failures
are told to the channels Settings names ("Tell me when anything fails"), unless the job or
trigger chose its own channels (or nobody); the message counts the tries, and the worker
sends it as soon as the failure is recorded, not at its next tick."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from core.automations import jobs
from core.automations.jobs import JobFields
from core.notifications import alerts, channels
from core.store.db import alembic_config, get_engine, read_session
from core.store.models import ScheduledJob, utcnow
from queueing import queue_for
from support.cli import json_printed, planner_cli
from support.fakes import FakeTarget, Reply
from support.flights import execute_run
from support.screens import settings_page, texts
from support.waiting import wait_until

CHAT = "/v1/chat/completions"
FAILED = Reply(500, {"error": "the model is down"})


@pytest.fixture
def hook() -> Iterator[FakeTarget]:
    """A JSON webhook that records what channels are sent."""
    fake = FakeTarget().start()
    yield fake
    fake.stop()


def add_channel(session, settings, hook: FakeTarget, name: str, every_failure: bool = True):
    url = hook.url.replace("http://", "json://") + "/" + name.lower().replace(" ", "-")
    return channels.add_channel(session, settings, name, url, utcnow(), every_failure)


def new_job(session, name: str, retries: int = 0, **fields) -> ScheduledJob:
    """A job made as a person makes one, saying nothing about who is told."""
    chosen = JobFields(agent="Assistant", schedule="0 9 1 1 *", chat="Hi", retries=retries,
                       **fields)  # fmt: skip
    return jobs.create_job(session, name, chosen, utcnow(), "UTC")


def fail_once(settings, session, job: ScheduledJob, queue, tries: int = 1) -> None:
    """Run the job now and let each of its `tries` fail (a retry's time is jumped to)."""
    run = jobs.run_job_now(session, job.id, queue, utcnow())
    for n in range(tries):
        execute_run(run.id, queue, settings, lambda n=n: utcnow() + timedelta(minutes=10 * n))


def sent(hook: FakeTarget, name: str) -> list[dict]:
    return [call.body for call in hook.received("/" + name)]


def test_a_job_that_chose_nobody_in_particular_tells_the_channels_settings_names(
    settings, session, agent, target, hook, queue
):
    job = new_job(session, "Briefing")  # before any channel exists
    add_channel(session, settings, hook, "Ops")
    add_channel(session, settings, hook, "Quiet", every_failure=False)
    target.script(CHAT, FAILED)
    fail_once(settings, session, job, queue)
    assert alerts.send_due(settings, utcnow()) == 1
    [message] = sent(hook, "ops")
    assert message["title"] == "Planner: Briefing failed"
    assert "Job Briefing failed at " in message["message"] and " tries" not in message["message"]
    assert sent(hook, "quiet") == []


def test_the_failure_says_how_many_tries_it_took(settings, session, agent, target, hook, queue):
    add_channel(session, settings, hook, "Ops")
    job = new_job(session, "Briefing", retries=2)
    target.script(CHAT, FAILED, FAILED, FAILED)
    fail_once(settings, session, job, queue, tries=3)
    alerts.send_due(settings, utcnow() + timedelta(minutes=30))  # after the last try's clock
    [message] = sent(hook, "ops")
    assert "failed at " in message["message"] and ", after 3 tries." in message["message"]


def test_a_job_that_chose_its_channels_or_nobody_tells_only_those(
    settings, session, agent, target, hook, queue
):
    add_channel(session, settings, hook, "Ops")
    add_channel(session, settings, hook, "Team", every_failure=False)
    own = new_job(session, "Own", notify=["Team"])
    nobody = new_job(session, "Silent", notify=[])
    target.script(CHAT, FAILED, FAILED)
    fail_once(settings, session, own, queue)
    fail_once(settings, session, nobody, queue)
    alerts.send_due(settings, utcnow())
    assert [m["title"] for m in sent(hook, "team")] == ["Planner: Own failed"]
    assert sent(hook, "ops") == []
    back = jobs.update_job(session, "Own", JobFields(notify=[channels.SETTINGS_WORD]), utcnow())
    assert back.notify_as_settings and back.notify_channel_ids == []


def test_the_worker_tells_at_once_not_at_its_next_tick(
    settings, session, agent, target, hook, consumer
):
    """The worker's tick (and its round of sending) is once a minute here: the message
    arrives long before the next one."""
    add_channel(session, settings, hook, "Ops")
    job = new_job(session, "Briefing")
    target.script(CHAT, FAILED)
    consumer(tick_seconds=60)
    jobs.run_job_now(session, job.id, queue_for(settings), utcnow())
    wait_until(lambda: sent(hook, "ops"), timeout=30, what="the failure told before the tick")
    assert sent(hook, "ops")[0]["title"] == "Planner: Briefing failed"


def test_the_command_line_adds_a_channel_told_about_every_failure_and_changes_that(
    settings, session, agent, hook, monkeypatch, capsys
):
    url = hook.url.replace("http://", "json://") + "/ops"
    with planner_cli(settings, monkeypatch) as cli:
        assert cli("notify", "add", "Ops", "--url", url) == 0
        assert "It is told when any job or trigger fails" in capsys.readouterr().out
        assert cli("jobs", "add", "Briefing", "--agent", "Assistant", "--schedule", "@daily",
                   "--chat", "Hi", "--json") == 0  # fmt: skip
        job = json_printed(capsys)
        assert (job["notify_as_settings"], job["notify_channel_ids"]) == (True, [])
        assert job["notify_on"] == ["failure", "recovery"]
        assert cli("notify", "update", "Ops", "--every-failure", "no", "--json") == 0
        assert json_printed(capsys)["every_failure"] is False
        assert cli("notify", "update", "Ops") == 2
        assert "give --every-failure yes or no" in capsys.readouterr().err
        for word in ("none", "Default"):  # words of --notify, never a channel's name
            assert cli("notify", "add", word, "--url", url) == 2
            assert "can't be named so" in capsys.readouterr().err
        assert cli("jobs", "update", "Briefing", "--notify", "Ops", "--json") == 0
        assert json_printed(capsys)["notify_as_settings"] is False
        assert cli("jobs", "update", "Briefing", "--notify", "") == 2
        assert "Name at least one channel ('none' for nobody" in capsys.readouterr().err
        assert cli("jobs", "update", "Briefing", "--notify", "default,Ops") == 2
        assert capsys.readouterr().err == (
            "planner: Give 'default' or 'none' alone, or the names of channels.\n"
        )
        assert cli("jobs", "update", "Briefing", "--notify", "default", "--json") == 0
        assert json_printed(capsys)["notify_as_settings"] is True
        assert cli("jobs", "update", "Briefing", "--notify", "none", "--json") == 0  # the API's []
        silent = json_printed(capsys)
        assert (silent["notify_as_settings"], silent["notify_channel_ids"]) == (False, [])


def test_settings_chooses_the_channels_told_when_anything_fails(settings, session, hook, page):
    ops = add_channel(session, settings, hook, "Ops")
    team = add_channel(session, settings, hook, "Team", every_failure=False)
    app = page(settings_page)
    told = app.multiselect(key="channels_every_failure")
    assert told.label == "Tell me when anything fails" and told.value == [ops.id]
    told.set_value([team.id]).run()
    assert "Saved who is told when anything fails." in texts(app)
    with read_session(settings.database_url) as db:
        assert [c.name for c in channels.list_channels(db) if c.every_failure] == ["Team"]


def test_the_migration_makes_jobs_that_told_nobody_follow_settings(tmp_path: Path):
    """Before, "Nobody" was the only default there was: such jobs follow the channels now;
    a job that chose channels keeps them."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0009")
    with get_engine(url).begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO agent (id, name, backend, base_url, model, system_prompt, api_key_env,"
            " created_at) VALUES (1, 'A', 'http', 'http://x', '', '', '', '2026-01-01')"
        ))  # fmt: skip
        for job_id, told in ((1, "[]"), (2, "[7]")):
            connection.execute(sa.text(
                "INSERT INTO scheduled_job (id, key, agent_id, name, action, config, status,"
                " consecutive_failures, created_at, updated_at, schedule, timezone,"
                " misfire_policy, jitter_seconds, notify_channel_ids) VALUES (:id, :key, 1,"
                " :name, 'chat', '{}', 'active', 0, '2026-01-01', '2026-01-01', '@daily', 'UTC',"
                " 'skip', 0, :told)"
            ), {"id": job_id, "key": f"k{job_id}", "name": f"J{job_id}", "told": told})  # fmt: skip
    command.upgrade(alembic_config(url), "head")
    with get_engine(url).connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT name, notify_as_settings, notify_on FROM scheduled_job ORDER BY id"
        )).all()  # fmt: skip
    get_engine(url).dispose()
    assert [(name, bool(follows)) for name, follows, _ in rows] == [("J1", True), ("J2", False)]
    # both tell someone, so they say what about (0011), as core stores it now
    assert [json.loads(events) for _, _, events in rows] == [channels.DEFAULT_EVENTS] * 2
