"""Lists a page at a time. For outside scripts, a page ends with a cursor that names where
the next one starts (the last row's sort key), so rows added or deleted meanwhile neither
repeat nor skip rows, as an offset would (`page_of`). People pick a page by its number
among all of them, so theirs are numbered, with the count of rows (`numbered_page`).

A cursor is opaque to its holder (base64 of JSON); one that was not handed out by a list
is refused as bad input, never trusted.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

from core.errors import ValidationError

DEFAULT_SIZE = 50
LARGEST_ID = 2**63 - 1  # what a database integer holds
LARGEST_SIZE = 200
Row = TypeVar("Row")


@dataclass(frozen=True)
class Page(Generic[Row]):
    items: list[Row]
    next_cursor: str | None  # None: this is the last page


def size_from_text(text: str | None) -> int:
    if text is None:
        return DEFAULT_SIZE
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= LARGEST_SIZE:
        raise ValidationError(f"limit must be a whole number from 1 to {LARGEST_SIZE}.", "limit")
    return int(text)


def _encode(values: Sequence[Any]) -> str:
    shown = [value.isoformat() if isinstance(value, datetime) else value for value in values]
    return base64.urlsafe_b64encode(json.dumps(shown).encode()).decode().rstrip("=")


def _decode(cursor: str, columns: Sequence[sa.ColumnElement[Any]]) -> list[Any]:
    """The sort key a cursor names, each value of its column's type; else 400."""
    refusal = ValidationError("That cursor was not handed out by this list.", "cursor")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError, RecursionError):
        raise refusal from None
    if not isinstance(values, list) or len(values) != len(columns):
        raise refusal
    decoded = []
    for value, column in zip(values, columns, strict=True):
        expected = column.type.python_type
        try:
            if expected is datetime and isinstance(value, str):
                value = datetime.fromisoformat(value)
        except ValueError:
            raise refusal from None
        if not isinstance(value, expected) or isinstance(value, bool):
            raise refusal
        if isinstance(value, int) and abs(value) > LARGEST_ID:
            raise refusal
        decoded.append(value)
    return decoded


def page_of(
    session: Session,
    query: SelectOfScalar[Row],
    order: Sequence[sa.ColumnElement[Any]],
    cursor: str | None,
    size: int,
    newest_first: bool = False,
) -> Page[Row]:
    """One page of `query`'s rows by the columns of `order` (unique together), after
    `cursor` when given."""
    key = sa.tuple_(*order)
    if cursor is not None:
        values = _decode(cursor, order)
        after = sa.tuple_(*(sa.literal(v, c.type) for v, c in zip(values, order, strict=True)))
        query = query.where(key < after if newest_first else key > after)
    sorted_by = [c.desc() for c in order] if newest_first else list(order)
    rows = list(session.exec(query.order_by(*sorted_by).limit(size + 1)))
    more = len(rows) > size
    items = rows[:size]
    last = items[-1] if more else None
    next_cursor = _encode([getattr(last, c.key) for c in order]) if last is not None else None
    return Page(items, next_cursor)


def numbered_page(
    session: Session,
    query: SelectOfScalar[Row],
    order: Sequence[sa.ColumnElement[Any]],
    number: int,
    size: int,
) -> tuple[list[Row], int]:
    """Page `number` (from 1) of `query`'s rows by the columns of `order`, and how many
    rows there are in all."""
    total = session.exec(select(sa.func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(*order).offset((number - 1) * size).limit(size))
    return list(rows), total
