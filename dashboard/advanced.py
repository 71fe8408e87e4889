"""What the job and trigger dialogs fold under *Advanced*: the job's or trigger's own
retries, call timeout and overlap policy, and who is told when it fails. The rules are
core.automations.policies' and core.notifications.channels'."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.automations import policies
from core.config import Settings
from core.notifications import channels
from core.scheduling import timing
from core.store.models import Automation
from dashboard.context import reading
from dashboard.dialog_parts import field_error

WHEN_TOLD = {"failure": "When it fails", "recovery": "When it works again",
             "digest": "A daily digest"}  # fmt: skip


TIMEOUTS = {"10 s": 10, "30 s": 30, "1 min": 60, "2 min": 120, "5 min": 300, "10 min": 600,
            "30 min": 1800, "1 hour": 3600}  # fmt: skip


def choice(label: str, choices: dict[str, Any], current: Any, key: str, says: str) -> Any:
    """A selectbox over `choices` (shown → value), opened on `current`; a current value
    the list does not offer (a length of time set on the CLI) is added to it, so that
    saving keeps it."""
    shown = next((name for name, value in choices.items() if value == current), None)
    if shown is None:
        shown = timing.length_in_words(current) if isinstance(current, int) else str(current)
        choices = {**choices, shown: current}
    names = list(choices)
    picked = st.selectbox(label, names, index=names.index(shown), key=key, help=says)
    field_error(key.split("_", 1)[1])
    return choices[picked]


def advanced_inputs(
    model: type[Automation], automation: Automation | None, defaults: Settings
) -> dict[str, str]:
    """A job's or trigger's (`automation`, None for a new one) own retries, call timeout and
    overlap policy, folded away unless it has them, as its fields take them ("default":
    Planner's)."""
    own = policies.of(automation) if automation is not None else policies.Policies()
    usual_overlap = policies.OVERLAP_WORDS[policies.default_overlap(model)]
    told = bool(automation is not None and automation.notify_channel_ids)
    with st.expander("Advanced", expanded=own != policies.Policies() or told):
        retries = choice(
            "Tries again after a failure",
            {f"Planner's default ({defaults.max_retries} times)": None, "Never": 0}
            | {f"{n} time{'s' if n > 1 else ''}": n for n in range(1, policies.MOST_RETRIES + 1)},
            own.max_retries, "action_retries",
            "After a timeout, a 429 or a 5xx answer, with a longer wait each time.",
        )  # fmt: skip
        usual = timing.length_in_words(int(defaults.http_timeout_seconds))
        timeout = choice(
            "Gives up on a call after", {f"Planner's default ({usual})": None} | TIMEOUTS,
            own.timeout_seconds, "action_timeout",
            "How long one call may take before it counts as failed (and is tried again).",
        )  # fmt: skip
        overlap = choice(
            "When the previous run is still running",
            {f"Planner's default ({usual_overlap.lower()})": None}
            | {words: str(policy) for policy, words in policies.OVERLAP_WORDS.items()},
            own.overlap, "action_overlap",
            "Run it when the previous one has finished: one run waits, more are skipped.",
        )  # fmt: skip
        telling = _telling_inputs(automation)
    return {
        "retries": policies.DEFAULT if retries is None else str(retries),
        "timeout": policies.DEFAULT if timeout is None else str(timeout),
        "overlap": overlap or policies.DEFAULT,
        **telling,
    }


def _telling_inputs(automation: Automation | None) -> dict[str, Any]:
    """Which channels are told, and about what (failures and recoveries by default)."""
    with reading() as session:
        known = {row.id: row.name for row in channels.list_channels(session)}
    if not known:
        st.caption("Add a channel on Settings → Notifications to be told when it fails.")
        return {}
    chosen_ids = automation.notify_channel_ids if automation is not None else []
    names = st.multiselect(
        "Tell", list(known.values()), default=[known[i] for i in chosen_ids if i in known],
        key="action_notify", placeholder="Nobody",
    )  # fmt: skip
    field_error("notify")
    events = (automation.notify_on if automation is not None else []) or channels.DEFAULT_EVENTS
    when = st.multiselect(
        "About", list(WHEN_TOLD.values()), default=[WHEN_TOLD[e] for e in events],
        key="action_notify_on", disabled=not names,
    )  # fmt: skip
    field_error("notify_on")
    return {
        "notify": names or "none",
        "notify_on": [event for event, words in WHEN_TOLD.items() if words in when],
    }
