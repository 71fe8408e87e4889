"""`planner triggers|events|composio`: event triggers, the webhook inbox, Composio."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sqlmodel import Session

from cli.fields import given_fields
from cli.output import emit, lines, read_secret, run_started, task_queue
from core.access import credentials
from core.automations import triggers
from core.automations.shared import list_owned
from core.composio import setup
from core.config import Settings
from core.errors import ValidationError
from core.events import inbox
from core.running.runs import run_json
from core.store.db import read_session
from core.store.db import session as open_session
from core.store.models import EventTrigger, utcnow
from core.views import events


def _trigger_line(trigger: dict[str, Any]) -> str:
    sync = trigger["sync_state"] + (f": {trigger['sync_error']}" if trigger["sync_error"] else "")
    return (
        f"{trigger['id']:>4}  {trigger['name']}  [{trigger['status']}, {trigger['health']}, "
        f"{sync}]  {trigger['event']}  last fired: {trigger['last_fired_at'] or '—'}"
    )


def _payload(path: str | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ValidationError(f"Cannot read --payload {path!r}: {error.strerror}.") from None
    except UnicodeDecodeError:
        raise ValidationError(f"--payload {path!r} is not UTF-8 text (JSON is).") from None
    return inbox.read_payload(text)


def cmd_triggers(args: argparse.Namespace, settings: Settings) -> None:
    now = utcnow()
    with open_session(settings.database_url) as session:
        settings = credentials.effective_settings(session, settings)
        if args.action == "list":
            found = [
                triggers.trigger_json(t) for t in list_owned(session, EventTrigger, args.agent)
            ]
            empty = "No triggers yet: add one with 'planner triggers add NAME ...'."
            emit(args, found, lambda: lines(found, _trigger_line, empty))
            return
        if args.action == "rm":
            triggers.delete_trigger(session, args.trigger, settings)
            print(f"Deleted trigger {args.trigger}.")
            return
        if args.action == "test":
            payload = _payload(args.payload)
            name = triggers.find_trigger(session, args.trigger).name
            run = inbox.fire_test_event(session, settings, args.trigger, task_queue(), now, payload)
            shown = run_json(run)
            emit(args, shown, lambda: run_started(shown, "trigger", name))
            return
        if args.action == "add":
            fields = given_fields(args, triggers.TriggerFields)
            trigger = triggers.create_trigger(session, args.name, fields, settings, now)
        elif args.action == "update":
            fields = given_fields(args, triggers.TriggerFields)
            trigger = triggers.update_trigger(session, args.trigger, fields, settings, now)
        elif args.action == "pause":
            trigger = triggers.pause_trigger(session, args.trigger, settings, now)
        elif args.action == "resume":
            trigger = triggers.resume_trigger(session, args.trigger, settings, now)
        elif args.action == "sync":
            trigger = triggers.sync_trigger(session, args.trigger, settings, now)
        else:
            trigger = triggers.find_trigger(session, args.trigger)
        shown = triggers.trigger_json(trigger)
        emit(args, shown, lambda: _trigger_line(shown))


def _event_line(event: dict[str, Any]) -> str:
    return (
        f"{event['received_at']}  {event['id']}  {event['trigger_slug'] or event['type']}  "
        f"[{event['status']}]  {event['note'] or ''}"
    ).rstrip()


def cmd_events(args: argparse.Namespace, settings: Settings) -> None:
    if args.action == "replay":
        with open_session(settings.database_url) as session:
            copy = inbox.replay_event(session, args.event_id, task_queue(), utcnow())
            shown = events.event_json(session, copy)
        emit(args, shown, lambda: copy.id)
        return
    with read_session(settings.database_url) as session:
        found = [events.event_json(session, e) for e in events.list_events(session, args.status,
                                                                          args.limit)]  # fmt: skip
    emit(args, found, lambda: lines(found, _event_line, "The inbox is empty."))


def _connected_text(connection: setup.Connection) -> str:
    warning = [f"Warning: {connection.warning}"] if connection.warning else []
    return "\n".join([connection.in_words(), *warning])


def _apps_text(found: list[setup.AppConnection]) -> str:
    empty = "No apps connected yet: connect one with 'planner composio link gmail'."
    return "\n".join(app.in_words() for app in found) if found else empty


def _store_key(args: argparse.Namespace, session: Session, settings: Settings) -> None:
    """`planner composio key [--remove]`: the Composio API key from standard input, checked
    with Composio and stored encrypted, as the Settings page does."""
    if args.remove:
        setup.forget_api_key(session)
        print("Forgot the stored Composio API key.")
        return
    setup.save_api_key(session, settings, read_secret("Composio API key"))
    print("Composio API key saved (encrypted). Next: 'planner composio connect'.")


def cmd_composio(args: argparse.Namespace, settings: Settings) -> None:
    with open_session(settings.database_url) as session:
        if args.action == "key":
            _store_key(args, session, settings)
            return
        if args.action == "connect":
            connection = setup.connect(session, settings)
            emit(args, connection.as_json(), lambda: _connected_text(connection))
            return
        settings = credentials.effective_settings(session, settings)
    if args.action == "accounts":
        found = setup.app_connections(settings, every_common_app=False)
        shown = [setup.account_json(a) for app in found for a in app.accounts]
        emit(args, shown, lambda: _apps_text(found))
    elif args.action == "link":
        sign_in = setup.start_sign_in(settings, args.toolkit)
        emit(args, vars(sign_in), lambda: (
            f"Open this link to connect {sign_in.app}:\n{sign_in.url}"
        ))  # fmt: skip
    elif args.action == "disconnect":
        name, removed = setup.disconnect(settings, args.toolkit)
        emit(args, {"app": name, "removed": removed}, lambda: f"Disconnected {name}.")
    else:
        found = [t.as_json() for t in triggers.catalog(settings, args.toolkit)]
        emit(args, found, lambda: lines(
            found, lambda t: f"{t['slug']}  {t['toolkit_name']} · {t['name']}", "No such events."
        ))  # fmt: skip
