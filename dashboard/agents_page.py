"""The Agents & workflows page: the targets jobs and triggers act on."""

from __future__ import annotations

import streamlit as st

from core import agents
from core.connection_check import check_connection
from core.models import Agent, Workflow
from dashboard.context import apply, plain, reading, settings


def _removal(what: str, item: Agent | Workflow, remover) -> None:
    """Remove asks first; core then removes it, or says who still uses it."""
    key = f"rm_{what}_{item.id}"
    if st.button("Remove", key=key):
        st.session_state.removing = key
    if st.session_state.get("removing") != key:
        return
    st.warning(f"Remove the {what} **{plain(item.name)}**? This cannot be undone.")
    yes, no = st.columns(2)
    if no.button("Keep it", key=f"keep_{key}"):
        st.session_state.pop("removing")
        st.rerun()
    if yes.button(f"Remove {what}", key=f"confirm_{key}", type="primary"):
        st.session_state.pop("removing")
        if apply(lambda session: remover(session, item.id)):
            st.toast(f"Removed {plain(item.name)}.")
            st.rerun()


def _save(change, form: str) -> None:
    """Save through core; on success a fresh form (what was typed stays after a refusal)."""
    if apply(change):
        st.session_state[form] = st.session_state.get(form, 0) + 1
        st.rerun()


def _show_check(agent: Agent) -> None:
    """Send the agent one short message now, and show its reply or what went wrong."""
    with st.spinner(f"Asking {agent.name}…"):
        check = check_connection(agent, settings())
    if check.succeeded:
        st.success(f"{plain(agent.name)} answered: {plain(check.text)}")
    else:
        st.error(plain(check.text))


def agent_form(agent: Agent | None) -> None:
    """Add an agent, or change one: the same form, the same rules (core.agents)."""
    round_ = st.session_state.get("agent_form", 0)
    with st.form(f"agent_{agent.id}_{round_}" if agent else f"add_agent_{round_}"):
        name = st.text_input("Name", value=agent.name if agent else "", placeholder="Assistant")
        kinds = ["openai", "http"]
        backend = st.selectbox(
            "Kind",
            kinds,
            index=kinds.index(agent.backend) if agent else 0,
            help="openai: any OpenAI-compatible API; http: Planner POSTs JSON to the address",
        )
        url = st.text_input(
            "Address",
            value=agent.base_url if agent else "",
            placeholder="http://localhost:11434/v1",
        )
        model = st.text_input("Model", value=agent.model if agent else "", placeholder="llama3.2")
        prompt = st.text_area(
            "System prompt (optional)", value=agent.system_prompt if agent else ""
        )
        key_env = st.text_input(
            "Name of the environment variable that holds the key",
            value=agent.api_key_env if agent else "",
            placeholder="OPENAI_API_KEY",
            help="The key itself never goes into Planner.",
        )
        if st.form_submit_button("Save" if agent else "Add agent"):
            _save(
                lambda s: agents.save_agent(
                    s,
                    name,
                    backend,
                    url,
                    model,
                    prompt,
                    key_env,
                    s.get(Agent, agent.id) if agent else None,
                ),
                "agent_form",
            )


def workflow_form(flow: Workflow | None) -> None:
    round_ = st.session_state.get("workflow_form", 0)
    with st.form(f"workflow_{flow.id}_{round_}" if flow else f"add_workflow_{round_}"):
        name = st.text_input("Name", value=flow.name if flow else "", placeholder="analyze-email")
        url = st.text_input(
            "Address",
            value=flow.url if flow else "",
            placeholder="https://example.org/hooks/analyze",
        )
        auth_env = st.text_input(
            "Name of the environment variable with its token (optional)",
            value=flow.auth_env if flow else "",
        )
        if st.form_submit_button("Save" if flow else "Add workflow"):
            _save(
                lambda s: agents.save_workflow(
                    s, name, url, auth_env, s.get(Workflow, flow.id) if flow else None
                ),
                "workflow_form",
            )


def render() -> None:
    st.title("Agents & workflows")
    with reading() as session:
        known, flows = agents.list_all(session, Agent), agents.list_all(session, Workflow)
    st.subheader("Agents")
    if not known:
        st.info("No agents yet — add the assistant that jobs and triggers will talk to.")
    for agent in known:
        key_note = f" · key from ${agent.api_key_env}" if agent.api_key_env else ""
        with st.expander(plain(f"{agent.name} · {agent.base_url}{key_note}")):
            agent_form(agent)
            if st.button("Test connection", key=f"test_agent_{agent.id}"):
                _show_check(agent)
            _removal("agent", agent, agents.remove_agent)
    with st.expander("Add an agent", expanded=not known):
        agent_form(None)
    st.subheader("Workflows")
    if not flows:
        st.info("No workflows yet — add one to let jobs and triggers run it.")
    for flow in flows:
        with st.expander(plain(f"{flow.name} · {flow.url}")):
            workflow_form(flow)
            _removal("workflow", flow, agents.remove_workflow)
    with st.expander("Add a workflow", expanded=not flows):
        workflow_form(None)
