"""Keys a user pastes are stored encrypted with PLANNER_SECRET_KEY, sent to the target
they belong to, never shown again, and overridden by the environment where both are set."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from sqlmodel import SQLModel, select

from core.access import credentials, secrets
from core.access.secrets import SecretKeyError, new_secret_key
from core.agents.check import check_connection
from core.automations.shared import find
from core.notifications import channels
from core.store.db import read_session
from core.store.models import Agent, NotificationChannel, Workflow, utcnow
from support.cli import planner_here
from support.fakes import Reply
from support.processes import planner
from support.stored import everything_stored, snapshot

KEY = "sk-live-0123456789abcdef"


def add_helper(settings, target, *extra: str, stdin: str = "", run=planner_here, **env: str):
    """`planner agents add Helper`, in this process unless `run` is support.processes.planner
    (for what only a process shows: a key piped into it, its real stderr)."""
    return run(
        settings, "agents", "add", "Helper", "--url", target.url + "/v1", "--model", "m",
        *extra, stdin=stdin, **env,
    )  # fmt: skip


def sent_key(target) -> str:
    return target.received("/v1/chat/completions")[-1].headers.get("Authorization", "")


def test_a_key_read_from_stdin_is_stored_encrypted_and_sent(settings, target):
    """A real process: the key piped into it, and nothing of it on its stdout or stderr."""
    done = add_helper(settings, target, "--api-key-stdin", "--json", stdin=KEY + "\n", run=planner)
    assert done.returncode == 0, done.stderr
    assert KEY not in done.stdout and json.loads(done.stdout)["key"] == "key saved (encrypted)"
    assert KEY not in everything_stored(settings)
    assert planner_here(settings, "agents", "test", "Helper").returncode == 0
    assert sent_key(target) == f"Bearer {KEY}"
    listed = planner_here(settings, "agents", "list", "--json")
    assert KEY not in listed.stdout and "api_key_secret" not in listed.stdout


def test_the_environment_wins_over_a_stored_key(settings, target):
    add_helper(settings, target, "--api-key-stdin", "--api-key-env", "HELPER_KEY", stdin=KEY)
    assert planner_here(settings, "agents", "test", "Helper", HELPER_KEY="from-env").returncode == 0
    assert sent_key(target) == "Bearer from-env"
    assert planner_here(settings, "agents", "test", "Helper").returncode == 0  # not set: stored
    assert sent_key(target) == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("", "Paste the key; the field is empty."),
        ("sk live with spaces", "A key is one line without spaces"),
        ("x" * 5000, "A key is at most 4096 characters."),
    ],
)
def test_a_bad_key_is_refused_and_nothing_is_stored(settings, target, stdin, message):
    before = snapshot(settings.database_url)
    done = add_helper(settings, target, "--api-key-stdin", stdin=stdin)
    assert done.returncode == 2 and message in done.stderr
    assert snapshot(settings.database_url) == before


def test_without_a_secret_key_one_clear_error_and_nothing_stored(settings, target):
    """A real process: its exit code, and its whole stderr one line (no traceback)."""
    before = snapshot(settings.database_url)
    done = add_helper(settings, target, "--api-key-stdin", stdin=KEY, run=planner,
                      PLANNER_SECRET_KEY="")  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("planner: PLANNER_SECRET_KEY is not set")
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert snapshot(settings.database_url) == before


def test_a_changed_secret_key_fails_the_call_in_words(settings, target, session):
    add_helper(settings, target, "--api-key-stdin", stdin=KEY)
    other = replace(settings, secret_key=new_secret_key())
    agent = find(session, Agent, "Helper")
    check = check_connection(agent, other)
    assert not check.succeeded and "The saved keys cannot be opened" in check.text
    assert target.received() == []


def test_rotating_keeps_every_stored_key_readable_with_the_new_key(settings, target):
    add_helper(settings, target, "--api-key-stdin", stdin=KEY)
    new = new_secret_key()
    done = planner_here(
        settings, "secrets", "rotate", PLANNER_SECRET_KEY=f"{new},{settings.secret_key}"
    )
    assert done.returncode == 0 and "Re-encrypted 1 stored key" in done.stdout
    with read_session(settings.database_url) as session:
        agent = find(session, Agent, "Helper")
        assert credentials.token_for(agent, replace(settings, secret_key=new)) == KEY
        with pytest.raises(SecretKeyError):
            credentials.token_for(agent, settings)


def test_a_key_is_replaced_and_removed(settings, target):
    add_helper(settings, target, "--api-key-stdin", stdin=KEY)
    done = planner_here(settings, "agents", "key", "Helper", stdin="sk-second\n")
    assert done.returncode == 0 and done.stdout == "Helper: key saved (encrypted).\n"
    planner_here(settings, "agents", "test", "Helper")
    assert sent_key(target) == "Bearer sk-second"
    assert planner_here(settings, "agents", "key", "Helper").returncode == 2  # nothing on stdin
    done = planner_here(settings, "agents", "key", "Helper", "--remove")
    assert done.stdout == "Helper: no key.\n"
    planner_here(settings, "agents", "test", "Helper")
    assert sent_key(target) == ""


def test_a_workflow_token_is_stored_and_sent(settings, target):
    done = planner_here(
        settings, "workflows", "add", "flow", "--url", target.url + "/hooks/flow",
        "--token-stdin", stdin="tok-secret",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "tok-secret" not in everything_stored(settings)
    with read_session(settings.database_url) as session:
        flow = find(session, Workflow, "flow")
        assert credentials.token_for(flow, settings) == "tok-secret"


def test_planners_own_secrets_are_stored_encrypted(settings, session):
    credentials.store(session, settings, credentials.COMPOSIO_API_KEY, "ck-composio-key")
    assert "ck-composio-key" not in everything_stored(settings)
    assert credentials.effective_settings(session, settings).composio_api_key == "ck-composio-key"
    env_wins = replace(settings, composio_api_key="from-env")
    assert credentials.effective_settings(session, env_wins).composio_api_key == "from-env"
    credentials.forget(session, credentials.COMPOSIO_API_KEY)
    assert credentials.stored(session, settings, credentials.COMPOSIO_API_KEY) == ""


def test_new_key_prints_a_usable_key(settings):
    done = planner_here(settings, "secrets", "new-key")
    key = done.stdout.strip()
    assert done.returncode == 0 and len(key) == 44
    assert credentials.seal(replace(settings, secret_key=key), "k", "key")


def test_a_refused_saved_key_says_to_replace_it(settings, target):
    add_helper(settings, target, "--api-key-stdin", stdin=KEY)
    target.script("/v1/chat/completions", Reply(401, {"error": "invalid key"}))
    done = planner_here(settings, "agents", "test", "Helper")
    assert done.stderr == (
        "planner: The key was refused (401): replace the saved key (Agents & workflows, or "
        "`planner agents key`).\n"
    )


def test_a_key_for_an_unknown_agent_is_refused_before_reading_it(settings):
    done = planner_here(settings, "agents", "key", "Nobody", stdin="sk-x")
    assert done.returncode == 2 and "no agent named 'Nobody'" in done.stderr


def test_rotating_re_encrypts_every_sealed_column(settings, session, target):
    """Agents' keys, workflows' tokens, stored Composio secrets and channels' addresses all
    open with the new key alone after `planner secrets rotate`."""
    add_helper(settings, target, "--api-key-stdin", stdin=KEY)
    credentials.store(session, settings, credentials.COMPOSIO_WEBHOOK_SECRET, "whsec_rotated")
    session.commit()
    channels.add_channel(session, settings, "Ops", "json://127.0.0.1:9/hook", utcnow())
    new = new_secret_key()
    done = planner_here(
        settings, "secrets", "rotate", PLANNER_SECRET_KEY=f"{new},{settings.secret_key}"
    )
    assert done.returncode == 0 and "Re-encrypted 3 stored keys" in done.stdout, done.stdout
    only_new = replace(settings, secret_key=new)
    with read_session(settings.database_url) as fresh:
        for model, column in credentials.SEALED_COLUMNS:
            for row in fresh.exec(select(model)):
                sealed = getattr(row, column)
                if sealed:
                    assert secrets.decrypt(only_new, sealed)
        [channel] = fresh.exec(select(NotificationChannel))
        assert secrets.decrypt(only_new, channel.url_secret) == "json://127.0.0.1:9/hook"


def test_every_column_that_holds_a_sealed_secret_is_rotated():
    """A new sealed column (named *_secret, or a StoredSecret's ciphertext) must join
    credentials.SEALED_COLUMNS, or rotating the key would leave it unreadable."""
    rotated = {(model.__tablename__, column) for model, column in credentials.SEALED_COLUMNS}
    sealed = {
        (table.name, column.name)
        for table in SQLModel.metadata.tables.values()
        for column in table.columns
        if column.name.endswith("_secret") or column.name == "ciphertext"
    }
    assert sealed and sealed <= rotated, sealed - rotated
