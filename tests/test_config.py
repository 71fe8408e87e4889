"""Settings from the environment: defaults, and a clear error for a value Planner can't use."""

from __future__ import annotations

import re

import pytest

from core.config import Settings
from core.errors import ConfigError


def test_defaults_when_nothing_is_set():
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite:///var/planner.db"
    assert settings.queue_url == "sqlite:///var/queue.db"
    assert (settings.timezone, settings.max_retries, settings.retry_base_seconds) == ("UTC", 3, 30)
    assert settings.misfire_grace_seconds == 300


def test_values_are_read_from_the_environment():
    settings = Settings.from_env(
        {
            "DATABASE_URL": "sqlite:////tmp/p.db",
            "PLANNER_TIMEZONE": "Europe/Berlin",
            "PLANNER_MAX_RETRIES": "5",
            "PLANNER_RETRY_BASE_SECONDS": "2.5",
            "PLANNER_MISFIRE_GRACE_SECONDS": "0",
        }
    )
    assert settings.database_url == "sqlite:////tmp/p.db"
    assert (settings.timezone, settings.max_retries, settings.retry_base_seconds) == (
        "Europe/Berlin", 5, 2.5
    )  # fmt: skip
    assert settings.misfire_grace_seconds == 0


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PLANNER_TIMEZONE", "Mars/Base", "not a known IANA timezone"),
        ("PLANNER_MAX_RETRIES", "three", "must be a whole number"),
        ("PLANNER_MAX_RETRIES", "-1", "must be at least 0"),
        ("PLANNER_RETRY_BASE_SECONDS", "0", "must be greater than 0"),
        ("PLANNER_HTTP_TIMEOUT_SECONDS", "soon", "must be a number"),
        ("PLANNER_MISFIRE_GRACE_SECONDS", "1.5", "must be a whole number"),
        ("PLANNER_MAX_IN_FLIGHT", "99999999", "must be at most 100,000, got 99999999"),
        ("PLANNER_MAX_RETRIES", "1000", "must be at most 100, got 1000"),
        ("PLANNER_INBOX_DAYS", "10000000", "must be at most 36,500, got 10000000"),
        ("PLANNER_HTTP_TIMEOUT_SECONDS", "1e300", "must be at most 86,400, got 1e+300"),
        ("PLANNER_HTTP_TIMEOUT_SECONDS", "nan", "must be greater than 0, got nan"),
        ("PLANNER_LEASE_MARGIN_SECONDS", "inf", "must be at most 86,400, got inf"),
        ("PLANNER_MISFIRE_GRACE_SECONDS", "99999999999", "must be at most 31,536,000"),
    ],
)
def test_unusable_values_are_refused_by_name(name, value, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as refused:
        Settings.from_env({name: value})
    assert name in str(refused.value)
