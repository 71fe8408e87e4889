"""The dashboard's dialogs: which one is open, and the one that asks before deleting. The
job and trigger dialogs have modules of their own; what they share is dialog_parts."""

from __future__ import annotations

import streamlit as st

from core.automations import jobs, triggers
from core.automations.shared import AUTOMATION_WORDS
from core.store.models import EventTrigger, ScheduledJob
from dashboard.context import plain, reading, settings, writing
from dashboard.dialog_parts import close_dialog, confirmed, open_dialog, save, show_pending_toast
from dashboard.job_dialog import job_dialog
from dashboard.trigger_dialog import trigger_dialog

__all__ = ["open_dialog", "show_open_dialog", "show_pending_toast"]


@st.dialog("Delete?", on_dismiss=close_dialog)
def delete_dialog() -> None:
    """Dismissible: there is nothing typed to lose, and Esc means "keep it"."""
    spec = st.session_state.dialog
    model = ScheduledJob if spec["kind"] == "delete_job" else EventTrigger
    with reading() as session:
        item = session.get(model, spec["id"])
    if item is None:
        close_dialog()
        st.rerun()
    what = AUTOMATION_WORDS[model]
    st.write(f"Delete the {what} **{plain(item.name)}** and its history? This cannot be undone.")
    if confirmed("delete", confirm="Delete", keep="Keep it", action="confirm"):

        def change() -> None:
            with writing() as db:
                if model is ScheduledJob:
                    jobs.delete_job(db, item.id)
                else:
                    triggers.delete_trigger(db, item.id, settings())

        save(change, f"Deleted {plain(item.name)}.")


DIALOGS = {
    "job": job_dialog,
    "trigger": trigger_dialog,
    "delete_job": delete_dialog,
    "delete_trigger": delete_dialog,
}


def show_open_dialog() -> None:
    spec = st.session_state.get("dialog")
    if spec:
        DIALOGS[spec["kind"]]()
