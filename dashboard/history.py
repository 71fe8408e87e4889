"""Runs as people read them, on a card and on the Activity page: the latest reply or
error at a glance, and each run in full — when, how it ran, what was sent, the reply in
words (the rest of a workflow's answer under *Technical details*), the error in plain
words, the tries."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from core.running.runs import CANCELLABLE, RETRYABLE, cancel_run, retry_run
from core.store.models import TERMINAL_STATUSES, Run, RunStatus
from core.views.overview import late_in_words, local_time
from core.views.words import (
    STATUS_WORDS,
    attempts_in_words,
    one_line,
    run_details,
    run_in_words,
    run_result,
    sent_text,
)
from dashboard.context import apply, plain, queue
from dashboard.context import now as current_time

RESULT_LABELS = {"reply": "Reply", "error": "Error", "why": "Reason"}
LOG_EXCERPT = 160
EXCERPT_BETWEEN = " · "  # between a data reply's key: value lines in an excerpt


def lines(text: str) -> str:
    """Outside text as Markdown that keeps its line breaks and shows nothing as markup."""
    return plain(text).replace("\n", "  \n")


def when(run: Run, timezone: str, now: datetime) -> str:
    """When a run started (or is due to), on the one clock."""
    return local_time(run.started_at or run.due_at, timezone, now)


def latest(run: Run, timezone: str, now: datetime, worker_online: bool) -> None:
    """A card's newest run in a few lines: its reply or error, or that it is on its way."""
    said = plain(run_in_words(run, now, worker_online))
    if run.status not in TERMINAL_STATUSES:
        st.caption(
            f":material/hourglass_top: {said} · {when(run, timezone, now)} · "
            "the reply shows here as soon as it arrives."
        )
        return
    kind, text = run_result(run, EXCERPT_BETWEEN)
    heading = {"reply": "Latest reply", "error": "Latest run failed"}.get(
        kind, f"Latest run: {STATUS_WORDS.get(run.status, run.status).lower()}"
    )
    st.caption(f"**{heading}** · {said} · {when(run, timezone, now)}")
    if text:
        st.markdown("> " + plain(one_line(text)))


def log_line(name: str, run: Run, now: datetime, worker_online: bool) -> str:
    """ "**Morning Briefing** — ran by hand — succeeded in 0.4 s — reply: …" """
    kind, text = run_result(run, EXCERPT_BETWEEN)
    result = f" — {kind}: {plain(one_line(text, LOG_EXCERPT))}" if text else ""
    return f"**{plain(name)}** — {plain(run_in_words(run, now, worker_online))}{result}"


def full(run: Run, timezone: str, now: datetime, worker_online: bool) -> None:
    """One run in full: what was sent, the whole reply or error, each try before the last."""
    said = plain(run_in_words(run, now, worker_online))
    st.markdown(f"**{when(run, timezone, now)}** — {said}")
    late_caption(run)
    sent = sent_text(run)
    if sent:
        st.markdown("**Sent:**  \n" + lines(sent))
    kind, text = run_result(run)
    if text:
        st.markdown(f"**{RESULT_LABELS[kind]}:**  \n" + lines(text))
    technical(run_details(run))
    for attempt in attempts_in_words(run):
        st.caption(plain(attempt))
    _actions(run)


def late_caption(run: Run) -> None:
    """ "Ran 53 s late — the worker was down" under a run that started late."""
    late = late_in_words(run)
    if late:
        st.caption(f":material/schedule: {plain(late[0].upper() + late[1:])}")


def technical(details: str) -> None:
    """What the words leave out of an answer, folded away for the technical."""
    if details:
        with st.expander("Technical details"):
            st.markdown(lines(details))


def _actions(run: Run) -> None:
    """Try a failed or cancelled run again; cancel one that waits or runs."""
    retried = (
        run.status in RETRYABLE
        and st.button("Try again", key=f"retry_{run.id}")
        and apply(lambda session: retry_run(session, run.id, queue(), current_time()))
    )
    cancelled = (
        run.status in CANCELLABLE
        and st.button("Cancel run", key=f"cancel_{run.id}")
        and apply(lambda session: cancel_run(session, run.id, current_time()))
    )
    if retried:
        st.session_state.toast = "Trying again — the result shows here when it arrives."
    elif cancelled:
        st.session_state.toast = (
            "Cancelled. The agent may still finish what it was asked; Planner no longer "
            "waits for its answer."
            if run.status == RunStatus.running
            else "Cancelled before it started."
        )
    if retried or cancelled:
        st.rerun()


def runs_in_full(runs: list[Run], timezone: str, now: datetime, worker_online: bool) -> None:
    """A card's history: its runs, newest first, each in full."""
    if not runs:
        st.caption("No runs yet.")
    for number, run in enumerate(runs):
        if number:
            st.divider()
        full(run, timezone, now, worker_online)
