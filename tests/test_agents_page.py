"""The Agents & workflows page through AppTest: adding, editing, testing, removing."""

from __future__ import annotations

from core import jobs
from core.jobs import JobFields
from core.models import utcnow
from tests.screens import agent_rows, agents_page, texts


def test_agents_are_added_and_edited_never_with_a_key(page, settings):
    app = page(agents_page)
    assert "No agents yet" in texts(app)
    app.text_input[0].input("Assistant")
    app.text_input[1].input("http://localhost:11434/v1")
    app.text_input[2].input("llama3.2")
    app.text_input[3].input("sk-live-abc!")
    app.button[0].click().run()  # the add form's submit button
    assert "not the key itself" in texts(app)
    assert agent_rows(settings) == []
    app.text_input[3].input("OPENAI_API_KEY")
    app.button[0].click().run()
    assert agent_rows(settings) == [("Assistant", "llama3.2", "OPENAI_API_KEY")]
    app.text_input[2].input("llama3.3")
    app.button[0].click().run()
    assert agent_rows(settings) == [("Assistant", "llama3.3", "OPENAI_API_KEY")]


def test_an_agent_in_use_is_not_removed(page, settings, session, agent):
    jobs.create_job(session, "Briefing", JobFields(agent="Assistant", schedule="@daily",
                                                      chat="hi"), utcnow(), "UTC")  # fmt: skip
    session.commit()
    app = page(agents_page)
    app.button(key=f"rm_agent_{agent.id}").click().run()
    app.button(key=f"confirm_rm_agent_{agent.id}").click().run()
    assert "is used by job 'Briefing'" in texts(app)
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
