"""The job dialog through Streamlit's AppTest: presets, the pickers restored from a saved
schedule, validation, the timezone picker, the preview, the workflow's input, deletion,
and closing only by Cancel (both dialogs). Changes are checked in the database; the
trigger dialog's own tests are in test_trigger_dialog.py."""

from __future__ import annotations

from datetime import date, time

import pytest
from streamlit.testing.v1 import AppTest

from core.automations import jobs
from core.automations.fields import UNCHANGED
from core.automations.jobs import JobFields
from core.notifications import channels
from core.scheduling.occurrences import describe, next_occurrence, zone
from core.store.models import utcnow
from support.screens import briefing, stored_jobs, texts
from support.stored import snapshot


def dialogs(app: AppTest) -> list[tuple[str, bool]]:
    """The dialogs on screen: their title, and whether Esc or a click outside closes them."""
    return [(block.proto.dialog.title, block.proto.dialog.dismissible) for block in
            app.get("dialog")]  # fmt: skip


def saved_job(session, name: str, cron: str, **fields) -> int:
    """A job of the agent, saved through core; its id."""
    given = {"chat": "Hi"} | fields
    job = jobs.create_job(session, name, JobFields(agent="Assistant", schedule=cron, **given),
                          utcnow(), "UTC")  # fmt: skip
    session.commit()
    return job.id


def add_job(app: AppTest, name: str, preset: str, template: str = "Hello {jobName}") -> AppTest:
    app.button(key="add_job").click().run()
    app.text_input(key="job_name").input(name)
    app.radio(key="job_preset").set_value(preset).run()
    app.text_area(key="action_template").input(template).run()
    return app.button(key="job_save").click().run()


@pytest.mark.parametrize(
    ("preset", "cron"),
    [
        ("Every hour", "0 * * * *"),
        ("Every day at 9:00", "0 9 * * *"),
        ("Weekdays at 9:00", "0 9 * * 1-5"),
        ("Every Monday at 9:00", "0 9 * * 1"),
        ("First day of the month at 9:00", "0 9 1 * *"),
    ],
)
def test_presets_set_the_right_cron(dashboard, agent, settings, preset, cron):
    app = add_job(dashboard(), "Briefing", preset)
    assert not app.exception
    [job] = stored_jobs(settings)
    assert (job.name, job.schedule, job.config["template"]) == ("Briefing", cron, "Hello {jobName}")
    assert "Briefing" in texts(app)


def test_custom_time_and_weekdays_build_the_cron(dashboard, agent, settings):
    app = dashboard()
    app.button(key="add_job").click().run()
    app.text_input(key="job_name").input("Standup")
    app.radio(key="job_preset").set_value("Custom").run()
    app.time_input(key="job_time").set_value(time(8, 30)).run()
    app.multiselect(key="job_days").set_value(["Mon", "Fri"]).run()
    assert "At 08:30, only on Monday and Friday" in texts(app)
    app.text_area(key="action_template").input("Standup time").run()
    app.button(key="job_save").click().run()
    assert [job.schedule for job in stored_jobs(settings)] == ["30 8 * * 1,5"]


def test_the_dialog_previews_the_message_and_flags_unknown_variables(dashboard, agent):
    app = dashboard()
    app.button(key="add_job").click().run()
    app.text_input(key="job_name").input("Briefing").run()
    app.text_area(key="action_template").input("Hi from {agentName}, {agenda}").run()
    assert "Hi from Assistant," in texts(app)
    assert "No value for: {agenda}" in texts(app)


@pytest.mark.parametrize(
    ("name", "cron", "template", "message"),
    [
        ("", "", "Hi", "Give the job a name."),
        ("Bad cron", "61 * * * *", "Hi", "The minute field '61' is not valid"),
        ("No message", "", "   ", "The chat message is empty"),
    ],
)
def test_validation_messages_show_and_nothing_is_saved(dashboard, agent, settings, name, cron,
                                                       template, message):  # fmt: skip
    app = dashboard()
    app.button(key="add_job").click().run()
    app.text_input(key="job_name").input(name)
    if cron:
        app.radio(key="job_preset").set_value("Custom").run()
        app.text_input(key="job_cron").input(cron).run()
    app.text_area(key="action_template").input(template).run()
    app.button(key="job_save").click().run()
    assert message in texts(app)
    assert stored_jobs(settings) == []


def test_edit_changes_the_job(dashboard, agent, settings, session):
    job = briefing(session)
    app = dashboard()
    app.button(key=f"edit_{job.id}").click().run()
    assert app.text_input(key="job_name").value == "Briefing"
    app.text_input(key="job_name").input("Morning briefing")
    app.radio(key="job_preset").set_value("Every Monday at 9:00").run()
    app.button(key="job_save").click().run()
    [changed] = stored_jobs(settings)
    assert (changed.name, changed.schedule, changed.config["template"]) == (
        "Morning briefing", "0 9 * * 1", "Hi"
    )  # fmt: skip
    assert [toast.value for toast in app.toast] == ["Saved Morning briefing."]


def test_delete_asks_first(dashboard, agent, settings, session):
    job = briefing(session)
    app = dashboard()
    app.button(key=f"delete_{job.id}").click().run()
    assert "Delete the job **Briefing** and its history?" in texts(app)
    app.button(key="delete_cancel").click().run()
    assert len(stored_jobs(settings)) == 1
    app.button(key=f"delete_{job.id}").click().run()
    app.button(key="delete_confirm").click().run()
    assert stored_jobs(settings) == []
    assert [toast.value for toast in app.toast] == ["Deleted Briefing."]


@pytest.mark.parametrize(
    ("cron", "at", "days"),
    [
        ("30 8 * * 1-5", time(8, 30), ["Mon", "Tue", "Wed", "Thu", "Fri"]),
        ("45 18 * * SAT,SUN", time(18, 45), ["Sat", "Sun"]),
        ("5 7 * * *", time(7, 5), []),
    ],
)
def test_editing_opens_the_time_and_weekday_pickers_as_saved(dashboard, agent, settings,
                                                              session, cron, at, days):  # fmt: skip
    job_id = saved_job(session, "Standup", cron)
    app = dashboard()
    app.button(key=f"edit_{job_id}").click().run()
    assert app.radio(key="job_preset").value == "Custom"
    assert (app.time_input(key="job_time").value, app.multiselect(key="job_days").value) == (
        at, days
    )  # fmt: skip
    assert app.text_input(key="job_cron").value == ""
    assert "written in cron" not in texts(app)
    app.button(key="job_save").click().run()
    assert [job.schedule for job in stored_jobs(settings)] == [cron]  # untouched, as written

    app.button(key=f"edit_{job_id}").click().run()
    app.time_input(key="job_time").set_value(time(9, 15)).run()
    app.button(key="job_save").click().run()
    assert stored_jobs(settings)[0].schedule.startswith("15 9 * * ")


@pytest.mark.parametrize(
    ("cron", "preset"),
    [("0 9 * * 1", "Every Monday at 9:00"), ("@hourly", "Every hour"), ("0 9 * * 0-6",
     "Every day at 9:00"), ("0 9 1 * *", "First day of the month at 9:00")],
)  # fmt: skip
def test_editing_a_preset_opens_on_the_preset(dashboard, agent, session, cron, preset):
    job_id = saved_job(session, "Briefing", cron)
    app = dashboard()
    app.button(key=f"edit_{job_id}").click().run()
    assert app.radio(key="job_preset").value == preset


def test_only_a_schedule_the_pickers_cant_say_opens_in_the_cron_box(dashboard, agent, settings,
                                                                    session):  # fmt: skip
    job_id = saved_job(session, "Busy mornings", "*/15 8-10 * * 1-5")
    app = dashboard()
    app.button(key=f"edit_{job_id}").click().run()
    assert app.radio(key="job_preset").value == "Custom"
    assert app.text_input(key="job_cron").value == "*/15 8-10 * * 1-5"
    words = describe("*/15 8-10 * * 1-5")
    assert f"This schedule is written in cron: */15 8-10 * * 1-5, shown as {words}." in texts(app)
    assert app.time_input(key="job_time").disabled and app.multiselect(key="job_days").disabled
    app.text_input(key="job_cron").input("").run()
    assert not app.time_input(key="job_time").disabled
    app.multiselect(key="job_days").set_value(["Tue"]).run()
    app.button(key="job_save").click().run()
    assert [job.schedule for job in stored_jobs(settings)] == ["0 9 * * 2"]


@pytest.mark.parametrize(("button", "cancel", "title"), [("add_job", "job_cancel", "Scheduled job"),
                         ("add_trigger", "trigger_cancel", "Event trigger")])  # fmt: skip
def test_a_half_filled_dialog_closes_only_by_cancel(dashboard, agent, settings, button, cancel,
                                                    title):  # fmt: skip
    app = dashboard()
    before = snapshot(settings.database_url)
    app.button(key=button).click().run()
    assert dialogs(app) == [(title, False)]  # no Esc, no click outside, no X
    app.text_area(key="action_template").input("Half a thought").run()
    assert dialogs(app) == [(title, False)]
    app.button(key=cancel).click().run()
    assert dialogs(app) == []
    assert snapshot(settings.database_url) == before


def test_names_that_differ_only_in_capitals_or_spaces_are_refused(dashboard, agent, settings,
                                                                  session):  # fmt: skip
    briefing(session)
    before = snapshot(settings.database_url)
    app = add_job(dashboard(), "  briefing ", "Every hour")
    assert (
        "A job named 'Briefing' already exists; names that differ only in capitals or spaces "
        "count as the same. Choose another name."
    ) in texts(app)
    assert snapshot(settings.database_url) == before


def test_a_near_miss_variable_gets_a_did_you_mean(dashboard, agent):
    app = dashboard()
    app.button(key="add_job").click().run()
    app.text_area(key="action_template").input("Happy {dayofweek}! {agenda}").run()
    assert (
        "No value for: {dayofweek}, {agenda} — they will be left empty. "
        "Did you mean {dayOfWeek} for {dayofweek}?"
    ) in texts(app)


def test_the_preview_is_rendered_for_the_next_run_in_the_jobs_timezone(dashboard, agent):
    app = dashboard()
    app.context["timezone"] = "Asia/Tokyo"
    app.run()
    app.button(key="add_job").click().run()
    app.radio(key="job_preset").set_value("Custom").run()
    app.text_input(key="job_cron").input("0 9 29 2 *").run()  # only in leap years
    app.text_area(key="action_template").input("{date} {time} {dayOfWeek} {timezone}").run()
    next_run = next_occurrence("0 9 29 2 *", "Asia/Tokyo", utcnow()).astimezone(zone("Asia/Tokyo"))
    assert f"{next_run:%Y-%m-%d} 09:00 {next_run:%A} Asia/Tokyo" in texts(app)
    assert f"on its next run, {next_run:%a %d %b %Y}, 09:00 Tokyo" in texts(app)


def test_a_new_job_is_in_the_viewers_timezone(dashboard, agent, settings):
    app = dashboard()
    app.context["timezone"] = "America/New_York"
    app.run()
    app.button(key="add_job").click().run()
    picker = app.selectbox(key="job_timezone")
    assert picker.value == "New York — United States (America/New_York)"
    app.text_input(key="job_name").input("Briefing")
    app.text_area(key="action_template").input("Hi").run()
    app.button(key="job_save").click().run()
    assert [job.timezone for job in stored_jobs(settings)] == ["America/New_York"]


def test_the_timezone_is_found_by_city_and_saved_as_its_iana_name(dashboard, agent, settings):
    app = dashboard()
    app.button(key="add_job").click().run()
    picker = app.selectbox(key="job_timezone")
    for label in ["Munich — Germany (Europe/Berlin)", "Mumbai — India (Asia/Kolkata)",
                  "Tokyo — Japan (Asia/Tokyo)"]:  # fmt: skip
        assert label in picker.options
    picker.set_value("Munich — Germany (Europe/Berlin)").run()
    app.text_input(key="job_name").input("Briefing")
    app.text_area(key="action_template").input("Hi").run()
    app.button(key="job_save").click().run()
    assert [job.timezone for job in stored_jobs(settings)] == ["Europe/Berlin"]


def test_a_jobs_workflow_input_is_edited_as_names_and_values(dashboard, agent, workflow, settings):
    app = dashboard()
    app.button(key="add_job").click().run()
    app.text_input(key="job_name").input("Weekly report")
    app.radio(key="action_kind").set_value("Run a workflow").run()
    assert not app.toggle(key="input_as_json").value
    app.text_input(key="input_name_0").input("scope")
    app.text_input(key="input_value_0").input("week").run()
    app.button(key="input_add").click().run()
    app.text_input(key="input_name_1").input("team")
    app.text_input(key="input_value_1").input("ops").run()
    app.button(key="job_save").click().run()
    [job] = stored_jobs(settings)
    assert job.config["input"] == {"scope": "week", "team": "ops"}

    app.button(key=f"edit_{job.id}").click().run()
    app.button(key="input_remove_0").click().run()
    app.toggle(key="input_as_json").set_value(True).run()
    assert app.text_area(key="input_json").value == '{\n  "team": "ops"\n}'


def test_a_bad_input_row_is_refused_by_its_field(dashboard, agent, workflow, settings):
    before = snapshot(settings.database_url)
    app = dashboard()
    app.button(key="add_job").click().run()
    app.text_input(key="job_name").input("Weekly report")
    app.radio(key="action_kind").set_value("Run a workflow").run()
    assert "A value may hold variables, filled in at each run: {date}, {time}" in texts(app)
    app.text_input(key="input_value_0").input("week").run()
    app.button(key="job_save").click().run()
    assert "Give the value 'week' a name." in texts(app)
    assert snapshot(settings.database_url) == before


def test_an_input_rows_cant_show_opens_as_json(dashboard, agent, workflow, session):
    job_id = saved_job(session, "Counts", "@daily", chat=UNCHANGED, workflow="analyze-email",
                       input={"limit": 3})  # fmt: skip
    app = dashboard()
    app.button(key=f"edit_{job_id}").click().run()
    assert app.toggle(key="input_as_json").value
    assert "so it is shown as JSON" in texts(app)
    assert app.text_area(key="input_json").value == '{\n  "limit": 3\n}'


def test_once_saves_a_one_off_at_the_date_and_time_chosen(dashboard, agent, settings):
    app = dashboard()
    app.button(key="add_job").click().run()
    app.text_input(key="job_name").input("Christmas")
    app.radio(key="job_preset").set_value("Once").run()
    app.date_input(key="job_once_day").set_value(date(2027, 12, 24)).run()
    app.time_input(key="job_once_time").set_value(time(9, 30)).run()
    assert "Once, on Fri 24 Dec 2027 at 09:30" in texts(app)
    assert "First day" not in [d.label for d in app.date_input]  # a one-off has no days
    app.text_area(key="action_template").input("Merry Christmas").run()
    app.button(key="job_save").click().run()
    assert not app.exception
    [job] = stored_jobs(settings)
    assert job.schedule == "once 2027-12-24 09:30"
    app.button(key=f"edit_{job.id}").click().run()  # it reopens on Once, at its time
    assert app.radio(key="job_preset").value == "Once"
    assert app.date_input(key="job_once_day").value == date(2027, 12, 24)
    assert app.time_input(key="job_once_time").value == time(9, 30)


def test_a_one_off_in_the_past_is_refused_under_when(dashboard, agent, settings):
    before = snapshot(settings.database_url)
    app = dashboard()
    app.button(key="add_job").click().run()
    app.text_input(key="job_name").input("Too late")
    app.radio(key="job_preset").set_value("Once").run()
    app.date_input(key="job_once_day").set_value(date(2020, 1, 1)).run()
    assert "is in the past; choose a later time." in texts(app)
    app.text_area(key="action_template").input("Hi").run()
    app.button(key="job_save").click().run()
    assert dialogs(app) == [("Scheduled job", False)]  # still open
    assert snapshot(settings.database_url) == before


def test_first_and_last_day_and_a_random_delay_are_saved_and_shown(dashboard, agent, settings):
    app = dashboard()
    app.button(key="add_job").click().run()
    app.text_input(key="job_name").input("Advent")
    app.date_input(key="job_starts_on").set_value(date(2027, 12, 1)).run()
    app.date_input(key="job_ends_on").set_value(date(2027, 12, 24)).run()
    app.selectbox(key="job_jitter").set_value("Up to 5 min").run()
    said = texts(app)
    assert "every day, from Wed 01 Dec 2027 to Fri 24 Dec 2027" in said
    assert "up to 5 min later, at random" in said
    assert "Wed 01 Dec 2027, 09:00" in said  # the first run shown is on the first day
    app.text_area(key="action_template").input("Door {date}").run()
    app.button(key="job_save").click().run()
    assert not app.exception
    [job] = stored_jobs(settings)
    assert (job.starts_on, job.ends_on, job.jitter_seconds) == (
        date(2027, 12, 1), date(2027, 12, 24), 300
    )  # fmt: skip
    assert "Starts up to 5 min later, at random" in texts(app)  # on the card


def test_advanced_sets_a_jobs_own_retries_timeout_and_overlap(dashboard, agent, settings):
    app = dashboard()
    app.button(key="add_job").click().run()
    app.text_input(key="job_name").input("Careful")
    assert app.selectbox(key="action_retries").value == "Planner's default (3 times)"
    app.selectbox(key="action_retries").set_value("5 times").run()
    app.selectbox(key="action_timeout").set_value("30 s").run()
    app.selectbox(key="action_overlap").set_value("Run it when the previous one has finished")
    app.text_area(key="action_template").input("Hi").run()
    app.button(key="job_save").click().run()
    assert not app.exception
    [job] = stored_jobs(settings)
    assert (job.max_retries, job.timeout_seconds, job.overlap) == (5, 30, "queue")


def test_advanced_tells_the_chosen_channels(dashboard, agent, settings, session):
    channels.add_channel(session, settings, "Ops hook", "json://127.0.0.1:9/alerts", utcnow())
    app = dashboard()
    app.button(key="add_job").click().run()
    app.text_input(key="job_name").input("Told")
    tell = app.radio(key="action_tell")
    assert tell.value == "settings"  # a new job tells the channels Settings names
    tell.set_value("chosen").run()
    app.multiselect(key="action_notify").set_value(["Ops hook"]).run()
    assert app.multiselect(key="action_notify_on").value == [
        "When it fails", "When it works again"
    ]  # fmt: skip
    app.multiselect(key="action_notify_on").set_value(["When it fails", "A daily digest"]).run()
    app.text_area(key="action_template").input("Hi").run()
    app.button(key="job_save").click().run()
    assert not app.exception
    [job] = stored_jobs(settings)
    assert (len(job.notify_channel_ids), job.notify_on) == (1, ["failure", "digest"])
    assert not job.notify_as_settings


def test_these_channels_with_none_ticked_is_refused_not_saved_as_nobody(
    dashboard, agent, settings, session
):
    channels.add_channel(session, settings, "Ops hook", "json://127.0.0.1:9/alerts", utcnow())
    app = dashboard()
    app.button(key="add_job").click().run()
    app.text_input(key="job_name").input("Told")
    app.radio(key="action_tell").set_value("chosen").run()
    app.text_area(key="action_template").input("Hi").run()
    app.button(key="job_save").click().run()
    assert "Tick the channels to tell, or choose Nobody." in texts(app)
    assert stored_jobs(settings) == []
