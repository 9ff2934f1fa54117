"""The logical data dictionary: one TOML file per agency role (DATA_DICTIONARY.md as data).

Models are written against these datasets only; an agent maps each onto a physical source and
`fedscreen-agent check` validates the mapping against this. Sources may add columns, never drop
or retype these.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from fedscreen.errors import ConfigError


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    id_kind: str | None = None


@dataclass(frozen=True)
class Dataset:
    role: str
    name: str
    title_zh: str
    columns: tuple[Column, ...]

    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@cache
def roles() -> tuple[str, ...]:
    files = resources.files(__name__).iterdir()
    return tuple(sorted(f.name.removesuffix(".toml") for f in files if f.name.endswith(".toml")))


@cache
def datasets(role: str) -> dict[str, Dataset]:
    if role not in roles():
        raise ConfigError(f"unknown agency role {role!r} (known: {', '.join(roles())})")
    doc = tomllib.loads(resources.files(__name__).joinpath(f"{role}.toml").read_text("utf-8"))
    return {
        name: Dataset(
            role=role,
            name=name,
            title_zh=spec.get("title_zh", ""),
            columns=tuple(Column(c["name"], c["type"], c.get("id")) for c in spec["columns"]),
        )
        for name, spec in doc["datasets"].items()
    }


def dataset(role: str, name: str) -> Dataset:
    found = datasets(role)
    if name not in found:
        raise ConfigError(
            f"role {role} has no logical dataset {name!r} (known: {', '.join(sorted(found))})"
        )
    return found[name]
