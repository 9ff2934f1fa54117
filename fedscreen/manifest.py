"""model.toml: what a screening model reads, computes and lets leave the agency.

A model folder holds `model.toml`, one SQL file per agency role, `combine.sql` and `fixtures/`.
Parsing validates everything the agent and the coordinator rely on, naming file and key.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedscreen import dictionary
from fedscreen.errors import ConfigError, ManifestError, ParameterError
from fedscreen.identifiers import ID_KINDS

SCALAR_OUTPUTS = ("bool", "region")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class Output:
    """One declared output column. `kind` is an ID kind (tokenised), "bool", "region" or "enum"."""

    name: str
    kind: str
    values: tuple[str, ...] = ()

    @property
    def is_token(self) -> bool:
        return self.kind in ID_KINDS


@dataclass(frozen=True)
class Parameter:
    name: str
    default: int | float
    min: int | float
    max: int | float
    description: str = ""

    def coerce(self, raw: str | int | float) -> int | float:
        """The value as the declared type, or ParameterError naming the bound it breaks."""
        try:
            value: int | float = int(raw) if isinstance(self.default, int) else float(raw)
        except (TypeError, ValueError):
            kind = "an integer" if isinstance(self.default, int) else "a number"
            raise ParameterError(f"parameter {self.name}={raw!r} must be {kind}") from None
        if value < self.min:
            raise ParameterError(f"parameter {self.name}={value} is below its minimum {self.min}")
        if value > self.max:
            raise ParameterError(f"parameter {self.name}={value} is above its maximum {self.max}")
        return value


@dataclass(frozen=True)
class Candidate:
    """Keep only rows whose token in `column` was output by `source_role` in `source_column`.

    The linked look-up of the privacy contract: a later role is asked only about identifiers
    an earlier role already flagged, instead of flagging its whole register.
    """

    column: str
    source_role: str
    source_column: str


@dataclass(frozen=True)
class Disclosure:
    """What an agency may reveal about one of its token outputs on a signed resolve request.

    The agent finds the rows of `dataset` whose `source_column` tokenises to the requested token
    and returns only `fields`. `lead_key` names the combine's lead-key column that carries this
    token, and `when` the lead flags that must match (e.g. via = "court"), so the coordinator
    asks the agency that flagged the lead and no other.
    """

    column: str
    dataset: str
    source_column: str
    fields: tuple[str, ...]
    lead_key: str
    when: tuple[tuple[str, str], ...] = ()

    def applies(self, flags: dict[str, object]) -> bool:
        return all(str(flags.get(k)) == v for k, v in self.when)


@dataclass(frozen=True)
class Role:
    name: str
    sql_file: str
    reads: tuple[str, ...]
    outputs: tuple[Output, ...]
    candidates: tuple[Candidate, ...] = ()
    disclose: tuple[Disclosure, ...] = ()
    # If some of this role's agents do not answer within a job's deadline: "combine" the
    # leads without them (its flags only add evidence or leads: fewer leads, never wrong
    # ones), or "withhold" every lead of the job (its flags exclude: a missing answer would
    # turn into false leads). Deny by default.
    when_missing: str = "withhold"

    def output(self, name: str) -> Output:
        for out in self.outputs:
            if out.name == name:
                return out
        raise KeyError(name)


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    title_zh: str
    title_en: str
    rationale_zh: str
    rationale_en: str
    legal_basis: tuple[str, ...]
    roles: tuple[Role, ...]
    combine_sql_file: str
    lead_key: tuple[str, ...]
    lead_region: str | None
    parameters: tuple[Parameter, ...] = field(default=())
    kind_column: str | None = None
    explanations: dict[str, tuple[str, str]] = field(default_factory=dict)  # kind -> (zh, en)

    def stages(self) -> list[list[Role]]:
        """Roles grouped so that every role runs after the roles whose tokens it needs."""
        done: set[str] = set()
        stages: list[list[Role]] = []
        pending = list(self.roles)
        while pending:
            ready = [r for r in pending if all(c.source_role in done for c in r.candidates)]
            if not ready:
                names = ", ".join(r.name for r in pending)
                raise ManifestError(f"model {self.name}: candidate look-ups form a cycle ({names})")
            stages.append(ready)
            done.update(r.name for r in ready)
            pending = [r for r in pending if r.name not in done]
        return stages

    def explain(self, kind: str, flags: dict[str, object]) -> tuple[str, str]:
        """The lead's explanation in Chinese and English, from declared flags and buckets."""
        zh, en = self.explanations.get(kind, ("", ""))
        return _render(zh, flags, ("是", "否")), _render(en, flags, ("yes", "no"))

    def role(self, name: str) -> Role:
        for role in self.roles:
            if role.name == name:
                return role
        known = ", ".join(r.name for r in self.roles)
        raise ManifestError(f"model {self.name} has no role {name!r} (roles: {known})")

    def resolve_params(self, given: dict[str, str]) -> dict[str, int | float]:
        """Defaults overlaid with `given`; unknown names and out-of-range values are refused."""
        by_name = {p.name: p for p in self.parameters}
        unknown = sorted(set(given) - set(by_name))
        if unknown:
            known = ", ".join(sorted(by_name)) or "none"
            raise ParameterError(f"unknown parameter {unknown[0]!r} (known: {known})")
        return {
            p.name: p.coerce(given[p.name]) if p.name in given else p.default
            for p in self.parameters
        }


class _Flags(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "—"


def _render(template: str, flags: dict[str, object], yes_no: tuple[str, str]) -> str:
    def show(v: object) -> str:
        if v is None:
            return "—"
        if isinstance(v, bool):
            return yes_no[0] if v else yes_no[1]
        return str(v)

    return template.format_map(_Flags({k: show(v) for k, v in flags.items()}))


WHEN_MISSING = ("combine", "withhold")


def _when_missing(value: Any, where: str) -> str:
    if value not in WHEN_MISSING:
        raise ManifestError(f"{where}.when_missing must be one of {', '.join(WHEN_MISSING)}")
    return str(value)


def _candidates(spec: Any, where: str) -> tuple[Candidate, ...]:
    if spec is None:
        return ()
    if not isinstance(spec, dict):
        raise ManifestError(f'{where}.candidates must be a table of column = "role.column"')
    out = []
    for column, source in spec.items():
        role, dot, src = str(source).partition(".")
        if not dot or not role or not src:
            raise ManifestError(f'{where}.candidates.{column} must look like "role.column"')
        out.append(Candidate(column, role, src))
    return tuple(out)


def _check_candidates(roles: list[Role], source: str) -> None:
    by_name = {r.name: r for r in roles}
    for role in roles:
        for c in role.candidates:
            where = f"{source}: roles.{role.name}.candidates.{c.column}"
            if c.source_role not in by_name or c.source_role == role.name:
                raise ManifestError(f"{where}: no other role {c.source_role!r}")
            try:
                mine = role.output(c.column)
                theirs = by_name[c.source_role].output(c.source_column)
            except KeyError as exc:
                raise ManifestError(f"{where}: no output column {exc.args[0]!r}") from None
            if not mine.is_token or mine.kind != theirs.kind:
                raise ManifestError(
                    f"{where}: both columns must be tokens of one kind ({mine.kind} vs "
                    f"{theirs.kind})"
                )


def _disclose(spec: Any, where: str) -> tuple[Disclosure, ...]:
    if spec is None:
        return ()
    if not isinstance(spec, dict):
        raise ManifestError(f"{where}.disclose must be a table of column = {{ dataset, ... }}")
    out = []
    for column, entry in spec.items():
        at = f"{where}.disclose.{column}"
        if not isinstance(entry, dict):
            raise ManifestError(f"{at} must be a table with dataset, column, fields, lead_key")
        fields = _req(entry, "fields", at, list)
        if not fields or not all(isinstance(f, str) for f in fields):
            raise ManifestError(f"{at}: fields must list at least one column name")
        when = entry.get("when", {})
        if not isinstance(when, dict) or not all(isinstance(v, str) for v in when.values()):
            raise ManifestError(f'{at}: when must be a table of flag = "value"')
        out.append(
            Disclosure(
                column=column,
                dataset=_req(entry, "dataset", at, str),
                source_column=_req(entry, "column", at, str),
                fields=tuple(fields),
                lead_key=_req(entry, "lead_key", at, str),
                when=tuple(sorted(when.items())),
            )
        )
    return tuple(out)


def _check_disclose(roles: list[Role], source: str, lead_key: list[str]) -> None:
    """Each disclosure names a token output, a dataset the role reads, an identifier column of
    the same kind and existing fields (in the data dictionary), and a lead-key column."""
    for role in roles:
        for d in role.disclose:
            at = f"{source}: roles.{role.name}.disclose.{d.column}"
            try:
                out = role.output(d.column)
            except KeyError:
                raise ManifestError(f"{at}: {d.column!r} is not an output of the role") from None
            if not out.is_token:
                raise ManifestError(f"{at}: only token outputs can be resolved ({out.kind})")
            if d.dataset not in role.reads:
                raise ManifestError(f"{at}: dataset {d.dataset!r} is not one the role reads")
            try:
                columns = {c.name: c for c in dictionary.dataset(role.name, d.dataset).columns}
            except ConfigError as exc:
                raise ManifestError(f"{at}: {exc.message}") from None
            src = columns.get(d.source_column)
            if src is None or src.id_kind != out.kind:
                raise ManifestError(
                    f"{at}: column {d.source_column!r} is not a {out.kind} identifier of "
                    f"{d.dataset}"
                )
            unknown = [f for f in d.fields if f not in columns]
            if unknown:
                raise ManifestError(f"{at}: {d.dataset} has no column {unknown[0]!r}")
            if d.lead_key not in lead_key:
                raise ManifestError(f"{at}: lead_key {d.lead_key!r} is not in combine.lead_key")


def _req(table: dict[str, Any], key: str, where: str, typ: type | tuple[type, ...]) -> Any:
    if key not in table:
        raise ManifestError(f"{where}: missing key {key!r}")
    value = table[key]
    if not isinstance(value, typ):
        raise ManifestError(f"{where}: key {key!r} has the wrong type")
    return value


def _output(name: str, spec: Any, where: str) -> Output:
    if not _NAME.fullmatch(name):
        raise ManifestError(f"{where}: output name {name!r} must be lower_snake_case")
    if isinstance(spec, list):
        if not spec or not all(isinstance(v, str) and v for v in spec):
            raise ManifestError(f"{where}.{name}: an enum needs a list of non-empty strings")
        return Output(name, "enum", tuple(spec))
    if spec in ID_KINDS or spec in SCALAR_OUTPUTS:
        return Output(name, str(spec))
    allowed = ", ".join((*ID_KINDS, *SCALAR_OUTPUTS, "[enum values]"))
    raise ManifestError(f"{where}.{name}: unknown output type {spec!r} (allowed: {allowed})")


def _parameter(name: str, spec: Any, where: str) -> Parameter:
    at = f"{where}.{name}"
    if not isinstance(spec, dict):
        raise ManifestError(f"{at}: must be a table with default, min and max")
    num = (int, float)
    default, lo, hi = (_req(spec, k, at, num) for k in ("default", "min", "max"))
    if isinstance(default, bool) or not lo <= default <= hi:
        raise ManifestError(f"{at}: default {default} is not within [{lo}, {hi}]")
    return Parameter(name, default, lo, hi, str(spec.get("description", "")))


def parse_manifest(text: str, source: str = "model.toml") -> Manifest:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{source}: not valid TOML ({exc})") from None
    name = _req(doc, "name", source, str)
    if not _NAME.fullmatch(name):
        raise ManifestError(f"{source}: name {name!r} must be lower_snake_case")
    roles_doc = _req(doc, "roles", source, dict)
    if not roles_doc:
        raise ManifestError(f"{source}: declares no roles")
    roles = []
    for role_name, spec in sorted(roles_doc.items()):
        where = f"{source}: roles.{role_name}"
        outputs = _req(spec, "outputs", where, dict)
        if not outputs:
            raise ManifestError(f"{where}: declares no outputs")
        roles.append(
            Role(
                name=role_name,
                sql_file=_req(spec, "sql", where, str),
                reads=tuple(_req(spec, "reads", where, list)),
                outputs=tuple(_output(n, s, f"{where}.outputs") for n, s in outputs.items()),
                candidates=_candidates(spec.get("candidates"), where),
                disclose=_disclose(spec.get("disclose"), where),
                when_missing=_when_missing(spec.get("when_missing", "withhold"), where),
            )
        )
    _check_candidates(roles, source)
    combine = _req(doc, "combine", source, dict)
    _check_disclose(roles, source, combine.get("lead_key", []))
    explanations: dict[str, tuple[str, str]] = {}
    for kind, text in doc.get("explanations", {}).items():
        at = f"{source}: explanations.{kind}"
        if not isinstance(text, dict):
            raise ManifestError(f"{at} must be a table with zh and en")
        explanations[kind] = (_req(text, "zh", at, str), _req(text, "en", at, str))
    params = doc.get("parameters", {})
    return Manifest(
        name=name,
        version=_req(doc, "version", source, str),
        title_zh=_req(doc, "title_zh", source, str),
        title_en=_req(doc, "title_en", source, str),
        rationale_zh=str(doc.get("rationale_zh", "")),
        rationale_en=str(doc.get("rationale_en", "")),
        legal_basis=tuple(doc.get("legal_basis", ())),
        roles=tuple(roles),
        combine_sql_file=_req(combine, "sql", f"{source}: combine", str),
        lead_key=tuple(_req(combine, "lead_key", f"{source}: combine", list)),
        lead_region=combine.get("region"),
        parameters=tuple(_parameter(n, s, f"{source}: parameters") for n, s in params.items()),
        kind_column=combine.get("kind"),
        explanations=explanations,
    )


def load_manifest(model_dir: Path) -> Manifest:
    path = model_dir / "model.toml"
    if not path.is_file():
        raise ManifestError(f"{model_dir}: no model.toml (is this a model folder?)")
    return parse_manifest(path.read_text(encoding="utf-8"), str(path))
