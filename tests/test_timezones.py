"""Timezones found as people look for them: by city or country, labelled in words, saved
as their IANA name."""

from __future__ import annotations

import pytest

from core.scheduling.occurrences import timezone_names
from core.scheduling.timezones import timezone_choices, timezone_label


def found(text: str) -> dict[str, str]:
    """What typing `text` into the picker leaves (its filter matches inside labels)."""
    return {label: name for label, name in timezone_choices().items() if text in label}


@pytest.mark.parametrize(
    ("typed", "label", "zone"),
    [
        ("Germany", "Berlin — Germany (Europe/Berlin)", "Europe/Berlin"),
        ("Munich", "Munich — Germany (Europe/Berlin)", "Europe/Berlin"),
        ("Frankfurt", "Frankfurt — Germany (Europe/Berlin)", "Europe/Berlin"),
        ("New York", "New York — United States (America/New_York)", "America/New_York"),
        ("San Francisco", "San Francisco — United States (America/Los_Angeles)",
         "America/Los_Angeles"),
        ("Tokyo", "Tokyo — Japan (Asia/Tokyo)", "Asia/Tokyo"),
        ("India", "Kolkata — India (Asia/Kolkata)", "Asia/Kolkata"),
        ("Mumbai", "Mumbai — India (Asia/Kolkata)", "Asia/Kolkata"),
        ("Denmark", "Copenhagen — Denmark (Europe/Copenhagen)", "Europe/Copenhagen"),
        ("United Kingdom", "London — United Kingdom (Europe/London)", "Europe/London"),
        ("Europe/Paris", "Paris — France (Europe/Paris)", "Europe/Paris"),
    ],
)  # fmt: skip
def test_a_timezone_is_found_by_city_country_or_name(typed, label, zone):
    assert found(typed)[label] == zone


def test_every_zone_can_be_picked_and_every_choice_is_a_zone():
    names = set(timezone_choices().values())
    assert names == set(timezone_names())
    assert timezone_label("UTC") == "UTC"
    assert timezone_label("Europe/Berlin") == "Berlin — Germany (Europe/Berlin)"
    assert timezone_label("Mars/Olympus_Mons") == "Mars/Olympus_Mons"  # an old row's name


def test_places_come_before_zones_of_no_country():
    labels = list(timezone_choices())
    assert labels.index("Zurich — Switzerland (Europe/Zurich)") < labels.index("Etc/UTC")
