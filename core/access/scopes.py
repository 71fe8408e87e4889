"""What a caller may reach. A *scope* is every agent (the CLI, the dashboard, a token made
without an agent) or one agent (a token made for it, `planner mcp --agent`): then only
that agent's jobs, triggers and runs are seen or changed, and nothing else — agents,
workflows, channels, tokens, the inbox — is there at all.

Outside its scope a row is refused with the very words of a row that does not exist, so
a scoped caller learns nothing of other agents, not even that their rows are there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from core.automations.shared import absent, find, load_automation, runs_of_agent
from core.errors import NotFoundError, ValidationError
from core.running.runs import find_run
from core.store.models import Agent, EventTrigger, Run, ScheduledJob

Owned = TypeVar("Owned", ScheduledJob, EventTrigger)
Query = TypeVar("Query", bound=SelectOfScalar[Any])


@dataclass(frozen=True)
class Scope:
    """`agent_id`: the one agent reached, or None for every agent."""

    agent_id: int | None = None

    @property
    def whole(self) -> bool:
        return self.agent_id is None

    def admits(self, automation: ScheduledJob | EventTrigger | None) -> bool:
        return self.whole or (automation is not None and automation.agent_id == self.agent_id)

    def agent_name(self, session: Session) -> str | None:
        """The name of the one agent reached, for a list of tokens; None for every agent."""
        if self.whole:
            return None
        agent = session.get(Agent, self.agent_id)
        return agent.name if agent is not None else None

    def find(self, session: Session, model: type[Owned], ref: str | int, what: str) -> Owned:
        """A job or trigger by name or id, as `find` does; another agent's is not there."""
        found = find(session, model, ref, what)
        if not self.admits(found):
            raise absent(what, str(ref).strip())
        return found

    def run(self, session: Session, ref: str | int) -> Run:
        """A run by id; one of another agent's jobs or triggers is not there."""
        run = find_run(session, ref)
        if not self.admits(load_automation(session, run)):
            raise NotFoundError(f"There is no run with id {str(ref).strip()}.")
        return run

    def agent(self, session: Session, ref: str | int | None) -> Agent:
        """The agent a new job or trigger belongs to: `ref`'s, or, when scoped, its own
        (`ref` may name it or be left out; any other agent is not there)."""
        if self.whole:
            if ref is None:
                names = ", ".join(session.exec(select(Agent.name).order_by(Agent.name)))
                raise ValidationError(f"Say which agent it is for: {names or 'none yet'}.", "agent")
            return find(session, Agent, ref, "agent")
        own = session.get(Agent, self.agent_id)
        if own is None:
            raise NotFoundError("This token's agent no longer exists.", "agent")
        if ref is not None and str(ref).strip() not in (own.name, str(own.id)):
            raise absent("agent", str(ref).strip())
        return own

    def only_own(self, query: Query, model: type[ScheduledJob] | type[EventTrigger]) -> Query:
        """`query` of jobs or triggers, kept to the scope's agent."""
        return query if self.whole else query.where(col(model.agent_id) == self.agent_id)

    def only_own_runs(self, query: Query) -> Query:
        """`query` of runs, kept to those of the scope's agent's jobs and triggers."""
        if self.whole:
            return query
        return query.where(runs_of_agent(self.agent_id))

    def require_whole(self, what: str) -> None:
        """Agents, workflows, channels, tokens and the inbox: not there for a scoped caller."""
        if not self.whole:
            raise NotFoundError(f"There are no {what} here.", what)


EVERY_AGENT = Scope()
