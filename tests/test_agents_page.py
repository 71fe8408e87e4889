"""The Agents & workflows page through AppTest: adding, editing, testing, removing."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from core.agents import registry
from core.automations import jobs, triggers
from core.automations.fields import UNCHANGED
from core.automations.jobs import JobFields
from core.automations.triggers import TriggerFields
from core.errors import ValidationError
from core.store.db import read_session
from core.store.models import Agent, EventTrigger, utcnow
from support.screens import agent_rows, agents_page, field, submit, texts
from support.stored import everything_stored, snapshot

KEY = "sk-live-0123456789abcdef"


def stored_agents(settings) -> list[Agent]:
    with read_session(settings.database_url) as session:
        return list(session.exec(select(Agent)))


def add_agent(app: AppTest, name: str, url: str, key: str = "") -> AppTest:
    field(app, "Name").input(name)
    field(app, "Address").input(url)
    field(app, "API key (if it needs one)").input(key)
    return submit(app, "Add agent")


def test_a_preset_fills_the_address_and_the_model(page):
    app = page(agents_page)
    app.selectbox(key="agent_preset").select("Ollama on this computer").run()
    assert field(app, "Address").value == "http://localhost:11434/v1"
    assert field(app, "Model").value == "llama3.2"
    app.selectbox(key="agent_preset").select("OpenAI").run()
    assert field(app, "Address").value == "https://api.openai.com/v1"


def test_an_agent_is_added_with_a_pasted_key_that_is_never_shown(page, settings, target):
    app = page(agents_page)
    assert "No agents yet" in texts(app)
    app.selectbox(key="agent_preset").select("Another OpenAI-compatible server").run()
    field(app, "Model").input("llama3.2")
    add_agent(app, "Assistant", target.url + "/v1", KEY)
    assert agent_rows(settings) == [("Assistant", "llama3.2", "")]
    assert KEY not in texts(app) and KEY not in everything_stored(settings)
    assert "· key saved (encrypted)" in re.sub(r"\\(.)", r"\1", app.expander[0].label)
    [agent] = stored_agents(settings)
    app.button(key=f"test_agent_{agent.id}").click().run()
    assert "Assistant answered" in texts(app)
    assert target.received()[-1].headers["Authorization"] == f"Bearer {KEY}"
    assert KEY not in texts(app)


def test_a_saved_key_is_replaced_or_removed_not_shown(page, settings, target):
    app = page(agents_page)
    add_agent(app, "Assistant", target.url + "/v1", KEY)
    assert field(app, "Replace the saved API key", 0).value == ""
    field(app, "Replace the saved API key", 0).input("sk-second")
    submit(app, "Save")
    [agent] = stored_agents(settings)
    app.button(key=f"test_agent_{agent.id}").click().run()
    assert target.received()[-1].headers["Authorization"] == "Bearer sk-second"
    app.checkbox[0].check()
    submit(app, "Save")
    app.button(key=f"test_agent_{agent.id}").click().run()
    assert "Authorization" not in target.received()[-1].headers


@pytest.mark.parametrize(
    ("key", "message"),
    [("two words", "A key is one line without spaces"), ("x" * 4097, "at most 4096")],
)
def test_a_bad_key_is_refused_and_nothing_is_saved(page, settings, target, key, message):
    app = page(agents_page)
    before = snapshot(settings.database_url)
    add_agent(app, "Assistant", target.url + "/v1", key)
    assert message in texts(app)
    assert snapshot(settings.database_url) == before


def test_without_a_secret_key_the_page_says_what_to_do(page, settings, target):
    app = page(agents_page, PLANNER_SECRET_KEY="")
    before = snapshot(settings.database_url)
    add_agent(app, "Assistant", target.url + "/v1", KEY)
    assert "PLANNER_SECRET_KEY is not set" in texts(app)
    assert snapshot(settings.database_url) == before


def test_a_key_from_the_environment_is_still_named_not_pasted(page, settings):
    app = page(agents_page)
    field(app, "Name").input("Assistant")
    field(app, "Address").input("http://localhost:11434/v1")
    field(app, "Name of the environment variable").input("sk-live-abc!")
    submit(app, "Add agent")
    assert "not the key itself" in texts(app)
    assert agent_rows(settings) == []
    field(app, "Name of the environment variable").input("OPENAI_API_KEY")
    submit(app, "Add agent")
    assert agent_rows(settings) == [("Assistant", "gpt-4o-mini", "OPENAI_API_KEY")]


def test_a_workflows_variable_is_shown_and_refused_with_a_workflows_example(page, session):
    """A workflow's token is not OpenAI's key: its example is a workflow's own."""
    app = page(agents_page)
    agent_env, workflow_env = [
        w for w in app.text_input if w.label == "Name of the environment variable"
    ]  # fmt: skip
    assert (agent_env.placeholder, workflow_env.placeholder) == (
        "OPENAI_API_KEY", "ANALYZE_EMAIL_TOKEN"
    )  # fmt: skip
    with pytest.raises(ValidationError) as refused:
        registry.save_workflow(session, "analyze-email", "http://127.0.0.1:9/w", "tok-123!")
    assert str(refused.value) == (
        "Give the name of the environment variable that holds the token (like "
        "ANALYZE_EMAIL_TOKEN), not the token itself."
    )


def test_an_agent_in_use_says_so_instead_of_asking_to_remove_it(page, settings, session, agent):
    jobs.create_job(session, "Briefing", JobFields(agent="Assistant", schedule="@daily",
                                                      chat="hi"), utcnow(), "UTC")  # fmt: skip
    session.commit()
    app = page(agents_page)
    app.button(key=f"rm_agent_{agent.id}").click().run()
    assert "is used by job 'Briefing'" in texts(app)
    assert "This cannot be undone" not in texts(app)
    assert not [b for b in app.button if b.key == f"confirm_rm_agent_{agent.id}"]
    assert len(agent_rows(settings)) == 1


def test_removing_an_agent_asks_first(page, settings, agent):
    app = page(agents_page)
    app.button(key=f"rm_agent_{agent.id}").click().run()
    assert "Remove the agent **Assistant**? This cannot be undone." in texts(app)
    app.button(key=f"keep_rm_agent_{agent.id}").click().run()
    assert len(agent_rows(settings)) == 1
    app.button(key=f"rm_agent_{agent.id}").click().run()
    app.button(key=f"confirm_rm_agent_{agent.id}").click().run()
    assert agent_rows(settings) == []


def test_an_agent_whose_only_trigger_runs_a_workflow_can_be_removed(page, settings, session,
                                                                    agent, workflow):  # fmt: skip
    """The trigger never calls the agent it is filed under: it moves to the other one."""
    helper = registry.save_agent(session, "Helper", "openai", agent.base_url, "llama3.2")
    triggers.create_trigger(session, "Analyze", TriggerFields(
        agent="Assistant", event="GMAIL_NEW_GMAIL_MESSAGE", chat=UNCHANGED,
        workflow="analyze-email", user_id="user-42"), settings, utcnow())  # fmt: skip
    app = page(agents_page)
    app.button(key=f"rm_agent_{agent.id}").click().run()
    assert "Remove the agent **Assistant**? This cannot be undone." in texts(app)
    app.button(key=f"confirm_rm_agent_{agent.id}").click().run()
    assert [row[0] for row in agent_rows(settings)] == ["Helper"]
    with read_session(settings.database_url) as reader:
        assert reader.exec(select(EventTrigger.agent_id)).all() == [helper.id]
