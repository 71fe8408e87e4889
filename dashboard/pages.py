"""The Activity, Agents & workflows and Settings pages."""

from __future__ import annotations

import streamlit as st
from sqlmodel import col, select

from core import agents, composio_sync, inbox, schedule
from core.connection_check import check_connection
from core.errors import PlannerError
from core.models import Agent, EventTrigger, Run, RunStatus, ScheduledJob, Workflow
from core.overview import duration, relative, worker_status
from dashboard.context import apply, now, plain, queue, reading, settings

RECENT = 200


def activity() -> None:
    st.title("Activity")
    with reading() as session:
        known = agents.list_all(session, Agent)
    left, right = st.columns(2)
    status = left.selectbox("Status", ["all", *RunStatus], key="activity_status")
    agent = right.selectbox("Agent", ["all", *(a.name for a in known)], key="activity_agent")
    tz = schedule.zone(settings().timezone)
    with reading() as session:
        query = (
            select(Run, ScheduledJob.name, EventTrigger.name)
            .outerjoin(ScheduledJob, col(Run.job_id) == ScheduledJob.id)
            .outerjoin(EventTrigger, col(Run.trigger_id) == EventTrigger.id)
            .order_by(col(Run.id).desc())
            .limit(RECENT)
        )
        if status != "all":
            query = query.where(Run.status == status)
        if agent != "all":
            agent_id = next(a.id for a in known if a.name == agent)
            query = query.where(
                (ScheduledJob.agent_id == agent_id) | (EventTrigger.agent_id == agent_id)
            )
        rows = session.exec(query).all()
    st.subheader("Recent runs")
    if not rows:
        st.info("Nothing has run yet. Runs appear here as jobs and triggers fire.")
    else:
        st.dataframe(
            [
                {
                    "When": (run.started_at or run.due_at)
                    .astimezone(tz)
                    .strftime("%Y-%m-%d %H:%M"),
                    "What": job_name or trigger_name,
                    "Source": run.source,
                    "Status": run.status,
                    "Duration": duration(run),
                    "Attempts": run.attempt,
                    "Error": run.error or "",
                }
                for run, job_name, trigger_name in rows
            ],
            hide_index=True,
        )
    st.subheader("Received events")
    with reading() as session:
        events = [inbox.event_json(session, e) for e in inbox.list_events(session, limit=RECENT)]
    if not events:
        st.info("No events received yet. Composio's deliveries appear here.")
        return
    st.dataframe(
        [
            {
                "Received": e["received_at"][:19].replace("T", " "),
                "Event": e["trigger_slug"] or e["type"],
                "Status": e["status"],
                "Runs": len(e["runs"]),
                "Note": e["note"] or "",
                "Id": e["id"],
            }
            for e in events
        ],
        hide_index=True,
    )
    chosen = st.selectbox("Event to replay", [e["id"] for e in events], key="replay_id")
    if st.button("Replay", key="replay") and apply(
        lambda session: inbox.replay_event(session, chosen, queue(), now())
    ):
        st.toast("Replayed — it is processed again as a new event.")


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
        check = check_connection(agent, settings().http_timeout_seconds)
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


def agents_and_workflows() -> None:
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


def settings_page() -> None:
    st.title("Settings")
    config = settings()
    with reading() as session:
        worker = worker_status(session, now())
    st.subheader("Worker")
    if worker.online:
        count = worker.workers_online
        st.success(
            f"Online — {count} worker{'s' if count != 1 else ''}, "
            f"last seen {relative(worker.last_seen, now())}."
        )
    else:
        st.error(
            "Offline — nothing will run until the worker is started"
            + (f" (last seen {relative(worker.last_seen, now())})." if worker.last_seen else ".")
        )
    st.subheader("Composio")
    if config.composio_api_key:
        st.success("Connected: triggers are registered with Composio.")
    else:
        st.warning("No COMPOSIO_API_KEY: triggers are kept here only (you can still test them).")
    st.text_input(
        "Webhook address", value=config.webhook_url or "(set PUBLIC_BASE_URL)", disabled=True
    )
    if st.button("Connect", key="composio_connect", disabled=not config.composio_api_key):
        try:
            subscription = composio_sync.connect_webhook(config)
        except PlannerError as error:
            st.error(plain(error))
        else:
            st.success(plain(f"Composio now delivers events to {subscription['webhook_url']}."))
            if subscription["secret"]:
                st.info(
                    "Put the new signing secret into COMPOSIO_WEBHOOK_SECRET and restart "
                    "the webhook process. It is shown once, by `planner composio connect`."
                )
    st.subheader("Default timezone")
    st.write(f"{config.timezone} (set PLANNER_TIMEZONE to change it)")
