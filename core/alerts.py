"""Telling people: who is told about a job or trigger and when ("failure", "recovery",
"digest"), the messages, and the outbox the worker sends them from.

A failure is told once, when a job or trigger starts failing (after its retries), not
again while it keeps failing; its recovery is told when a run succeeds again. Messages
are written to the outbox in the transaction that records the run's outcome, so none is
lost, and sent by the worker within a minute, each tried up to MAX_ATTEMPTS times with a
longer wait each time; sending never holds up a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core import channels
from core.config import Settings
from core.db import session as open_session
from core.models import (
    ActionOwner,
    Notification,
    NotificationChannel,
    Run,
    RunStatus,
    ScheduledJob,
)
from core.overview import local_time
from core.owners import OWNER_WORDS, card_link, owner_column
from core.schedule import zone
from core.words import error_in_words

DIGEST_AT = time(9, 0)  # each morning, on PLANNER_TIMEZONE's clock
MAX_ATTEMPTS = 5
SENDING_LEASE = timedelta(minutes=2)  # a sender that died lets another try after this
FIRST_RETRY = timedelta(minutes=1)
BATCH = 50
NOTIFICATION_TABLE: sa.Table = Notification.__table__  # type: ignore[assignment]
CHANNEL_TABLE: sa.Table = NotificationChannel.__table__  # type: ignore[assignment]


def _message(
    owner: Any, model: type[ActionOwner], outcome: str, when: datetime, settings: Settings,
    failed: bool,
) -> tuple[str, str]:  # fmt: skip
    """What a failure or a recovery says: what, when, why in plain words, where to look."""
    clock = owner.timezone if model is ScheduledJob else settings.timezone
    at = local_time(when, clock, when)
    what = f"{OWNER_WORDS[model].capitalize()} {owner.name}"
    if failed:
        reason = error_in_words(outcome.removeprefix("failed: "))
        subject, lines = f"Planner: {owner.name} failed", [
            f"{what} failed at {at}, after its retries.", f"What went wrong: {reason}"
        ]  # fmt: skip
    else:
        subject, lines = f"Planner: {owner.name} works again", [
            f"{what} succeeded at {at}, after failing before."
        ]  # fmt: skip
    link = card_link(settings.public_base_url, model, owner.key)
    if link:
        lines.append(f"Open it in Planner: {link}")
    return subject, "\n".join(lines)


def queue_alerts(
    connection: sa.Connection, settings: Settings, model: type[ActionOwner],
    finished: Sequence[dict[str, Any]], now: datetime,
) -> int:  # fmt: skip
    """In the recording transaction: the messages a batch of finished runs makes their
    owners send (a failure told once, a recovery), and each owner's new alerting state.
    `finished` holds the rows core.outcomes wrote (owner, outcome, succeeded)."""
    table: sa.Table = model.__table__  # type: ignore[attr-defined]
    ids = sorted({row["owner"] for row in finished})
    columns = ["id", "key", "name", "notify_channel_ids", "notify_on", "alerting"]
    columns += ["timezone"] if model is ScheduledJob else []
    read = sa.select(*(table.c[name] for name in columns)).where(table.c.id.in_(ids))
    owners = {row.id: row for row in connection.execute(read).all() if row.notify_channel_ids}
    alerting = {owner_id: owner.alerting for owner_id, owner in owners.items()}
    messages, states = [], []
    for row in finished:
        owner = owners.get(row["owner"])
        failed = not row["succeeded"]
        if owner is None or failed == alerting[owner.id]:
            continue
        if ("failure" if failed else "recovery") in owner.notify_on:
            subject, body = _message(owner, model, row["outcome"], now, settings, failed)
            messages += [
                {"channel_id": channel, "subject": subject, "body": body, "created_at": now,
                 "due_at": now, "attempts": 0}
                for channel in owner.notify_channel_ids
            ]  # fmt: skip
        states.append({"owner": owner.id, "alerting": failed})
        alerting[owner.id] = failed
    if states:
        connection.execute(
            table.update()
            .where(table.c.id == sa.bindparam("owner"))
            .values(alerting=sa.bindparam("alerting")),
            states,
        )
    if messages:
        known = set(connection.execute(sa.select(NotificationChannel.id)).scalars())
        messages = [m for m in messages if m["channel_id"] in known]
        if messages:
            connection.execute(NOTIFICATION_TABLE.insert(), messages)
    return len(messages)


def make_digests(session: Session, settings: Settings, now: datetime) -> int:
    """Once a day, after DIGEST_AT on PLANNER_TIMEZONE's clock: to each channel, how the
    jobs and triggers that asked for a digest did in the last 24 hours."""
    local = now.astimezone(zone(settings.timezone))
    if local.time() < DIGEST_AT:
        return 0
    made = 0
    today = local.date()
    for channel in channels.list_channels(session):
        # taken with a conditional update: of several workers, one makes the day's digest
        claimed = (
            session.connection()
            .execute(
                CHANNEL_TABLE.update()
                .where(
                    CHANNEL_TABLE.c.id == channel.id,
                    sa.or_(
                        CHANNEL_TABLE.c.digest_sent_on.is_(None),
                        CHANNEL_TABLE.c.digest_sent_on != today,
                    ),
                )
                .values(digest_sent_on=today)
            )
            .rowcount
        )
        if not claimed:
            continue
        lines = _digest_lines(session, channel.id, now)
        if lines:
            session.add(Notification(
                channel_id=channel.id, subject=f"Planner: the day's runs ({local:%a %d %b})",
                body="\n".join(lines), created_at=now, due_at=now,
            ))  # fmt: skip
            made += 1
    session.commit()
    return made


def _digest_lines(session: Session, channel_id: int, now: datetime) -> list[str]:
    lines = []
    for owner in channels.owners_telling(session, channel_id):
        if "digest" not in owner.notify_on:
            continue
        counts = dict(
            session.exec(
                select(Run.status, sa.func.count())
                .where(
                    owner_column(type(owner)) == owner.id,
                    col(Run.created_at) > now - timedelta(days=1),
                )
                .group_by(Run.status)
            ).all()
        )
        ok, failed = counts.get(RunStatus.succeeded, 0), counts.get(RunStatus.failed, 0)
        state = "failing" if owner.consecutive_failures else "fine"
        what = OWNER_WORDS[type(owner)].capitalize()
        lines.append(f"{what} {owner.name}: {ok} succeeded, {failed} failed — {state}.")
    return lines


def deliver(settings: Settings, now: datetime) -> int:
    """The worker's minute: the day's digests once it is time, then the outbox's messages
    that are due (beside the tick, so a slow mail server never holds it up)."""
    with open_session(settings.database_url) as session:
        make_digests(session, settings, now)
    return send_due(settings, now)


def send_due(settings: Settings, now: datetime) -> int:
    """Send the outbox's messages that are due, each claimed first (a sender that dies
    leaves it to another after SENDING_LEASE); returns how many got through."""
    with open_session(settings.database_url) as session:
        due = session.exec(
            select(Notification.id)
            .where(
                col(Notification.sent_at).is_(None),
                col(Notification.gave_up_at).is_(None),
                col(Notification.due_at) <= now,
            )
            .order_by(col(Notification.due_at))
            .limit(BATCH)
        ).all()
    return sum(_send_one(settings, message_id, now) for message_id in due)


def _send_one(settings: Settings, message_id: int, now: datetime) -> bool:
    with open_session(settings.database_url) as session:
        claimed = (
            session.connection()
            .execute(
                NOTIFICATION_TABLE.update()
                .where(
                    NOTIFICATION_TABLE.c.id == message_id,
                    NOTIFICATION_TABLE.c.sent_at.is_(None),
                    NOTIFICATION_TABLE.c.due_at <= now,
                )
                .values(due_at=now + SENDING_LEASE, attempts=NOTIFICATION_TABLE.c.attempts + 1)
            )
            .rowcount
        )
        session.commit()
        message = session.get(Notification, message_id) if claimed else None
        channel = session.get(NotificationChannel, message.channel_id) if message else None
    if message is None or channel is None:
        return False
    sent = channels.send(settings, channel, message.subject, message.body)
    with open_session(settings.database_url) as session:
        message, channel = session.merge(message), session.merge(channel)
        channels.note_outcome(channel, sent, now)
        if sent.ok:
            message.sent_at, message.error = now, None
        elif message.attempts >= MAX_ATTEMPTS:
            message.gave_up_at, message.error = now, sent.error
        else:
            message.error = sent.error
            message.due_at = now + FIRST_RETRY * 2 ** (message.attempts - 1)
        session.add_all([message, channel])
        session.commit()
    return sent.ok
