"""Bearer tokens of the HTTP API and the MCP server: made (for every agent, or for one:
its scope), listed, revoked (the CLI and Settings alike), and checked on each request.

A token is 32 random bytes behind a `pln_` prefix, shown once when it is made; only its
SHA-256 is stored, so a copy of the database gives no way in. A request's token is found
by its hash (a unique index) and compared again in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select, update

from core.access.scopes import Scope
from core.automations.shared import clean_name, ensure_unique_name, find
from core.errors import NotFoundError
from core.store.db import read_session
from core.store.db import session as open_session
from core.store.models import Agent, ApiToken, iso

PREFIX = "pln_"
SHOWN_CHARACTERS = 8  # of the token, after the prefix, kept to tell tokens apart
# The last-used time is written at most this often per token, not on every request.
USE_NOTED_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class NewToken:
    row: ApiToken
    token: str  # shown once, never stored


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session, name: str, now: datetime, agent: str | int | None = None
) -> NewToken:
    """A new token; for `agent` (a name or id) alone when given (core.access.scopes), else
    for every agent."""
    name = clean_name(name, "token")
    ensure_unique_name(session, ApiToken, name, "token")
    agent_id = None if agent is None else find(session, Agent, agent, "agent").id
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name, token_hash=digest(token), prefix=token[: len(PREFIX) + SHOWN_CHARACTERS],
        created_at=now, agent_id=agent_id,
    )  # fmt: skip
    session.add(row)
    session.commit()
    return NewToken(row, token)


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.exec(select(ApiToken).order_by(ApiToken.name)))


def revoke_token(session: Session, ref: str | int) -> ApiToken:
    """Delete a token (by id or name): requests with it are refused from now on."""
    row = find(session, ApiToken, ref, "token")
    session.delete(row)
    session.commit()
    return row


def authenticate(session: Session, token: str) -> ApiToken:
    """The token's row; NotFoundError when no token is that one."""
    wanted = digest(token)
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == wanted)).first()
    if row is None or not hmac.compare_digest(row.token_hash, wanted):
        raise NotFoundError("That API token is not known (revoked, or mistyped).")
    return row


def use_is_stale(row: ApiToken, now: datetime) -> bool:
    """Whether the token's last use shown is older than USE_NOTED_EVERY."""
    return row.last_used_at is None or now - row.last_used_at >= USE_NOTED_EVERY


def note_use(session: Session, token_id: int, now: datetime) -> None:
    session.exec(update(ApiToken).where(col(ApiToken.id) == token_id).values(last_used_at=now))
    session.commit()


def scope_of(row: ApiToken) -> Scope:
    return Scope(row.agent_id)


def checked(database_url: str, token: str, now: datetime) -> ApiToken:
    """A request's token, as the API and the MCP server check it: its row (NotFoundError
    when none is that one), its use noted at most once a minute, in a write of its own."""
    with read_session(database_url) as session:
        row = authenticate(session, token)
    if use_is_stale(row, now):
        with open_session(database_url) as session:
            note_use(session, row.id, now)
    return row


def token_json(row: ApiToken, agent_name: str | None = None) -> dict[str, Any]:
    """`agent_name`: the name of the one agent it reaches (None: every agent)."""
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "agent": agent_name,
        "created_at": iso(row.created_at),
        "last_used_at": iso(row.last_used_at),
    }
