"""`python -m mcpserver [--agent NAME]` (what `planner mcp` runs): Planner's tools over
stdio, for a desktop MCP client that starts it as a process of its own, on the database
its environment names. `--agent` keeps the tools to that agent's jobs, triggers and runs,
as a token made for it would."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

import sqlalchemy as sa
from sqlmodel import select

from core.access.scopes import EVERY_AGENT, Scope
from core.automations.shared import find
from core.config import get_settings
from core.errors import PlannerError
from core.store.db import not_set_up, read_session
from core.store.models import Agent
from mcpserver.tools import build
from queueing import queue_for


def scope_for(database_url: str, agent: str | None) -> Scope:
    """Every agent, or `agent`'s alone (a name or an id; an empty one is refused, never
    read as every agent). Reading it also finds a database not set up yet."""
    with read_session(database_url) as session:
        session.exec(select(Agent.id).limit(1)).all()
        return EVERY_AGENT if agent is None else Scope(find(session, Agent, agent, "agent").id)


def refused(reason: str) -> NoReturn:
    print(f"planner mcp: {reason}", file=sys.stderr)  # stdout is the protocol's
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="planner mcp", description=__doc__)
    parser.add_argument("--agent", help="only this agent's jobs, triggers and runs")
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
        reach = scope_for(settings.database_url, args.agent)
    except PlannerError as error:
        refused(str(error))
    except sa.exc.DBAPIError as error:
        if not not_set_up(error):
            raise
        refused("the database is not set up yet; run 'planner migrate'.")
    build(settings, queue_for(settings), lambda: reach).run("stdio")


if __name__ == "__main__":
    main()
