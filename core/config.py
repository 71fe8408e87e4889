"""Settings from the environment: the one place Planner reads configuration.

Every variable is listed in `.env.example` and docs/operate/configuration.md. A `.env` file
in the working directory is read first, without overriding variables already set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from dotenv import load_dotenv
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core.errors import ConfigError, ValidationError
from core.outbound import ANYWHERE, Allowed, parse_allowed
from core.scheduling.occurrences import validate_timezone

# Planner's own settings (and every PLANNER_/COMPOSIO_ variable, PLANNER_OUTBOUND_ALLOW
# too): an agent's or workflow's key may never be read from one of these, or Planner
# could be made to send its own secrets to any address.
OWN_VARIABLES = frozenset(
    {"DATABASE_URL", "QUEUE_URL", "REDIS_URL", "DASHBOARD_PASSWORD", "PUBLIC_BASE_URL"}
)
OWN_PREFIXES = ("PLANNER_", "COMPOSIO_")


def is_own_variable(name: str) -> bool:
    """Whether `name` is one of Planner's own settings."""
    upper = name.upper()
    return upper in OWN_VARIABLES or upper.startswith(OWN_PREFIXES)


T = TypeVar("T", int, float)
# Upper bounds of the numeric settings: beyond them a value is a typo, and it would
# overflow a date or take all the memory (a pool per few calls in flight) instead.
A_DAY = 86_400
MAXIMUM = {
    "PLANNER_MAX_RETRIES": 100,
    "PLANNER_RETRY_BASE_SECONDS": A_DAY,
    "PLANNER_MISFIRE_GRACE_SECONDS": 365 * A_DAY,
    "PLANNER_HTTP_TIMEOUT_SECONDS": A_DAY,
    "PLANNER_LEASE_MARGIN_SECONDS": A_DAY,
    "PLANNER_INBOX_DAYS": 36_500,
    "PLANNER_MAX_IN_FLIGHT": 100_000,
    "PLANNER_API_REQUESTS_PER_MINUTE": 1_000_000,
    "WORKER_THREADS": 64,
    # The tick looks 75 s ahead (core.scheduling.tick.LOOKAHEAD): a longer wait starts late.
    "PLANNER_TICK_SECONDS": 60,
}


def _int(env: dict[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return _at_most(name, value)


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not value > 0:  # NaN too
        raise ConfigError(f"{name} must be greater than 0, got {raw}")
    return _at_most(name, value)


def _at_most(name: str, value: T) -> T:
    if value > MAXIMUM[name]:
        raise ConfigError(f"{name} must be at most {MAXIMUM[name]:,}, got {value}")
    return value


FLAGS = {
    **dict.fromkeys(("1", "true", "yes", "on"), True),
    **dict.fromkeys(("0", "false", "no", "off"), False),
}


def _flag(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if raw.lower() not in FLAGS:
        raise ConfigError(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}")
    return FLAGS[raw.lower()]


def _first(env: dict[str, str], *names: str) -> str:
    """The value of the first of `names` that is set ("" when none is)."""
    return next((value for name in names if (value := env.get(name, "").strip())), "")


def _public_base_url(env: dict[str, str]) -> str:
    """PUBLIC_BASE_URL, else the address the platform gives the service: Render's full URL,
    Railway's or Heroku's host name (Heroku's with runtime-dyno-metadata on)."""
    url = _first(env, "PUBLIC_BASE_URL", "RENDER_EXTERNAL_URL")
    if not url:
        host = _first(env, "RAILWAY_PUBLIC_DOMAIN", "HEROKU_APP_DEFAULT_DOMAIN_NAME")
        url = f"https://{host}" if host else ""
    return url.rstrip("/")


# SQLite where the processes share no lasting disk: each would keep data of its own, lost at
# the next deploy.
REFUSALS = {
    "Heroku": "DATABASE_URL is SQLite, but on Heroku each process has its own short-lived "
    "disk, so the data would be split and lost: attach PostgreSQL (heroku addons:create "
    "heroku-postgresql) and restart.",
    "Render": "DATABASE_URL is SQLite, but on Render a service's disk is wiped at each deploy "
    "and shared with no other service, so the data would be split and lost: attach PostgreSQL "
    "(a Render Postgres database, its internal URL in DATABASE_URL) and restart.",
    "Railway": "DATABASE_URL is SQLite, but on Railway a service's disk is wiped at each deploy "
    "and shared with no other service, so the data would be split and lost: attach PostgreSQL "
    "(add it to the project, DATABASE_URL=${{Postgres.DATABASE_URL}}) and restart.",
}
RAILWAY_MARKERS = ("RAILWAY_ENVIRONMENT", "RAILWAY_ENVIRONMENT_ID", "RAILWAY_PROJECT_ID")


def _on_mounted_disk(file: Path) -> bool:
    """Whether `file` lies on a disk mounted below the root (Render mounts persistent disks
    at their mount path and names it in no variable)."""
    return any(os.path.ismount(folder) for folder in file.parents if folder != Path("/"))


def _under(file: Path, folder: str) -> bool:
    return bool(folder) and file.is_relative_to(Path(folder).resolve())


def _platform_losing(env: dict[str, str], file: Path) -> str:
    """The platform on which the SQLite `file` would be split between processes and lost
    ("" where it would not)."""
    if env.get("DYNO"):
        return "Heroku"
    if env.get("RENDER") and not _on_mounted_disk(file):
        return "Render"
    railway = any(env.get(name) for name in RAILWAY_MARKERS)
    if railway and not _under(file, env.get("RAILWAY_VOLUME_MOUNT_PATH", "").strip()):
        return "Railway"
    return ""


def _database_url(env: dict[str, str], default: str) -> str:
    """DATABASE_URL; SQLite is refused where the processes share no lasting disk, rather than
    split the data silently."""
    url = env.get("DATABASE_URL", "").strip() or default
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            "DATABASE_URL is not a database URL; use sqlite:///path/to/planner.db or "
            "postgresql+psycopg://user:password@host/planner"
        ) from None
    if parsed.get_backend_name() != "sqlite":
        return url
    platform = _platform_losing(env, Path(parsed.database or "").resolve())
    if platform:
        raise ConfigError(REFUSALS[platform])
    return url


def _timezone(env: dict[str, str]) -> str:
    name = env.get("PLANNER_TIMEZONE", "").strip() or "UTC"
    try:
        return validate_timezone(name)
    except ValidationError:
        raise ConfigError(f"PLANNER_TIMEZONE {name!r} is not a known IANA timezone") from None


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///var/planner.db"
    queue_url: str = "sqlite:///var/queue.db"
    timezone: str = "UTC"
    max_retries: int = 3
    retry_base_seconds: float = 30.0
    misfire_grace_seconds: int = 300
    http_timeout_seconds: float = 60.0
    lease_margin_seconds: float = 60.0
    inbox_days: int = 30
    # Calls one worker process keeps open at once, on one event loop, a socket each: room
    # for a moment of a thousand slow calls and the events that arrive meanwhile.
    max_in_flight: int = 2000
    # Requests one API token may make per minute, per webhook process (then 429).
    api_requests_per_minute: int = 120
    # huey threads per worker process: they take messages, tick and turn events into runs;
    # they never wait on a call (python -m worker).
    worker_threads: int = 4
    # How often a worker ticks (plans due jobs, sweeps, sends alerts), besides at its start;
    # the tick looks 75 s ahead, so once a minute keeps every job on time.
    tick_seconds: int = 60
    composio_api_key: str = field(default="", repr=False)
    composio_webhook_secret: str = field(default="", repr=False)
    composio_user_id: str = "default"
    composio_base_url: str = ""
    public_base_url: str = ""
    dashboard_password: str = field(default="", repr=False)
    secret_key: str = field(default="", repr=False)
    # The web process runs the worker too, so one service is enough (as n8n's "regular"
    # mode); off, the Procfile's worker processes do the work.
    embedded_worker: bool = True
    # The networks and host names agent, workflow and channel calls may reach
    # (PLANNER_OUTBOUND_ALLOW); empty: any but link-local and cloud metadata addresses,
    # which are never called (core.outbound).
    outbound_allow: Allowed = ANYWHERE

    @property
    def webhook_url(self) -> str:
        """Where Composio should deliver events (empty until PUBLIC_BASE_URL is set)."""
        base = self.public_base_url.rstrip("/")
        return f"{base}/webhooks/composio" if base else ""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Build settings from `env` (default: the process environment)."""
        values = dict(os.environ if env is None else env)
        return cls(
            database_url=_database_url(values, cls.database_url),
            # REDIS_URL: what Heroku's and Render's Redis (Key Value) add-ons set.
            queue_url=_first(values, "QUEUE_URL", "REDIS_URL") or cls.queue_url,
            timezone=_timezone(values),
            max_retries=_int(values, "PLANNER_MAX_RETRIES", cls.max_retries),
            retry_base_seconds=_float(values, "PLANNER_RETRY_BASE_SECONDS", cls.retry_base_seconds),
            misfire_grace_seconds=_int(
                values, "PLANNER_MISFIRE_GRACE_SECONDS", cls.misfire_grace_seconds
            ),
            http_timeout_seconds=_float(
                values, "PLANNER_HTTP_TIMEOUT_SECONDS", cls.http_timeout_seconds
            ),
            lease_margin_seconds=_float(
                values, "PLANNER_LEASE_MARGIN_SECONDS", cls.lease_margin_seconds
            ),
            inbox_days=_int(values, "PLANNER_INBOX_DAYS", cls.inbox_days, minimum=1),
            max_in_flight=_int(values, "PLANNER_MAX_IN_FLIGHT", cls.max_in_flight, minimum=1),
            api_requests_per_minute=_int(
                values, "PLANNER_API_REQUESTS_PER_MINUTE", cls.api_requests_per_minute, minimum=1
            ),
            worker_threads=_int(values, "WORKER_THREADS", cls.worker_threads, minimum=1),
            tick_seconds=_int(values, "PLANNER_TICK_SECONDS", cls.tick_seconds, minimum=1),
            composio_api_key=values.get("COMPOSIO_API_KEY", "").strip(),
            composio_webhook_secret=values.get("COMPOSIO_WEBHOOK_SECRET", "").strip(),
            composio_user_id=values.get("COMPOSIO_USER_ID", "").strip() or cls.composio_user_id,
            composio_base_url=values.get("COMPOSIO_BASE_URL", "").strip(),
            public_base_url=_public_base_url(values),
            dashboard_password=values.get("DASHBOARD_PASSWORD", ""),
            secret_key=values.get("PLANNER_SECRET_KEY", "").strip(),
            embedded_worker=_flag(values, "PLANNER_EMBEDDED_WORKER", cls.embedded_worker),
            outbound_allow=parse_allowed(values.get("PLANNER_OUTBOUND_ALLOW", "")),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once (after loading `.env` if there is one)."""
    load_dotenv(override=False)
    return Settings.from_env()
