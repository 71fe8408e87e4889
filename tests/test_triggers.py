"""Event triggers kept in step with Composio (the real SDK against a local fake API)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.automations import text, triggers
from core.automations.shared import list_owned
from core.automations.triggers import TriggerFields
from core.composio import client
from core.composio.client import ComposioError
from core.errors import NotFoundError, ValidationError
from core.store.models import EventTrigger
from support.stored import snapshot

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
TRIAGE = TriggerFields(
    agent="Assistant", event="GMAIL_NEW_GMAIL_MESSAGE", filters={"labelIds": "INBOX"},
    user_id="user-42", chat="New email from {emailFrom}: {emailSubject}.",
)  # fmt: skip


def writes(composio) -> list[tuple[str, str]]:
    return [(method, path) for method, path, _ in composio.requests if method != "GET"]


def test_creating_registers_with_composio_and_stores_the_instance(session, agent, connected,
                                                                  composio):  # fmt: skip
    trigger = triggers.create_trigger(session, "Email triage", TRIAGE, connected, NOW)

    assert trigger.composio_trigger_id == "ti_0001"
    assert (trigger.sync_state, trigger.health, trigger.toolkit) == ("registered", "green", "GMAIL")
    instance = composio.instances["ti_0001"]
    assert instance["slug"] == "GMAIL_NEW_GMAIL_MESSAGE"
    assert instance["user_id"] == "user-42"
    assert instance["trigger_config"] == {"labelIds": "INBOX"}
    shown = triggers.trigger_json(trigger)
    assert {"id", "agent_id", "name", "event", "toolkit", "filters", "action", "config", "status",
            "health", "composio_trigger_id", "sync_state", "sync_error",
            "last_fired_at"} <= set(shown)  # fmt: skip


def test_without_an_api_key_a_trigger_is_kept_local_and_yellow(session, agent, settings):
    trigger = triggers.create_trigger(session, "Email triage", TRIAGE, settings, NOW)
    assert (trigger.sync_state, trigger.composio_trigger_id, trigger.health) == (
        "local", None, "yellow"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "failure", "message"),
    [
        (TriggerFields(agent="Assistant", event="NOT_A_TRIGGER", chat="hi"), None, "not found"),
        (TRIAGE, (400, "Invalid trigger config: labelIds"), "Invalid trigger config"),
        (TRIAGE, (503, "Service unavailable"), "Service unavailable"),
    ],
)
def test_composio_refusing_saves_nothing_and_says_why(session, agent, connected, composio,
                                                      fields, failure, message):  # fmt: skip
    before = snapshot(connected.database_url)
    if failure:
        composio.fail(*failure)
    with pytest.raises(ComposioError, match=message):
        triggers.create_trigger(session, "T", fields, connected, NOW)
    session.rollback()
    assert snapshot(connected.database_url) == before
    assert composio.instances == {}


def test_composio_unreachable_saves_nothing(session, agent, connected, composio):
    composio.stop()
    with pytest.raises(ComposioError, match="Could not reach Composio"):
        triggers.create_trigger(session, "T", TRIAGE, connected, NOW)
    session.rollback()
    assert session.exec(EventTrigger.__table__.select()).all() == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (TriggerFields(agent="Assistant", event="GITHUB_COMMIT_EVENT", chat="x"),
         r"Fill in Owner \(owner\), Repository \(repo\): this event needs them\."),
        (TriggerFields(agent="Assistant", event="GMAIL_NEW_GMAIL_MESSAGE",
                       filters={"labelIds": ["INBOX", float("inf")]}, chat="x"),
         "not valid JSON for the filters: Infinity is not a number JSON allows"),
        (TriggerFields(agent="Assistant", event="GMAIL_NEW_GMAIL_MESSAGE",
                       filters={"interval": 1}, chat="x"),
         "Check every .minutes. must be 15 or more: Composio checks for new events at most "
         "once every 15 minutes"),
        (TriggerFields(agent="Assistant", event="GMAIL_NEW_GMAIL_MESSAGE", chat=""),
         "chat message is empty"),
        (TriggerFields(agent="Nobody", event="GMAIL_NEW_GMAIL_MESSAGE", chat="x"),
         "no agent named"),
        (TriggerFields(agent="Assistant", event="GMAIL_NEW_GMAIL_MESSAGE", workflow="nope"),
         "no workflow named"),
        (TriggerFields(agent="Assistant", event="", chat="x"), "Choose the event"),
    ],
)  # fmt: skip
def test_bad_triggers_are_refused_before_composio_is_asked(session, agent, connected, composio,
                                                          fields, message):  # fmt: skip
    with pytest.raises((ValidationError, NotFoundError), match=message):
        triggers.create_trigger(session, "T", fields, connected, NOW)
    assert writes(composio) == []


def test_filters_are_read_from_json_text():
    assert text.read("filters", ' {"labelIds": "INBOX"} ') == {"labelIds": "INBOX"}
    assert text.read("filters", "") == {}
    with pytest.raises(ValidationError, match="not valid JSON for the filters"):
        text.read("filters", "{bad")


def test_unknown_events_are_refused_offline(session, agent, settings):
    fields = TriggerFields(agent="Assistant", event="GMAIL_NEW_CARRIER_PIGEON", chat="x")
    with pytest.raises(ValidationError, match="not an event Planner knows"):
        triggers.create_trigger(session, "T", fields, settings, NOW)


def test_new_filters_register_a_new_instance_first_then_delete_the_old(
    session, agent, connected, composio
):
    triggers.create_trigger(session, "Email triage", TRIAGE, connected, NOW)
    composio.requests.clear()

    updated = triggers.update_trigger(
        session, "Email triage", TriggerFields(filters={"labelIds": "IMPORTANT"}), connected, NOW
    )

    assert updated.composio_trigger_id == "ti_0002"
    assert writes(composio) == [
        ("POST", "/api/v3.1/trigger_instances/GMAIL_NEW_GMAIL_MESSAGE/upsert"),
        ("DELETE", "/api/v3.1/trigger_instances/manage/ti_0001"),
    ]
    assert list(composio.instances) == ["ti_0002"]


def test_renaming_or_a_new_template_does_not_touch_composio(session, agent, connected, composio):
    triggers.create_trigger(session, "Email triage", TRIAGE, connected, NOW)
    composio.requests.clear()
    changed = TriggerFields(name="Triage", chat="From {emailFrom}")
    updated = triggers.update_trigger(session, "Email triage", changed, connected, NOW)
    assert (updated.name, updated.config["template"]) == ("Triage", "From {emailFrom}")
    assert writes(composio) == []


def test_a_failed_re_registration_leaves_the_trigger_unchanged(session, agent, connected,
                                                               composio):  # fmt: skip
    triggers.create_trigger(session, "Email triage", TRIAGE, connected, NOW)
    before = snapshot(connected.database_url)
    composio.fail(400, "Invalid trigger config")
    with pytest.raises(ComposioError, match="Invalid trigger config"):
        triggers.update_trigger(session, "Email triage", TriggerFields(filters={"query": "x"}),
                                connected, NOW)  # fmt: skip
    session.rollback()
    assert snapshot(connected.database_url) == before
    assert list(composio.instances) == ["ti_0001"]


def test_pause_and_resume_disable_and_enable_it_in_composio(session, agent, connected, composio):
    triggers.create_trigger(session, "Email triage", TRIAGE, connected, NOW)
    paused = triggers.pause_trigger(session, "Email triage", connected, NOW)
    assert (paused.status, paused.health) == ("paused", "yellow")
    assert composio.instances["ti_0001"]["status"] == "disabled"
    resumed = triggers.resume_trigger(session, "Email triage", connected, NOW)
    assert resumed.status == "active"
    assert composio.instances["ti_0001"]["status"] == "enabled"


def test_a_composio_failure_on_pause_changes_nothing(session, agent, connected, composio):
    triggers.create_trigger(session, "Email triage", TRIAGE, connected, NOW)
    composio.fail(500, "Internal error")
    with pytest.raises(ComposioError, match="Internal error"):
        triggers.pause_trigger(session, "Email triage", connected, NOW)
    session.rollback()
    assert triggers.find_trigger(session, "Email triage").status == "active"


def test_delete_removes_it_from_composio_then_here(session, agent, connected, composio):
    triggers.create_trigger(session, "Email triage", TRIAGE, connected, NOW)
    triggers.delete_trigger(session, "Email triage", connected)
    assert composio.instances == {}
    assert list_owned(session, EventTrigger) == []


def test_delete_counts_an_instance_composio_no_longer_has_as_gone(session, agent, connected,
                                                                  composio):  # fmt: skip
    triggers.create_trigger(session, "Email triage", TRIAGE, connected, NOW)
    composio.instances.clear()
    triggers.delete_trigger(session, "Email triage", connected)
    assert list_owned(session, EventTrigger) == []


def test_a_registered_trigger_is_not_deleted_without_a_key_to_remove_it_at_composio(
    session, agent, settings, connected, composio
):
    triggers.create_trigger(session, "Email triage", TRIAGE, connected, NOW)
    before = snapshot(settings.database_url)
    with pytest.raises(ValidationError, match="Add the key on Settings first, then delete it"):
        triggers.delete_trigger(session, "Email triage", settings)
    assert snapshot(settings.database_url) == before and len(composio.instances) == 1


def test_a_composio_failure_on_delete_keeps_the_trigger(session, agent, connected, composio):
    triggers.create_trigger(session, "Email triage", TRIAGE, connected, NOW)
    composio.fail(500, "Internal error")
    with pytest.raises(ComposioError):
        triggers.delete_trigger(session, "Email triage", connected)
    session.rollback()
    assert [t.name for t in list_owned(session, EventTrigger)] == ["Email triage"]


def test_connect_sets_the_webhook_subscription_to_the_public_url(connected, composio):
    first = client.connect_webhook(connected)
    assert first["webhook_url"] == "https://planner.example.com/webhooks/composio"
    assert first["secret"] == "whsec_fake_secret"
    assert composio.subscription["enabled_events"] == list(client.SUBSCRIBED_EVENTS)
    again = client.connect_webhook(connected)
    assert again["id"] == first["id"]
    assert [m for m, p, _ in composio.requests if "webhook_subscriptions" in p] == [
        "GET", "POST", "GET", "PATCH"
    ]  # fmt: skip


def test_the_catalog_comes_from_composio_with_a_key_and_offline_without(settings, connected):
    live = triggers.catalog(connected, "gmail")
    offline = triggers.catalog(settings, "gmail")
    assert [t.slug for t in live] == [t.slug for t in offline] == ["GMAIL_NEW_GMAIL_MESSAGE"]
    assert live[0].variables[:2] == ["emailFrom", "emailTo"]
    assert "subject" in live[0].variables and "labelIds" in [f.name for f in live[0].config_fields]
    assert len(triggers.catalog(settings)) == 94


def composio_disabled(session, name: str, composio) -> None:
    """What a `composio.trigger.disabled` event leaves: the instance off there, red here."""
    trigger = triggers.find_trigger(session, name)
    composio.instances[trigger.composio_trigger_id]["status"] = "disabled"
    trigger.sync_state, trigger.sync_error = "error", "Composio disabled this trigger."
    session.add(trigger)
    session.commit()


def test_a_trigger_composio_disabled_is_green_again_once_resumed(session, agent, connected,
                                                                 composio):  # fmt: skip
    triggers.create_trigger(session, "Email triage", TRIAGE, connected, NOW)
    composio_disabled(session, "Email triage", composio)
    assert triggers.find_trigger(session, "Email triage").health == "red"

    resumed = triggers.resume_trigger(session, "Email triage", connected, NOW)

    assert (resumed.health, resumed.sync_state, resumed.sync_error) == ("green", "registered", None)
    assert composio.instances["ti_0001"]["status"] == "enabled"


def test_a_refused_re_enable_keeps_it_red(session, agent, connected, composio):
    triggers.create_trigger(session, "Email triage", TRIAGE, connected, NOW)
    composio_disabled(session, "Email triage", composio)
    composio.fail(400, "Connected account expired")
    with pytest.raises(ComposioError, match="Connected account expired"):
        triggers.resume_trigger(session, "Email triage", connected, NOW)
    session.rollback()
    assert triggers.find_trigger(session, "Email triage").health == "red"


def test_a_local_trigger_is_registered_later_by_sync(session, agent, settings, connected,
                                                     composio):  # fmt: skip
    triggers.create_trigger(session, "Email triage", TRIAGE, settings, NOW)
    triggers.pause_trigger(session, "Email triage", settings, NOW)
    with pytest.raises(ValidationError, match="no Composio API key"):
        triggers.sync_trigger(session, "Email triage", settings, NOW)

    synced = triggers.sync_trigger(session, "Email triage", connected, NOW)

    assert (synced.sync_state, synced.composio_trigger_id) == ("registered", "ti_0001")
    assert composio.instances["ti_0001"]["trigger_config"] == {"labelIds": "INBOX"}
    assert composio.instances["ti_0001"]["status"] == "disabled"  # it is paused here
    composio.requests.clear()
    triggers.sync_trigger(session, "Email triage", connected, NOW)
    assert writes(composio) == []
