"""Limits belong to agents (issue 12): an agent's or workflow's most calls at once, set the
same way from core, the command line and the Agents & workflows page, and a run that waits
for a free slot said as waiting, not as late."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlmodel import select

from core.agents import registry
from core.errors import ValidationError
from core.running.heartbeats import beat
from core.running.runs import run_row
from core.store.db import read_session
from core.store.models import Agent, Run, RunSource, RunStatus, Workflow, utcnow
from support.cli import planner_here
from support.screens import activity_page, agents_page, briefing, field, submit, texts
from support.stored import snapshot

REASON = "Waiting for a free slot: Assistant takes at most 2 calls at once."
SAID = "waiting for a free slot: Assistant takes at most 2 calls at once"


def limits(settings) -> dict[str, int | None]:
    """Each agent's and workflow's limit, by name."""
    with read_session(settings.database_url) as session:
        rows = [*session.exec(select(Agent)), *session.exec(select(Workflow))]
    return {row.name: row.max_concurrency for row in rows}


@pytest.mark.parametrize("limit", [None, 1, 10_000])
def test_a_limit_from_one_to_ten_thousand_or_none_is_saved_and_in_the_json(session, target, limit):
    agent = registry.save_agent(
        session, "Assistant", "http", target.url + "/agent", max_concurrency=limit
    )
    flow = registry.save_workflow(session, "analyze", target.url + "/hooks", max_concurrency=limit)
    assert registry.row_json(agent)["max_concurrency"] == limit
    assert registry.row_json(flow)["max_concurrency"] == limit


@pytest.mark.parametrize("limit", [0, -1, 10_001, 2.5, True, "3"])
def test_any_other_limit_is_refused_by_name_and_changes_nothing(
    session, settings, agent, workflow, limit
):
    before = snapshot(settings.database_url)
    changes = [
        lambda: registry.save_agent(
            session, "Assistant", "openai", agent.base_url, "m", existing=agent,
            max_concurrency=limit,
        ),
        lambda: registry.save_agent(
            session, "Other", "http", agent.base_url, max_concurrency=limit
        ),
        lambda: registry.save_workflow(
            session, "analyze-email", workflow.url, existing=workflow, max_concurrency=limit
        ),
    ]  # fmt: skip
    for change in changes:
        with pytest.raises(ValidationError, match="limit on calls at once") as refused:
            change()
        assert refused.value.field == "max_concurrency"
        assert "from 1 to 10000" in str(refused.value)
    session.rollback()
    assert snapshot(settings.database_url) == before


def test_a_change_saves_the_limit_as_given_none_removing_it(session, settings, agent):
    """save_agent saves every field as given: a caller that keeps the limit passes it."""
    url = agent.base_url
    registry.save_agent(session, "Assistant", "openai", url, "m", existing=agent, max_concurrency=3)
    assert limits(settings)["Assistant"] == 3
    registry.save_agent(session, "Assistant", "openai", url, "m", existing=agent)
    assert limits(settings)["Assistant"] is None


@pytest.mark.parametrize(("typed", "limit"), [("7", 7), (" 12 ", 12), ("none", None),
                                              ("None", None)])  # fmt: skip
def test_a_typed_limit_is_a_whole_number_or_none(typed, limit):
    assert registry.max_concurrency_from_text(typed) == limit


def test_limits_in_words():
    assert registry.limit_in_words(None) == "no limit on calls at once"
    assert registry.limit_in_words(1) == "at most 1 call at once"
    assert registry.limit_in_words(2) == "at most 2 calls at once"


def test_the_command_line_adds_keeps_changes_and_removes_a_limit(settings, target):
    def ok(*args: str) -> str:
        done = planner_here(settings, *args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    added = ok("agents", "add", "Assistant", "--backend", "http", "--url",
               target.url + "/agent", "--max-concurrency", "2", "--json")  # fmt: skip
    assert json.loads(added)["max_concurrency"] == 2
    ok("agents", "update", "Assistant", "--model", "remote-7")  # left out: kept
    ok("workflows", "add", "analyze", "--url", target.url + "/hooks", "--max-concurrency", "5")
    assert "at most 2 calls at once" in ok("agents", "list")
    assert limits(settings) == {"Assistant": 2, "analyze": 5}
    ok("agents", "update", "Assistant", "--max-concurrency", "none")
    changed = ok("workflows", "update", "analyze", "--max-concurrency", "1", "--json")
    assert json.loads(changed)["max_concurrency"] == 1
    assert limits(settings) == {"Assistant": None, "analyze": 1}
    assert "no limit on calls at once" in ok("agents", "list")
    with read_session(settings.database_url) as session:
        [agent] = session.exec(select(Agent)).all()
    assert (agent.model, agent.backend, agent.base_url) == (
        "remote-7",
        "http",
        target.url + "/agent",
    )


def limit_field(app, index: int = 0):
    """The limit field of the `index`-th form (agents' forms before workflows')."""
    return field(app, "At most … calls at once", index)


def test_the_page_sets_changes_and_removes_an_agents_limit(page, settings, target):
    app = page(agents_page)
    field(app, "Name").input("Assistant")
    field(app, "Address").input(target.url + "/v1")
    limit_field(app).input("3")
    submit(app, "Add agent")
    assert limits(settings) == {"Assistant": 3}
    assert "at most 3 calls at once" in app.expander[0].label
    assert limit_field(app).value == "3"  # the agent's own form, filled in
    limit_field(app).input("")
    submit(app, "Save")
    assert limits(settings) == {"Assistant": None}


def test_the_page_sets_a_workflows_limit(page, settings, agent, target):
    app = page(agents_page)
    field(app, "Name", 2).input("analyze")
    field(app, "Address", 2).input(target.url + "/hooks")
    limit_field(app, 2).input("4")
    submit(app, "Add workflow")
    assert limits(settings) == {"Assistant": None, "analyze": 4}


@pytest.mark.parametrize(
    ("typed", "said"),
    [("0", "10000, not 0."), ("10001", "10000, not 10001."),
     ("two", "10000 (empty or none for no limit), not 'two'.")],
)  # fmt: skip
def test_the_page_refuses_a_bad_limit_and_saves_nothing(page, settings, agent, typed, said):
    app = page(agents_page)
    before = snapshot(settings.database_url)
    limit_field(app).input(typed)
    submit(app, "Save")
    assert f"must be a whole number from 1 to {said}" in texts(app)
    assert snapshot(settings.database_url) == before


def planner_page() -> None:
    from dashboard.planner_page import render

    render()


def _waiting_run(session, settings, status: str, reason: str | None) -> None:
    """A run of the Briefing job, due two minutes ago, still waiting; a worker online."""
    job = briefing(session)
    due = utcnow() - timedelta(minutes=2)
    row = run_row(RunSource.schedule, due, due, job_id=job.id, scheduled_for=due, status=status,
                  attempt=int(status == RunStatus.retrying), waiting_reason=reason,
                  target=f"agent:{job.agent_id}")  # fmt: skip
    session.add(Run(**row))
    session.commit()
    beat(settings, "worker-1", utcnow())


LATE = re.compile(r"\b(late|overdue|behind)\b", re.IGNORECASE)


@pytest.mark.parametrize("screen", [planner_page, activity_page])
def test_a_run_waiting_for_a_free_slot_says_so_and_not_that_it_is_late(
    page, session, settings, agent, screen
):
    _waiting_run(session, settings, RunStatus.queued, REASON)
    shown = texts(page(screen))
    assert f"on schedule — {SAID}" in shown and "ran on schedule" not in shown
    assert "waiting to start" not in shown
    assert not LATE.search(shown)


def test_a_retry_waiting_for_a_free_slot_says_it_failed_and_waits(page, session, settings,
                                                                  agent):  # fmt: skip
    _waiting_run(session, settings, RunStatus.retrying, REASON)
    shown = texts(page(planner_page))
    assert f"failed, trying again — {SAID}" in shown
    assert not LATE.search(shown)


def test_a_queued_run_without_a_reason_still_waits_to_start(page, session, settings, agent):
    _waiting_run(session, settings, RunStatus.queued, None)
    shown = texts(page(planner_page))
    assert "on schedule — waiting to start" in shown and "ran on schedule" not in shown
    assert "free slot" not in shown


def test_the_reason_is_plain_text_on_the_page(page, session, settings, agent):
    _waiting_run(session, settings, RunStatus.queued, "Waiting for a free slot: **[A](x)** …")
    app = page(planner_page)
    markdown = "\n".join(str(part.value) for part in [*app.markdown, *app.caption])
    assert "**[A](x)**" not in markdown
    assert "waiting for a free slot: **[A](x)** …" in texts(app)
