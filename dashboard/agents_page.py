"""The Agents & workflows page: the targets jobs and triggers act on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from core.access import credentials
from core.access.credentials import key_in_words
from core.agents import registry
from core.agents.check import check_connection, check_workflow
from core.agents.registry import AGENT_PRESETS, BACKEND_WORDS, limit_in_words
from core.store.models import Agent, Workflow
from dashboard.context import apply, plain, reading, settings


def _removal(what: str, item: Agent | Workflow, remover) -> None:
    """Remove asks first; core then removes it, or says who still uses it."""
    key = f"rm_{what}_{item.id}"
    if st.button("Remove", key=key) and apply(
        lambda session: registry.removable(session, type(item), item.id)
    ):
        st.session_state.removing = key
    if st.session_state.get("removing") != key:
        return
    with reading() as session:
        also = registry.removal_in_words(session, type(item), item.id)
    st.warning(
        f"Remove the {what} **{plain(item.name)}**? This cannot be undone."
        + (f" {plain(also)}" if also else "")
    )
    yes, no = st.columns(2)
    if no.button("Keep it", key=f"keep_{key}"):
        st.session_state.pop("removing")
        st.rerun()
    if yes.button(f"Remove {what}", key=f"confirm_{key}", type="primary"):
        st.session_state.pop("removing")
        said: list[str] = []
        if apply(lambda session: said.append(remover(session, item.id))):
            st.toast(plain(f"Removed {item.name}. {said[0]}".strip()))
            st.rerun()


def _save(change, form: str, name: str) -> None:
    """Save through core; on success a fresh form (what was typed stays after a refusal)
    and the saved one open, with its Test connection button at hand."""
    if apply(change):
        st.session_state[form] = st.session_state.get(form, 0) + 1
        st.session_state.opened = name.strip()
        for key in NEW_AGENT.values():  # a fresh add form starts from the preset again
            st.session_state.pop(key, None)
        st.toast(f"Saved {plain(name.strip())}.")
        st.rerun()


def _show_check(agent: Agent) -> None:
    """Send the agent one short message now, and show its reply or what went wrong."""
    with st.spinner(f"Asking {plain(agent.name)}…"):
        check = check_connection(agent, settings())
    if check.succeeded:
        st.success(f"{plain(agent.name)} answered: {plain(check.text)}")
    else:
        st.error(plain(check.text))


def _key_inputs(
    kind: str, env_value: str, saved: bool, form: str, env_field: str
) -> tuple[str, bool, str]:
    """The pasted key (a password field, never filled in), whether to forget the saved
    one, and the environment variable to read it from instead (folded away; its example
    the target's own, registry.ENV_EXAMPLES by `env_field`)."""
    label = (
        f"Replace the saved {kind}" if saved else f"{kind[0].upper()}{kind[1:]} (if it needs one)"
    )
    key = st.text_input(
        label,
        type="password",
        key=f"{form}_secret",
        placeholder="Paste it here — it is stored encrypted and never shown again",
        help="Leave empty to keep the saved one." if saved else None,
    )
    forget = saved and st.checkbox(f"Remove the saved {kind}", key=f"{form}_forget")
    with st.expander("Advanced: read it from an environment variable instead"):
        env_name = st.text_input(
            "Name of the environment variable",
            value=env_value,
            key=f"{form}_env",
            placeholder=registry.ENV_EXAMPLES[env_field],
            help="For servers that keep every secret in the environment; it wins over a "
            "saved key when it is set.",
        )
    return key, forget, env_name


def _limit_input(current: int | None, form: str) -> str:
    """The most calls open at once, as typed; empty for no limit. A text field, as a
    number field cannot be emptied once it holds a number; core reads and judges it."""
    return st.text_input(
        "At most … calls at once",
        value="" if current is None else str(current),
        key=f"{form}_limit",
        placeholder="No limit",
        help="Planner keeps no more than this many calls to it open at once, across all "
        "workers; the others wait for a free slot. Leave it empty for no limit.",
    )


def _sealed(key: str, forget: bool) -> str | None:
    """What to store: a newly pasted key encrypted, "" to forget, None to keep."""
    if key.strip():
        return credentials.seal(settings(), key, "key")
    return "" if forget else None


NEW_AGENT = {
    "backend": "new_agent_backend",
    "base_url": "new_agent_url",
    "model": "new_agent_model",
}


def _fill_from_preset() -> None:
    """Put the chosen preset's backend, address and model into the add form's fields."""
    preset = AGENT_PRESETS[st.session_state.get("agent_preset", next(iter(AGENT_PRESETS)))]
    for attribute, key in NEW_AGENT.items():
        st.session_state[key] = getattr(preset, attribute)


def _preset() -> None:
    """The backend a new agent starts from; choosing one refills the form."""
    if NEW_AGENT["base_url"] not in st.session_state:
        _fill_from_preset()
    st.selectbox(
        "Start from",
        list(AGENT_PRESETS),
        key="agent_preset",
        on_change=_fill_from_preset,
        help="Fills in the address and the model; you can change them.",
    )


def agent_form(agent: Agent | None) -> None:
    """Add an agent, or change one: the same form, the same rules (core.agents.registry). The add
    form's fields are filled from a preset; an agent's own form from the agent."""
    round_ = st.session_state.get("agent_form", 0)
    if agent is None:
        _preset()
    start = agent or Agent(name="", backend="openai", base_url="")
    filled = {name: {"value": getattr(start, name)} if agent else {"key": key}
              for name, key in NEW_AGENT.items()}  # fmt: skip
    form = f"agent_{agent.id}_{round_}" if agent else f"add_agent_{round_}"
    with st.form(form):
        name = st.text_input("Name", value=start.name, placeholder="Assistant")
        kinds = list(BACKEND_WORDS)
        backend = st.selectbox(
            "Kind",
            kinds,
            index=kinds.index(start.backend) if agent else None,
            format_func=BACKEND_WORDS.get,
            help="An OpenAI-compatible API (OpenAI, Ollama, LM Studio, …), or any address "
            "that takes Planner's JSON and answers with a reply.",
            **({} if agent else filled["backend"]),
        )
        url = st.text_input(
            "Address", placeholder="http://localhost:11434/v1", **filled["base_url"]
        )
        model = st.text_input("Model", placeholder="llama3.2", **filled["model"])
        prompt = st.text_area("System prompt (optional)", value=start.system_prompt)
        limit = _limit_input(start.max_concurrency, form)
        key, forget, key_env = _key_inputs(
            "API key", start.api_key_env, bool(start.api_key_secret), form, "api_key_env"
        )
        if st.form_submit_button("Save" if agent else "Add agent"):
            _save(
                lambda s: registry.save_agent(
                    s, name, backend or "", url, model, prompt, key_env,
                    s.get(Agent, agent.id) if agent else None,
                    api_key_secret=_sealed(key, forget),
                    max_concurrency=registry.max_concurrency_from_text(limit),
                ),
                "agent_form",
                name,
            )  # fmt: skip


def workflow_form(flow: Workflow | None) -> None:
    round_ = st.session_state.get("workflow_form", 0)
    form = f"workflow_{flow.id}_{round_}" if flow else f"add_workflow_{round_}"
    with st.form(form):
        name = st.text_input("Name", value=flow.name if flow else "", placeholder="analyze-email")
        url = st.text_input(
            "Address",
            value=flow.url if flow else "",
            placeholder="https://example.org/hooks/analyze",
        )
        limit = _limit_input(flow.max_concurrency if flow else None, form)
        token, forget, auth_env = _key_inputs(
            "token", flow.auth_env if flow else "", bool(flow and flow.auth_secret), form,
            "auth_env",
        )  # fmt: skip
        if st.form_submit_button("Save" if flow else "Add workflow"):
            _save(
                lambda s: registry.save_workflow(
                    s, name, url, auth_env, s.get(Workflow, flow.id) if flow else None,
                    auth_secret=_sealed(token, forget),
                    max_concurrency=registry.max_concurrency_from_text(limit),
                ),
                "workflow_form",
                name,
            )  # fmt: skip


def _test_button(agent: Agent) -> None:
    if st.button("Test connection", key=f"test_agent_{agent.id}"):
        _show_check(agent)


def _workflow_test_button(flow: Workflow) -> None:
    """Send the workflow a small sample input now, and show its answer in words (the rest
    of it folded away) or what went wrong."""
    if not st.button("Test", key=f"test_workflow_{flow.id}"):
        return
    with st.spinner(f"Running {plain(flow.name)} with a test input…"):
        check = check_workflow(flow, settings())
    if not check.succeeded:
        st.error(plain(check.text))
        return
    st.success(f"{plain(flow.name)} answered:  \n" + plain(check.text).replace("\n", "  \n"))
    if check.details:
        with st.expander("Technical details"):
            st.markdown(plain(check.details).replace("\n", "  \n"))


def _section(
    what: str, items: list, empty: str, address: Callable[[Any], str],
    form: Callable[[Any], None], remover: Callable, extra: Callable[[Any], None] | None = None,
) -> None:  # fmt: skip
    """Agents or workflows: one folded form each (the one just saved open), then the add
    form, open while there are none."""
    st.subheader(f"{what.capitalize()}s")
    if not items:
        st.info(empty)
    for item in items:
        label = f"{item.name} · {address(item)} · {key_in_words(item)}"
        if item.max_concurrency is not None:
            label += f" · {limit_in_words(item.max_concurrency)}"
        with st.expander(plain(label), expanded=item.name == st.session_state.get("opened")):
            form(item)
            if extra:
                extra(item)
            _removal(what, item, remover)
    with st.expander(f"Add {'an' if what == 'agent' else 'a'} {what}", expanded=not items):
        form(None)


def render() -> None:
    st.title("Agents & workflows")
    with reading() as session:
        known, flows = registry.list_all(session, Agent), registry.list_all(session, Workflow)
    _section(
        "agent", known, "No agents yet — add the assistant that jobs and triggers will talk to.",
        lambda agent: agent.base_url, agent_form, registry.remove_agent, _test_button,
    )  # fmt: skip
    _section(
        "workflow", flows, "No workflows yet — add one to let jobs and triggers run it.",
        lambda flow: flow.url, workflow_form, registry.remove_workflow, _workflow_test_button,
    )  # fmt: skip
