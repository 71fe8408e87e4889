"""The `planner` command: a thin shell over core, like the dashboard.

Bad input prints one line on stderr and exits 2, having changed nothing (core raises
before it commits). `--json` prints one JSON object or array on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from cli.events import cmd_composio, cmd_events, cmd_triggers
from cli.fields import given_fields
from cli.output import emit, lines, read_secret, run_started, task_queue
from cli.parser import build_parser
from cli.setup_file import cmd_export, cmd_import
from core.access import credentials, secrets, tokens
from core.agents import registry
from core.agents.check import check_connection
from core.agents.registry import row_json
from core.automations import jobs
from core.automations.shared import find, list_owned
from core.config import Settings, get_settings
from core.errors import PlannerError, ValidationError, each_refusal
from core.notifications import channels
from core.running import runs
from core.scheduling import occurrences
from core.store.db import migrate, not_set_up, read_session
from core.store.db import session as open_session
from core.store.models import (
    Agent,
    ApiToken,
    NotificationChannel,
    ScheduledJob,
    Workflow,
    utcnow,
)

EXIT_BAD_INPUT = 2


def _job_line(job: dict[str, Any]) -> str:
    when = job["next_run_at"] or ("none, done" if job["health"] == "grey" else "—")
    return (
        f"{job['id']:>4}  {job['name']}  [{job['status']}, {job['health']}]  "
        f"{job['schedule']} ({job['description']}, {job['timezone']})  next: {when}"
    )


def _run_line(run: dict[str, Any]) -> str:
    detail = run["waiting_reason"] or run["error"] or ""
    automation = f"job {run['job_id']}" if run["job_id"] else f"trigger {run['trigger_id']}"
    return (
        f"{run['id']:>6}  {automation}  {run['source']:<9} {run['status']:<9} "
        f"tries {run['attempt']}  for {run['scheduled_for'] or run['due_at']}  {detail}"
    ).rstrip()


def _said_if_not_handed_on(run: dict[str, Any]) -> None:
    """A run saved whose queue failed (core.running.runs.hand_on): it is the answer all the same
    (exit 0, never a second run on a second try); when it starts is said on stderr."""
    if run["waiting_reason"] == runs.NOT_HANDED_ON:
        print(f"planner: note: run {run['id']}: {runs.NOT_HANDED_ON}", file=sys.stderr)


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> None:
    migrate(settings.database_url)
    print("Database is up to date.")


def _kept(given: Any, existing: Agent | Workflow | None, attribute: str, default: Any = "") -> Any:
    """An option's value; when it was left out, the target's current one (update) or
    `default` (add)."""
    if given is not None:
        return given
    return getattr(existing, attribute) if existing is not None else default


def _limit(args: argparse.Namespace, existing: Agent | Workflow | None) -> int | None:
    """--max-concurrency N or 'none'; left out: as it is on update, no limit on add."""
    if args.max_concurrency is None:
        return existing.max_concurrency if existing else None
    return registry.max_concurrency_from_text(args.max_concurrency)


def _registry(
    args: argparse.Namespace,
    settings: Settings,
    model: type[Agent] | type[Workflow],
    save: Callable[[Session, str | None, Any], Agent | Workflow],
    remove: Callable[[Session, str], str],
    line: Callable[[dict[str, Any]], str],
) -> None:
    """`planner agents|workflows add|update|list|rm|key`: the same verbs over either table;
    `save` takes the sealed key (or None) and the target to change (None to add)."""
    what = model.__name__.lower()
    secret = "API key" if model is Agent else "token"
    with open_session(settings.database_url) as session:
        if args.action in ("add", "update"):
            # an unknown name is said before the key is read
            existing = (
                find(session, model, getattr(args, what)) if args.action == "update" else None
            )
            sealed = (
                credentials.seal(settings, read_secret(secret), "key")
                if args.secret_stdin
                else None
            )
            item = save(session, sealed, existing)
            done = "Changed" if existing else "Added"
            emit(args, row_json(item), lambda: f"{done} {what} {item.name} (id {item.id}).")
        elif args.action == "list":
            found = [row_json(item) for item in registry.list_all(session, model)]
            empty = f"No {what}s yet: add one with 'planner {what}s add NAME --url URL'."
            emit(args, found, lambda: lines(found, line, empty))
        elif args.action == "key":
            find(session, model, getattr(args, what))  # an unknown name is said before reading
            key = "" if args.remove else read_secret(secret)
            if not args.remove and not key.strip():
                raise ValidationError(f"No {secret} on standard input; nothing was changed.")
            item = registry.set_key(session, settings, model, getattr(args, what), key)
            print(f"{item.name}: {credentials.key_in_words(item)}.")
        else:
            also = remove(session, getattr(args, what))
            print(f"Removed {what} {getattr(args, what)}." + (f" {also}" if also else ""))


def _name(args: argparse.Namespace, existing: Agent | Workflow | None) -> str:
    """The name given to add; on update --name, else the current one."""
    return _kept(args.new_name, existing, "name") if existing else args.name


def cmd_agents(args: argparse.Namespace, settings: Settings) -> None:
    def save(session: Session, sealed: str | None, existing: Agent | None) -> Agent:
        return registry.save_agent(
            session, _name(args, existing), _kept(args.backend, existing, "backend"),
            _kept(args.url, existing, "base_url"), _kept(args.model, existing, "model"),
            _kept(args.system_prompt, existing, "system_prompt"),
            _kept(args.api_key_env, existing, "api_key_env"), existing,
            api_key_secret=sealed, max_concurrency=_limit(args, existing),
        )  # fmt: skip

    if args.action == "test":
        with read_session(settings.database_url) as session:
            agent = find(session, Agent, args.agent)
        check = check_connection(agent, settings)
        if not check.succeeded:
            raise PlannerError(check.text)
        emit(args, {"agent": agent.name, "reply": check.text}, lambda: check.text)
        return
    _registry(
        args, settings, Agent, save, registry.remove_agent,
        lambda a: f"{a['id']:>4}  {a['name']}  {a['backend']}  {a['base_url']}  {a['key']}  "
        f"{registry.limit_in_words(a['max_concurrency'])}",
    )  # fmt: skip


def cmd_workflows(args: argparse.Namespace, settings: Settings) -> None:
    def save(session: Session, sealed: str | None, existing: Workflow | None) -> Workflow:
        return registry.save_workflow(
            session, _name(args, existing), _kept(args.url, existing, "url"),
            _kept(args.auth_env, existing, "auth_env"), existing,
            auth_secret=sealed, max_concurrency=_limit(args, existing),
        )  # fmt: skip

    _registry(args, settings, Workflow, save, registry.remove_workflow,
              lambda w: f"{w['id']:>4}  {w['name']}  {w['url']}  {w['key']}  "
              f"{registry.limit_in_words(w['max_concurrency'])}")  # fmt: skip


def cmd_secrets(args: argparse.Namespace, settings: Settings) -> None:
    """`planner secrets new-key|rotate`."""
    if args.action == "new-key":
        print(secrets.new_secret_key())
        return
    with open_session(settings.database_url) as session:
        count = credentials.rotate(session, settings)
    print(f"Re-encrypted {count} stored key{'s' if count != 1 else ''} with the first key.")


def cmd_jobs(args: argparse.Namespace, settings: Settings) -> None:
    now = utcnow()
    with open_session(settings.database_url) as session:
        if args.action == "list":
            found = [jobs.job_json(job) for job in list_owned(session, ScheduledJob, args.agent)]
            emit(
                args,
                found,
                lambda: lines(
                    found, _job_line, "No jobs yet: add one with 'planner jobs add NAME ...'."
                ),
            )
            return
        if args.action == "run":
            name = jobs.find_job(session, args.job).name
            shown = runs.run_json(jobs.run_job_now(session, args.job, task_queue(), now))
            emit(args, shown, lambda: run_started(shown, "job", name))
            _said_if_not_handed_on(shown)
            return
        if args.action == "rm":
            jobs.delete_job(session, args.job)
            print(f"Deleted job {args.job}.")
            return
        if args.action == "add":
            fields = given_fields(args, jobs.JobFields)
            job = jobs.create_job(session, args.name, fields, now, settings.timezone, task_queue())
        elif args.action == "update":
            fields = given_fields(args, jobs.JobFields)
            job = jobs.update_job(session, args.job, fields, now, task_queue())
        elif args.action == "pause":
            job = jobs.pause_job(session, args.job, now)
        elif args.action == "resume":
            job = jobs.resume_job(session, args.job, now, task_queue())
        else:
            job = jobs.find_job(session, args.job)
        shown = jobs.job_json(job)
        emit(args, shown, lambda: _job_line(shown))
        if args.action in ("add", "update") and (
            warning := jobs.template_warning(session, job, now)
        ):
            print(f"planner: note: {warning}", file=sys.stderr)


def cmd_runs(args: argparse.Namespace, settings: Settings) -> None:
    if args.action is not None:
        with open_session(settings.database_url) as session:
            if args.action == "retry":
                run = runs.retry_run(session, args.run, task_queue(), utcnow())
            else:
                run = runs.cancel_run(session, args.run, utcnow())
        shown = runs.run_json(run)
        emit(args, shown, lambda: _run_line(shown))
        _said_if_not_handed_on(shown)
        return
    with read_session(settings.database_url) as session:
        found = [
            runs.run_json(r)
            for r in runs.list_runs(session, args.job, args.trigger, args.status, args.limit)
        ]
    emit(args, found, lambda: lines(found, _run_line, "No runs yet."))


def _start(text: str | None, timezone: str) -> datetime:
    if text is None:
        return utcnow()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            f"--from {text!r} is not a date and time like 2026-11-01T00:00.", "from"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=occurrences.zone(timezone))


def cmd_cron(args: argparse.Namespace, settings: Settings) -> None:
    timezone = args.timezone or settings.timezone
    try:
        expression = occurrences.validate_cron(args.expression)
        occurrences.validate_timezone(timezone)
        start = _start(args.start, timezone)
    except ValidationError as error:
        if args.json:
            print(json.dumps({"valid": False, "error": str(error)}))
        raise
    tz = occurrences.zone(timezone)
    upcoming = [
        moment.astimezone(tz).isoformat()
        for moment in occurrences.next_occurrences(expression, timezone, start, args.next)
    ]
    result = {
        "valid": True,
        "expression": expression,
        "timezone": timezone,
        "description": occurrences.describe(expression),
        "next": upcoming,
    }
    emit(args, result, lambda: "\n".join([f"{result['description']} ({timezone})", *upcoming]))


def _channel_line(channel: dict[str, Any]) -> str:
    state = f"failing: {channel['last_error']}" if channel["last_error"] else "working"
    told = "  told about every failure" if channel["every_failure"] else ""
    return f"{channel['id']:>4}  {channel['name']}  ({channel['service']})  {state}{told}"


def _every_failure_words(channel: NotificationChannel) -> str:
    if channel.every_failure:
        return "It is told when any job or trigger fails, unless one chose its own channels."
    return "It is told only by the jobs and triggers that choose it."


def cmd_notify(args: argparse.Namespace, settings: Settings) -> None:
    with open_session(settings.database_url) as session:
        if args.action == "add":
            url = read_secret("URL") if args.url_stdin else args.url
            told = args.every_failure == "yes"
            channel = channels.add_channel(session, settings, args.name, url, utcnow(), told)
            shown = channels.channel_json(channel)
            emit(args, shown, lambda: f"Added channel {channel.name} ({channel.kind}). "
                 + _every_failure_words(channel))  # fmt: skip
        elif args.action == "update":
            if args.every_failure is None:
                raise PlannerError("Nothing to change: give --every-failure yes or no.")
            channel = channels.set_every_failure(session, args.channel, args.every_failure == "yes")
            shown = channels.channel_json(channel)
            emit(args, shown, lambda: f"Channel {channel.name}: " + _every_failure_words(channel))
        elif args.action == "list":
            found = [channels.channel_json(row) for row in channels.list_channels(session)]
            empty = "No channels yet: add one with 'planner notify add NAME --url URL'."
            emit(args, found, lambda: lines(found, _channel_line, empty))
        elif args.action == "rm":
            removed = channels.remove_channel(session, args.channel)
            print(f"Removed channel {removed.name}.")
        else:
            sent = channels.test_channel(
                session, settings, args.channel, utcnow(), settings.public_base_url
            )
            if not sent.ok:
                raise PlannerError(f"The test message was not sent: {sent.error}")
            print("Sent a test message.")


def _token_line(token: dict[str, Any]) -> str:
    used = token["last_used_at"] or "never"
    reaches = f"agent {token['agent']}" if token["agent"] is not None else "every agent"
    return (
        f"{token['id']:>4}  {token['name']}  {token['prefix']}…  for {reaches}  last used: {used}"
    )


def _token_json(session: Session, row: ApiToken) -> dict[str, Any]:
    """The token's JSON, with the name of the one agent it reaches (null: every agent)."""
    return tokens.token_json(row, tokens.scope_of(row).agent_name(session))


def cmd_tokens(args: argparse.Namespace, settings: Settings) -> None:
    with open_session(settings.database_url) as session:
        if args.action == "create":
            made = tokens.create_token(session, args.name, utcnow(), args.agent)
            shown = _token_json(session, made.row) | {"token": made.token}
            emit(args, shown, lambda: made.token)
            print("planner: note: the token is shown once; keep it now.", file=sys.stderr)
        elif args.action == "list":
            found = [_token_json(session, row) for row in tokens.list_tokens(session)]
            empty = "No API tokens yet: make one with 'planner tokens create NAME'."
            emit(args, found, lambda: lines(found, _token_line, empty))
        else:
            revoked = tokens.revoke_token(session, args.token)
            print(f"Revoked token {revoked.name}: requests with it are refused.")


def cmd_mcp(args: argparse.Namespace, settings: Settings) -> None:
    """`planner mcp`: the MCP server takes this process's place, as the Procfile runs
    `python -m worker` (the command does not import it)."""
    agent = ["--agent", args.agent] if args.agent is not None else []  # "" too: refused there
    os.execv(sys.executable, [sys.executable, "-m", "mcpserver", *agent])


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], None]] = {
    "migrate": cmd_migrate,
    "agents": cmd_agents,
    "workflows": cmd_workflows,
    "jobs": cmd_jobs,
    "runs": cmd_runs,
    "cron": cmd_cron,
    "triggers": cmd_triggers,
    "events": cmd_events,
    "composio": cmd_composio,
    "secrets": cmd_secrets,
    "notify": cmd_notify,
    "tokens": cmd_tokens,
    "mcp": cmd_mcp,
    "export": cmd_export,
    "import": cmd_import,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args, get_settings())
    except PlannerError as error:
        for one in each_refusal(error):  # each fault of a command on a line of its own
            print(f"planner: {one}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (sa.exc.OperationalError, sa.exc.ProgrammingError) as error:
        if not_set_up(error):
            print(
                "planner: the database is not set up yet; run 'planner migrate'.", file=sys.stderr
            )
            return EXIT_BAD_INPUT
        if isinstance(error, sa.exc.ProgrammingError):
            raise
        # a release step's log: one line that says why, not a driver's traceback
        reason = str(error.orig or error).strip().splitlines()[0]
        print(f"planner: cannot use the database: {reason}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `planner events | head` stopped reading: nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
