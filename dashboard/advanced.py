"""What the job and trigger dialogs fold under *Advanced*: the job's or trigger's own
retries, call timeout and overlap policy, and who is told when it fails. The rules are
core.automations.policies' and core.notifications.channels'."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import streamlit as st

from core.automations import policies
from core.config import Settings
from core.errors import Checks
from core.notifications import channels
from core.scheduling import timing
from core.store.models import Automation
from dashboard.context import reading
from dashboard.dialog_parts import field_error, fold, refused

WHEN_TOLD = {"failure": "When it fails", "recovery": "When it works again",
             "digest": "A daily digest"}  # fmt: skip


TIMEOUTS = {"10 s": timedelta(seconds=10), "30 s": timedelta(seconds=30),
            "1 min": timedelta(minutes=1), "2 min": timedelta(minutes=2),
            "5 min": timedelta(minutes=5), "10 min": timedelta(minutes=10),
            "30 min": timedelta(minutes=30), "1 hour": timedelta(hours=1)}  # fmt: skip


def choice(label: str, choices: dict[str, Any], current: Any, key: str, says: str) -> Any:
    """A selectbox over `choices` (shown → value), opened on `current`; a current value
    the list does not offer (a length of time set on the CLI) is added to it, so that
    saving keeps it."""
    shown = next((name for name, value in choices.items() if value == current), None)
    if shown is None:
        if isinstance(current, timedelta):
            shown = timing.length_in_words(int(current.total_seconds()))
        else:
            shown = str(current)
        choices = {**choices, shown: current}
    names = list(choices)
    picked = st.selectbox(label, names, index=names.index(shown), key=key, help=says)
    field_error(key.split("_", 1)[1], picked)
    return choices[picked]


def advanced_inputs(
    model: type[Automation], automation: Automation | None, defaults: Settings
) -> dict[str, Any]:
    """A job's or trigger's (`automation`, None for a new one) own retries, call timeout and
    overlap policy, folded away unless it has them, as its fields take them (None:
    Planner's)."""
    own = policies.of(automation) if automation is not None else policies.Policies()
    usual_overlap = policies.OVERLAP_WORDS[policies.default_overlap(model)]
    told = automation is not None and not automation.notify_as_settings
    inside = refused("retries", "timeout", "overlap", "notify", "notify_on")
    with fold("Advanced", "action_advanced_fold", own != policies.Policies() or told, inside):
        retries = choice(
            "Tries again after a failure",
            {f"Planner's default ({defaults.max_retries} times)": None, "Never": 0}
            | {f"{n} time{'s' if n > 1 else ''}": n for n in range(1, policies.MOST_RETRIES + 1)},
            own.retries, "action_retries",
            "After a timeout, a 429 or a 5xx answer, with a longer wait each time.",
        )  # fmt: skip
        usual = timing.length_in_words(int(defaults.http_timeout_seconds))
        timeout = choice(
            "Gives up on a call after", {f"Planner's default ({usual})": None} | TIMEOUTS,
            own.timeout, "action_timeout",
            "How long one call may take before it counts as failed (and is tried again).",
        )  # fmt: skip
        overlap = choice(
            "When the previous run is still running",
            {f"Planner's default ({usual_overlap.lower()})": None}
            | {words: policy for policy, words in policies.OVERLAP_WORDS.items()},
            own.overlap, "action_overlap",
            "Run it when the previous one has finished: one run waits, more are skipped.",
        )  # fmt: skip
        telling = _telling_inputs(automation)
    return {"retries": retries, "timeout": timeout, "overlap": overlap, **telling}


AS_SETTINGS, CHOSEN, NOBODY = "settings", "chosen", "nobody"
NONE_TICKED = [""]  # "These channels:" with none ticked


def form_refusals(advanced: dict[str, Any], own: Checks) -> None:
    """What Advanced refuses in the form's words (core's speak of --notify)."""
    if advanced.get("notify") == NONE_TICKED:
        own.refuse("Tick the channels to tell, or choose Nobody.", "notify")


def _telling_inputs(automation: Automation | None) -> dict[str, Any]:
    """Who is told, and about what: Settings' channels (what a new job or trigger does),
    channels of its own, or nobody; failures and recoveries unless chosen otherwise."""
    with reading() as session:
        rows = channels.list_channels(session)
    if not rows:
        st.caption("Add a channel on Settings → Notifications to be told when it fails.")
        return {}
    known = {row.id: row.name for row in rows}
    usual = [row.name for row in rows if row.every_failure]
    ways = {
        AS_SETTINGS: f"As in Settings ({', '.join(usual)})" if usual
        else "As in Settings (no channel is told about every failure)",
        CHOSEN: "These channels:", NOBODY: "Nobody",
    }  # fmt: skip
    if automation is None or automation.notify_as_settings:
        current = AS_SETTINGS
    else:
        current = CHOSEN if automation.notify_channel_ids else NOBODY
    way = st.radio(
        "Tell", list(ways), format_func=ways.__getitem__, index=list(ways).index(current),
        key="action_tell", horizontal=True,
    )  # fmt: skip
    names: list[str] = []
    if way == CHOSEN:
        chosen_ids = automation.notify_channel_ids if automation is not None else []
        names = st.multiselect(
            "Channels", list(known.values()), default=[known[i] for i in chosen_ids if i in known],
            key="action_notify", placeholder="Choose channels",
        )  # fmt: skip
    field_error("notify", (way, names))
    events = (automation.notify_on if automation is not None else []) or channels.DEFAULT_EVENTS
    when = st.multiselect(
        "About", list(WHEN_TOLD.values()), default=[WHEN_TOLD[e] for e in events],
        key="action_notify_on", disabled=way == NOBODY,
    )  # fmt: skip
    field_error("notify_on", when)
    chosen = names or NONE_TICKED  # refused (form_refusals), not taken for Nobody
    return {
        "notify": {AS_SETTINGS: [channels.SETTINGS_WORD], CHOSEN: chosen, NOBODY: []}[way],
        "notify_on": [event for event, words in WHEN_TOLD.items() if words in when],
    }
