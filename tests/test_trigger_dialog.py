"""The event trigger dialog through Streamlit's AppTest: app and event, filters in
words and typed, variables as chips, the preview, the workflow's input. Changes are
checked in the database."""

from __future__ import annotations

from sqlmodel import select
from streamlit.testing.v1 import AppTest

from core.automations import triggers
from core.store.db import read_session
from core.store.models import EventTrigger, utcnow
from support.screens import texts, triage
from support.stored import snapshot


def chips(app: AppTest) -> list[str]:
    """The variables the dialog offers as chips, in order."""
    prefix = "action_var_"
    return [b.key.removeprefix(prefix) for b in app.button if (b.key or "").startswith(prefix)]


def stored_triggers(settings) -> list[EventTrigger]:
    with read_session(settings.database_url) as db:
        return list(db.exec(select(EventTrigger)))


def test_a_trigger_is_created_from_app_and_event(dashboard, agent, workflow, settings):
    app = dashboard()
    app.button(key="add_trigger").click().run()
    app.text_input(key="trigger_name").input("Analyze mail")
    app.selectbox(key="trigger_app").set_value("Gmail").run()
    assert "emailFrom" in chips(app)
    app.radio(key="action_kind").set_value("Run a workflow").run()
    app.button(key="trigger_save").click().run()
    [trigger] = stored_triggers(settings)
    assert (trigger.name, trigger.event, trigger.action) == (
        "Analyze mail", "GMAIL_NEW_GMAIL_MESSAGE", "workflow"
    )  # fmt: skip
    assert "Not connected to Composio" in texts(app)


def test_the_trigger_dialog_previews_with_a_sample_event(dashboard, agent, settings, session):
    trigger = triage(session, settings)
    app = dashboard()
    app.button(key=f"tedit_{trigger.id}").click().run()
    app.text_area(key="action_template").input("From {emailFrom}: {emailSubject}").run()
    assert "From Jane Doe <jane@example.com>: Q4 planning doc" in texts(app)


def test_the_trigger_dialog_saves_continue_the_same_conversation(dashboard, agent, settings,
                                                                 session):  # fmt: skip
    trigger = triage(session, settings)
    app = dashboard()
    app.button(key=f"tedit_{trigger.id}").click().run()
    app.checkbox(key="action_thread").check().run()
    app.button(key="trigger_save").click().run()
    with read_session(settings.database_url) as db:
        assert db.get(EventTrigger, trigger.id).config["thread"] == "continue"


def test_editing_a_trigger_keeps_filters_it_has_no_field_for_and_its_instance(
    dashboard, agent, connected, composio, session
):
    fields = triggers.TriggerFields(
        agent="Assistant", event="GMAIL_NEW_GMAIL_MESSAGE", chat="x",
        filters={"interval": 15, "labelIds": ["INBOX", "IMPORTANT"], "include_spam": False},
    )  # fmt: skip
    trigger = triggers.create_trigger(session, "Triage", fields, connected, utcnow())
    composio.requests.clear()
    app = dashboard(COMPOSIO_API_KEY="test-key", COMPOSIO_BASE_URL=composio.url)
    app.button(key=f"tedit_{trigger.id}").click().run()
    app.text_input(key="trigger_name").input("Mail triage")
    app.button(key="trigger_save").click().run()
    with read_session(connected.database_url) as db:
        saved = db.get(EventTrigger, trigger.id)
    assert saved.name == "Mail triage"
    assert saved.filters == fields.filters
    assert saved.composio_trigger_id == trigger.composio_trigger_id
    assert [(m, p) for m, p, _ in composio.requests if m != "GET"] == []


def test_a_trigger_is_deleted_after_confirmation(dashboard, agent, settings, session):
    trigger = triage(session, settings)
    app = dashboard()
    app.button(key=f"tdelete_{trigger.id}").click().run()
    assert "Delete the trigger **Triage** and its history?" in texts(app)
    app.button(key="delete_confirm").click().run()
    assert stored_triggers(settings) == []


def new_trigger(app: AppTest, name: str, toolkit: str, event: str) -> AppTest:
    """The trigger dialog opened afresh on one app's event."""
    app.button(key="add_trigger").click().run()
    app.text_input(key="trigger_name").input(name)
    app.selectbox(key="trigger_app").set_value(toolkit).run()
    app.selectbox(key="trigger_event").set_value(event).run()
    return app


def test_a_trigger_needing_filters_says_so_in_the_dialog(dashboard, agent, settings):
    app = new_trigger(dashboard(), "Commits", "GitHub", "Commit Event")
    app.text_area(key="action_template").input("New commit: {commitMessage}").run()
    app.button(key="trigger_save").click().run()
    assert "Fill in Owner and Repository: this event needs them." in texts(app)
    assert stored_triggers(settings) == []
    app.text_input(key="f_owner").input("acme")
    app.text_input(key="f_repo").input("app").run()
    app.button(key="trigger_save").click().run()
    [trigger] = stored_triggers(settings)
    assert trigger.filters == {"owner": "acme", "repo": "app"}


def test_the_trigger_dialog_asks_composio_for_its_catalog_once(dashboard, agent, composio):
    app = dashboard(COMPOSIO_API_KEY="test-key", COMPOSIO_BASE_URL=composio.url)
    app.button(key="add_trigger").click().run()
    app.text_input(key="trigger_name").input("Commits").run()
    app.selectbox(key="trigger_app").set_value("GitHub").run()
    asked = [path for method, path, _ in composio.requests if path.endswith("/triggers_types")]
    assert len(asked) == 1


def test_variables_are_chips_one_name_per_value_that_insert_themselves(dashboard, agent):
    app = dashboard()
    app.button(key="add_trigger").click().run()
    offered = chips(app)
    assert offered[:3] == ["emailFrom", "emailTo", "emailSubject"]
    assert "sender" not in offered and "subject" not in offered  # {emailFrom} says them
    assert "dayOfWeek" in offered and len(offered) == len(set(offered))
    app.text_area(key="action_template").input("From").run()
    app.button(key="action_var_emailFrom").click().run()
    app.button(key="action_var_emailSubject").click().run()
    assert app.text_area(key="action_template").value == "From {emailFrom} {emailSubject}"
    assert "From Jane Doe <jane@example.com> Q4 planning doc" in texts(app)


def test_filters_have_labels_and_help_in_words_and_the_rest_folded(dashboard, agent):
    app = dashboard()
    app.button(key="add_trigger").click().run()
    label = app.text_input(key="f_labelIds")
    assert (label.label, label.help) == (
        "Label (e.g. INBOX)",
        "Only mail with this Gmail label: INBOX, IMPORTANT, STARRED or one of your own.",
    )
    [more, advanced] = app.expander
    assert (more.label, advanced.label) == ("More options", "Advanced")
    assert [w.key for w in more.number_input] == ["f_interval"]
    assert more.number_input[0].label == "Check every (minutes)"
    app.selectbox(key="trigger_app").set_value("GitHub").run()
    app.selectbox(key="trigger_event").set_value("Commit Event").run()
    keys = [w.key for w in app.text_input if (w.key or "").startswith("f_")]
    assert keys == ["f_owner", "f_repo"]
    assert app.text_input(key="f_owner").label == "Owner (e.g. octocat) (required)"


def test_number_and_yes_no_filters_are_typed(dashboard, agent, settings):
    app = new_trigger(dashboard(), "Calendar", "Google Calendar", "Calendar Event Sync")
    app.number_input(key="f_interval").set_value(30)
    app.checkbox(key="f_showDeleted").check()
    app.text_area(key="action_template").input("Changed: {eventTitle}").run()
    app.button(key="trigger_save").click().run()
    [trigger] = stored_triggers(settings)
    assert trigger.filters == {"interval": 30, "showDeleted": True}
    assert isinstance(trigger.filters["interval"], int)


def test_a_number_filter_holding_words_must_be_retyped_as_a_number(dashboard, agent, settings,
                                                                   session):  # fmt: skip
    fields = triggers.TriggerFields(agent="Assistant", event="GMAIL_NEW_GMAIL_MESSAGE", chat="x",
                                    filters={"interval": "often"})  # fmt: skip
    trigger = triggers.create_trigger(session, "Triage", fields, settings, utcnow())
    session.commit()
    before = snapshot(settings.database_url)
    app = dashboard()
    app.button(key=f"tedit_{trigger.id}").click().run()
    app.text_input(key="f_interval").input("soon").run()
    assert "Check every (minutes) must be a number, not 'soon'." in texts(app)
    app.button(key="trigger_save").click().run()
    assert snapshot(settings.database_url) == before
    app.text_input(key="f_interval").input("20").run()
    app.button(key="trigger_save").click().run()
    assert stored_triggers(settings)[0].filters == {"interval": 20}


def test_a_triggers_workflow_shows_the_events_data_as_its_input(dashboard, agent, workflow):
    app = dashboard()
    app.button(key="add_trigger").click().run()
    app.radio(key="action_kind").set_value("Run a workflow").run()
    assert "sender: Jane Doe <jane@example.com>" in texts(app)
    assert "label_ids: INBOX, UNREAD, CATEGORY_PERSONAL" in texts(app)
    assert app.get("code") == []
    app.toggle(key="trigger_input_json").set_value(True).run()
    assert '"sender": "Jane Doe <jane@example.com>"' in app.get("code")[0].value


def test_connected_apps_come_first_and_another_is_connected_from_the_dialog(
    dashboard, agent, composio, settings
):
    app = dashboard(COMPOSIO_API_KEY="test-key", COMPOSIO_BASE_URL=composio.url)
    app.button(key="add_trigger").click().run()
    app.selectbox(key="trigger_app").set_value("Slack").run()
    assert "Slack is not connected yet" in texts(app)
    app.button(key="trigger_connect_app").click().run()
    [link] = [b for b in app.get("link_button") if b.proto.label == "Sign in to Slack ↗"]
    assert link.proto.url.startswith(composio.url)
    composio.complete_sign_in("slack", "jane@example.com")
    app.button(key="trigger_signed_in").click().run()
    assert "Slack is not connected yet" not in texts(app)
    assert app.selectbox(key="trigger_app").options[0] == "Slack · connected"
    app.text_input(key="trigger_name").input("Team chat")
    app.text_area(key="action_template").input("New message: {text}").run()
    app.button(key="trigger_save").click().run()
    [trigger] = stored_triggers(settings)
    assert trigger.event.startswith("SLACK_") and trigger.composio_trigger_id


def test_without_a_composio_key_every_app_is_offered_without_asking(dashboard, agent, composio):
    app = dashboard()
    app.button(key="add_trigger").click().run()
    app.selectbox(key="trigger_app").set_value("Slack").run()
    assert "not connected yet" not in texts(app)
    assert not any(" · connected" in option for option in app.selectbox(key="trigger_app").options)
    assert [path for _, path, _ in composio.requests if "connected_accounts" in path] == []


def test_a_sign_in_link_is_only_offered_for_the_app_it_signs_in_to(dashboard, agent, composio):
    app = dashboard(COMPOSIO_API_KEY="test-key", COMPOSIO_BASE_URL=composio.url)
    app.button(key="add_trigger").click().run()
    app.selectbox(key="trigger_app").set_value("Slack").run()
    app.button(key="trigger_connect_app").click().run()
    app.selectbox(key="trigger_app").set_value("GitHub").run()
    assert [b.proto.label for b in app.get("link_button")] == []
    app.selectbox(key="trigger_app").set_value("Slack").run()
    assert [b.proto.label for b in app.get("link_button")] == ["Sign in to Slack ↗"]


def test_advanced_sets_a_triggers_own_retries_timeout_and_overlap(dashboard, agent, settings,
                                                                   session):  # fmt: skip
    trigger = triage(session, settings)
    app = dashboard()
    app.button(key=f"tedit_{trigger.id}").click().run()
    assert (
        app.selectbox(key="action_overlap").value == "Planner's default (run both at the same time)"
    )
    app.selectbox(key="action_retries").set_value("Never").run()
    app.selectbox(key="action_timeout").set_value("5 min").run()
    app.selectbox(key="action_overlap").set_value("Skip the new run").run()
    app.button(key="trigger_save").click().run()
    with read_session(settings.database_url) as db:
        saved = db.get(EventTrigger, trigger.id)
        assert (saved.max_retries, saved.timeout_seconds, saved.overlap) == (0, 300, "skip")
    app.button(key=f"tedit_{trigger.id}").click().run()  # it reopens as saved, unfolded
    [advanced] = [e for e in app.expander if e.label == "Advanced"]
    assert advanced.proto.expanded
    assert app.selectbox(key="action_timeout").value == "5 min"
    app.selectbox(key="action_retries").set_value("Planner's default (3 times)").run()
    app.button(key="trigger_save").click().run()
    with read_session(settings.database_url) as db:
        assert db.get(EventTrigger, trigger.id).max_retries is None
