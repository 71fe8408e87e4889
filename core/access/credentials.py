"""Credentials: the keys Planner sends, from the environment or stored encrypted.

A key can live in an environment variable (deployments that keep every secret there) or
be pasted into the dashboard or CLI and stored encrypted (core.access.secrets). Where both are
set, the environment wins, so an operator can always override what a user stored.
"""

from __future__ import annotations

import os
from dataclasses import replace

from sqlmodel import Session, select

from core.access import secrets
from core.access.secrets import SecretKeyError
from core.config import Settings, is_own_variable
from core.errors import PlannerError, ValidationError
from core.store.models import Agent, NotificationChannel, StoredSecret, Workflow, utcnow

COMPOSIO_API_KEY = "composio_api_key"
COMPOSIO_WEBHOOK_SECRET = "composio_webhook_secret"
MAX_SECRET_CHARS = 4096


class MissingCredential(PlannerError):
    """A target names a key that is neither in the environment nor stored."""


def clean_secret(text: str, field: str) -> str:
    """A pasted key as it will be sent: one line of visible characters (a key pasted with
    its line break or a space inside it is refused, not silently sent broken)."""
    value = text.strip()
    if not value:
        raise ValidationError("Paste the key; the field is empty.", field)
    if len(value) > MAX_SECRET_CHARS:
        raise ValidationError(f"A key is at most {MAX_SECRET_CHARS} characters.", field)
    if any(character.isspace() or not character.isprintable() for character in value):
        raise ValidationError(
            "A key is one line without spaces; check that only the key was pasted.", field
        )
    return value


def seal(settings: Settings, text: str, field: str) -> str:
    """A pasted key checked and encrypted, ready to store."""
    return secrets.encrypt(settings, clean_secret(text, field))


def store(session: Session, settings: Settings, name: str, value: str) -> None:
    """Keep one of Planner's own secrets (encrypted), replacing an earlier one."""
    row = session.get(StoredSecret, name) or StoredSecret(name=name, ciphertext="")
    row.ciphertext, row.updated_at = seal(settings, value, name), utcnow()
    session.add(row)
    session.commit()


def stored(session: Session, settings: Settings, name: str) -> str:
    """One of Planner's own stored secrets, decrypted; "" when none is stored."""
    row = session.get(StoredSecret, name)
    return secrets.decrypt(settings, row.ciphertext) if row else ""


def readable(session: Session, settings: Settings, name: str) -> str:
    """The stored secret, or "" when there is none or it cannot be opened (it was stored
    under another PLANNER_SECRET_KEY): it is then as good as missing, and the next one
    stored replaces it."""
    try:
        return stored(session, settings, name)
    except SecretKeyError:
        return ""


def unreadable(session: Session, settings: Settings) -> list[str]:
    """Names of Planner's own stored secrets that cannot be opened, to say so."""
    rows = session.exec(select(StoredSecret).order_by(StoredSecret.name))
    return [row.name for row in rows if not readable(session, settings, row.name)]


def forget(session: Session, name: str) -> None:
    row = session.get(StoredSecret, name)
    if row is not None:
        session.delete(row)
        session.commit()


def effective_settings(session: Session, settings: Settings) -> Settings:
    """`settings` with the stored Composio key and webhook secret where the environment
    sets none (the environment wins); one that cannot be opened counts as none."""
    return replace(
        settings,
        composio_api_key=settings.composio_api_key or readable(session, settings, COMPOSIO_API_KEY),
        composio_webhook_secret=settings.composio_webhook_secret
        or readable(session, settings, COMPOSIO_WEBHOOK_SECRET),
    )


# Where each kind of target keeps its key: the environment variable's name, the sealed key.
KEY_COLUMNS = {Agent: ("api_key_env", "api_key_secret"), Workflow: ("auth_env", "auth_secret")}


def sealed_column(model: type[Agent] | type[Workflow]) -> str:
    return KEY_COLUMNS[model][1]


def _parts(target: Agent | Workflow) -> tuple[str, str]:
    """The environment variable a target names and its stored key (encrypted)."""
    env_column, sealed = KEY_COLUMNS[type(target)]
    return getattr(target, env_column), getattr(target, sealed)


def key_origin(target: Agent | Workflow) -> str:
    """Where the key a call to `target` sends comes from now: "environment" (its variable
    is set: it wins), "saved", "missing" (a variable is named but not set, and nothing is
    saved) or "none"."""
    env_name, sealed = _parts(target)
    if env_name and os.environ.get(env_name):
        return "environment"
    if sealed:
        return "saved"
    return "missing" if env_name else "none"


def token_for(target: Agent | Workflow, settings: Settings) -> str:
    """The key to send to `target` ("" for none), from where key_origin says."""
    env_name, sealed = _parts(target)
    if env_name and is_own_variable(env_name):
        raise MissingCredential(f"{env_name} is one of Planner's own settings, not a key.")
    origin = key_origin(target)
    if origin == "environment":
        return os.environ[env_name]
    if origin == "saved":
        return secrets.decrypt(settings, sealed)
    if origin == "missing":
        raise MissingCredential(f"The environment variable {env_name} is not set.")
    return ""


def key_in_words(target: Agent | Workflow) -> str:
    """Where the target's key comes from, for lists and cards (never the key)."""
    env_name, sealed = _parts(target)
    noun = "key" if isinstance(target, Agent) else "token"
    if env_name and sealed:
        return f"{noun} from ${env_name} (a saved {noun} is used when it is not set)"
    if env_name:
        return f"{noun} from ${env_name}"
    return f"{noun} saved (encrypted)" if sealed else f"no {noun}"


# Every column that holds text sealed with PLANNER_SECRET_KEY: `planner secrets rotate`
# re-encrypts each (a test fails when a model gains a sealed column that is not here).
SEALED_COLUMNS = (
    *((model, sealed_column(model)) for model in KEY_COLUMNS),
    (StoredSecret, "ciphertext"),
    (NotificationChannel, "url_secret"),
)


def rotate(session: Session, settings: Settings) -> int:
    """Re-encrypt every stored secret with the first PLANNER_SECRET_KEY; how many."""
    count = 0
    for model, column in SEALED_COLUMNS:
        for row in session.exec(select(model).where(getattr(model, column) != "")):
            setattr(row, column, secrets.reencrypt(settings, getattr(row, column)))
            count += 1
    session.commit()
    return count
