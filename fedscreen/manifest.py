"""model.toml: what a screening model reads, computes and lets leave the agency.

A model folder holds `model.toml`, one SQL file per agency role, `combine.sql` and `fixtures/`.
Parsing validates everything the agent and the coordinator rely on, naming file and key.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedscreen import dictionary
from fedscreen.errors import ConfigError, ManifestError, ParameterError
from fedscreen.identifiers import ID_KINDS

SCALAR_OUTPUTS = ("bool", "region")
LANGUAGES = ("zh", "en")  # of titles, rationale and explanations; Chinese first
_YES_NO = {"zh": ("是", "否"), "en": ("yes", "no")}
NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")  # model, role and parameter names


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
    # language -> flag -> raw value -> how it reads in that language ("存续" -> "operating")
    labels: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)

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

    def explain(
        self, kind: str, flags: Mapping[str, object], params: Mapping[str, object] | None = None
    ) -> tuple[str, str]:
        """The lead's explanation in Chinese and English, from declared flags and buckets and
        the run's parameters (`{cap_months}`). A flag wins over a parameter of the same name:
        it is what the combine SQL computed for this lead."""
        values = {**(params or {}), **flags}
        zh, en = self.explanations.get(kind, ("", ""))
        return self._render(zh, values, "zh"), self._render(en, values, "en")

    def show(self, lang: str, name: str, value: object) -> str:
        """How `value` of flag `name` reads in `lang`: its label if the model declares one,
        yes/no for booleans, "—" for none, else the raw value."""
        if value is None:
            return "—"
        if isinstance(value, bool):
            return _YES_NO[lang][0 if value else 1]
        raw = str(value)
        return self.labels.get(lang, {}).get(name, {}).get(raw, raw)

    def _render(self, template: str, values: Mapping[str, object], lang: str) -> str:
        shown = {k: self.show(lang, k, v) for k, v in values.items()}
        return template.format_map(_Missing(shown))

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


class _Missing(dict[str, str]):
    """A placeholder the lead has no value for reads "—", like a null flag."""

    def __missing__(self, key: str) -> str:
        return "—"


def placeholders(template: str) -> set[str]:
    """The names a template fills in (`{crime}` → "crime"); ValueError if it is malformed."""
    return {name for _text, name, _spec, _conv in string.Formatter().parse(template) if name}


WHEN_MISSING = ("combine", "withhold")
# Every key each table of model.toml may hold. Anything else is refused: a typo such as
# `legal_basiss` would otherwise be signed and approved while meaning nothing.
_TOP_KEYS = (
    "name", "version", "title_zh", "title_en", "rationale_zh", "rationale_en", "legal_basis",
    "roles", "combine", "parameters", "explanations", "labels",
)  # fmt: skip
_ROLE_KEYS = ("sql", "reads", "outputs", "candidates", "disclose", "when_missing")
_COMBINE_KEYS = ("sql", "lead_key", "region", "kind")
_PARAMETER_KEYS = ("default", "min", "max", "description")
_DISCLOSE_KEYS = ("dataset", "column", "fields", "lead_key", "when")
# A version names the bundle file (<name>-<version>.fsb): no path separators, no spaces.
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,31}")


@dataclass(frozen=True)
class _Table:
    """One table of model.toml and its dotted key, so every message names file and key."""

    source: str
    path: str  # "" at the top level
    data: dict[str, Any]

    def key(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, problem: str) -> ManifestError:
        return ManifestError(f"{self.source}: {self.key(key)} {problem}")

    def only(self, allowed: tuple[str, ...]) -> _Table:
        for key in self.data:
            if key not in allowed:
                raise ManifestError(
                    f"{self.source}: unknown key {self.key(key)!r} (allowed: {', '.join(allowed)})"
                )
        return self

    def value(self, key: str) -> Any:
        if key not in self.data:
            raise ManifestError(f"{self.source}: missing key {self.key(key)!r}")
        return self.data[key]

    def table(self, key: str, *, optional: bool = False) -> _Table:
        if optional and key not in self.data:
            return _Table(self.source, self.key(key), {})
        value = self.value(key)
        if not isinstance(value, dict):
            raise self.error(key, "must be a table")
        return _Table(self.source, self.key(key), value)

    def string(self, key: str) -> str:
        value = self.value(key)
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, "must be a non-empty string")
        return value

    def optional_string(self, key: str) -> str | None:
        return self.string(key) if key in self.data else None

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.value(key)
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.error(key, "must be a list of strings")
        if not value:
            raise self.error(key, "must not be empty")
        return tuple(value)

    def number(self, key: str) -> int | float:
        value = self.value(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, "must be a number")
        return value


def _when_missing(role: _Table) -> str:
    value = role.data.get("when_missing", "withhold")
    if not isinstance(value, str) or value not in WHEN_MISSING:
        raise role.error("when_missing", f"must be one of {', '.join(WHEN_MISSING)}")
    return value


def _candidates(role: _Table) -> tuple[Candidate, ...]:
    spec = role.table("candidates", optional=True)
    out = []
    for column, source in spec.data.items():
        src_role, dot, src = source.partition(".") if isinstance(source, str) else ("", "", "")
        if not dot or not src_role or not src:
            raise spec.error(column, 'must look like "role.column"')
        out.append(Candidate(column, src_role, src))
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


def _disclose(role: _Table) -> tuple[Disclosure, ...]:
    spec = role.table("disclose", optional=True)
    out = []
    for column in spec.data:
        entry = spec.table(column).only(_DISCLOSE_KEYS)
        fields = entry.value("fields")
        if not (isinstance(fields, list) and fields and all(isinstance(f, str) for f in fields)):
            raise entry.error("fields", "must list at least one column name")
        when = entry.table("when", optional=True).data
        if not all(isinstance(v, str) for v in when.values()):
            raise entry.error("when", 'must be a table of flag = "value"')
        out.append(
            Disclosure(
                column=column,
                dataset=entry.string("dataset"),
                source_column=entry.string("column"),
                fields=tuple(fields),
                lead_key=entry.string("lead_key"),
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


def _output(name: str, spec: Any, where: str) -> Output:
    if not NAME.fullmatch(name):
        raise ManifestError(f"{where}: output name {name!r} must be lower_snake_case")
    if isinstance(spec, list):
        if not spec or not all(isinstance(v, str) and v for v in spec):
            raise ManifestError(f"{where}.{name}: an enum needs a list of non-empty strings")
        return Output(name, "enum", tuple(spec))
    if isinstance(spec, str) and (spec in ID_KINDS or spec in SCALAR_OUTPUTS):
        return Output(name, spec)
    allowed = ", ".join((*ID_KINDS, *SCALAR_OUTPUTS, "[enum values]"))
    raise ManifestError(f"{where}.{name}: unknown output type {spec!r} (allowed: {allowed})")


def _role(roles: _Table, name: str) -> Role:
    role = roles.table(name).only(_ROLE_KEYS)
    outputs = role.table("outputs")
    if not outputs.data:
        raise ManifestError(f"{role.source}: {role.path}: declares no outputs")
    where = f"{role.source}: {outputs.path}"
    return Role(
        name=name,
        sql_file=role.string("sql"),
        reads=role.strings("reads"),
        outputs=tuple(_output(n, s, where) for n, s in outputs.data.items()),
        candidates=_candidates(role),
        disclose=_disclose(role),
        when_missing=_when_missing(role),
    )


def _parameter(params: _Table, name: str) -> Parameter:
    if not NAME.fullmatch(name):
        raise ManifestError(f"{params.source}: parameter name {name!r} must be lower_snake_case")
    spec = params.table(name).only(_PARAMETER_KEYS)
    default, lo, hi = (spec.number(k) for k in ("default", "min", "max"))
    if not lo <= default <= hi:
        raise ManifestError(
            f"{spec.source}: {spec.path}: default {default} is not within [{lo}, {hi}]"
        )
    description = spec.data.get("description", "")
    if not isinstance(description, str):
        raise spec.error("description", "must be a string")
    return Parameter(name, default, lo, hi, description)


def _explanations(top: _Table) -> dict[str, tuple[str, str]]:
    table = top.table("explanations", optional=True)
    out = {}
    for kind in table.data:
        entry = table.table(kind).only(LANGUAGES)
        zh, en = entry.string("zh"), entry.string("en")
        for lang, template in (("zh", zh), ("en", en)):
            try:
                placeholders(template)
            except ValueError as exc:
                raise entry.error(lang, f"is not a valid template ({exc})") from None
        out[kind] = (zh, en)
    return out


def _labels(
    top: _Table, roles: list[Role], explanations: dict[str, tuple[str, str]]
) -> dict[str, dict[str, dict[str, str]]]:
    """`[labels.<lang>.<flag>] "raw" = "shown"`. The flag must be an enum output of a role (and
    the raw value one it declares) or a column an explanation names (the combine SQL's own,
    such as `via`, whose values cannot be checked here). A label that could never apply is
    refused: it would be a typo, and the raw value would show instead."""
    table = top.table("labels", optional=True).only(LANGUAGES)
    enums: dict[str, set[str]] = {}
    scalars: dict[str, str] = {}
    for role in roles:
        for out in role.outputs:
            if out.kind == "enum":
                enums.setdefault(out.name, set()).update(out.values)
            else:
                scalars[out.name] = out.kind
    named = {n for pair in explanations.values() for t in pair for n in placeholders(t)}
    labels: dict[str, dict[str, dict[str, str]]] = {}
    for lang in table.data:
        by_flag = table.table(lang)
        labels[lang] = {}
        for flag in by_flag.data:
            entry = by_flag.table(flag)
            if flag in scalars and flag not in enums:
                kind = scalars[flag]
                raise by_flag.error(
                    flag, f"is a {kind} output: only enum values and combine columns take labels"
                )
            if flag not in enums and flag not in named:
                raise by_flag.error(flag, "is neither an enum output nor named by an explanation")
            for raw, shown in entry.data.items():
                if not isinstance(shown, str) or not shown.strip():
                    raise entry.error(raw, "must be a non-empty string")
                if flag in enums and raw not in enums[flag]:
                    raise entry.error(raw, f"is not a value of the enum {flag}")
            labels[lang][flag] = dict(entry.data)
    return labels


def parse_manifest(text: str, source: str = "model.toml") -> Manifest:
    """The manifest, or ManifestError naming the file and the first key that is wrong."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{source}: not valid TOML ({exc})") from None
    top = _Table(source, "", doc).only(_TOP_KEYS)
    name = top.string("name")
    if not NAME.fullmatch(name):
        raise ManifestError(f"{source}: name {name!r} must be lower_snake_case")
    version = top.string("version")
    if not _VERSION.fullmatch(version):
        raise top.error("version", "must be letters, digits, '.', '+', '_' or '-' (like 1.0.0)")
    texts = {k: top.string(k) for k in ("title_zh", "title_en", "rationale_zh", "rationale_en")}
    legal_basis = top.strings("legal_basis")
    roles_doc = top.table("roles")
    if not roles_doc.data:
        raise ManifestError(f"{source}: declares no roles")
    roles = [_role(roles_doc, role_name) for role_name in sorted(roles_doc.data)]
    _check_candidates(roles, source)
    combine = top.table("combine").only(_COMBINE_KEYS)
    lead_key = combine.strings("lead_key")
    _check_disclose(roles, source, list(lead_key))
    params = top.table("parameters", optional=True)
    explanations = _explanations(top)
    return Manifest(
        name=name,
        version=version,
        **texts,
        legal_basis=legal_basis,
        roles=tuple(roles),
        combine_sql_file=combine.string("sql"),
        lead_key=lead_key,
        lead_region=combine.optional_string("region"),
        parameters=tuple(_parameter(params, n) for n in params.data),
        kind_column=combine.optional_string("kind"),
        explanations=explanations,
        labels=_labels(top, roles, explanations),
    )


def load_manifest(model_dir: Path) -> Manifest:
    path = model_dir / "model.toml"
    if not path.is_file():
        raise ManifestError(f"{model_dir}: no model.toml (is this a model folder?)")
    return parse_manifest(path.read_text(encoding="utf-8"), str(path))
