"""Encryption of the secrets Planner stores (agents' keys, workflows' tokens, Composio's
key and webhook secret), with the key in PLANNER_SECRET_KEY.

PLANNER_SECRET_KEY holds one Fernet key, or several separated by commas while rotating:
the first encrypts, any of them decrypts, and `planner secrets rotate` re-encrypts every
stored secret with the first.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from core.config import Settings
from core.errors import ConfigError

NOT_SET = (
    "PLANNER_SECRET_KEY is not set, so Planner cannot store or read saved keys. "
    "`make run` writes one into .env; or set it to the output of `planner secrets new-key`."
)
WRONG_KEY = (
    "The saved keys cannot be opened: PLANNER_SECRET_KEY was changed. Ask whoever runs "
    "Planner to put the old key back (or to list the new and the old one, separated by a "
    "comma, and run `planner secrets rotate`), or enter the keys again."
)


class SecretKeyError(ConfigError):
    """PLANNER_SECRET_KEY is missing, malformed, or not the key the secrets were saved with."""


def new_secret_key() -> str:
    return Fernet.generate_key().decode()


def _box(settings: Settings) -> MultiFernet:
    keys = [key.strip() for key in settings.secret_key.split(",") if key.strip()]
    if not keys:
        raise SecretKeyError(NOT_SET)
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError:
        raise SecretKeyError(
            "PLANNER_SECRET_KEY is not a valid key: it must be 32 url-safe base64-encoded "
            "bytes, as `planner secrets new-key` prints."
        ) from None


def encrypt(settings: Settings, text: str) -> str:
    return _box(settings).encrypt(text.encode()).decode()


def decrypt(settings: Settings, token: str) -> str:
    try:
        return _box(settings).decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretKeyError(WRONG_KEY) from None


def reencrypt(settings: Settings, token: str) -> str:
    """`token` encrypted with the first key (rotation)."""
    try:
        return _box(settings).rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretKeyError(WRONG_KEY) from None
