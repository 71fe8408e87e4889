"""Telling people: who is told about a job or trigger and when ("failure", "recovery",
"digest"), the messages, and the outbox the worker sends them from.

A failure is told once, when a job or trigger starts failing (after its retries), not
again while it keeps failing; its recovery is told when a run succeeds again. Messages
are written to the outbox in the transaction that records the run's outcome, so none is
lost, and sent by the worker at once, each tried up to MAX_ATTEMPTS times with a longer
wait each time; sending never holds up a run. Each send ends after
SEND_DEADLINE_SECONDS however the service answers, and channels are sent to at the same
time, so a slow one never delays another; a channel's own messages keep their order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, time, timedelta
from time import monotonic
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.automations.shared import AUTOMATION_WORDS, automation_column, card_link
from core.config import Settings
from core.notifications import channels
from core.notifications.sending import SEND_DEADLINE_SECONDS, Stopping
from core.scheduling.occurrences import zone
from core.store.db import session as open_session
from core.store.models import (
    Automation,
    Notification,
    NotificationChannel,
    Run,
    RunStatus,
    ScheduledJob,
)
from core.views.overview import local_time
from core.views.words import error_in_words

DIGEST_AT = time(9, 0)  # each morning, on PLANNER_TIMEZONE's clock
MAX_ATTEMPTS = 5
# Channels sent to at the same time by one process: each send is a child process of about
# 50 MB while it lasts (core.notifications.sending),
# so a burst to many channels stays within memory.
CHANNELS_AT_ONCE = 8
SENDING_LEASE = timedelta(minutes=2)  # a sender that died lets another try after this
FIRST_RETRY = timedelta(minutes=1)
BATCH = 50
NOTIFICATION_TABLE: sa.Table = Notification.__table__  # type: ignore[assignment]


# How the subject of a failure and of a recovery ends ("Planner: Briefing failed"). The
# outbox keeps a message's subject and body only, so the sender tells Apprise's notify type
# (a service's colour or icon: red, green) by it; whatever the name, the ending is ours.
FAILED_ENDING, RECOVERED_ENDING = " failed", " works again"


def notify_type(subject: str) -> str:
    """Apprise's notify type of a message Planner made: "failure" for a failure,
    "success" for a recovery, "info" for the rest (a digest, a test)."""
    if subject.endswith(FAILED_ENDING):
        return "failure"
    return "success" if subject.endswith(RECOVERED_ENDING) else "info"


def _tries_in_words(tries: int) -> str:
    """ ", after 3 tries" once it was tried again; nothing when it was tried once."""
    return f", after {tries} tries" if tries > 1 else ""


def _message(
    automation: Any, model: type[Automation], finished: dict[str, Any], when: datetime,
    settings: Settings,
) -> tuple[str, str]:  # fmt: skip
    """What a failure or a recovery says: what, when, why in plain words, where to look."""
    clock = automation.timezone if model is ScheduledJob else settings.timezone
    at = local_time(when, clock, when)
    what = f"{AUTOMATION_WORDS[model].capitalize()} {automation.name}"
    if not finished["succeeded"]:
        reason = error_in_words(finished["outcome"].removeprefix("failed: "))
        tries = _tries_in_words(finished.get("tries", 1))
        subject, lines = f"Planner: {automation.name}{FAILED_ENDING}", [
            f"{what} failed at {at}{tries}.", f"What went wrong: {reason}"
        ]  # fmt: skip
    else:
        subject, lines = f"Planner: {automation.name}{RECOVERED_ENDING}", [
            f"{what} succeeded at {at}, after failing before."
        ]  # fmt: skip
    link = card_link(settings.public_base_url, model, automation.key)
    if link:
        lines.append(f"Open it in Planner: {link}")
    return subject, "\n".join(lines)


def queue_alerts(
    connection: sa.Connection, settings: Settings, model: type[Automation],
    finished: Sequence[dict[str, Any]], now: datetime,
) -> int:  # fmt: skip
    """In the recording transaction: the messages a batch of finished runs makes their
    automations send (a failure told once, a recovery), and each automation's new alerting
    state. `finished` holds the rows core.running.outcomes wrote (automation, outcome,
    succeeded, tries). An automation that chose no channels of its own tells Settings'
    (those told about every failure)."""
    table: sa.Table = model.__table__  # type: ignore[attr-defined]
    ids = sorted({row["automation"] for row in finished})
    columns = ["id", "key", "name", "notify_as_settings", "notify_channel_ids", "notify_on"]
    columns += ["alerting"] + (["timezone"] if model is ScheduledJob else [])
    read = sa.select(*(table.c[name] for name in columns)).where(table.c.id.in_(ids))
    rows = connection.execute(read).all()
    was_alerting = {row.id: row.alerting for row in rows}
    if all((not f["succeeded"]) == was_alerting.get(f["automation"]) for f in finished):
        return 0  # no automation starts or stops failing (most batches): nothing to tell
    settings_channels = (
        channels.every_failure_ids(connection) if any(r.notify_as_settings for r in rows) else []
    )
    told = {
        row.id: settings_channels if row.notify_as_settings else row.notify_channel_ids
        for row in rows
    }
    automations = {row.id: row for row in rows if told[row.id]}
    alerting = {
        automation_id: automation.alerting for automation_id, automation in automations.items()
    }
    messages, states = [], []
    for row in finished:
        automation = automations.get(row["automation"])
        failed = not row["succeeded"]
        if automation is None or failed == alerting[automation.id]:
            continue
        events = channels.told_about(automation.notify_on)
        if ("failure" if failed else "recovery") in events:
            subject, body = _message(automation, model, row, now, settings)
            messages += [
                {"channel_id": channel, "subject": subject, "body": body, "created_at": now,
                 "due_at": now, "attempts": 0}
                for channel in told[automation.id]
            ]  # fmt: skip
        states.append({"automation": automation.id, "alerting": failed})
        alerting[automation.id] = failed
    if states:
        connection.execute(
            table.update()
            .where(table.c.id == sa.bindparam("automation"))
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
                channels.CHANNEL_TABLE.update()
                .where(
                    channels.CHANNEL_TABLE.c.id == channel.id,
                    sa.or_(
                        channels.CHANNEL_TABLE.c.digest_sent_on.is_(None),
                        channels.CHANNEL_TABLE.c.digest_sent_on != today,
                    ),
                )
                .values(digest_sent_on=today)
            )
            .rowcount
        )
        if not claimed:
            continue
        lines = _digest_lines(session, channel, now)
        if lines:
            session.add(Notification(
                channel_id=channel.id, subject=f"Planner: the day's runs ({local:%a %d %b})",
                body="\n".join(lines), created_at=now, due_at=now,
            ))  # fmt: skip
            made += 1
    session.commit()
    return made


def _digest_lines(session: Session, channel: NotificationChannel, now: datetime) -> list[str]:
    lines = []
    for automation in channels.automations_telling(session, channel):
        if "digest" not in automation.notify_on:
            continue
        counts = dict(
            session.exec(
                select(Run.status, sa.func.count())
                .where(
                    automation_column(type(automation)) == automation.id,
                    col(Run.created_at) > now - timedelta(days=1),
                )
                .group_by(Run.status)
            ).all()
        )
        ok, failed = counts.get(RunStatus.succeeded, 0), counts.get(RunStatus.failed, 0)
        state = "failing" if automation.consecutive_failures else "fine"
        what = AUTOMATION_WORDS[type(automation)].capitalize()
        lines.append(f"{what} {automation.name}: {ok} succeeded, {failed} failed — {state}.")
    return lines


def deliver(
    settings: Settings, now: datetime, deadline: float = SEND_DEADLINE_SECONDS,
    stopping: Stopping | None = None,
) -> int:  # fmt: skip
    """The worker's minute: the day's digests once it is time, then the outbox's messages
    that are due (worker.outbox runs it beside the tick, so a slow channel never holds the
    worker up)."""
    with open_session(settings.database_url) as session:
        make_digests(session, settings, now)
    return send_due(settings, now, deadline, stopping)


def send_due(
    settings: Settings, now: datetime, deadline: float = SEND_DEADLINE_SECONDS,
    stopping: Stopping | None = None,
) -> int:  # fmt: skip
    """Send the outbox's messages that are due; returns how many got through.

    Channels are sent to at the same time (up to CHANNELS_AT_ONCE), so a slow one never
    delays another; each send ends after `deadline` seconds (core.notifications.sending). A
    channel's
    messages go one after another in the order they were made: one is sent only once
    every earlier one to that channel got through or was given up, and a channel's turn
    in this round ends at its first failure (its next message waits for the retry). Each
    message is claimed first (a sender that dies leaves it to another after
    SENDING_LEASE); once `stopping` is asked, no new send starts."""
    started = monotonic()

    def clock() -> datetime:  # `now`, moved on as this round takes its time
        return now + timedelta(seconds=monotonic() - started)

    lanes = _due_by_channel(settings, now)
    if not lanes:
        return 0
    with ThreadPoolExecutor(min(len(lanes), CHANNELS_AT_ONCE), "send") as senders:
        done = senders.map(
            lambda ids: _send_in_order(settings, ids, clock, deadline, stopping), lanes
        )
        return sum(done)


def _due_by_channel(settings: Settings, now: datetime) -> list[list[int]]:
    """Per channel, the messages that may be sent now, in order: those waiting, oldest
    first, up to the first that is not due (a retry later, or another sender's lease)."""
    column = NOTIFICATION_TABLE.c
    place = sa.func.row_number().over(partition_by=column.channel_id, order_by=column.id)
    waiting = (
        sa.select(column.id, column.channel_id, column.due_at, place.label("place"))
        .where(column.sent_at.is_(None), column.gave_up_at.is_(None))
        .subquery()
    )
    with open_session(settings.database_url) as session:
        rows = session.connection().execute(
            sa.select(waiting.c.id, waiting.c.channel_id, waiting.c.due_at)
            .where(waiting.c.place <= BATCH)
            .order_by(waiting.c.channel_id, waiting.c.place)
        )
        lanes: dict[int, list[int]] = {}
        blocked: set[int] = set()
        for message_id, channel_id, due_at in rows:
            if channel_id in blocked:
                continue
            if due_at > now:
                blocked.add(channel_id)
            else:
                lanes.setdefault(channel_id, []).append(message_id)
    return list(lanes.values())


def _send_in_order(
    settings: Settings, message_ids: list[int], clock: Callable[[], datetime], deadline: float,
    stopping: Stopping | None,
) -> int:  # fmt: skip
    """One channel's turn: its messages one after another, until one does not get through
    (or another sender took it, or the worker is stopping)."""
    sent = 0
    for message_id in message_ids:
        if stopping is not None and stopping.is_set():
            break
        if not _send_one(settings, message_id, clock, deadline, stopping):
            break
        sent += 1
    return sent


def _send_one(
    settings: Settings, message_id: int, clock: Callable[[], datetime], deadline: float,
    stopping: Stopping | None,
) -> bool:  # fmt: skip
    now = clock()
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
    kind = notify_type(message.subject)
    sent = channels.send(settings, channel, message.subject, message.body, deadline, stopping, kind)
    now = clock()
    with open_session(settings.database_url) as session:
        message, channel = session.merge(message), session.merge(channel)
        if sent.stopped:  # not this channel's failure: another worker tries it at once
            message.due_at, message.attempts = now, message.attempts - 1
            session.add(message)
            session.commit()
            return False
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
