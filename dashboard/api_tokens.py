"""Settings → API tokens: make one (shown once) for every agent or for one agent alone,
see whom each is for and when it was last used, revoke it. The tokens' rules are
core.access.tokens' and core.access.scopes', as for `planner tokens`."""

from __future__ import annotations

import streamlit as st

from core.access import tokens
from core.agents import registry
from core.errors import PlannerError
from core.store.models import Agent
from core.views.overview import local_time, relative
from dashboard.context import now, plain, reading, settings, viewer_timezone, writing

MADE = "api_token_made"  # (name, token): shown until the page is left, never again
NAME_KEY = "api_token_name"
FOR_KEY = "api_token_for"  # the id of the one agent a new token is for; EVERY_AGENT: all
EVERY_AGENT = 0  # a choice that is no agent's id (None would show as no choice at all)


def _create() -> None:
    """The Create button's callback: the token goes to MADE, a refusal under the field."""
    name = st.session_state.get(NAME_KEY, "")
    try:
        with writing() as session:
            agent = st.session_state.get(FOR_KEY) or None
            made = tokens.create_token(session, name, now(), agent)
            whom = tokens.scope_of(made.row).agent_name(session)
    except PlannerError as error:
        st.session_state[MADE] = ("", str(error), None)
        return
    st.session_state[MADE] = (made.row.name, made.token, whom)
    st.session_state[NAME_KEY] = ""
    st.session_state[FOR_KEY] = EVERY_AGENT


def _revoke(token_id: int, name: str) -> None:
    with writing() as session:
        tokens.revoke_token(session, token_id)
    st.session_state.pop(MADE, None)
    st.toast(plain(f"Token {name} revoked: requests with it are refused now."))


def _made() -> None:
    name, token, only = st.session_state.get(MADE, ("", "", None))
    if token and not name:
        st.error(plain(token))  # the refusal
    elif token:
        whom = f"{only}'s jobs, triggers and runs alone" if only else "every agent"
        said = f"Token {name} is made, for {whom}. Copy it now: it is not shown again."
        st.success(plain(said))
        st.code(token, language=None)


def section() -> None:
    st.subheader("API tokens")
    base = settings().public_base_url.rstrip("/")
    where = f"{base}/api/v1" if base else "this server's address followed by /api/v1"
    tools = f"{base}/mcp" if base else "/mcp"
    st.write(
        plain(
            f"Scripts and other tools (n8n, Zapier, your own) use Planner at {where}, with a "
            "token: Authorization: Bearer <token>. What it takes and answers is described at "
            f"/api/v1/openapi.json. Agents schedule their own follow-ups through {tools} "
            "(MCP) with a token made for them."
        )
    )
    with reading() as session:
        rows = tokens.list_tokens(session)
        names = {agent.id: agent.name for agent in registry.list_all(session, Agent)}
    for row in rows:
        words, button = st.columns([5, 1])
        used = (
            f"last used {relative(row.last_used_at, now())}" if row.last_used_at else "never used"
        )
        made = local_time(row.created_at, viewer_timezone(), now())
        only = names.get(row.agent_id or 0, "one agent")
        reaches = "Every agent" if row.agent_id is None else f"Only {only}"
        words.markdown(
            f"**{plain(row.name)}** · {plain(reaches)} · starts {plain(row.prefix)}… · "
            f"made {made} · {used}"
        )
        button.button(
            "Revoke", key=f"api_token_revoke_{row.id}", on_click=_revoke, args=(row.id, row.name)
        )
    if not rows:
        st.caption("No tokens yet.")
    left, middle, right = st.columns([3, 2, 1])
    left.text_input("Name of a new token", key=NAME_KEY, placeholder="What it is for, e.g. n8n")
    middle.selectbox(
        "For", [EVERY_AGENT, *names], key=FOR_KEY,
        format_func=lambda agent_id: names.get(agent_id, "Every agent"),
        help="A token for one agent reaches only that agent's jobs, triggers and runs; "
        "nothing else is there for it.",
    )  # fmt: skip
    right.button("Create token", key="api_token_create", on_click=_create)
    _made()
