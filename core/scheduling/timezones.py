"""Timezones as people look for them: by city or by country ("Munich", "Germany",
"India"), each labelled "Berlin — Germany (Europe/Berlin)". What is stored stays the
IANA name; the label is only what a picker shows and filters on.

Countries come from the tz database's own tables, shipped by the `tzdata` package (or the
system's zoneinfo): iso3166.tab names them, zone.tab gives each zone its country. zone.tab
rather than zone1970.tab: it keeps a line per country (Denmark is Europe/Copenhagen),
where zone1970.tab folds countries whose clocks agree since 1970 into one zone (Berlin
lists DE,DK,NO,SE,SJ). Major cities that are not zone names (Munich, Mumbai, San
Francisco) come from the curated core/data/cities.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from core.scheduling.occurrences import timezone_names

DATA = Path(__file__).parents[1] / "data"
SYSTEM_ZONEINFO = Path("/usr/share/zoneinfo")


@dataclass(frozen=True)
class Place:
    """A city whose clocks follow `zone`, in `country` (empty for zones of no country)."""

    city: str
    country: str
    zone: str

    @property
    def label(self) -> str:
        return f"{self.city} — {self.country} ({self.zone})" if self.country else self.zone


def _table(name: str) -> list[list[str]]:
    """The rows of one of the tz database's tab-separated tables; none when it is absent."""
    try:
        text = resources.files("tzdata").joinpath("zoneinfo", name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        path = SYSTEM_ZONEINFO / name
        text = path.read_text(encoding="utf-8") if path.exists() else ""
    return [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]


@lru_cache(maxsize=1)
def _curated() -> dict:
    return json.loads((DATA / "cities.json").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    """Country names by ISO code, with the usual English name where the table's is not
    what people search for ("Britain (UK)")."""
    return {row[0]: row[1] for row in _table("iso3166.tab")} | _curated()["countries"]


def zone_city(name: str) -> str:
    """The city a zone is named after: "Buenos Aires" for America/Argentina/Buenos_Aires."""
    return name.rsplit("/", 1)[-1].replace("_", " ")


@lru_cache(maxsize=1)
def places() -> tuple[Place, ...]:
    """Every known zone as its own city and the curated cities, by label; zones of no
    country (UTC, old names such as US/Eastern) last."""
    countries = _country_names()
    zone_country = {row[2]: countries.get(row[0], row[0]) for row in _table("zone.tab")}
    known = set(timezone_names())
    found = [
        Place(zone_city(name), zone_country[name], name) if name in zone_country
        else Place(name, "", name)
        for name in known
    ]  # fmt: skip
    found += [
        Place(city, countries.get(code, code), name)
        for city, code, name in _curated()["cities"]
        if name in known
    ]
    return tuple(sorted(found, key=lambda place: (not place.country, place.label.casefold())))


@lru_cache(maxsize=1)
def timezone_choices() -> dict[str, str]:
    """What a timezone picker offers: label → IANA name, in the order to show them."""
    return {place.label: place.zone for place in places()}


def timezone_label(name: str) -> str:
    """The label of a zone as itself ("Berlin — Germany (Europe/Berlin)"); a name that is
    not a known zone is its own label."""
    return next((p.label for p in places() if p.zone == name and p.city == zone_city(name)), name)
