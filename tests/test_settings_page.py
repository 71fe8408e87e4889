"""The Settings page through AppTest: the worker's state, and Composio — the pasted API key
(checked, stored encrypted, never shown again; the environment wins), *Receive events* (the
signing secret stored) and the user's apps (sign in, connected as, expired, disconnect)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest
from streamlit.testing.v1 import AppTest

from core.access import credentials, tokens
from core.access.secrets import new_secret_key
from core.composio import client
from core.store.db import read_session
from core.store.db import session as open_session
from core.store.models import Heartbeat, utcnow
from support.screens import settings_page, texts
from support.stored import everything_stored, snapshot

KEY = "ck_live_0123456789abcdef"


def test_settings_say_the_worker_is_offline_and_composio_not_set(page):
    app = page(settings_page)
    assert "Offline — nothing will run until the worker is started." in texts(app)
    assert "Paste your Composio API key so Planner can listen to your apps." in texts(app)
    assert app.button(key="composio_connect").disabled


def test_no_example_address_on_settings_becomes_a_mailto_link(page):
    """Markdown links an address with an @ (you@example.com) unless it is code."""
    app = page(settings_page)
    said = [markdown.value for markdown in app.markdown]
    assert any("`mailtos://user:password@example.com?to=you@example.com`" in m for m in said)
    outside_code = [re.sub(r"`[^`]*`", "", m) for m in said]
    assert [m for m in outside_code if re.search(r"\S@\S", m)] == []


def test_settings_count_the_workers_online(page, session):
    now = utcnow()
    for worker, ago in [("a:1", 10), ("b:2", 30), ("gone:3", 600)]:
        session.add(Heartbeat(worker=worker, last_tick_at=now - timedelta(seconds=ago)))
    session.commit()
    app = page(settings_page)
    assert "Online — 2 workers, last seen" in texts(app)


@pytest.fixture
def composio_page(page, composio):
    """The Settings page with Composio's API at the fake and a public address, no key in
    the environment; `env` overrides (e.g. COMPOSIO_API_KEY)."""
    composio.api_keys.add(KEY)
    at_the_fake = {"COMPOSIO_BASE_URL": composio.url, "COMPOSIO_WEBHOOK_SECRET": "",
                   "PUBLIC_BASE_URL": "https://planner.example.com"}  # fmt: skip
    return lambda **env: page(settings_page, **(at_the_fake | env))


def said(app: AppTest) -> str:
    """What the page says, without the invisible joiners that keep addresses from turning
    into links."""
    return texts(app).replace("\u2060", "")


def stored(settings, name: str = credentials.COMPOSIO_API_KEY) -> str:
    with read_session(settings.database_url) as session:
        return credentials.stored(session, settings, name)


def save_key(app: AppTest, key: str) -> AppTest:
    app.text_input(key="composio_api_key").input(key)
    return app.button(key="composio_save_key").click().run()


def test_a_pasted_key_is_checked_stored_encrypted_and_never_shown(settings, composio_page):
    app = save_key(composio_page(), KEY)
    assert "Saved. Now press Receive events below, then connect your apps." in texts(app)
    assert "Composio API key saved (encrypted; it is not shown again)." in texts(app)
    assert not [w for w in app.text_input if w.key == "composio_api_key"]
    assert KEY not in texts(app) and KEY not in repr(app.session_state)
    assert stored(settings) == KEY
    assert KEY not in everything_stored(settings)
    assert not app.button(key="composio_connect").disabled


@pytest.mark.parametrize(
    ("pasted", "message"),
    [
        ("", "Paste the key; the field is empty."),
        ("ck live", "A key is one line without spaces"),
        ("ck_wrong", "Composio did not accept the API key: Invalid API key."),
    ],
)
def test_a_key_that_is_empty_malformed_or_refused_is_not_stored(
    settings, composio_page, pasted, message
):
    app = composio_page()
    before = snapshot(settings.database_url)
    app = save_key(app, pasted)
    assert message in texts(app)
    assert snapshot(settings.database_url) == before


def test_replace_and_forget_the_key(settings, composio_page, composio):
    app = save_key(composio_page(), KEY)
    app.button(key="composio_replace_key").click().run()
    other = "ck_live_replacement_key"
    composio.api_keys.add(other)
    app = save_key(app, other)
    assert stored(settings) == other and other not in texts(app)
    app.button(key="composio_forget_key").click().run()
    assert "Composio API key forgotten." in texts(app)
    assert stored(settings) == ""
    assert app.button(key="composio_connect").disabled


def test_a_key_in_the_environment_wins_and_is_not_asked_for(settings, composio_page):
    app = composio_page(COMPOSIO_API_KEY="test-key")
    assert "comes from the server's settings (COMPOSIO_API_KEY)" in texts(app)
    assert not [w for w in app.text_input if w.key == "composio_api_key"]
    assert "test-key" not in texts(app)
    assert not app.button(key="composio_connect").disabled


def test_connect_stores_the_signing_secret_without_showing_it(settings, composio_page, composio):
    app = save_key(composio_page(), KEY)
    assert "Until you press Receive events, the webhook refuses Composio's deliveries." in texts(
        app
    )
    app.button(key="composio_connect").click().run()
    assert (
        "Composio now delivers events to https://planner.example.com/webhooks/composio. "
        "The signing secret Composio sent is stored (encrypted)" in said(app)
    )
    secret = composio.subscription["secret"]
    assert stored(settings, credentials.COMPOSIO_WEBHOOK_SECRET) == secret
    assert secret not in texts(app) and secret not in everything_stored(settings)
    assert "Deliveries from Composio are checked" in texts(composio_page())


def test_receiving_events_and_connecting_an_app_are_two_different_words(composio_page):
    """Once per Planner, *Receive events* (the webhook subscription); once per app,
    *Connect* (a sign-in): no button of the one is called like the other's."""
    app = composio_page(COMPOSIO_API_KEY="test-key")
    receive = app.button(key="composio_connect")
    apps = [b.label for b in app.button if b.key.startswith("composio_connect_")]
    assert receive.label == "Receive events"
    assert set(apps) == {"Connect"} and len(apps) > 2  # the common apps and "Another app"
    assert "**Receive events**" in texts(app) and "**Your apps**" in texts(app)
    assert "Connect each app a trigger listens to" in texts(app)
    receive.click().run()
    assert app.button(key="composio_connect").label == "Set up receiving again"
    assert "Receiving events. Deliveries from Composio are checked" in texts(app)


def test_without_a_public_address_the_page_says_what_to_do(composio_page):
    app = composio_page(COMPOSIO_API_KEY="test-key", PUBLIC_BASE_URL="")
    assert client.NO_PUBLIC_ADDRESS in texts(app)
    assert app.button(key="composio_connect").disabled


def test_a_local_public_address_is_warned_about_and_still_connects(composio_page, composio):
    app = composio_page(COMPOSIO_API_KEY="test-key", PUBLIC_BASE_URL="http://localhost:8000")
    assert "Composio cannot send events to it from the internet" in texts(app)
    app.button(key="composio_connect").click().run()
    assert composio.subscription["webhook_url"] == "http://localhost:8000/webhooks/composio"
    assert "Composio now delivers events to http://localhost:8000/webhooks/composio." in said(app)


def link_buttons(app: AppTest) -> list[tuple[str, str]]:
    return [(b.proto.label, b.proto.url) for b in app.get("link_button")]


def test_an_app_is_connected_signed_in_to_and_disconnected(composio_page, composio):
    app = composio_page(COMPOSIO_API_KEY="test-key")
    assert "Gmail — not connected" in texts(app)
    app.button(key="composio_connect_gmail").click().run()
    [(label, url)] = link_buttons(app)
    assert label.startswith("Sign in to Gmail") and url.startswith(composio.url + "/link/")
    assert "Gmail — waiting for you to finish signing in" in texts(app)

    composio.complete_sign_in("gmail", "jane@example.com")
    app.button(key="composio_check").click().run()
    assert "Gmail — connected as jane@example.com" in said(app)
    assert link_buttons(app) == []
    assert "ya29" not in texts(app)  # the account's token stays in Composio

    app.button(key="composio_disconnect_gmail").click().run()
    assert "Disconnected Gmail." in texts(app)
    assert "Gmail — not connected" in texts(app) and composio.accounts == {}


def test_an_expired_sign_in_says_reconnect(composio_page, composio, connected):
    from core.composio import setup

    setup.start_sign_in(connected, "gmail")
    composio.complete_sign_in("gmail", "jane@example.com")
    composio.expire("gmail")
    app = composio_page(COMPOSIO_API_KEY="test-key")
    assert "Gmail sign-in expired — reconnect" in texts(app)
    assert app.button(key="composio_connect_gmail").label == "Reconnect"


def test_another_app_is_connected_from_the_list(composio_page, composio):
    app = composio_page(COMPOSIO_API_KEY="test-key")
    app.selectbox(key="composio_other_app").set_value("NOTION").run()
    app.button(key="composio_connect_other").click().run()
    assert "Open the sign-in page below to connect Notion." in texts(app)
    composio.complete_sign_in("notion", "jane@example.com")
    app.button(key="composio_check").click().run()
    assert "Notion — connected as jane@example.com" in said(app)


def test_a_composio_failure_is_shown_in_words(composio_page, composio):
    app = composio_page(COMPOSIO_API_KEY="test-key")
    composio.fail(500, "Internal error")
    app.button(key="composio_connect_slack").click().run()
    assert "Composio refused to start signing in to Slack: Internal error" in texts(app)


def test_a_stored_key_reaches_the_apps(settings, composio_page, composio):
    with open_session(settings.database_url) as session:
        credentials.store(session, settings, credentials.COMPOSIO_API_KEY, KEY)
    app = composio_page()
    assert "Gmail — not connected" in texts(app)
    assert ("GET", "/api/v3.1/connected_accounts", None) in composio.requests


def test_keys_stored_under_another_secret_key_are_said_and_stored_anew(settings, composio_page):
    other = replace(settings, secret_key=new_secret_key())
    with open_session(settings.database_url) as session:
        credentials.store(session, other, credentials.COMPOSIO_API_KEY, KEY)
        credentials.store(session, other, credentials.COMPOSIO_WEBHOOK_SECRET, "whsec_old")
    app = composio_page()
    assert "The saved keys cannot be opened" in texts(app)
    app = save_key(app, KEY)
    app.button(key="composio_connect").click().run()
    assert "The saved keys cannot be opened" not in texts(app)
    assert stored(settings, credentials.COMPOSIO_WEBHOOK_SECRET).startswith("whsec_")


def test_an_api_token_is_made_shown_once_listed_and_revoked(page, settings):
    app = page(settings_page)
    app.text_input(key="api_token_name").input("n8n")
    app.button(key="api_token_create").click().run()
    [shown] = [block.value for block in app.code]
    assert shown.startswith("pln_") and "Copy it now: it is not shown again." in texts(app)
    with read_session(settings.database_url) as session:
        [row] = tokens.list_tokens(session)
        assert tokens.authenticate(session, shown).id == row.id
    assert shown not in everything_stored(settings)  # only its hash is kept
    assert f"starts {row.prefix}… · made" in texts(app).replace("\\", "")
    assert "never used" in texts(app)

    app.text_input(key="api_token_name").input("N8N")
    app.button(key="api_token_create").click().run()
    assert "A token named 'n8n' already exists" in texts(app)

    app.button(key=f"api_token_revoke_{row.id}").click().run()
    with read_session(settings.database_url) as session:
        assert tokens.list_tokens(session) == []
    assert "No tokens yet." in texts(app)


def test_an_api_token_is_made_for_one_agent_and_listed_in_words(page, settings, agent):
    app = page(settings_page)
    chosen = app.selectbox(key="api_token_for")
    assert (chosen.index, chosen.options) == (0, ["Every agent", "Assistant"])
    app.text_input(key="api_token_name").input("assistant only")
    chosen.select(agent.id)
    app.button(key="api_token_create").click().run()
    with read_session(settings.database_url) as session:
        [row] = tokens.list_tokens(session)
    assert row.agent_id == agent.id
    assert "**assistant only** · Only Assistant · starts" in texts(app)
    assert "made, for Assistant's jobs, triggers and runs alone." in texts(app)
    # the next is for every agent, and the choice says so (not an empty "Choose an option")
    assert app.selectbox(key="api_token_for").index == 0
    app.text_input(key="api_token_name").input("everything")
    app.button(key="api_token_create").click().run()
    assert "**everything** · Every agent · starts" in texts(app)
