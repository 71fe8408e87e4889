"""Encryption of the secrets Planner stores (agents' keys, workflows' tokens, Composio's
key and webhook secret), with the key in PLANNER_SECRET_KEY.

PLANNER_SECRET_KEY holds one key, or several separated by commas while rotating: the first
encrypts, any of them decrypts, and `planner secrets rotate` re-encrypts every stored secret
with the first. A key is a Fernet key (`planner secrets new-key`), used as it is, or any
string of at least 32 characters a platform generates (Heroku's `"generator": "secret"`,
Render's `generateValue`), from which a Fernet key is derived.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

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


MINIMUM_LENGTH = 32
TOO_SHORT = (
    f"PLANNER_SECRET_KEY must be at least {MINIMUM_LENGTH} characters long (or a key from "
    "`planner secrets new-key`)."
)
# HKDF's context: part of every derived key, so changing it would lock every stored secret.
DERIVATION_LABEL = b"planner PLANNER_SECRET_KEY v1"


def _derived(key: str) -> bytes:
    """A Fernet key derived from `key` by HKDF-SHA256: the same in every process."""
    if len(key) < MINIMUM_LENGTH:
        raise SecretKeyError(TOO_SHORT)
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=DERIVATION_LABEL)
    return base64.urlsafe_b64encode(hkdf.derive(key.encode()))


def _fernet(key: str) -> Fernet:
    """A Fernet key as it is (what was sealed with one still opens); any other string derived."""
    try:
        return Fernet(key)
    except ValueError:
        return Fernet(_derived(key))


def _box(settings: Settings) -> MultiFernet:
    keys = [key.strip() for key in settings.secret_key.split(",") if key.strip()]
    if not keys:
        raise SecretKeyError(NOT_SET)
    return MultiFernet([_fernet(key) for key in keys])


def check_key(settings: Settings) -> None:
    """Refuse a PLANNER_SECRET_KEY that cannot be used, so a process says so as it starts
    rather than when someone first saves a key (none set is fine until then)."""
    if settings.secret_key.strip():
        _box(settings)


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
