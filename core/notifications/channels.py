"""Notification channels: where Planner tells someone that a job or trigger failed. Each
is an Apprise URL (email over SMTP, Slack, Discord, Telegram, Microsoft Teams, ntfy, a
plain JSON webhook, and many more), so no client of each service lives here.

A URL holds a password or token: it is stored encrypted like a pasted key and never
shown, logged or put into an error again; a channel is shown by its name and service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import apprise
import sqlalchemy as sa
from sqlmodel import Session, col, select

from core import outbound
from core.access import secrets
from core.automations.shared import (
    AUTOMATION_MODELS,
    AUTOMATION_WORDS,
    clean_name,
    ensure_unique_name,
    find,
)
from core.config import Settings
from core.errors import ValidationError
from core.notifications import sending
from core.store.models import Automation, NotificationChannel, iso

MAX_URL_CHARS = 2000
EVENTS = ("failure", "recovery", "digest")  # what a job or trigger can tell
DEFAULT_EVENTS = ["failure", "recovery"]
ERROR_CHARS = 300
CHANNEL_TABLE: sa.Table = NotificationChannel.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Sent:
    """What came of a send: `stopped` when a stop of the worker ended it (the message is
    tried again; the channel is not to blame)."""

    ok: bool
    error: str = ""
    stopped: bool = False


def _service(url: str) -> apprise.NotifyBase:
    """The Apprise service a URL names, or the refusal."""
    try:
        service = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    except Exception:  # Apprise's own parsing of a hostile URL
        service = None
    if not service:
        raise ValidationError(
            "That is not a notification address Apprise knows, such as "
            "mailtos://user:password@example.com?to=me@example.com or "
            "slack://token/#channel (see Apprise's list of services).",
            "url",
        )
    return service


def add_channel(
    session: Session, settings: Settings, name: str, url: str, now: datetime,
    every_failure: bool = True,
) -> NotificationChannel:  # fmt: skip
    """A channel; told about every failure unless `every_failure` is False, so that adding
    one is all it takes to hear of failures."""
    name = clean_name(name, "channel")
    if name.lower() in (SETTINGS_WORD, NOBODY_WORD):
        raise ValidationError(
            f"'{name}' says who is told in --notify (default: Settings' channels; none: "
            "nobody), so a channel can't be named so; choose another name.",
            "name",
        )
    url = url.strip()
    if not url:
        raise ValidationError("Give the channel's address, an Apprise URL.", "url")
    if len(url) > MAX_URL_CHARS or any(c.isspace() or not c.isprintable() for c in url):
        raise ValidationError(
            f"An address is one line without spaces, at most {MAX_URL_CHARS} characters.", "url"
        )
    service = _service(url)
    # never cloud metadata; PLANNER_OUTBOUND_ALLOW
    outbound.check_address(url, settings.outbound_allow)
    ensure_unique_name(session, NotificationChannel, name, "channel")
    channel = NotificationChannel(
        name=name, url_secret=secrets.encrypt(settings, url), kind=str(service.service_name),
        created_at=now, every_failure=every_failure,
    )  # fmt: skip
    session.add(channel)
    session.commit()
    return channel


def list_channels(session: Session) -> list[NotificationChannel]:
    return list(session.exec(select(NotificationChannel).order_by(NotificationChannel.name)))


def find_channel(session: Session, ref: str | int) -> NotificationChannel:
    return find(session, NotificationChannel, ref, "channel")


def remove_channel(session: Session, ref: str | int) -> NotificationChannel:
    """Remove a channel; jobs and triggers that told it stop doing so (its unsent
    messages go with it)."""
    channel = find_channel(session, ref)
    for automation in automations_telling(session, channel, as_settings_too=False):
        automation.notify_channel_ids = [
            i for i in automation.notify_channel_ids if i != channel.id
        ]
        session.add(automation)
    session.delete(channel)
    session.commit()
    return channel


def channel_ids(session: Session, names: list[str]) -> list[int]:
    """The channels named (by name or id), in order, each once."""
    found: list[int] = []
    for name in names:
        channel = find_channel(session, name.strip())
        if channel.id not in found:
            found.append(channel.id)
    return found


def _redacted(text: str, url: str) -> str:
    """An error without any part of the channel's URL that could be a secret."""
    parts = urlsplit(url)
    for secret in (url, parts.password, parts.username, parts.path.strip("/"), parts.query):
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text[:ERROR_CHARS]


def send(
    settings: Settings, channel: NotificationChannel, subject: str, body: str,
    deadline: float = sending.SEND_DEADLINE_SECONDS, stopping: sending.Stopping | None = None,
    kind: str = "info",
) -> Sent:  # fmt: skip
    """Send one message through the channel now, ended after `deadline` seconds however
    the service answers (core.notifications.sending: a child process), as Apprise's notify
    type `kind`. Blocking: only the worker's sender and a person's Test button call it."""
    try:
        url = secrets.decrypt(settings, channel.url_secret)
    except secrets.SecretKeyError as error:
        return Sent(False, str(error))
    tried = sending.send(url, subject, body, deadline, stopping, kind)
    if tried.ok:
        return Sent(True)
    return Sent(False, _redacted(tried.reason, url), stopped=tried.stopped)


def note_outcome(channel: NotificationChannel, sent: Sent, now: datetime) -> None:
    """The channel's state after a try: green once a message got through, red with the
    error until one does."""
    if sent.ok:
        channel.last_sent_at, channel.last_error, channel.last_error_at = now, None, None
    else:
        channel.last_error, channel.last_error_at = sent.error, now


def test_channel(
    session: Session, settings: Settings, ref: str | int, now: datetime, base_url: str = ""
) -> Sent:
    """Send a test message now and keep what came of it on the channel."""
    channel = find_channel(session, ref)
    where = f" Planner: {base_url}" if base_url else ""
    sent = send(settings, channel, "Planner: a test message",
                f"This channel ({channel.name}) works: Planner can tell you here when a job "
                f"or trigger fails.{where}")  # fmt: skip
    note_outcome(channel, sent, now)
    session.add(channel)
    session.commit()
    return sent


def channel_json(channel: NotificationChannel) -> dict[str, Any]:
    """A channel as `--json` shows it: never its URL."""
    return {
        "id": channel.id,
        "name": channel.name,
        "service": channel.kind,
        "every_failure": channel.every_failure,
        "created_at": iso(channel.created_at),
        "last_sent_at": iso(channel.last_sent_at),
        "last_error": channel.last_error,
        "last_error_at": iso(channel.last_error_at),
    }


def automations_telling(
    session: Session, channel: NotificationChannel, as_settings_too: bool = True
) -> list[Automation]:
    """The jobs, then the triggers, that tell the channel, each by name: those that chose
    it, and (`as_settings_too`) those that tell Settings' channels when it is one."""
    follows = as_settings_too and channel.every_failure
    return [
        automation
        for model in AUTOMATION_MODELS
        for automation in session.exec(select(model).order_by(col(model.name)))
        if (automation.notify_as_settings and follows)
        or (not automation.notify_as_settings and channel.id in automation.notify_channel_ids)
    ]


def in_use_by(session: Session, channel: NotificationChannel) -> list[str]:
    """The jobs and triggers that chose to tell the channel, as "job 'X'"."""
    return [
        f"{AUTOMATION_WORDS[type(automation)]} {automation.name!r}"
        for automation in automations_telling(session, channel, as_settings_too=False)
    ]


def _names(value: str | list[str]) -> list[str]:
    items = value.split(",") if isinstance(value, str) else value
    return [item.strip() for item in items if item.strip()]


@dataclass(frozen=True)
class Telling:
    """Who a job or trigger tells, and about what: Settings' channels (`as_settings`), or
    its own `channel_ids` ([] for nobody)."""

    as_settings: bool
    channel_ids: list[int]
    events: list[str]


SETTINGS_WORD = "default"  # `--notify default`: the channels Settings tells
# `--notify none`: the command line's word for nobody, which it reads as [] (core's
# "nobody", the API's too: core.automations.text.channel_names). No channel may be named
# so (add_channel); given to core as a name, it is refused with that hint (or names a
# channel made before that rule), so the API's ["none"] never mutes a job or trigger by a
# word the API does not take.
NOBODY_WORD = "none"


def told_about(events: list[str]) -> list[str]:
    """The events a job or trigger that tells someone is really told about: those it
    chose, and failures and recoveries when it chose none."""
    return list(events) or list(DEFAULT_EVENTS)


def _nobody_refused(session: Session) -> None:
    """Refuse "none" as a channel's name when no channel has it (see NOBODY_WORD)."""
    if session.exec(
        select(NotificationChannel).where(NotificationChannel.name == NOBODY_WORD)
    ).first():
        return
    raise ValidationError(
        "There is no channel named 'none'; to tell nobody, give no channel: [] in the API, "
        "--notify none on the command line.",
        "notify",
    )


def subscription(
    session: Session, automation: Automation | None, notify: str | list[str] | None,
    notify_on: str | list[str] | None,
) -> Telling:  # fmt: skip
    """Who the automation tells and when, from what was given (None keeps what it has, a
    new one telling Settings' channels; [] tells nobody; "default" Settings' channels);
    one that tells someone is told about failures and recoveries unless it says (see
    `told_about`), and its events say so."""
    as_settings = automation.notify_as_settings if automation is not None else True
    ids = list(automation.notify_channel_ids) if automation is not None else []
    events = list(automation.notify_on) if automation is not None else []
    if notify is not None:
        names = [name.lower() for name in _names(notify)]
        if not names and notify != []:  # "" or [""]: a name left out, not "nobody"
            raise ValidationError(
                "Name at least one channel ('none' for nobody, 'default' for Settings').",
                "notify",
            )
        if len(names) > 1 and {SETTINGS_WORD, NOBODY_WORD} & set(names):
            raise ValidationError(
                "Give 'default' or 'none' alone, or the names of channels.", "notify"
            )
        if names == [NOBODY_WORD]:
            _nobody_refused(session)
        as_settings = names == [SETTINGS_WORD]
        ids = [] if as_settings or not names else channel_ids(session, _names(notify))
    if notify_on is not None:
        events = _names(notify_on)
        unknown = [event for event in events if event not in EVENTS]
        if unknown:
            raise ValidationError(
                f"Tell about {unknown[0]!r}? Choose from failure, recovery and digest.",
                "notify_on",
            )
    if ids or as_settings:
        events = told_about(events)
    return Telling(as_settings, ids, [event for event in EVENTS if event in events])


def tell(automation: Automation, telling: Telling) -> None:
    """Keep who the automation tells on it."""
    automation.notify_as_settings = telling.as_settings
    automation.notify_channel_ids, automation.notify_on = telling.channel_ids, telling.events


def every_failure_ids(connection: sa.Connection) -> list[int]:
    """The channels Settings tells about every failure ("Tell me when anything fails")."""
    query = sa.select(CHANNEL_TABLE.c.id).where(CHANNEL_TABLE.c.every_failure.is_(True))
    return list(connection.execute(query.order_by(CHANNEL_TABLE.c.id)).scalars())


def set_every_failure(session: Session, ref: str | int, told: bool) -> NotificationChannel:
    """Whether the channel is told about every failure (of jobs and triggers that did not
    choose their own channels)."""
    channel = find_channel(session, ref)
    channel.every_failure = told
    session.add(channel)
    session.commit()
    return channel
