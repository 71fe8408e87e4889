"""`planner triggers|events|composio`: the issue's walkthrough and its error contract."""

from __future__ import annotations

import json

import pytest

from support.cli import json_printed
from support.stored import snapshot


def test_the_triggers_walkthrough(connected_cli, capsys, agent, workflow, composio, tmp_path):
    assert connected_cli("composio", "connect", "--json") == 0
    assert json_printed(capsys)["webhook_url"] == "https://planner.example.com/webhooks/composio"
    assert connected_cli("composio", "catalog", "--toolkit", "gmail", "--json") == 0
    assert [t["slug"] for t in json_printed(capsys)] == ["GMAIL_NEW_GMAIL_MESSAGE"]

    assert connected_cli("triggers", "add", "Email triage", "--agent", "Assistant", "--event",
                         "GMAIL_NEW_GMAIL_MESSAGE", "--filters", '{"labelIds":"INBOX"}',
                         "--user-id", "user-42", "--chat",
                         "New email from {emailFrom}: {emailSubject}.", "--json") == 0  # fmt: skip
    triage = json_printed(capsys)
    assert (triage["sync_state"], triage["composio_trigger_id"]) == ("registered", "ti_0001")
    assert connected_cli("triggers", "add", "Analyze", "--agent", "Assistant", "--event",
                         "GMAIL_NEW_GMAIL_MESSAGE", "--workflow", "analyze-email") == 0  # fmt: skip
    capsys.readouterr()
    assert connected_cli("triggers", "list", "--json") == 0
    assert [t["name"] for t in json_printed(capsys)] == ["Analyze", "Email triage"]

    payload = tmp_path / "event.json"
    payload.write_text(json.dumps({"sender": "Bob <bob@example.org>", "subject": "Hi"}))
    assert connected_cli("triggers", "test", "Email triage", "--payload", str(payload),
                         "--json") == 0  # fmt: skip
    test_run = json_printed(capsys)
    assert (test_run["source"], test_run["trigger_id"]) == ("test", triage["id"])

    assert connected_cli("events", "--json") == 0
    [event] = json_printed(capsys)
    assert event["runs"] == [{"run_id": test_run["id"], "trigger_id": triage["id"]}]
    assert connected_cli("events", "replay", event["id"], "--json") == 0
    assert json_printed(capsys)["id"].startswith(event["id"] + ":replay:")

    assert connected_cli("triggers", "update", "Email triage", "--filters",
                         '{"labelIds":"IMPORTANT"}', "--json") == 0  # fmt: skip
    assert json_printed(capsys)["composio_trigger_id"] == "ti_0003"
    assert connected_cli("triggers", "pause", "Email triage", "--json") == 0
    assert json_printed(capsys)["health"] == "yellow"
    assert connected_cli("triggers", "resume", "Email triage") == 0
    assert connected_cli("triggers", "rm", "Email triage") == 0
    assert sorted(composio.instances) == ["ti_0002"]


BAD = [
    (["triggers", "add", "T", "--agent", "Assistant", "--event", "NOT_A_TRIGGER", "--chat", "x"],
     "Trigger type NOT_A_TRIGGER not found"),
    (["triggers", "add", "T", "--agent", "Assistant", "--event", "GMAIL_NEW_GMAIL_MESSAGE",
      "--filters", "[1]", "--chat", "x"], "filters must be a JSON object"),
    (["triggers", "add", "T", "--agent", "Assistant", "--event", "GITHUB_COMMIT_EVENT",
      "--chat", "x"], "Fill in Owner (owner), Repository (repo): this event needs them."),
    (["triggers", "show", "Nope"], "no trigger named 'Nope'"),
    (["triggers", "test", "Nope"], "no trigger named 'Nope'"),
    (["events", "replay", "msg_nope"], "no event 'msg_nope'"),
    (["events", "--status", "lost"], "Unknown event status 'lost'"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "message"), BAD)
def test_bad_trigger_commands_exit_2_and_change_nothing(connected_cli, capsys, connected, agent,
                                                        composio, args, message):  # fmt: skip
    before = snapshot(connected.database_url)
    assert connected_cli(*args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert snapshot(connected.database_url) == before
    assert composio.instances == {}


def test_a_payload_file_that_cannot_be_read_is_refused(connected_cli, capsys, agent, tmp_path):
    assert connected_cli("triggers", "add", "T", "--agent", "Assistant", "--event",
                         "GMAIL_NEW_GMAIL_MESSAGE", "--chat", "x") == 0  # fmt: skip
    capsys.readouterr()
    assert connected_cli("triggers", "test", "T", "--payload", str(tmp_path / "missing.json")) == 2
    assert "Cannot read --payload" in capsys.readouterr().err


def test_a_payload_file_that_is_not_utf8_is_refused_on_one_line(connected_cli, capsys, connected,
                                                                agent, tmp_path):  # fmt: skip
    assert connected_cli("triggers", "add", "T", "--agent", "Assistant", "--event",
                         "GMAIL_NEW_GMAIL_MESSAGE", "--chat", "x") == 0  # fmt: skip
    payload = tmp_path / "payload.json"
    payload.write_bytes(b'\xff\xfe{"data": {}}')
    capsys.readouterr()
    before = snapshot(connected.database_url)
    assert connected_cli("triggers", "test", "T", "--payload", str(payload)) == 2
    err = capsys.readouterr().err
    assert "is not UTF-8 text" in err and err.count("\n") == 1
    assert snapshot(connected.database_url) == before
