"""What an API endpoint is, and what its handler gets: the `Call` (a session, the path's
name or id, the query, the body, and what the token reaches) and a page of rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session
from sqlmodel.sql.expression import SelectOfScalar

from core.access.scopes import Owned, Scope
from core.automations.shared import AUTOMATION_WORDS
from core.config import Settings
from core.errors import ValidationError
from core.running.queue import RunQueue
from core.store import pages
from webhook import api_models as models


@dataclass(frozen=True)
class Call:
    """What a handler gets: a session, the path's name or id, the query, the body, and
    what the token reaches."""

    session: Session
    settings: Settings
    queue: RunQueue
    now: datetime
    ref: str
    query: dict[str, str]
    body: Any
    scope: Scope  # never a default: a call reaches what its token does, no more

    def own(self, model: type[Owned]) -> Owned:
        """The path's job or trigger, if the token reaches it; else not there (404)."""
        return self.scope.find(self.session, model, self.ref, AUTOMATION_WORDS[model])

    def own_run(self) -> int:
        """The path's run's id, if the token reaches its job or trigger; else not there."""
        return self.scope.run(self.session, self.ref).id


class InUse(ValidationError):
    """A row that others still use, refused removal (409): core says who uses it."""


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    summary: str
    handle: Callable[[Call], Any]
    body: type[models.Body] | None = None
    status: int = 200
    # What a 2xx holds (a page of them when `listing`); None: nothing (204).
    answer: type[models.Answer] | None = None
    listing: bool = False
    filters: tuple[str, ...] = ()  # a list's query parameters besides limit and cursor
    # Refusals of its own beyond what its path and body tell (openapi.py): 409, 502.
    refusals: tuple[int, ...] = ()
    # When the answer may also be 204 with no body (the handler returns None): why.
    empty: str = ""
    # Whether a token made for one agent reaches it (its agent's rows only); if not, such a
    # token is answered as for a path that is not there (webhook.api).
    one_agent: bool = True

    @property
    def query(self) -> frozenset[str]:
        """The query parameters it takes; any other is refused."""
        return frozenset({"limit", "cursor", *self.filters} if self.listing else ())


def page(
    call: Call, query: SelectOfScalar[Any], order: list[Any], shown: Callable[[Any], Any],
    newest_first: bool = False,
) -> dict[str, Any]:  # fmt: skip
    size = pages.size_from_text(call.query.get("limit"))
    page = pages.page_of(call.session, query, order, call.query.get("cursor"), size, newest_first)
    return {"items": [shown(item) for item in page.items], "next_cursor": page.next_cursor}
