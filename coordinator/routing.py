"""Routing by jurisdiction: which procuratorate unit is competent for a lead's region.

A units file (TOML, see deploy/units.example.toml) maps administrative-division code prefixes
(GB/T 2260: 2 digits = province, 4 = city, 6 = county) to units:

    [[units]]
    prefix = "4105"
    name = "安阳市人民检察院"

The longest matching prefix wins, so a county procuratorate listed beside its city's takes the
county's leads and the city takes the rest. The file is checked as a whole before anything is
routed; every complaint names the entry and the key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from fedscreen.errors import ConfigError

PREFIX_LENGTHS = {2: "province", 4: "city", 6: "county"}
_ENTRY_KEYS = {"prefix", "name"}


@dataclass(frozen=True)
class Units:
    source: str
    by_prefix: dict[str, str]  # prefix → unit name

    def competent(self, region: str | None) -> tuple[str, str] | None:
        """(unit, prefix) for the region, by longest prefix; None if no unit covers it."""
        if not region or not region.isdigit():
            return None
        for length in sorted(PREFIX_LENGTHS, reverse=True):
            prefix = region[:length]
            if len(prefix) == length and prefix in self.by_prefix:
                return self.by_prefix[prefix], prefix
        return None


def load_units(path: Path) -> Units:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"units file {path} not found (see deploy/units.example.toml)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"units file {path} cannot be read ({type(exc).__name__})") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return parse_units(doc, str(path))


def parse_units(doc: dict[str, object], source: str) -> Units:
    extra = sorted(set(doc) - {"units"})
    if extra:
        raise ConfigError(f"{source}: unknown key {extra[0]!r} (expected only [[units]] entries)")
    entries = doc.get("units")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{source}: no [[units]] entries (each has prefix and name)")
    by_prefix: dict[str, str] = {}
    for number, entry in enumerate(entries, start=1):
        where = f"{source}: units #{number}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a table with prefix and name")
        prefix, name = _entry(entry, where)
        if prefix in by_prefix:
            raise ConfigError(
                f"{where}: prefix {prefix!r} is listed twice (already for {by_prefix[prefix]})"
            )
        by_prefix[prefix] = name
    return Units(source, by_prefix)


def _entry(entry: dict[str, object], where: str) -> tuple[str, str]:
    unknown = sorted(set(entry) - _ENTRY_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (expected prefix and name)")
    for key in ("prefix", "name"):
        if key not in entry:
            raise ConfigError(f"{where}: {key} is missing")
        if not isinstance(entry[key], str):
            raise ConfigError(f"{where}: {key} must be a quoted string")
    prefix, name = str(entry["prefix"]).strip(), " ".join(str(entry["name"]).split())
    if not prefix.isascii() or not prefix.isdigit() or len(prefix) not in PREFIX_LENGTHS:
        raise ConfigError(
            f"{where}: prefix {prefix!r} must be 2 (province), 4 (city) or 6 (county) digits"
        )
    # 410000 or 4100 name the province itself: as a 6- or 4-digit prefix they would match
    # almost nothing, silently. Say how to write what was meant.
    for short in (2, 4):
        if len(prefix) > short and set(prefix[short:]) == {"0"}:
            level = PREFIX_LENGTHS[short]
            raise ConfigError(
                f"{where}: prefix {prefix!r} is a {level} code; write it as {prefix[:short]!r}"
            )
    if not name:
        raise ConfigError(f"{where}: name is empty")
    return prefix, name
