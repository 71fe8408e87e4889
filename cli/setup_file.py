"""`planner export` and `planner import FILE [--dry-run]`: a setup as one YAML file."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

from cli.output import emit, task_queue
from core.config import Settings
from core.errors import PlannerError, ValidationError
from core.setup import schema, transfer
from core.store.db import read_session
from core.store.models import utcnow


def cmd_export(args: argparse.Namespace, settings: Settings) -> None:
    with read_session(settings.database_url) as session:
        document = transfer.export_setup(session)
    try:
        sys.stdout.write(schema.dump(document))
        sys.stdout.flush()
    except BrokenPipeError:  # a reader that stopped (`| head`): main says nothing
        raise
    except OSError as error:
        raise PlannerError(f"Cannot write the export: {error.strerror or error}.") from None


def _read(name: str) -> str:
    """The file's text ('-': standard input), read no further than the size limit."""
    if not name.strip():
        raise ValidationError("Name the file to import (or '-' for standard input).")
    limit = schema.MAX_FILE_BYTES + 1
    try:
        if name == "-":
            raw = sys.stdin.buffer.read(limit)
        else:
            with Path(name).open("rb") as handle:
                raw = handle.read(limit)
    except OSError as error:
        raise PlannerError(f"Cannot read {name}: {error.strerror or error}.") from None
    if len(raw) == limit:
        raise ValidationError(schema.TOO_LARGE)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        what = "Standard input" if name == "-" else name
        raise ValidationError(f"{what} is not UTF-8 text; nothing was changed.") from None


def cmd_import(args: argparse.Namespace, settings: Settings) -> None:
    document = schema.read_setup(_read(args.file))
    now = utcnow()
    outcome = transfer.check_setup(settings.database_url, document, settings, now)
    if not args.dry_run:
        outcome = transfer.import_setup(
            settings.database_url, document, settings, task_queue(), utcnow
        )
    counts = {verb: sum(c.verb == verb for c in outcome.changes)
              for verb in ("created", "updated", "unchanged")}  # fmt: skip
    summary = ", ".join(f"{n} {verb}" for verb, n in counts.items())
    ending = "Dry run: nothing was changed" if args.dry_run else "Imported"
    emit(
        args,
        {"dry_run": args.dry_run, "changes": [asdict(c) for c in outcome.changes],
         "notes": outcome.notes},
        lambda: "\n".join([*(str(c) for c in outcome.changes), f"{ending} ({summary})."]),
    )  # fmt: skip
    for note in outcome.notes:
        print(f"planner: note: {note}", file=sys.stderr)
