"""The scheduled job dialog: name, when (a preset, a time and weekdays, cron, or once at a
date and time), the timezone found by city or country, optional first and last days and a
random delay, and the action previewed for the next run."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta

import streamlit as st

from core.automations import jobs
from core.automations.fields import UNCHANGED
from core.automations.templates import DEFAULT_VARIABLES, default_variables
from core.errors import Checks, ValidationError
from core.scheduling import occurrences, timing
from core.scheduling.timezones import timezone_choices, timezone_label, zone_city
from core.store.models import ActionKind, ScheduledJob
from dashboard.advanced import advanced_inputs, choice, form_refusals
from dashboard.context import now, plain, queue, reading, settings, viewer_timezone, writing
from dashboard.dialog_parts import (
    SAMPLE_KEY,
    action_inputs,
    confirmed,
    editing,
    field_error,
    fold,
    input_editor,
    input_preview,
    live_error,
    refused,
    save,
)

CUSTOM = "Custom"
ONCE = "Once"
NEW_JOB_PRESET = "Every day at 9:00"
CRON_KEY = "job_cron"
# The random delays offered ("None" first).
DELAYS = {"None": timedelta(0), "Up to 1 min": timedelta(minutes=1),
          "Up to 5 min": timedelta(minutes=5), "Up to 15 min": timedelta(minutes=15),
          "Up to 30 min": timedelta(minutes=30), "Up to 1 hour": timedelta(hours=1)}  # fmt: skip


def _once_input(current: str) -> str:
    """A date and a time on the job's clock (tomorrow at 9:00 for a new one-off)."""
    once = timing.Timing(current, "UTC").once_at
    when = once or datetime.combine(now().date() + timedelta(days=1), time(9, 0))
    left, right = st.columns(2)
    day = left.date_input("On", value=when.date(), key="job_once_day", format="YYYY-MM-DD")
    at = right.time_input("At", value=when.time(), key="job_once_time", step=300)
    return timing.once_schedule(datetime.combine(day, at))


def _when_input(current: str) -> str:
    """The schedule: a preset, Custom with the time and weekday pickers set from it (only
    a schedule those pickers can't say opens in the cron box, saying so), or Once."""
    preset = occurrences.preset_of(current)
    once = timing.Timing(current, "UTC").once_at is not None
    picked = None if preset or once else occurrences.time_and_weekdays(current)
    choices = [*occurrences.PRESETS, CUSTOM, ONCE]
    shown = ONCE if once else preset or CUSTOM
    chosen = st.radio(
        "When", choices, index=choices.index(shown), key="job_preset", horizontal=True
    )
    if chosen == ONCE:
        return _once_input(current)
    if chosen != CUSTOM:
        return occurrences.PRESETS[chosen]
    if once:
        current, picked = occurrences.PRESETS[NEW_JOB_PRESET], (9, 0, [])
    written = "" if preset or picked else current
    if written:
        words = occurrences.describe(written)
        st.info(plain(f"This schedule is written in cron: {written}, shown as {words}."))
    in_cron = bool(str(st.session_state.get(CRON_KEY, written)).strip())
    hour, minute, days = picked or (9, 0, [])
    left, right = st.columns(2)
    at = left.time_input("At", value=time(hour, minute), key="job_time", step=300, disabled=in_cron)
    chosen_days = right.multiselect(
        "On", occurrences.WEEKDAYS, default=days, key="job_days", placeholder="Every day",
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
    return occurrences.custom_cron(at.hour, at.minute, chosen_days)


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


def _days_and_delay_inputs(
    job: ScheduledJob | None, once: bool
) -> tuple[date | None, date | None, timedelta]:
    """First and last day (not for a one-off) and the random delay; folded away unless
    the job has them."""
    given = bool(job and (job.starts_on or job.ends_on or job.jitter_seconds))
    label = "Random delay" if once else "Dates and random delay"
    with fold(label, "job_days_fold", given, refused("starts_on", "ends_on", "jitter")):
        first = last = None
        if not once:
            left, right = st.columns(2)
            first = left.date_input(
                "First day", value=job.starts_on if job else None, key="job_starts_on",
                format="YYYY-MM-DD", help="Leave empty to start right away.",
            )  # fmt: skip
            last = right.date_input(
                "Last day", value=job.ends_on if job else None, key="job_ends_on",
                format="YYYY-MM-DD", help="Leave empty to keep going.",
            )  # fmt: skip
            field_error("starts_on", first)
            field_error("ends_on", last)
        delay = choice(
            "Random delay", DELAYS, timedelta(seconds=job.jitter_seconds if job else 0),
            "job_jitter",
            "Start each run up to this much later, at random: jobs that call the same "
            "service at the same time then spread out.",
        )  # fmt: skip
    return first, last, delay


def _schedule_inputs(
    job: ScheduledJob | None,
) -> tuple[timing.Timing, timedelta, datetime | None]:
    """Schedule, timezone and days, shown in words with the next runs; the random delay;
    the first run too (None while the timing is not valid)."""
    cron = _when_input(job.schedule if job else occurrences.PRESETS[NEW_JOB_PRESET])
    timezone = _timezone_input(job.timezone if job else viewer_timezone())
    once = timing.Timing(cron, timezone).once_at is not None
    first, last, jitter = _days_and_delay_inputs(job, once)
    when = timing.Timing(cron, timezone, first, last)
    try:
        checked = when if job and when == job.timing else timing.checked(when, now())
        upcoming = list(itertools.islice(checked.occurrences(now()), 5))
    except ValidationError as error:
        live_error("schedule", str(error))
        return when, jitter, None
    field_error("schedule", when)
    delay = timing.jitter_in_words(int(jitter.total_seconds()))
    words = [checked.describe(), timezone_label(timezone), delay]
    st.caption(plain(" · ".join(word for word in words if word)))
    tz, city = occurrences.zone(timezone), plain(zone_city(timezone))
    st.markdown(
        "\n".join(
            f"- {moment.astimezone(tz):%a %d %b %Y, %H:%M} ({city})"
            + (" — *clocks change that day*" if occurrences.changes_clock(moment, timezone) else "")
            for moment in upcoming
        )
        or "No runs left: this job is done."
    )
    return checked, jitter, upcoming[0] if upcoming else None


@st.dialog("Scheduled job", width="large", dismissible=False)
def job_dialog() -> None:
    """Not dismissible: Esc or a click outside must not lose what was typed; Cancel closes."""
    job, agent = editing(ScheduledJob)
    name = st.text_input(
        "Name", value=job.name if job else "", key="job_name", placeholder="Morning briefing"
    )
    field_error("name", name)
    chosen, jitter, next_run = _schedule_inputs(job)
    timezone = chosen.timezone
    moment = next_run or now()
    local = moment.astimezone(occurrences.zone(timezone))
    when = (
        f"on its next run, {local:%a %d %b %Y, %H:%M} {zone_city(timezone)}" if next_run else "now"
    )
    sample = default_variables(moment, timezone, name or "Morning briefing", agent.name, SAMPLE_KEY)
    action = action_inputs(job, sample, list(DEFAULT_VARIABLES), when)
    given = job.config.get("input", {}) if job and job.action == ActionKind.workflow else {}
    read_input = input_editor(given, list(DEFAULT_VARIABLES)) if "workflow" in action else None
    if read_input:
        input_preview(read_input, sample, "job_input_json")
    advanced = advanced_inputs(ScheduledJob, job, settings())
    if confirmed("job"):
        own = Checks()
        form_refusals(advanced, own)
        given_input = own.check(read_input) if read_input else UNCHANGED
        fields = jobs.JobFields(
            agent=agent.id,
            schedule=chosen.schedule,
            timezone=timezone,
            starts_on=chosen.starts_on,
            ends_on=chosen.ends_on,
            jitter=jitter,
            input=UNCHANGED if given_input is None else given_input,
            **action,
            **advanced,
            name=name if job else UNCHANGED,
        )

        def check() -> None:
            with reading() as db:
                jobs.check_job(db, name, fields, job and job.id, now(), settings().timezone)

        def change() -> None:
            with writing() as db:
                if job is None:
                    jobs.create_job(db, name, fields, now(), settings().timezone, queue())
                else:
                    jobs.update_job(db, job.id, fields, now(), queue())

        save(change, f"Saved {plain(name)}.", own, check)
