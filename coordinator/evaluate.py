"""Lead quality against synthetic ground truth — a test-bench tool.

It needs the federation's token secret to tokenise the truth, which a real coordinator never
holds; only `fedscreen demo` and `fedscreen eval` on synthetic data use it. Ground truth per
model (coordinator.synth.truth_file): a `kind` column, then one column per lead key headed
`<key>:<identifier kind>`, holding canonical identifiers.

A job is scored on the leads it found. The registry keeps only each lead's *last* job, so
those are the leads whose last job it is — exact as long as no later job of the campaign saw
them again, which `job_leads` checks against the count the job recorded.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from coordinator.registry import LeadRow, Registry
from coordinator.resolutions import ran_manifest
from coordinator.state import State
from fedscreen.errors import UsageError
from fedscreen.identifiers import ID_KINDS, normalise
from fedscreen.manifest import Manifest, load_manifest
from fedscreen.tokens import TokenKeys, reference_token

TRUTH_SUFFIX = ".leads.csv"  # coordinator.synth.truth_file: truth/<model>.leads.csv
SCORED = ("succeeded", "partial")  # jobs whose leads are in the registry


@dataclass(frozen=True)
class Quality:
    model: str
    kind: str
    leads: int
    truth: int
    true_positives: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.leads if self.leads else 0.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.truth if self.truth else 0.0


@dataclass(frozen=True)
class Truth:
    """A checked truth file: its lead key as (name, identifier kind), its rows as (lead kind,
    canonical identifiers in key order)."""

    path: Path
    key: tuple[tuple[str, str], ...]
    rows: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def key_names(self) -> tuple[str, ...]:
        return tuple(name for name, _kind in self.key)

    def tokens(self, keys: TokenKeys) -> dict[str, set[tuple[str, ...]]]:
        """Per lead kind, the planted cases as the agents would have tokenised them."""
        by_kind: dict[str, set[tuple[str, ...]]] = defaultdict(set)
        for kind, values in self.rows:
            by_kind[kind].add(
                tuple(
                    str(reference_token(keys, k, v))  # valid: read_truth checked them
                    for (_n, k), v in zip(self.key, values, strict=True)
                )
            )
        return by_kind


# --- inputs ---------------------------------------------------------------------------------
def read_secret(path: Path) -> bytes:
    """The agencies' token secret from `path` (surrounding whitespace stripped)."""
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise UsageError(f"cannot read the token secret {path}: {exc.strerror or exc}") from None
    if not secret:
        raise UsageError(f"the token secret file {path} is empty")
    _keys(secret, "", "", path)
    return secret


def _keys(secret: bytes, model: str, campaign: str, source: Path | str = "the secret") -> TokenKeys:
    try:
        return TokenKeys.derive(secret, model, campaign)
    except ValueError as exc:  # too short: fedscreen.tokens.scope_key
        raise UsageError(f"{source}: {exc} (it has {len(secret)})") from None


def truth_files(truth: Path, model: str | None = None) -> dict[str, Path]:
    """model -> truth file: `truth` itself (a file: the truth of `model`, or of the model its
    name says), or every truth/<model>.leads.csv of a synth output folder (or of `truth`)."""
    if truth.is_file():
        name = model or _model_of(truth)
        if not name:
            raise UsageError(f"{truth}: a single truth file needs --model (the model it is of)")
        return {name: truth}
    folder = truth / "truth" if (truth / "truth").is_dir() else truth
    found = {_model_of(p): p for p in sorted(folder.glob("*" + TRUTH_SUFFIX))}
    if not found:
        raise UsageError(f"no ground truth in {truth} (expected truth/<model>{TRUTH_SUFFIX})")
    if model is None:
        return found
    if model not in found:
        raise UsageError(f"no ground truth for {model} in {folder} (models: {', '.join(found)})")
    return {model: found[model]}


def _model_of(path: Path) -> str:
    return path.name[: -len(TRUTH_SUFFIX)] if path.name.endswith(TRUTH_SUFFIX) else ""


def read_truth(path: Path, manifest: Manifest | None = None) -> Truth:
    """The truth file, refused (naming file and line) unless every row fits: as many fields as
    the header, a lead kind, valid identifiers — and, given the model's manifest, its lead
    key and lead kinds."""
    reader = csv.reader(io.StringIO(_read_text(path), newline=""), strict=True)
    try:
        header = next(reader, None)
        if not header:  # an empty file, or a blank first line
            raise UsageError(
                f"{path} line 1: empty; it must be the header kind,<key>:<identifier kind>,…"
            )
        key = _header(path, header, manifest)
        kinds = _lead_kinds(manifest)
        rows: list[tuple[str, tuple[str, ...]]] = []
        invalid: list[str] = []
        for row in reader:
            if not row:
                continue  # a blank line
            line = f"{path} line {reader.line_num}"
            if len(row) != len(header):
                raise UsageError(f"{line}: {len(row)} fields, the header has {len(header)}")
            if not row[0] or (kinds and row[0] not in kinds):
                known = (
                    f" of {manifest.name} ({', '.join(sorted(kinds))})"
                    if manifest and kinds
                    else ""
                )
                raise UsageError(f"{line}: {row[0][:40]!r} is not a lead kind{known}")
            values = [normalise(k, v) for (_n, k), v in zip(key, row[1:], strict=True)]
            bad = [(n, k, v) for (n, k), v, c in zip(key, row[1:], values, strict=True) if not c]
            if bad:
                n, k, _v = bad[0]  # the value stays out of the message: it may be a real ID
                invalid.append(f"{line}: {n} is not a valid {k} identifier")
                continue
            rows.append((row[0], tuple(v for v in values if v)))
    except csv.Error as exc:
        raise UsageError(f"{path} line {reader.line_num}: not valid CSV ({exc})") from None
    if invalid:
        more = f" ({len(invalid)} rows like it)" if len(invalid) > 1 else ""
        raise UsageError(f"{invalid[0]}{more}; ground truth holds canonical identifiers")
    return Truth(path, key, tuple(rows))


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"no ground truth at {path} ({exc.strerror or exc})") from None
    data = data.removeprefix(codecs.BOM_UTF8)  # as spreadsheet programs save "CSV UTF-8"
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UsageError(
            f"{path} line {line}: not UTF-8 (byte {data[exc.start]:#04x}); save it as UTF-8"
        ) from None


def _header(
    path: Path, header: list[str], manifest: Manifest | None
) -> tuple[tuple[str, str], ...]:
    at = f"{path} line 1"
    if header[0] != "kind":
        raise UsageError(f"{at}: the first column must be kind, not {header[0][:40]!r}")
    if len(header) < 2:
        raise UsageError(f"{at}: no lead-key columns (<key>:<identifier kind>) after kind")
    key: list[tuple[str, str]] = []
    for column in header[1:]:
        name, sep, kind = column.partition(":")
        if not sep or not name:
            raise UsageError(f"{at}: column {column[:40]!r} must be headed <key>:<identifier kind>")
        if kind not in ID_KINDS:
            raise UsageError(
                f"{at}: column {column[:40]!r}: {kind[:20]!r} is not an identifier kind"
                f" ({', '.join(ID_KINDS)})"
            )
        if name in dict(key):
            raise UsageError(f"{at}: lead key {name!r} appears twice")
        key.append((name, kind))
    if manifest is not None and {n for n, _k in key} != set(manifest.lead_key):
        raise UsageError(
            f"{at}: the truth is keyed by ({', '.join(n for n, _k in key)}) but {manifest.name}"
            f" keys its leads by ({', '.join(manifest.lead_key)}); is it another model's truth?"
        )
    return tuple(key)


def _lead_kinds(manifest: Manifest | None) -> set[str]:
    """The lead kinds the model can produce; empty when unknown (no manifest, or a kind
    column without declared explanations)."""
    if manifest is None:
        return set()
    if manifest.kind_column is None:
        return {manifest.name}  # coordinator.combine: the model's name is its only kind
    return set(manifest.explanations)


def truth_manifest(
    state: State, model: str, job: dict[str, object] | None, models: Path
) -> Manifest | None:
    """The manifest `model`'s truth is checked against: that of the signed bundle `job` ran,
    read from the state dir as `resolve` reads it (./models may hold another version, or not
    the model); only a model with no job falls back to models/<model>, and None when that is
    not there either."""
    if job is not None:
        return ran_manifest(
            state, str(job["job_id"]), model, str(job["version"]), str(job["digest"]),
            str(job["started_at"]), during=f"the truth of {model}",
        )  # fmt: skip
    if not (models / model / "model.toml").is_file():
        return None
    return load_manifest(models / model)


# --- jobs -----------------------------------------------------------------------------------
def pick_job(
    registry: Registry, job_id: str | None, model: str | None, campaign: str | None = None
) -> dict[str, object] | None:
    """`job_id` (an id or an unambiguous prefix), checked to be a scored job of `model` and
    `campaign`; without it, the model's most recently finished succeeded or partial job (of
    `campaign`, if given), or None if it has none."""
    if job_id is None:
        if model is None:
            raise UsageError("name a model or a job to evaluate")
        done = [
            j
            for j in registry.jobs()
            if j["model"] == model
            and j["status"] in SCORED
            and (campaign is None or j["campaign"] == campaign)
        ]
        return max(done, key=lambda j: (str(j["finished_at"]), str(j["started_at"])), default=None)
    job = registry.find_job(job_id)
    name = job["job_id"]
    if model is not None and job["model"] != model:
        raise UsageError(f"job {name} ran {job['model']}, not {model}")
    if campaign is not None and job["campaign"] != campaign:
        raise UsageError(f"job {name} ran in campaign {job['campaign']}, not {campaign}")
    if job["status"] not in SCORED:
        raise UsageError(f"job {name} is {job['status']}; eval scores succeeded or partial jobs")
    return job


def job_leads(registry: Registry, job: dict[str, object]) -> list[LeadRow]:
    """The leads `job` found: those of its model and campaign whose last job it is."""
    job_id, recorded = str(job["job_id"]), int(str(job["leads"] or 0))
    leads = [
        lead
        for lead in registry.leads(str(job["model"]), campaign=str(job["campaign"]))
        if lead.last_job == job_id
    ]
    if len(leads) < recorded:
        raise UsageError(
            f"job {job_id}: a later job of campaign {job['campaign']} saw {recorded - len(leads)}"
            f" of its {recorded} leads again, and the registry keeps only each lead's last job;"
            " eval can score only a job whose leads no later job saw (e.g. the newest)"
        )
    if len(leads) > recorded:
        raise UsageError(
            f"job {job_id} recorded {recorded} leads but {len(leads)} name it as their last job"
            " (it was resumed); the registry cannot tell which of them its last attempt found"
        )
    return leads


# --- scoring --------------------------------------------------------------------------------
def score(truth: Truth, keys: TokenKeys, model: str, leads: Iterable[LeadRow]) -> list[Quality]:
    """Precision and recall of `leads` against `truth`, per lead kind of either."""
    names = truth.key_names
    found: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for lead in leads:
        if set(lead.key) != set(names):
            raise UsageError(
                f"{truth.path} is keyed by ({', '.join(names)}) but the leads of {model} by"
                f" ({', '.join(lead.key)}); is it another model's truth?"
            )
        found[lead.kind].add(tuple(str(lead.key[k]) for k in names))
    planted = truth.tokens(keys)
    return [
        Quality(model, kind, len(found[kind]), len(planted[kind]), len(found[kind] & planted[kind]))
        for kind in sorted(set(planted) | set(found))
    ]


def evaluate_model(
    registry: Registry,
    truth_csv: Path,
    secret: bytes,
    model: str,
    campaign: str,
    *,
    job: str | None = None,
    manifest: Manifest | None = None,
) -> list[Quality]:
    """Precision and recall of a model's leads in `campaign`, per lead kind: of the leads job
    `job` found, or (None) of every lead of the campaign — right only while one job has run
    it, as in the demo. Given the model's `manifest`, truth that does not fit it is refused."""
    truth = read_truth(truth_csv, manifest)
    keys = _keys(secret, model, campaign)
    if job is None:
        return score(truth, keys, model, registry.leads(model, campaign=campaign))
    found = pick_job(registry, job, model, campaign)
    assert found is not None  # pick_job returns a job when given an id, or raises
    return score(truth, keys, model, job_leads(registry, found))


def score_job(
    registry: Registry, truth: Truth, secret: bytes, model: str, job: dict[str, object] | None
) -> list[Quality]:
    """`truth` against the leads `job` found, in the job's campaign; no job scores no leads
    (the model never ran: every planted case is missed)."""
    if job is None:
        return score(truth, _keys(secret, model, model), model, [])
    keys = _keys(secret, model, str(job["campaign"]))
    return score(truth, keys, model, job_leads(registry, job))
