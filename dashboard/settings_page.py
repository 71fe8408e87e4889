"""The Settings page: the worker's state, Composio (the API key, *Receive events* — the
webhook subscription — and connecting the user's apps), notification channels
(dashboard.channels_settings), the HTTP API's tokens (dashboard.api_tokens) and the
default timezone. Every change goes through core, as the CLI's does.

Receiving events and connecting an app are two different steps with two different words:
*Receive events* (once per Planner) has Composio send events to this address; *Connect*
(once per app) signs in to an account Composio may watch. A call to Composio can take
seconds (the first one loads its SDK), so each says what the page is waiting for."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from core.access import credentials
from core.access.secrets import WRONG_KEY
from core.composio import setup
from core.composio.client import NO_PUBLIC_ADDRESS, unreachable_address
from core.composio.setup import AppConnection
from core.config import Settings, get_settings
from core.errors import PlannerError
from core.views.overview import relative, worker_status
from dashboard import api_tokens, channels_settings
from dashboard.context import (
    forget_stored_keys,
    now,
    plain,
    reading,
    settings,
    viewer_timezone,
    writing,
)

KEY_FIELD = "composio_api_key"
REPLACING = "composio_replacing_key"
NOTICE = "composio_notice_{}"  # (kind, text) a callback leaves for its part of the page
LINKS = "composio_links"  # toolkit -> the sign-in link this browser asked for
FORGET_PASTED = "composio_forget_pasted"  # the key was stored: clear the field next run
WAITING_REFRESH_SECONDS = 3
RECEIVE = "Receive events"  # the webhook subscription's button (an app's is *Connect*)
CHECKING_KEY = "Checking the key with Composio…"
ASKING_TO_SEND = "Asking Composio to send events here…"
ASKING_FOR_APPS = "Asking Composio which apps you connected…"
ASKING_FOR_LINK = "Asking Composio for a sign-in link…"


def _worker() -> None:
    with reading() as session:
        worker = worker_status(session, now())
    st.subheader("Worker")
    if worker.online:
        count = worker.workers_online
        st.success(
            f"Online — {count} worker{'s' if count != 1 else ''}, "
            f"last seen {relative(worker.last_seen, now())}."
        )
    else:
        st.error(
            "Offline — nothing will run until the worker is started"
            + (f" (last seen {relative(worker.last_seen, now())})." if worker.last_seen else ".")
        )


def _show_notice(part: str) -> None:
    kind, text = st.session_state.pop(NOTICE.format(part), ("", ""))
    if kind == "error":
        st.error(plain(text))
    elif kind:
        st.success(plain(text))


def _change(part: str, change: Callable[[], str]) -> None:
    """Run a button's change through core (in its callback); the outcome is shown in the
    button's part of the page ("key" or "apps") on the run that follows."""
    try:
        outcome = ("success", change())
    except PlannerError as error:
        outcome = ("error", str(error))
    st.session_state[NOTICE.format(part)] = outcome


def _save_key(config: Settings) -> None:
    """Composio checks the key before it is stored, which can take seconds: the button's
    place says so meanwhile (a callback could show nothing there), then the page runs
    again with the outcome."""
    pasted = st.session_state.get(KEY_FIELD, "")

    def save() -> str:
        with writing() as session:
            setup.save_api_key(session, config, pasted)
        forget_stored_keys()
        st.session_state[FORGET_PASTED] = True  # the key leaves the page once it is stored
        st.session_state[REPLACING] = False
        return f"Saved. Now press {RECEIVE} below, then connect your apps."

    with st.spinner(CHECKING_KEY):
        _change("key", save)
    st.rerun()


def _forget_key() -> None:
    def forget() -> str:
        with writing() as session:
            setup.forget_api_key(session)
        forget_stored_keys()
        return "Composio API key forgotten."

    _change("key", forget)


def _key_form(config: Settings, replacing: bool) -> None:
    st.text_input(
        "Composio API key",
        type="password",
        key=KEY_FIELD,
        placeholder="Paste the key here",
        help="In Composio's dashboard: Settings → API Keys. It is stored encrypted and "
        "never shown again.",
    )
    save, cancel = st.columns([1, 4])
    if save.button("Save key", key="composio_save_key"):
        _save_key(config)
    if replacing:
        cancel.button(
            "Cancel", key="composio_cancel_replace", on_click=st.session_state.update,
            kwargs={REPLACING: False, KEY_FIELD: ""},
        )  # fmt: skip


def _api_key(config: Settings, source: str) -> None:
    if st.session_state.pop(FORGET_PASTED, False):
        st.session_state.pop(KEY_FIELD, None)  # before the field may exist in this run
    if source == "environment":
        st.info(
            "The Composio API key comes from the server's settings (COMPOSIO_API_KEY), so "
            "it is changed there, not here."
        )
    elif source == "stored" and not st.session_state.get(REPLACING):
        st.success("Composio API key saved (encrypted; it is not shown again).")
        replace, forget = st.columns([1, 4])
        replace.button(
            "Replace key", key="composio_replace_key", on_click=st.session_state.update,
            kwargs={REPLACING: True},
        )  # fmt: skip
        forget.button("Forget key", key="composio_forget_key", on_click=_forget_key)
    else:
        if not source:
            st.info("Paste your Composio API key so Planner can listen to your apps.")
        _key_form(config, replacing=source == "stored")


def _webhook(config: Settings, ready: bool) -> None:
    st.markdown(f"**{RECEIVE}**")
    st.caption(
        "Composio tells Planner when something happens in your apps by sending it to this "
        "address. Set this up once; then connect each app below."
    )
    st.text_input(
        "Webhook address", value=config.webhook_url or "(not set)", disabled=True,
        key="composio_webhook_address",
    )  # fmt: skip
    if not config.webhook_url:
        st.warning(NO_PUBLIC_ADDRESS)
    elif problem := unreachable_address(config):
        st.warning(plain(problem))
    if ready:
        st.caption(
            "Receiving events. Deliveries from Composio are checked with its signing secret."
        )
    else:
        st.caption(f"Until you press {RECEIVE}, the webhook refuses Composio's deliveries.")
    if st.button(
        "Set up receiving again" if ready else RECEIVE, key="composio_connect",
        disabled=not (config.composio_api_key and config.webhook_url),
    ):  # fmt: skip
        _connect(config)
    _show_notice("webhook")


def _connect(config: Settings) -> None:
    """Point Composio at this webhook and store the secret it sends, saying meanwhile what
    the page waits for; then the page runs again, knowing the webhook is ready."""

    def connect() -> str:
        with writing() as session:
            connection = setup.connect(session, get_settings())
        forget_stored_keys()
        shown_already = unreachable_address(config)  # the page says it above the button
        news = [w for w in connection.warnings if w != shown_already]
        return "\n\n".join([connection.in_words(), *news])

    with st.spinner(ASKING_TO_SEND):
        _change("webhook", connect)
    st.rerun()


def _start_sign_in(config: Settings, toolkit: str) -> None:
    """Ask Composio for a sign-in link, then run the whole page again: while a sign-in
    started here is unfinished, the list of apps looks again every few seconds."""

    def start() -> str:
        sign_in = setup.start_sign_in(config, toolkit)
        st.session_state.setdefault(LINKS, {})[sign_in.toolkit] = sign_in.url
        return f"Open the sign-in page below to connect {sign_in.app}."

    with st.spinner(ASKING_FOR_LINK):
        _change("apps", start)
    st.rerun()


def _disconnect(config: Settings, toolkit: str) -> None:
    def remove() -> str:
        name, _ = setup.disconnect(config, toolkit)
        st.session_state.get(LINKS, {}).pop(toolkit, None)
        return f"Disconnected {name}."

    _change("apps", remove)


def _app_row(config: Settings, app: AppConnection) -> None:
    slug = app.toolkit.lower()
    words, action = st.columns([4, 1])
    words.markdown(plain(app.in_words()))
    if app.state == "connected":
        action.button("Disconnect", key=f"composio_disconnect_{slug}", on_click=_disconnect,
                      args=(config, app.toolkit))  # fmt: skip
        return
    label = "Reconnect" if app.state == "problem" else "Connect"
    if action.button(label, key=f"composio_connect_{slug}"):
        _start_sign_in(config, app.toolkit)
    link = st.session_state.get(LINKS, {}).get(app.toolkit)
    if link:
        st.link_button(f"Sign in to {app.name} ↗", link)
        st.caption("Signing in happens on Composio's page; this list updates once you finish.")


def _apps(config: Settings) -> None:
    _show_notice("apps")
    try:
        with st.spinner(ASKING_FOR_APPS):
            connections = setup.app_connections(config)
    except PlannerError as error:
        st.error(plain(error))
        return
    links = st.session_state.get(LINKS, {})
    finished = [app for app in connections if app.state == "connected" and app.toolkit in links]
    if finished:  # signed in: say so, and stop looking (the whole page runs again)
        for app in finished:
            links.pop(app.toolkit)
        st.session_state[NOTICE.format("apps")] = ("success", finished[-1].in_words() + ".")
        st.rerun()
    for app in connections:
        _app_row(config, app)
    listed = {app.toolkit for app in connections}
    others = {t: name for t, name in setup.apps().items() if t not in listed}
    pick, go = st.columns([4, 1], vertical_alignment="bottom")
    other = pick.selectbox("Another app", list(others), format_func=others.get,
                           key="composio_other_app")  # fmt: skip
    if go.button("Connect", key="composio_connect_other"):
        _start_sign_in(config, other)
    st.button("Check again", key="composio_check")  # a click reruns this part of the page


def _your_apps(config: Settings) -> None:
    st.markdown("**Your apps**")
    if not config.composio_api_key:
        st.caption("Once the Composio API key is saved, connect Gmail, Slack and others here.")
        return
    st.caption(
        "Connect each app a trigger listens to: you sign in on Composio's page, and "
        "Composio may then watch that account."
    )
    # While a sign-in started here is unfinished, the list looks again every few seconds.
    waiting = bool(st.session_state.get(LINKS))
    st.fragment(run_every=WAITING_REFRESH_SECONDS if waiting else None)(_apps)(config)


def _composio() -> None:
    """Where the key comes from is judged against the environment's settings alone, so
    a stored key is never taken for one the server sets; everything else uses the
    stored ones too."""
    config = get_settings()
    st.subheader("Composio")
    st.caption(
        "Composio connects Planner to your apps (Gmail, Slack, GitHub, …) and tells it "
        "when something happens there."
    )
    try:
        with reading() as session:
            source = setup.key_source(session, config)
            effective = credentials.effective_settings(session, config)
            unopened = credentials.unreadable(session, config)
    except PlannerError as error:
        st.error(plain(error))
        source, effective, unopened = "", config, []
    ready = bool(effective.composio_webhook_secret)  # the webhook has a secret to check with
    if unopened:
        st.error(
            f"{plain(WRONG_KEY)} To start again here: paste the Composio API key and press "
            f"{RECEIVE} — both are then stored anew."
        )
    _show_notice("key")
    _api_key(config, source)
    _webhook(effective, ready)
    _your_apps(effective)


def render() -> None:
    st.title("Settings")
    config = settings()
    _worker()
    _composio()
    channels_settings.section()
    api_tokens.section()
    st.subheader("Timezone")
    st.write(
        f"New jobs start in your browser's timezone, {viewer_timezone()}, and times without "
        "a job of their own are shown in it. Commands in a terminal use the server's, "
        f"{config.timezone} (PLANNER_TIMEZONE)."
    )
