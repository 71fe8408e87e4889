"""The `planner` command's arguments (argparse exits 2 on a malformed command line)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from core.agents.registry import MOST_CALLS_AT_ONCE, NO_LIMIT


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 500:
        raise argparse.ArgumentTypeError("must be between 1 and 500")
    return value


def _json_flag(parser: argparse.ArgumentParser, nested: bool = False) -> None:
    """--json; `nested` on a subcommand of a command that has it too, so that either place
    counts (argparse would otherwise reset the command's with the subcommand's default)."""
    default = argparse.SUPPRESS if nested else False
    parser.add_argument("--json", action="store_true", default=default, help="print JSON on stdout")


def _automation_options(
    parser: argparse.ArgumentParser, update: bool, singular: str, workflow_help: str,
    own: Callable[[argparse.ArgumentParser], None],
) -> None:  # fmt: skip
    """What jobs and triggers both set (their agent, action, own retries, call timeout and
    overlap, who is told when), with `own`, the options of one of them."""
    if update:
        parser.add_argument("--name", dest="new_name", help=f"rename the {singular}")
    parser.add_argument("--agent", help="agent name or id")
    own(parser)
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--chat", metavar="TEMPLATE", help="start a chat with this message")
    action.add_argument("--workflow", help=workflow_help)
    parser.add_argument("--thread", choices=["new", "continue"], help="chat thread mode")
    parser.add_argument(
        "--input", metavar="TEMPLATE",
        help='the workflow\'s input: a JSON object whose text may name {variables}, e.g. '
        '\'{"from": "{emailFrom}"}\'; a value that is one whole {variable} keeps its JSON '
        "type; {} for none (a trigger then sends the event's data)",
    )  # fmt: skip
    parser.add_argument(
        "--retries", metavar="N", help="times a failed call is tried again, 0-10 (default: "
        "PLANNER_MAX_RETRIES)",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", metavar="TIME", help="how long one call may take, e.g. 90s or 5m, at most "
        "1h (default: PLANNER_HTTP_TIMEOUT_SECONDS)",
    )  # fmt: skip
    parser.add_argument(
        "--overlap", choices=["skip", "queue", "allow", "default"],
        help="when the previous run still runs: skip the new one, queue it (one), or allow "
        "both (default: skip for jobs, allow for triggers)",
    )  # fmt: skip
    parser.add_argument(
        "--notify", metavar="CHANNEL", help="tell these channels (comma-separated names; "
        "'none' for nobody; 'default' for the channels told about every failure, as new "
        "jobs and triggers do), see 'planner notify'",
    )  # fmt: skip
    parser.add_argument(
        "--notify-on", dest="notify_on", metavar="WHEN",
        help="failure, recovery, digest (comma-separated; default failure,recovery)",
    )  # fmt: skip
    _json_flag(parser)


def _every_failure_option(parser: argparse.ArgumentParser, default: str | None) -> None:
    parser.add_argument(
        "--every-failure", dest="every_failure", choices=["yes", "no"], default=default,
        help="whether the channel is told when any job or trigger fails (unless it chose "
        "its own channels)" + (f"; {default} when left out" if default else ""),
    )  # fmt: skip


def _job_options(parser: argparse.ArgumentParser) -> None:
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--schedule", help="5-field cron, e.g. '0 9 * * *', or @daily")
    when.add_argument("--at", metavar="DATETIME", help="run once, e.g. '2026-12-24 09:00'")
    parser.add_argument("--timezone", help="IANA timezone (default PLANNER_TIMEZONE, else UTC)")
    parser.add_argument(
        "--from", dest="starts_on", metavar="DATE", help="first day it runs (none: no first day)"
    )
    parser.add_argument(
        "--until", dest="ends_on", metavar="DATE", help="last day it runs (none: no last day)"
    )
    parser.add_argument(
        "--jitter", metavar="DELAY", help="start each run up to this much later at random (5m)"
    )
    parser.add_argument("--misfire", choices=["catch_up_once", "skip"], help="after downtime")


def _agent_options(parser: argparse.ArgumentParser, update: bool) -> None:
    parser.add_argument(
        "--backend", choices=["openai", "http"], default=None if update else "openai"
    )
    parser.add_argument("--model", help="model name (openai) or remote agent id (http)")
    parser.add_argument("--system-prompt", dest="system_prompt")
    parser.add_argument(
        "--api-key-env",
        dest="api_key_env",
        metavar="NAME",
        help="the environment variable that holds its key, e.g. OPENAI_API_KEY",
    )


def _workflow_options(parser: argparse.ArgumentParser, update: bool) -> None:
    parser.add_argument(
        "--auth-env",
        dest="auth_env",
        metavar="NAME",
        help="the environment variable that holds its token, e.g. ANALYZE_EMAIL_TOKEN",
    )


def _add_registry(
    commands: argparse._SubParsersAction,
    name: str,
    what: str,
    secret: str,
    options: Callable[[argparse.ArgumentParser, bool], None],
) -> argparse._SubParsersAction:
    """add|update|list|rm|key for agents or workflows; `secret` names their key
    ("api-key"), `options` adds their own fields to add and update."""
    parser = commands.add_parser(name, help=f"manage {name}")
    actions = parser.add_subparsers(dest="action", required=True)
    one = f"{'an' if what[0] in 'aeiou' else 'a'} {what}"
    add = actions.add_parser("add", help=f"add {one}")
    add.add_argument("name")
    update = actions.add_parser("update", help=f"change {one}; what is left out stays as it is")
    update.add_argument(what, help="name or id")
    update.add_argument("--name", dest="new_name", help=f"rename the {what}")
    for changing, is_update in ((add, False), (update, True)):
        changing.add_argument("--url", required=not is_update)
        options(changing, is_update)
        changing.add_argument(
            "--max-concurrency",
            dest="max_concurrency",
            metavar="N",
            help=f"at most N calls to it open at once, across all workers (1-{MOST_CALLS_AT_ONCE})"
            + (f"; '{NO_LIMIT}' removes the limit" if is_update else "; no limit if left out"),
        )
        changing.add_argument(
            f"--{secret}-stdin",
            dest="secret_stdin",
            action="store_true",
            help=f"read the {secret.replace('-', ' ')} from standard input and store it encrypted",
        )
        _json_flag(changing)
    listing = actions.add_parser("list", help=f"list {name}")
    _json_flag(listing)
    remove = actions.add_parser("rm", help=f"remove {one}")
    remove.add_argument(what, help="name or id")
    key = actions.add_parser(
        "key", help=f"store {one}'s {secret.replace('-', ' ')} (read from standard input)"
    )
    key.add_argument(what, help="name or id")
    key.add_argument("--remove", action="store_true", help="forget the stored one")
    return actions


def _trigger_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--event", help="Composio trigger slug, e.g. GMAIL_NEW_GMAIL_MESSAGE")
    parser.add_argument("--filters", help="the event's filters (trigger_config) as JSON")
    parser.add_argument("--user-id", dest="user_id", help="Composio user id (COMPOSIO_USER_ID)")


def _automation_commands(
    commands: argparse._SubParsersAction,
    plural: str,
    singular: str,
    own: Callable[[argparse.ArgumentParser], None],
    workflow_help: str,
    verbs: list[tuple[str, str]],
) -> dict[str, argparse.ArgumentParser]:
    """`planner jobs|triggers add|update|list|VERB…`: the same shape for both, `own`
    adding the options of one of them."""
    parser = commands.add_parser(plural, help=f"manage {plural}")
    actions = parser.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help=f"add a {singular}")
    add.add_argument("name")
    _automation_options(add, False, singular, workflow_help, own)
    update = actions.add_parser("update", help=f"change a {singular}")
    update.add_argument(singular, help="name or id")
    _automation_options(update, True, singular, workflow_help, own)
    listing = actions.add_parser("list", help=f"list {plural}")
    listing.add_argument("--agent", help=f"only this agent's {plural}")
    _json_flag(listing)
    parsers = {}
    for name, text in verbs:
        parsers[name] = actions.add_parser(name, help=text)
        parsers[name].add_argument(singular, help="name or id")
        _json_flag(parsers[name])
    return parsers


def _trigger_commands(commands: argparse._SubParsersAction) -> None:
    verbs = [
        ("show", "show a trigger"),
        ("pause", "pause a trigger (disabled in Composio)"),
        ("resume", "resume a trigger (enabled in Composio)"),
        ("rm", "delete a trigger from Composio and here"),
        ("test", "fire a trigger with a sample event"),
        ("sync", "register a local trigger with Composio (or enable one it disabled)"),
    ]
    test = _automation_commands(
        commands, "triggers", "trigger", _trigger_options,
        "run this workflow with the event's data", verbs,
    )["test"]  # fmt: skip
    test.add_argument("--payload", metavar="FILE", help="event JSON (or just its data)")

    events = commands.add_parser("events", help="the webhook inbox, newest first")
    events.add_argument("--status", help="only events with this status")
    events.add_argument("--limit", type=_count, default=50)
    _json_flag(events)
    event_actions = events.add_subparsers(dest="action")
    replay = event_actions.add_parser("replay", help="process a stored event again")
    replay.add_argument("event_id")
    _json_flag(replay, nested=True)

    composio = commands.add_parser("composio", help="Planner's link with Composio")
    composio_actions = composio.add_subparsers(dest="action", required=True)
    connect = composio_actions.add_parser(
        "connect",
        help="deliver events to PUBLIC_BASE_URL/webhooks/composio (stores the signing secret)",
    )
    _json_flag(connect)
    catalog = composio_actions.add_parser("catalog", help="events a trigger can listen to")
    catalog.add_argument("--toolkit", help="only this app, e.g. gmail")
    _json_flag(catalog)
    key = composio_actions.add_parser(
        "key", help="store the Composio API key (read from standard input), encrypted"
    )
    key.add_argument("--remove", action="store_true", help="forget the stored one")
    accounts = composio_actions.add_parser("accounts", help="the apps you connected (Gmail, …)")
    _json_flag(accounts)
    for verb, text in [("link", "print a sign-in link that connects an app, e.g. gmail"),
                       ("disconnect", "remove your account of an app from Composio")]:  # fmt: skip
        account = composio_actions.add_parser(verb, help=text)
        account.add_argument("toolkit", metavar="APP", help="gmail, slack, github, …")
        _json_flag(account)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="planner", description="Scheduled jobs and event triggers for AI agents."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="create or upgrade the database schema")

    agent_verbs = _add_registry(commands, "agents", "agent", "api-key", _agent_options)
    check = agent_verbs.add_parser("test", help="send the agent one short message now")
    check.add_argument("agent", help="name or id")
    _json_flag(check)
    _add_registry(commands, "workflows", "workflow", "token", _workflow_options)

    job_verbs = [
        ("show", "show a job"),
        ("pause", "pause a job"),
        ("resume", "resume a job"),
        ("rm", "delete a job and its runs"),
        ("run", "run a job now (queued for the worker)"),
    ]
    _automation_commands(
        commands, "jobs", "job", _job_options, "run this workflow (name or id)", job_verbs
    )

    runs = commands.add_parser("runs", help="list runs, newest first; retry or cancel one")
    runs.add_argument("--job", help="only this job's runs")
    runs.add_argument("--trigger", help="only this trigger's runs")
    runs.add_argument("--status", help="only runs with this status")
    runs.add_argument("--limit", type=_count, default=50)
    _json_flag(runs)
    run_actions = runs.add_subparsers(dest="action")
    for verb, text in [
        ("retry", "try a failed or cancelled run again now (the same Idempotency-Key)"),
        ("cancel", "stop a waiting or running run (a running call's answer is not waited for)"),
    ]:
        action = run_actions.add_parser(verb, help=text)
        action.add_argument("run", help="the run's id")
        _json_flag(action, nested=True)

    _trigger_commands(commands)
    keys = commands.add_parser("secrets", help="the key that encrypts stored keys")
    key_actions = keys.add_subparsers(dest="action", required=True)
    key_actions.add_parser("new-key", help="print a new PLANNER_SECRET_KEY")
    key_actions.add_parser(
        "rotate", help="re-encrypt stored keys with the first key in PLANNER_SECRET_KEY"
    )

    notify = commands.add_parser("notify", help="channels that are told when runs fail")
    notify_actions = notify.add_subparsers(dest="action", required=True)
    channel = notify_actions.add_parser("add", help="add a channel (an Apprise URL)")
    channel.add_argument("name")
    where = channel.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="e.g. mailtos://user:pass@example.com?to=me@example.com")
    where.add_argument(
        "--url-stdin", dest="url_stdin", action="store_true",
        help="read the URL from standard input (it holds a secret; kept out of shell history)",
    )  # fmt: skip
    _every_failure_option(channel, "yes")
    _json_flag(channel)
    _json_flag(notify_actions.add_parser("list", help="list channels (never their URLs)"))
    changed = notify_actions.add_parser("update", help="change what a channel is told")
    changed.add_argument("channel", help="name or id")
    _every_failure_option(changed, None)
    _json_flag(changed)
    for verb, text in [("rm", "remove a channel"), ("test", "send a channel a test message")]:
        notify_actions.add_parser(verb, help=text).add_argument("channel", help="name or id")

    tokens = commands.add_parser("tokens", help="bearer tokens of the HTTP API")
    token_actions = tokens.add_subparsers(dest="action", required=True)
    made = token_actions.add_parser("create", help="make a token (shown once)")
    made.add_argument("name", help="what it is for, e.g. 'n8n'")
    made.add_argument(
        "--agent", help="only this agent's jobs, triggers and runs (name or id); nothing else "
        "is there for the token (default: every agent, and everything)",
    )  # fmt: skip
    _json_flag(made)
    _json_flag(token_actions.add_parser("list", help="list tokens (never the tokens themselves)"))
    revoked = token_actions.add_parser("rm", help="revoke a token")
    revoked.add_argument("token", help="its name or id")

    mcp = commands.add_parser(
        "mcp", help="serve Planner's tools to an MCP client over stdio (for desktop MCP "
        "clients); --agent keeps them to one agent's jobs, triggers and runs",
    )  # fmt: skip
    mcp.add_argument("--agent", help="only this agent's jobs, triggers and runs (name or id)")

    commands.add_parser(
        "export", help="print agents, workflows, jobs and triggers as YAML (no secrets)"
    )
    setup = commands.add_parser(
        "import", help="create or change agents, workflows, jobs and triggers from a YAML file"
    )
    setup.add_argument("file", help="a file written by 'planner export' ('-': standard input)")
    setup.add_argument(
        "--dry-run", action="store_true", help="say what would change, change nothing"
    )
    _json_flag(setup)

    cron = commands.add_parser("cron", help="check a cron expression and show its next runs")
    cron.add_argument("expression")
    cron.add_argument("--timezone")
    cron.add_argument("--next", type=_count, default=5)
    cron.add_argument("--from", dest="start", help="start time, read in --timezone")
    _json_flag(cron)
    return parser
