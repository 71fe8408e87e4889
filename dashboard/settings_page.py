"""The Settings page: the worker's state, Composio, the default timezone."""

from __future__ import annotations

import streamlit as st

from core import composio_sync
from core.errors import PlannerError
from core.overview import relative, worker_status
from dashboard.context import now, plain, reading, settings


def render() -> None:
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
