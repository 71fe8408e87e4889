"""The scheduled job dialog: name, when (a preset, a time and weekdays, or cron), the
timezone found by city or country, and the action previewed for the next run."""

from __future__ import annotations

from datetime import datetime, time

import streamlit as st

from core import jobs, schedule
from core.errors import ValidationError
from core.models import ActionKind, ScheduledJob
from core.templates import DEFAULT_VARIABLES, default_variables
from core.timezones import timezone_choices, timezone_label, zone_city
from dashboard.context import now, plain, queue, settings, viewer_timezone, writing
from dashboard.dialog_parts import (
    SAMPLE_KEY,
    action_inputs,
    confirmed,
    editing,
    field_error,
    input_editor,
    save,
)

CUSTOM = "Custom"
NEW_JOB_PRESET = "Every day at 9:00"
CRON_KEY = "job_cron"


def _when_input(current: str) -> str:
    """The schedule: a preset, or Custom with the time and weekday pickers set from it;
    only a schedule those pickers can't say opens in the cron box, saying so."""
    preset = schedule.preset_of(current)
    picked = None if preset else schedule.time_and_weekdays(current)
    choices = [*schedule.PRESETS, CUSTOM]
    chosen = st.radio(
        "When", choices, index=choices.index(preset or CUSTOM), key="job_preset", horizontal=True
    )
    if chosen != CUSTOM:
        return schedule.PRESETS[chosen]
    written = "" if preset or picked else current
    if written:
        words = schedule.describe(written)
        st.info(plain(f"This schedule is written in cron: {written}, shown as {words}."))
    in_cron = bool(str(st.session_state.get(CRON_KEY, written)).strip())
    hour, minute, days = picked or (9, 0, [])
    left, right = st.columns(2)
    at = left.time_input("At", value=time(hour, minute), key="job_time", step=300, disabled=in_cron)
    chosen_days = right.multiselect(
        "On", schedule.WEEKDAYS, default=days, key="job_days", placeholder="Every day",
        disabled=in_cron,
    )  # fmt: skip
    typed = st.text_input(
        "Or a cron expression, if you know cron",
        key=CRON_KEY,
        value=written,
        placeholder="e.g. 30 8 * * 1-5",
        help="While this box holds an expression, it is used instead of the time and days.",
    )
    if typed.strip():
        return typed.strip()
    if picked == (at.hour, at.minute, chosen_days):
        return current  # untouched: saved as it was written
    return schedule.custom_cron(at.hour, at.minute, chosen_days)


def _timezone_input(current: str) -> str:
    """The timezone, found by typing a city, a country or an IANA name; the IANA name is
    what is saved."""
    choices = timezone_choices()
    shown = timezone_label(current)
    options = list(choices) if shown in choices else [shown, *choices]
    label = st.selectbox(
        "Timezone",
        options,
        index=options.index(shown),
        key="job_timezone",
        help="Type a city or a country to find it, such as Munich, India or New York.",
    )
    return choices.get(label, label)


def _schedule_inputs(job: ScheduledJob | None) -> tuple[str, str, datetime | None]:
    """Schedule and timezone, shown in words with the next runs; the first of them too
    (None while the schedule is not valid)."""
    cron = _when_input(job.schedule if job else schedule.PRESETS[NEW_JOB_PRESET])
    field_error("schedule")
    timezone = _timezone_input(job.timezone if job else viewer_timezone())
    try:
        schedule.validate_cron(cron)
        upcoming = schedule.next_occurrences(cron, timezone, now(), 5)
    except ValidationError as error:
        st.error(plain(error))
        return cron, timezone, None
    tz = schedule.zone(timezone)
    st.caption(plain(f"{schedule.describe(cron)} · {timezone_label(timezone)}"))
    st.markdown(
        "\n".join(
            f"- {moment.astimezone(tz):%a %d %b %Y, %H:%M}"
            + (" — *clocks change that day*" if schedule.changes_clock(moment, timezone) else "")
            for moment in upcoming
        )
    )
    return cron, timezone, upcoming[0]


@st.dialog("Scheduled job", width="large", dismissible=False)
def job_dialog() -> None:
    """Not dismissible: Esc or a click outside must not lose what was typed; Cancel closes."""
    job, agent = editing(ScheduledJob)
    name = st.text_input(
        "Name", value=job.name if job else "", key="job_name", placeholder="Morning briefing"
    )
    field_error("name")
    cron, timezone, next_run = _schedule_inputs(job)
    moment = next_run or now()
    local = moment.astimezone(schedule.zone(timezone))
    when = (
        f"on its next run, {local:%a %d %b %Y, %H:%M} {zone_city(timezone)}" if next_run else "now"
    )
    sample = default_variables(moment, timezone, name or "Morning briefing", agent.name, SAMPLE_KEY)
    action = action_inputs(job, sample, list(DEFAULT_VARIABLES), when)
    given = job.config.get("input", {}) if job and job.action == ActionKind.workflow else {}
    read_input = input_editor(given) if "workflow" in action else None
    if confirmed("job"):

        def change() -> None:
            fields = jobs.JobFields(
                agent=agent.id,
                schedule=cron,
                timezone=timezone,
                input=read_input() if read_input else None,
                **action,
                name=name if job else None,
            )
            with writing() as db:
                if job is None:
                    jobs.create_job(db, name, fields, now(), settings().timezone, queue())
                else:
                    jobs.update_job(db, job.id, fields, now(), queue())

        save(change, f"Saved {plain(name)}.")
