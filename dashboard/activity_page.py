"""The Activity page: what ran and what arrived, newest first."""

from __future__ import annotations

import streamlit as st
from sqlmodel import col, select

from core import agents, inbox, schedule
from core.models import Agent, EventTrigger, Run, RunStatus, ScheduledJob
from core.overview import duration
from dashboard.context import apply, now, queue, reading, settings

RECENT = 200


def render() -> None:
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
