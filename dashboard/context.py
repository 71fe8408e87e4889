"""What every dashboard page needs: settings, sessions, the worker's queue, the time."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

import streamlit as st
from sqlmodel import Session

from core.access import credentials
from core.config import Settings, get_settings
from core.errors import PlannerError, ValidationError
from core.running.queue import RunQueue
from core.scheduling import occurrences
from core.store.db import read_session
from core.store.db import session as open_session
from core.store.models import utcnow

# Everything Markdown, GitHub's extensions and Streamlit's own (`:red[…]`,
# `:material/…:`, `$math$`) act on.
MARKDOWN_SIGNS = re.compile(r"([\\`*_{}\[\]<>()#+\-.!|~:$&=])")
# Bare addresses become links even when escaped (GitHub's autolinks): an invisible word
# joiner after the scheme, `www` or before `@` keeps them text.
AUTOLINK_STARTS = re.compile(r"(?i)(https?|ftp|www|mailto)(?=[:.])|(?=@)")
WORD_JOINER = "\u2060"
STORED_KEYS_SECONDS = 5


def plain(text: object) -> str:
    """Text a person typed or the outside world sent (names, replies, errors), escaped so
    that Markdown shows it as it is: never a link, an image or a heading."""
    unlinked = AUTOLINK_STARTS.sub(lambda match: (match.group(1) or "") + WORD_JOINER, str(text))
    return MARKDOWN_SIGNS.sub(r"\\\1", unlinked)


def settings() -> Settings:
    """The environment's settings with the Composio key and webhook secret stored from
    the Settings page where the environment sets none (the environment wins)."""
    return _with_stored_keys(get_settings())


@st.cache_data(ttl=STORED_KEYS_SECONDS, show_spinner=False)
def _with_stored_keys(base: Settings) -> Settings:
    """Read again every few seconds (not on every widget), so a key saved on the
    Settings page is used by the next page; one that cannot be opened counts as none
    (Settings says so)."""
    with read_session(base.database_url) as session:
        return credentials.effective_settings(session, base)


def forget_stored_keys() -> None:
    """After the Settings page stored or removed a key: read them again now."""
    _with_stored_keys.clear()


def writing() -> Session:
    """A session for one change; close it (with `with`) as soon as the change is made."""
    return open_session(settings().database_url)


def apply(change: Callable[[Session], object]) -> bool:
    """Make one change through core in a session of its own. A refusal is shown where the
    widget is, not raised; returns whether the change was made."""
    try:
        with writing() as session:
            change(session)
    except PlannerError as error:
        st.error(plain(error))
        return False
    return True


def reading() -> Session:
    return read_session(settings().database_url)


def queue() -> RunQueue:
    """The worker's queue: "run now" and test events are submitted, never run here."""
    from queueing import queue_for

    return queue_for(get_settings())


def now() -> datetime:
    return utcnow()


def viewer_timezone() -> str:
    """The timezone of the viewer's browser, so times read as their own clock does;
    PLANNER_TIMEZONE when the browser does not say or names a zone we do not know."""
    name = st.context.timezone
    try:
        return occurrences.validate_timezone(name) if name else settings().timezone
    except ValidationError:
        return settings().timezone


def chosen_page(key: str, fetch: Callable[[int], tuple[list, int]]) -> tuple[list, int]:
    """The page of a list chosen with the picker at `key`: back to page 1 when it is past
    the end (other filters, another agent, items deleted), so nobody is left on a page
    that shows nothing and has no picker."""
    items, total = fetch(st.session_state.get(key) or 1)
    if not items and total:
        st.session_state[key] = 1
        items, total = fetch(1)
    return items, total
