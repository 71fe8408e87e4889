"""Settings → Notifications: the channels Planner tells (add by an Apprise URL, test,
remove), each green while messages get through and red, saying why, when they do not.
The rules are core.notifications.channels', as for `planner notify`."""

from __future__ import annotations

import streamlit as st

from core.errors import PlannerError
from core.notifications import channels
from core.views.overview import relative
from dashboard.context import now, plain, reading, settings, writing

NOTICE = "channels_notice"  # (kind, text) a button's callback leaves for the next run
NAME_KEY, URL_KEY = "channel_name", "channel_url"
EVERY_FAILURE_KEY = "channels_every_failure"


def _done(kind: str, text: str) -> None:
    st.session_state[NOTICE] = (kind, text)


def _add() -> None:
    try:
        with writing() as session:
            channel = channels.add_channel(
                session, settings(), st.session_state.get(NAME_KEY, ""),
                st.session_state.get(URL_KEY, ""), now(),
            )  # fmt: skip
    except PlannerError as error:
        _done("error", str(error))
        return
    st.session_state[NAME_KEY] = st.session_state[URL_KEY] = ""
    st.session_state.pop(EVERY_FAILURE_KEY, None)  # the list of channels told anew
    _done("success", f"Added {channel.name} ({channel.kind}); it is told when anything fails.")


def _test(channel_id: int, name: str) -> None:
    with writing() as session:
        sent = channels.test_channel(
            session, settings(), channel_id, now(), settings().public_base_url
        )
    if sent.ok:
        _done("success", f"A test message went to {name}.")
    else:
        _done("error", f"{name}: the test message was not sent — {sent.error}")


def _tell_every_failure() -> None:
    chosen = set(st.session_state.get(EVERY_FAILURE_KEY) or [])
    with writing() as session:
        for row in channels.list_channels(session):
            if row.every_failure != (row.id in chosen):
                channels.set_every_failure(session, row.id, row.id in chosen)
    _done("success", "Saved who is told when anything fails.")


def _remove(channel_id: int, name: str) -> None:
    with writing() as session:
        channels.remove_channel(session, channel_id)
    st.session_state.pop(EVERY_FAILURE_KEY, None)
    _done("success", f"Removed {name}; jobs and triggers that told it no longer do.")


def section() -> None:
    st.subheader("Notifications")
    st.write(
        "Where Planner tells you when a job or trigger fails, and when it works again. "
        "A new channel is told about every failure; a job or trigger can choose others "
        "under *Advanced* in its dialog. A channel is an Apprise address: "
        "email (`mailtos://user:password@example.com?to=you@example.com`), Slack, Discord, "
        "Telegram, Microsoft Teams, ntfy or a webhook (`json://…`)."
    )
    with reading() as session:
        rows = channels.list_channels(session)
        users = {row.id: channels.in_use_by(session, row) for row in rows}
    for row in rows:
        words, test, remove = st.columns([6, 1, 1])
        if row.last_error:
            state = (
                f":red[●] **{plain(row.name)}** · {plain(row.kind)} — could not send "
                f"{relative(row.last_error_at, now())}: {plain(row.last_error)}"
            )
        else:
            sent = f"last sent {relative(row.last_sent_at, now())}" if row.last_sent_at else "ready"
            state = f":green[●] **{plain(row.name)}** · {plain(row.kind)} — {sent}"
        told = f" · tells {plain(', '.join(users[row.id]))}" if users[row.id] else ""
        words.markdown(state + told)
        test.button("Test", key=f"channel_test_{row.id}", on_click=_test, args=(row.id, row.name))
        remove.button(
            "Remove", key=f"channel_remove_{row.id}", on_click=_remove, args=(row.id, row.name)
        )
    if rows:
        names = {row.id: row.name for row in rows}
        st.multiselect(
            "Tell me when anything fails", list(names), format_func=names.__getitem__,
            default=[row.id for row in rows if row.every_failure], key=EVERY_FAILURE_KEY,
            on_change=_tell_every_failure, placeholder="No channel",
            help="Every job and trigger tells these channels when it fails (and when it "
            "works again), unless it chose its own under *Advanced* in its dialog.",
        )  # fmt: skip
    else:
        st.caption("No channels yet.")
    name, url, add = st.columns([2, 4, 1])
    name.text_input("Name", key=NAME_KEY, placeholder="Ops mail")
    url.text_input("Address (Apprise URL)", key=URL_KEY, type="password")
    add.button("Add channel", key="channel_add", on_click=_add)
    kind, text = st.session_state.pop(NOTICE, ("", ""))
    if kind == "error":
        st.error(plain(text))
    elif kind:
        st.success(plain(text))
