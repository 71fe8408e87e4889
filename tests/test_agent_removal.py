"""Removing an agent is refused only by what really uses it: the jobs and triggers that
chat with it. One that runs a workflow is only filed under the agent, so it moves to
another agent instead — and only when there is none is the removal refused, saying why.
Core's rules, on a real database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import select

from core.agents import registry
from core.automations import jobs, triggers
from core.automations.fields import UNCHANGED
from core.automations.jobs import JobFields
from core.automations.triggers import TriggerFields
from core.errors import ValidationError
from core.store.db import read_session
from core.store.models import Agent, EventTrigger, ScheduledJob
from support.cli import planner_here

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def workflow_trigger(session, settings, name: str, agent: str = "Assistant") -> EventTrigger:
    fields = TriggerFields(agent=agent, event="GMAIL_NEW_GMAIL_MESSAGE", chat=UNCHANGED,
                           workflow="analyze-email", user_id="user-42")  # fmt: skip
    return triggers.create_trigger(session, name, fields, settings, NOW)


def chat_job(session, name: str, agent: str = "Assistant") -> ScheduledJob:
    fields = JobFields(agent=agent, schedule="@daily", chat="Good morning")
    job = jobs.create_job(session, name, fields, NOW, "UTC")
    session.commit()
    return job


def filed_under(settings) -> dict[str, str]:
    """Each job's and trigger's name, and the name of the agent it is filed under."""
    with read_session(settings.database_url) as session:
        agents = {agent.id: agent.name for agent in session.exec(select(Agent))}
        return {
            automation.name: agents[automation.agent_id]
            for model in (ScheduledJob, EventTrigger)
            for automation in session.exec(select(model))
        }


def test_a_workflow_trigger_moves_to_another_agent_and_says_so(settings, session, agent,
                                                                workflow):  # fmt: skip
    registry.save_agent(session, "Helper", "openai", "http://localhost:11434/v1", "llama3.2")
    workflow_trigger(session, settings, "Analyze")

    assert registry.removable(session, Agent, "Assistant").name == "Assistant"
    said = "Trigger 'Analyze' runs a workflow, not this agent: it moves to agent 'Helper'."
    assert registry.removal_in_words(session, Agent, "Assistant") == said
    assert registry.remove_agent(session, "Assistant") == said
    assert filed_under(settings) == {"Analyze": "Helper"}


def test_an_agent_a_job_chats_with_is_refused_naming_only_that_job(settings, session, agent,
                                                                   workflow):  # fmt: skip
    registry.save_agent(session, "Helper", "openai", "http://localhost:11434/v1", "llama3.2")
    workflow_trigger(session, settings, "Analyze")
    chat_job(session, "Briefing")

    with pytest.raises(ValidationError) as refused:
        registry.remove_agent(session, "Assistant")
    assert str(refused.value) == (
        "Agent 'Assistant' is used by job 'Briefing'; change or delete them first."
    )
    assert filed_under(settings) == {"Analyze": "Assistant", "Briefing": "Assistant"}


def test_the_only_agent_is_kept_for_its_workflow_triggers_with_the_reason(
    settings, session, agent, workflow
):
    workflow_trigger(session, settings, "Analyze")
    workflow_trigger(session, settings, "Archive")

    with pytest.raises(ValidationError) as refused:
        registry.removable(session, Agent, "Assistant")
    assert str(refused.value) == (
        "Agent 'Assistant' is used by trigger 'Analyze' and trigger 'Archive' only as the "
        "agent they are shown under (they run workflows), and there is no other agent to "
        "move them to. Add another agent, or delete them first."
    )
    assert filed_under(settings) == {"Analyze": "Assistant", "Archive": "Assistant"}


def test_an_agent_with_nothing_under_it_goes_without_a_word(settings, session, agent):
    assert registry.removal_in_words(session, Agent, "Assistant") == ""
    assert registry.remove_agent(session, "Assistant") == ""
    with read_session(settings.database_url) as reader:
        assert reader.exec(select(Agent)).all() == []


def test_a_workflow_is_still_refused_while_a_trigger_runs_it(settings, session, agent, workflow):
    workflow_trigger(session, settings, "Analyze")
    with pytest.raises(ValidationError, match="Workflow 'analyze-email' is used by trigger"):
        registry.remove_workflow(session, "analyze-email")


def test_the_command_line_says_where_a_workflow_trigger_moved(settings, session, agent, workflow):
    registry.save_agent(session, "Helper", "openai", "http://localhost:11434/v1", "llama3.2")
    workflow_trigger(session, settings, "Analyze")
    done = planner_here(settings, "agents", "rm", "Assistant")
    assert (done.returncode, done.stdout) == (0, "Removed agent Assistant. Trigger 'Analyze' "
                                              "runs a workflow, not this agent: it moves to "
                                              "agent 'Helper'.\n")  # fmt: skip
