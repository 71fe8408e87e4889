"""Composio set up from Planner: the API key checked before it is stored, *Connect* storing
the signing secret, and the user's apps — a sign-in link, the account listed as connected,
a trigger registered for that user — through core and the `planner composio` command, all
against the fake Composio API (the real SDK over HTTP)."""

from __future__ import annotations

import json
from dataclasses import replace

import httpx
import pytest
from composio_client.types import (
    auth_config_create_response,
    auth_config_list_response,
    connected_account_delete_response,
    connected_account_list_response,
    link_create_response,
)

from core.access import credentials
from core.access.secrets import SecretKeyError, new_secret_key
from core.automations import triggers
from core.composio import client, setup
from core.composio.client import ComposioError
from core.errors import NotFoundError, ValidationError
from core.store.db import read_session
from core.store.models import utcnow
from support.cli import planner_here
from support.processes import free_port, planner
from support.stored import everything_stored, snapshot

API = "/api/v3.1"


@pytest.fixture
def user(connected):
    """Settings of user-42, with the key in the environment, pointed at the fake."""
    return replace(connected, composio_user_id="user-42")


def test_the_fakes_answers_are_what_the_sdk_declares(user, composio):
    """Each answer the fake gives validates strictly against the SDK's own response model,
    so the SDK reads the fake as it would read Composio."""
    sign_in = setup.start_sign_in(user, "gmail")
    composio.complete_sign_in("gmail", "jane@example.com")
    headers = {"x-api-key": "test-key"}
    with httpx.Client(base_url=composio.url, headers=headers) as api:
        answers = {
            auth_config_list_response.AuthConfigListResponse: api.get(f"{API}/auth_configs"),
            connected_account_list_response.ConnectedAccountListResponse:
                api.get(f"{API}/connected_accounts"),
            link_create_response.LinkCreateResponse: api.post(
                f"{API}/connected_accounts/link", json={"auth_config_id": "ac_0001",
                                                        "user_id": "user-42"}),
            auth_config_create_response.AuthConfigCreateResponse: api.post(
                f"{API}/auth_configs", json={"toolkit": {"slug": "slack"}}),
            connected_account_delete_response.ConnectedAccountDeleteResponse:
                api.delete(f"{API}/connected_accounts/ca_0001"),
        }  # fmt: skip
    for model, answer in answers.items():
        assert answer.is_success, answer.text
        model.model_validate(answer.json())
    assert sign_in.url.startswith(composio.url + "/link/lt_")


def test_sign_in_then_connected_then_a_trigger_for_that_user(session, agent, user, composio):
    assert setup.connected_toolkits(user) == set()
    sign_in = setup.start_sign_in(user, "Gmail")
    assert (sign_in.toolkit, sign_in.app) == ("GMAIL", "Gmail")
    [waiting] = composio.accounts.values()
    assert (waiting["user_id"], waiting["status"]) == ("user-42", "INITIATED")

    composio.complete_sign_in("gmail", "jane@example.com")
    gmail = setup.app_connections(user)[0]
    assert gmail.in_words() == "Gmail — connected as jane@example.com"
    assert setup.connected_toolkits(user) == {"GMAIL"}

    fields = triggers.TriggerFields(agent="Assistant", event="GMAIL_NEW_GMAIL_MESSAGE", chat="x")
    created = triggers.create_trigger(session, "Triage", fields, user, utcnow())
    assert composio.instances[created.composio_trigger_id]["user_id"] == "user-42"


def test_only_this_users_accounts_count(user, composio):
    someone_else = replace(user, composio_user_id="user-7")
    setup.start_sign_in(someone_else, "slack")
    composio.complete_sign_in("slack", "bob@example.org")
    assert setup.connected_toolkits(user) == set()
    assert setup.connected_toolkits(someone_else) == {"SLACK"}


def test_an_expired_account_says_so_and_reconnecting_connects_it(user, composio):
    setup.start_sign_in(user, "gmail")
    composio.complete_sign_in("gmail", "jane@example.com")
    composio.expire("gmail")
    assert setup.app_connections(user)[0].in_words() == ("Gmail sign-in expired — reconnect")
    assert setup.connected_toolkits(user) == set()
    setup.start_sign_in(user, "gmail")
    composio.complete_sign_in("gmail", "jane@example.com")
    assert setup.connected_toolkits(user) == {"GMAIL"}


def test_a_second_sign_in_to_a_connected_app_is_refused_in_words(user, composio):
    setup.start_sign_in(user, "github")
    composio.complete_sign_in("github", "jane")
    with pytest.raises(ComposioError, match=r"^GitHub is connected already; disconnect it first"):
        setup.start_sign_in(user, "github")


def test_disconnect_removes_every_account_of_the_app(user, composio):
    setup.start_sign_in(user, "gmail")
    composio.complete_sign_in("gmail", "jane@example.com")
    composio.expire("gmail")
    setup.start_sign_in(user, "gmail")
    assert setup.disconnect(user, "gmail") == ("Gmail", 2)
    assert composio.accounts == {}
    with pytest.raises(NotFoundError, match=r"^No Gmail account is connected.$"):
        setup.disconnect(user, "gmail")


@pytest.mark.parametrize("name", ["Google Calendar", "googlecalendar", "GOOGLECALENDAR"])
def test_an_app_is_found_by_its_name_or_slug(name):
    assert setup.find_app(name) == "GOOGLECALENDAR"


def test_an_unknown_app_is_refused_without_asking_composio(user, composio):
    with pytest.raises(ValidationError, match=r"^Planner knows no app called 'gmial'; apps with"):
        setup.start_sign_in(user, "gmial")
    assert composio.requests == []


def test_without_a_key_nothing_is_connected_and_nothing_asked(settings, composio):
    assert setup.connected_toolkits(settings) == set()
    with pytest.raises(ComposioError, match=r"^There is no Composio API key yet"):
        setup.app_connections(settings)
    assert composio.requests == []


def test_a_composio_failure_is_a_plain_error(user, composio):
    composio.fail(500, "Internal error")
    with pytest.raises(ComposioError, match=r"^Composio refused to start signing in to Slack: "
                                            r"Internal error$"):  # fmt: skip
        setup.start_sign_in(user, "slack")


def test_a_pasted_key_is_stored_only_once_composio_accepted_it(session, settings, composio):
    config = replace(settings, composio_base_url=composio.url)
    before = snapshot(settings.database_url)
    with pytest.raises(ComposioError, match=r"^Composio did not accept the API key: Invalid"):
        setup.save_api_key(session, config, "ck_wrong")
    with pytest.raises(ValidationError, match=r"^Paste the key; the field is empty."):
        setup.save_api_key(session, config, "  ")
    with pytest.raises(ValidationError, match="set in the server's settings"):
        setup.save_api_key(session, replace(config, composio_api_key="x"), "test-key")
    assert snapshot(settings.database_url) == before
    setup.save_api_key(session, config, " test-key\n")
    assert setup.key_source(session, config) == "stored"
    assert credentials.effective_settings(session, config).composio_api_key == "test-key"


def test_connect_stores_the_secret_composio_returns(session, connected, composio):
    connection = setup.connect(session, replace(connected, composio_webhook_secret=""))
    assert (connection.secret_stored, connection.warning) == (True, "")
    secret = credentials.stored(session, connected, credentials.COMPOSIO_WEBHOOK_SECRET)
    assert secret == composio.subscription["secret"]


def test_a_new_database_gets_a_new_secret_for_the_existing_subscription(session, connected,
                                                                         composio):  # fmt: skip
    fresh = replace(connected, composio_webhook_secret="")
    setup.connect(session, fresh)
    credentials.forget(session, credentials.COMPOSIO_WEBHOOK_SECRET)  # as a new database
    connection = setup.connect(session, fresh)
    secret = credentials.stored(session, fresh, credentials.COMPOSIO_WEBHOOK_SECRET)
    assert connection.secret_stored and secret.startswith("whsec_rotated_")
    assert secret == composio.subscription["secret"]


def test_a_secret_stored_under_another_key_is_replaced_on_connect(session, connected, composio):
    fresh = replace(connected, composio_webhook_secret="")
    setup.connect(session, replace(fresh, secret_key=new_secret_key()))
    assert credentials.effective_settings(session, fresh).composio_webhook_secret == ""
    assert credentials.unreadable(session, fresh) == [credentials.COMPOSIO_WEBHOOK_SECRET]
    setup.connect(session, fresh)
    assert credentials.unreadable(session, fresh) == []
    assert (
        credentials.stored(session, fresh, credentials.COMPOSIO_WEBHOOK_SECRET)
        == (composio.subscription["secret"])
    )


def test_a_stored_secret_is_never_taken_for_an_environment_one(session, connected, composio):
    fresh = replace(connected, composio_webhook_secret="")
    credentials.store(session, fresh, credentials.COMPOSIO_WEBHOOK_SECRET, "whsec_older")
    done = planner_here(fresh, "composio", "connect", "--json")  # a new subscription, a new secret
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["warning"] == ""


def test_an_environment_secret_that_differs_is_warned_about(session, connected):
    connection = setup.connect(session, replace(connected, composio_webhook_secret="old"))
    assert "COMPOSIO_WEBHOOK_SECRET in the server's settings overrides" in connection.warning


@pytest.mark.parametrize("action", ["connect", "save the key"])
def test_without_planner_secret_key_composio_is_not_asked(session, connected, composio, action):
    config = replace(connected, secret_key="", composio_api_key="")
    before = snapshot(config.database_url)
    with pytest.raises(SecretKeyError, match=r"^PLANNER_SECRET_KEY is not set"):
        if action == "connect":
            setup.connect(session, replace(config, composio_api_key="test-key"))
        else:
            setup.save_api_key(session, config, "test-key")
    assert composio.requests == [] and snapshot(config.database_url) == before


@pytest.mark.parametrize(
    ("address", "reachable"),
    [
        ("https://planner.example.com", True),
        ("https://198.51.100.7", False),  # documentation range: no one reaches it
        ("https://8.8.8.8", True),
        ("http://localhost:8000", False),
        ("http://127.0.0.1:8000", False),
        ("http://10.1.2.3", False),
        ("http://192.168.0.10:8000", False),
        ("http://[::1]:8000", False),
        ("http://planner.local", False),
    ],
)
def test_addresses_composio_cannot_reach_are_named(settings, address, reachable):
    problem = client.unreachable_address(replace(settings, public_base_url=address))
    assert (problem == "") is reachable, problem


def test_connect_without_a_public_address_changes_nothing(session, connected, composio):
    before = snapshot(connected.database_url)
    with pytest.raises(ComposioError, match="PUBLIC_BASE_URL is not set"):
        setup.connect(session, replace(connected, public_base_url=""))
    assert snapshot(connected.database_url) == before and composio.requests == []


# --- `planner composio …` as a user runs it ---------------------------------------------------


def test_the_cli_links_lists_and_disconnects_an_app(user, composio):
    linked = planner_here(user, "composio", "link", "gmail")
    assert linked.returncode == 0, linked.stderr
    url = linked.stdout.splitlines()[-1]
    assert linked.stdout.startswith("Open this link to connect Gmail:")
    httpx.get(url).raise_for_status()  # the person signs in on Composio's page

    listed = planner_here(user, "composio", "accounts")
    assert listed.stdout == "Gmail — connected as jane@example.com\n"
    shown = json.loads(planner_here(user, "composio", "accounts", "--json").stdout)
    assert [(a["toolkit"], a["app"], a["status"], a["connected_as"]) for a in shown] == [
        ("GMAIL", "Gmail", "ACTIVE", "jane@example.com")
    ]
    assert "ya29" not in listed.stdout + json.dumps(shown)  # the token stays in Composio

    gone = planner_here(user, "composio", "disconnect", "gmail")
    assert (gone.returncode, gone.stdout) == (0, "Disconnected Gmail.\n")
    assert composio.accounts == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("link", "gmial"), "planner: Planner knows no app called 'gmial'; apps with events:"),
        (("disconnect", "slack"), "planner: No Slack account is connected.\n"),
    ],
)
def test_the_cli_refuses_in_one_line(user, composio, args, message):
    done = planner_here(user, "composio", *args)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(message) and done.stderr.count("\n") == 1


@pytest.mark.parametrize("args", [("accounts",), ("link", "gmail"), ("disconnect", "gmail")])
def test_the_cli_without_a_key_says_so_in_one_line(settings, args):
    done = planner_here(settings, "composio", *args)
    assert done.returncode == 2
    assert done.stderr == (
        "planner: There is no Composio API key yet: paste it on the dashboard's Settings "
        "page (Composio), or set COMPOSIO_API_KEY.\n"
    )


def test_the_cli_uses_a_stored_key(session, settings, composio):
    config = replace(settings, composio_base_url=composio.url)
    setup.save_api_key(session, config, "test-key")
    done = planner_here(config, "composio", "link", "slack", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["app"] == "Slack"


def test_cli_connect_stores_the_secret_and_does_not_print_it(connected, composio):
    """A real process: nothing of the secret on its stdout, nor logged to its stderr."""
    config = replace(connected, composio_webhook_secret="")
    done = planner(config, "composio", "connect")
    assert done.returncode == 0, done.stderr
    secret = composio.subscription["secret"]
    assert secret not in done.stdout + done.stderr
    assert "The signing secret Composio sent is stored (encrypted)" in done.stdout
    with read_session(config.database_url) as session:
        assert credentials.stored(session, config, credentials.COMPOSIO_WEBHOOK_SECRET) == secret


def test_cli_connect_to_a_local_address_warns_and_connects(connected, composio):
    local = replace(connected, public_base_url="http://127.0.0.1:8000")
    done = planner_here(local, "composio", "connect")
    assert done.returncode == 0, done.stderr
    assert "Warning: http://127.0.0.1:8000 is an address that only this computer" in done.stdout
    assert composio.subscription["webhook_url"] == "http://127.0.0.1:8000/webhooks/composio"


def test_the_cli_stores_the_key_from_standard_input_once_composio_accepted_it(settings, composio):
    """Real processes: the key piped into each, the refusal's exit code and its one line on
    stderr, and nothing of the key on stdout or stderr."""
    config = replace(settings, composio_base_url=composio.url)
    before = snapshot(config.database_url)
    refused = planner(config, "composio", "key", stdin="ck_wrong\n")
    assert refused.returncode == 2
    assert refused.stderr.startswith("planner: Composio did not accept the API key")
    assert refused.stderr.count("\n") == 1
    assert snapshot(config.database_url) == before
    done = planner(config, "composio", "key", stdin="test-key\n")
    assert done.returncode == 0 and "test-key" not in done.stdout + done.stderr
    assert "test-key" not in everything_stored(config)
    with read_session(config.database_url) as session:
        assert setup.key_source(session, config) == "stored"
    assert planner_here(config, "composio", "key", "--remove").returncode == 0
    with read_session(config.database_url) as session:
        assert setup.key_source(session, config) == ""


def test_a_key_composio_cannot_check_is_not_saved_and_that_is_said(settings, session):
    unreachable = replace(settings, composio_base_url=f"http://127.0.0.1:{free_port()}")
    before = snapshot(settings.database_url)
    with pytest.raises(ComposioError) as refused:
        setup.save_api_key(session, unreachable, "ck_live_0123456789abcdef")
    assert str(refused.value) == (
        "Could not reach Composio to check the API key. The key was not saved; try again."
    )
    assert snapshot(settings.database_url) == before


@pytest.mark.parametrize(
    ("address", "port"),
    [("http://127.0.0.1:8765", "8765"), ("http://localhost", "8501"), ("http://pc.local:80", "80")],
)
def test_the_tunnel_hint_names_the_port_planner_is_at(settings, address, port):
    said = client.unreachable_address(replace(settings, public_base_url=address))
    assert f"--url http://localhost:{port}' or 'ngrok http {port}'" in said
    assert said.endswith(
        "press Receive events on Settings (Set up receiving again, once it receives)."
    )
