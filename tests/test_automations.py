"""Rules jobs and triggers share (core/automations.py), checked for both through the `planner`
command: removals refused with who uses what, names, lookups, runs per trigger, threads,
and agents' addresses and key variables."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from sqlmodel import select

from core.agents import registry
from core.automations.shared import clean_name, name_key, named_like, names_at_hand
from core.errors import ValidationError
from core.store.models import Agent
from support.cli import json_printed
from support.stored import snapshot

pytestmark = pytest.mark.database  # about the database and the queue: PostgreSQL + Redis too


def refused(cli, capsys, settings, *args: str) -> str:
    """Run a command that must be refused: exit 2, one line, nothing changed."""
    capsys.readouterr()
    before = snapshot(settings.database_url)
    assert cli(*args) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("planner: ")
    assert snapshot(settings.database_url) == before
    return captured.err


def add_trigger(cli, name: str, *action: str) -> None:
    assert cli("triggers", "add", name, "--agent", "Assistant", "--event",
               "GMAIL_NEW_GMAIL_MESSAGE", *action) == 0  # fmt: skip


def test_an_agent_only_triggers_use_is_not_removed(connected_cli, capsys, connected, agent):
    add_trigger(connected_cli, "Email triage", "--chat", "New mail: {emailSubject}")
    error = refused(connected_cli, capsys, connected, "agents", "rm", "Assistant")
    assert "Agent 'Assistant' is used by trigger 'Email triage'" in error


def test_a_workflow_a_trigger_runs_is_not_removed(
    connected_cli, capsys, connected, agent, workflow
):
    add_trigger(connected_cli, "Analyze", "--workflow", "analyze-email")
    assert connected_cli("jobs", "add", "Weekly", "--agent", "Assistant", "--schedule",
                         "@weekly", "--workflow", "analyze-email") == 0  # fmt: skip
    error = refused(connected_cli, capsys, connected, "workflows", "rm", "analyze-email")
    assert "used by job 'Weekly', trigger 'Analyze'" in error

    assert connected_cli("triggers", "rm", "Analyze") == 0
    assert connected_cli("jobs", "rm", "Weekly") == 0
    assert connected_cli("workflows", "rm", "analyze-email") == 0
    assert connected_cli("agents", "rm", "Assistant") == 0


def test_runs_lists_one_triggers_runs(connected_cli, capsys, connected, agent):
    add_trigger(connected_cli, "Email triage", "--chat", "hi")
    add_trigger(connected_cli, "Other", "--chat", "hi")
    assert connected_cli("triggers", "test", "Email triage") == 0
    assert connected_cli("triggers", "test", "Other") == 0
    assert connected_cli("jobs", "add", "Daily", "--agent", "Assistant", "--schedule",
                         "@daily", "--chat", "hi") == 0  # fmt: skip
    assert connected_cli("jobs", "run", "Daily") == 0
    said = capsys.readouterr().out.splitlines()
    assert connected_cli("triggers", "show", "Email triage", "--json") == 0
    triage = json_printed(capsys)
    started = [re.sub(r"Run \d+ ", "Run N ", line) for line in said if line.startswith("Run ")]
    then = "is saved and starts as soon as the worker takes it; see how it goes with: planner runs"
    assert started == [  # a sentence, and the command that follows the run; not a bare id
        f"Run N of trigger 'Email triage' {then} --trigger 'Email triage'",
        f"Run N of trigger 'Other' {then} --trigger Other",
        f"Run N of job 'Daily' {then} --job Daily",
    ]

    assert connected_cli("runs", "--trigger", "Email triage", "--json") == 0
    [run] = json_printed(capsys)
    assert (run["trigger_id"], run["source"]) == (triage["id"], "test")
    assert connected_cli("runs", "--trigger", str(triage["id"]), "--json") == 0
    assert [r["id"] for r in json_printed(capsys)] == [run["id"]]
    assert "no trigger named 'Nope'" in refused(
        connected_cli, capsys, connected, "runs", "--trigger", "Nope"
    )


def test_a_trigger_can_continue_one_conversation(connected_cli, capsys, connected, agent, workflow):
    add_trigger(connected_cli, "Triage", "--chat", "hi", "--thread", "continue", "--json")
    assert json_printed(capsys)["config"]["thread"] == "continue"
    assert connected_cli("triggers", "update", "Triage", "--name", "Email triage", "--json") == 0
    assert json_printed(capsys)["config"] == {"template": "hi", "thread": "continue"}
    assert connected_cli("triggers", "update", "Email triage", "--thread", "new", "--json") == 0
    assert json_printed(capsys)["config"] == {"template": "hi", "thread": "new"}
    error = refused(connected_cli, capsys, connected, "triggers", "add", "Flow", "--agent",
                    "Assistant", "--event", "GMAIL_NEW_GMAIL_MESSAGE", "--workflow",
                    "analyze-email", "--thread", "continue")  # fmt: skip
    assert "thread mode only applies to chat triggers" in error


def test_names_are_never_only_digits_and_digits_mean_an_id(connected_cli, capsys, connected, agent):
    error = refused(connected_cli, capsys, connected, "jobs", "add", "42", "--agent",
                    "Assistant", "--schedule", "@daily", "--chat", "hi")  # fmt: skip
    assert "can't be only digits" in error
    assert "can't be only digits" in refused(
        connected_cli,
        capsys,
        connected,
        "agents",
        "add",
        "7",
        "--url",
        "http://127.0.0.1:9/v1",
        "--model",
        "m",
    )
    assert connected_cli("jobs", "add", "Daily", "--agent", "Assistant", "--schedule",
                         "@daily", "--chat", "hi", "--json") == 0  # fmt: skip
    daily = json_printed(capsys)
    assert connected_cli("jobs", "show", str(daily["id"]), "--json") == 0
    assert json_printed(capsys)["name"] == "Daily"
    assert "no job with id 999" in refused(connected_cli, capsys, connected, "jobs", "show", "999")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "http://[::1"], "is not a web address"),
        (["--url", "http://example.org:99999/v1"], "is not a web address"),
        (["--url", "file:///etc/passwd"], "is not a web address"),
        (["--url", "http:///v1"], "is not a web address"),
        (["--url", "http://exa mple.com/v1"], "is not a web address"),
        (["--api-key-env", "COMPOSIO_WEBHOOK_SECRET"], "one of Planner's own settings"),
        (["--api-key-env", "COMPOSIO_API_KEY"], "one of Planner's own settings"),
        (["--api-key-env", "DATABASE_URL"], "one of Planner's own settings"),
        (["--api-key-env", "QUEUE_URL"], "one of Planner's own settings"),
        (["--api-key-env", "dashboard_password"], "one of Planner's own settings"),
        (["--api-key-env", "PLANNER_SECRET"], "one of Planner's own settings"),
        (["--api-key-env", "sk-live-123"], "not the key itself"),
    ],
)
def test_agents_refuse_bad_addresses_and_planners_own_settings(connected_cli, capsys, connected,
                                                               args, message):  # fmt: skip
    base = ["agents", "add", "Helper", "--model", "m"]
    url = [] if "--url" in args else ["--url", "http://127.0.0.1:9/v1"]
    assert message in refused(connected_cli, capsys, connected, *base, *url, *args)


def test_workflows_refuse_planners_own_settings_as_their_token(connected_cli, capsys, connected):
    error = refused(connected_cli, capsys, connected, "workflows", "add", "Leak", "--url",
                    "http://127.0.0.1:9/hook", "--auth-env", "COMPOSIO_WEBHOOK_SECRET")  # fmt: skip
    assert "one of Planner's own settings" in error


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workflow", "analyze-email", "--input", '{"a": "\\ud800"}'], "not valid JSON"),
        (["--workflow", "analyze-email", "--input", '{"a": "\\u0000"}'], "not valid JSON"),
        (["--workflow", "analyze-email", "--input", '{"a": 1e999}'], "1e999 is not a number"),
        (["--chat", "hi \udced\udca0\udc80"], "chat message holds a character that cannot"),
        (["--chat", "hi\x00"], "chat message holds a character that cannot"),
    ],
)
def test_text_no_database_stores_is_refused_and_listings_keep_working(
    connected_cli, capsys, connected, agent, workflow, args, message
):
    """A terminal's undecodable bytes arrive as lone surrogates; stored, they broke every
    JSON listing and the agent's dashboard page."""
    error = refused(connected_cli, capsys, connected, "jobs", "add", "Odd", "--agent",
                    "Assistant", "--schedule", "@daily", *args)  # fmt: skip
    assert message in error
    assert "trigger name holds a character that cannot be stored" in refused(
        connected_cli,
        capsys,
        connected,
        "triggers",
        "add",
        "Odd \udcff",
        "--agent",
        "Assistant",
        "--event",
        "GMAIL_NEW_GMAIL_MESSAGE",
        "--chat",
        "x",
    )
    assert connected_cli("jobs", "list", "--json") == 0 and connected_cli("runs", "--json") == 0


@pytest.mark.parametrize(
    ("kind", "taken", "again", "extra", "message"),
    [
        ("jobs", "Morning briefing", " morning  Briefing ",
         ["--agent", "Assistant", "--schedule", "@daily", "--chat", "hi"],
         "A job named 'Morning briefing' already exists"),
        ("triggers", "Email triage", "EMAIL TRIAGE",
         ["--agent", "Assistant", "--event", "GMAIL_NEW_GMAIL_MESSAGE", "--chat", "hi"],
         "A trigger named 'Email triage' already exists"),
        ("agents", "Helper", " helper",
         ["--url", "http://127.0.0.1:9/v1", "--model", "m"],
         "An agent named 'Helper' already exists"),
        ("workflows", "Analyze mail", "analyze   MAIL",
         ["--url", "http://127.0.0.1:9/hook"],
         "A workflow named 'Analyze mail' already exists"),
    ],
)  # fmt: skip
def test_names_are_one_name_whatever_their_capitals_and_spaces(connected_cli, capsys, connected,
                                                               agent, kind, taken, again, extra,
                                                               message):  # fmt: skip
    """Refused in every table, naming the one that exists."""
    assert connected_cli(kind, "add", taken, *extra) == 0
    error = refused(connected_cli, capsys, connected, kind, "add", again, *extra)
    assert f"{message}; names that differ only in capitals or spaces count as the same." in error


def test_a_job_may_change_only_the_capitals_of_its_own_name(
    connected_cli, capsys, connected, agent
):
    assert connected_cli("jobs", "add", "Daily", "--agent", "Assistant", "--schedule",
                         "@daily", "--chat", "hi") == 0  # fmt: skip
    capsys.readouterr()
    assert connected_cli("jobs", "update", "Daily", "--name", "DAILY", "--json") == 0
    assert json_printed(capsys)["name"] == "DAILY"


@pytest.mark.parametrize(
    ("args", "what", "hidden"),
    [
        (["jobs", "add", "{}", "--agent", "Assistant", "--schedule", "@daily", "--chat", "hi"],
         "job", "\u202e"),
        (["triggers", "add", "{}", "--agent", "Assistant", "--event", "GMAIL_NEW_GMAIL_MESSAGE",
          "--chat", "hi"], "trigger", "\u200b"),
        (["agents", "add", "{}", "--url", "http://127.0.0.1:9/v1", "--model", "m"], "agent",
         "\u2066"),
        (["workflows", "add", "{}", "--url", "http://127.0.0.1:9/hook"], "workflow", "\u2069"),
        (["notify", "add", "{}", "--url", "json://127.0.0.1:9/alerts"], "channel", "\ufeff"),
        (["tokens", "create", "{}"], "token", "\u202e"),
    ],
    ids=["job", "trigger", "agent", "workflow", "channel", "token"],
)  # fmt: skip
def test_names_with_invisible_formatting_characters_are_refused(
    connected_cli, capsys, connected, agent, args, what, hidden
):
    """A bidi control turns a name around on screen ("Report\u202e2026" shows as another
    name); a zero-width space or a byte order mark makes two names that look alike."""
    name = f"Report{hidden} 2026"
    error = refused(connected_cli, capsys, connected, *[name if a == "{}" else a for a in args])
    assert error == (
        f"planner: The {what} name holds an invisible formatting character "
        f"(U+{ord(hidden):04X}); type the name again without it.\n"
    )


@pytest.mark.parametrize("hidden", ["\u202e", "\u200b", "\u2066", "\u2067", "\u2068",
                                    "\u2069", "\ufeff", "\u200e", "\u00ad"])  # fmt: skip
def test_every_invisible_formatting_character_is_refused_in_a_name(hidden):
    for name in (f"{hidden}Daily", f"Daily{hidden}", f"Dai{hidden}ly", hidden):
        with pytest.raises(ValidationError, match=r"invisible formatting character \(U\+"):
            clean_name(name, "job")
    assert clean_name("Daily 👍 café", "job") == "Daily 👍 café"  # visible ones are fine


# Names as they may be stored: folded by clean_name, or (rows from before it) not; in
# plain ASCII or not, where casefolding is more than lowering A to Z.
STORED = ["Morning briefing", "morning  briefing", " Lead", "Straße", "STRASSE", "\u01c5emal",
          "\u212a-pop", "tab\tname", "\u0130stanbul", "ISTANBUL", "100% _done_", "\uff2aob",
          "k-pop"]  # fmt: skip
ASKED = [*STORED, "MORNING BRIEFING", " morning briefing ", "lead", "strasse", "STRASSE",
         "\u01c4EMAL", "dzemal", "K-POP", "tab name", "i\u0307stanbul", "istanbul",
         "100% _DONE_", "\uff4aOB", "job", "nobody"]  # fmt: skip


def test_named_like_finds_what_a_person_reads_as_the_name(session):
    """The database is asked only for rows that can be the name, the dict of
    names_at_hand holds every row: both find what comparing every name_key finds (the
    oldest of several), other than a row of its own."""
    table = Agent.__table__
    session.connection().execute(sa.insert(table), [
        {"name": name, "backend": "openai", "base_url": "http://127.0.0.1:9/v1"}
        for name in STORED
    ])  # fmt: skip
    session.commit()
    rows = list(session.exec(select(Agent).order_by(Agent.id)))

    def by_key(name: str, other_than: int | None) -> int | None:
        key = name_key(name)
        return next((r.id for r in rows if name_key(r.name) == key and r.id != other_than), None)

    def found(name: str, other_than: int | None) -> int | None:
        row = named_like(session, Agent, name, other_than)
        return row.id if row else None

    asked = [(name, other) for name in ASKED for other in (None, rows[0].id, rows[3].id)]
    expected = [by_key(name, other) for name, other in asked]
    assert any(expected) and None in expected
    assert [found(name, other) for name, other in asked] == expected
    with names_at_hand(session, Agent):
        assert [found(name, other) for name, other in asked] == expected


def test_names_at_hand_follows_what_the_session_writes(session):
    with names_at_hand(session, Agent):
        helper = registry.save_agent(session, "Helper", "openai", "http://127.0.0.1:9/v1", "m")
        assert named_like(session, Agent, " HELPER") == helper
        registry.save_agent(
            session, "Aide", "openai", "http://127.0.0.1:9/v1", "m", existing=helper
        )
        assert named_like(session, Agent, "helper") is None
        assert named_like(session, Agent, "aide") == helper
        assert named_like(session, Agent, "aide", other_than=helper.id) is None
        session.delete(helper)
        session.flush()
        assert named_like(session, Agent, "aide") is None
        session.rollback()  # what it held may be undone: the database is asked again
        assert named_like(session, Agent, "aide") == helper
