"""Scoring leads against synthetic ground truth: the truth is checked against the model, a
job is scored on the leads it found, and a model that found nothing scores recall 0."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from coordinator.combine import Lead, lead_id
from coordinator.evaluate import (
    Quality,
    evaluate_model,
    job_leads,
    pick_job,
    read_secret,
    read_truth,
    score_job,
    truth_files,
    truth_manifest,
)
from coordinator.registry import Registry
from coordinator.run import job_bundle_file
from coordinator.state import State, init_state
from fedscreen import keys
from fedscreen.bundle import bundle_digest, bundle_filename, sign_bundle
from fedscreen.errors import ConfigError, UsageError
from fedscreen.identifiers import person_check_char
from fedscreen.manifest import Manifest, load_manifest
from fedscreen.tokens import TokenKeys, reference_token

MODELS = Path(__file__).resolve().parents[2] / "models"
SECRET = b"a test secret of at least 32 bytes"
AID = "judicial_aid_social_aid"  # lead key (person), kinds omission, transfer, …
LABOUR = "fake_labour_litigation"  # lead key (person, suit), one kind: the model's name

Key = dict[str, tuple[str, str]]  # lead-key name -> (identifier kind, plaintext)


def manifest(model: str) -> Manifest:
    return load_manifest(MODELS / model)


def person(i: int) -> str:
    body = f"41050219650115{i:03d}"
    return body + person_check_char(body)


def aid(kind: str, i: int) -> tuple[str, Key]:
    return kind, {"person": ("person", person(i))}


def labour(i: int) -> tuple[str, Key]:
    return LABOUR, {"person": ("person", person(i)), "suit": ("case", f"(2023)豫0503民初{i}号")}


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


def truth_csv(path: Path, *cases: tuple[str, Key]) -> Path:
    """The truth file of `cases`, headed as synth heads it."""
    header = "kind," + ",".join(f"{n}:{k}" for n, (k, _v) in cases[0][1].items())
    rows = [f"{kind}," + ",".join(v for _k, v in key.values()) for kind, key in cases]
    return write(path, "\n".join([header, *rows]) + "\n")


SIGNED_AT = datetime(2024, 12, 31, tzinfo=UTC)  # run_job's jobs start on 2025-01-<at>


def keep_bundle(state: State, job_id: str, folder: Path) -> tuple[str, str]:
    """Sign the model `folder` with the coordinator's key and keep it as job `job_id`'s bundle,
    as `run` does; returns the version and digest the job row records."""
    key = keys.load_private(state.signing_key)
    data = sign_bundle(
        folder, key, state.signer_name(), now=SIGNED_AT, valid_for=timedelta(days=60)
    )
    write(job_bundle_file(state, job_id), data)
    return load_manifest(folder).version, bundle_digest(data)


def run_job(
    registry: Registry,
    job_id: str,
    model: str,
    found: list[tuple[str, Key]],
    *,
    at: int,
    campaign: str | None = None,
    status: str = "succeeded",
    signed_by: State | None = None,
    folder: Path | None = None,
) -> None:
    """A job of `model` that found `found` (tokenised as agents would), finished on day `at`;
    given `signed_by`, the bundle it ran (signed from `folder`, by default the shipped model)
    is kept in that state dir."""
    campaign = campaign or model
    version, digest = "1", "digest"
    if signed_by is not None:
        version, digest = keep_bundle(signed_by, job_id, folder or MODELS / model)
    token_keys = TokenKeys.derive(SECRET, model, campaign)
    registry.start_job(job_id, model, version, digest, campaign, {}, ("题", "title"))
    leads = []
    for kind, key in found:
        tokens = {n: str(reference_token(token_keys, k, v)) for n, (k, v) in key.items()}
        leads.append(Lead(lead_id(model, campaign, kind, tokens), tokens, {}, None, kind))
    if status in ("succeeded", "partial"):
        registry.record_leads(job_id, model, version, campaign, leads)
    registry.finish_job(job_id, status, "2 of 3 agents answered", leads=len(leads))
    stamp = f"2025-01-{at:02d}T00:00:00+00:00"  # a distinct, ordered time per job
    with closing(sqlite3.connect(registry.path)) as con, con:
        con.execute(
            "UPDATE jobs SET started_at=?, finished_at=? WHERE job_id=?", (stamp, stamp, job_id)
        )


def by_kind(quality: list[Quality]) -> dict[str, tuple[int, int, int, float, float]]:
    return {
        q.kind: (q.leads, q.truth, q.true_positives, round(q.precision, 3), round(q.recall, 3))
        for q in quality
    }


@pytest.fixture()
def registry(tmp_path: Path) -> Registry:
    return Registry(tmp_path / "registry.sqlite")


# --- 1. a model that found nothing ----------------------------------------------------------
def test_a_job_that_found_no_leads_scores_recall_zero(tmp_path: Path, registry: Registry) -> None:
    run_job(registry, "j-empty", AID, [], at=1)
    truth = read_truth(
        truth_csv(tmp_path / "t.csv", aid("omission", 1), aid("omission", 2), aid("transfer", 3)),
        manifest(AID),
    )
    quality = score_job(registry, truth, SECRET, AID, pick_job(registry, None, AID))
    assert by_kind(quality) == {"omission": (0, 2, 0, 0.0, 0.0), "transfer": (0, 1, 0, 0.0, 0.0)}


def test_a_model_that_never_ran_misses_every_planted_case(tmp_path: Path) -> None:
    truth = read_truth(truth_csv(tmp_path / "t.csv", labour(1), labour(2)), manifest(LABOUR))
    quality = score_job(Registry(tmp_path / "r.sqlite"), truth, SECRET, LABOUR, None)
    assert by_kind(quality) == {LABOUR: (0, 2, 0, 0.0, 0.0)}


def test_truth_files_of_a_folder_are_its_models(tmp_path: Path) -> None:
    a = truth_csv(tmp_path / "out" / "truth" / f"{AID}.leads.csv", aid("omission", 1))
    b = truth_csv(tmp_path / "out" / "truth" / f"{LABOUR}.leads.csv", labour(1))
    write(tmp_path / "out" / "truth" / "lookalikes.csv", "kind,person\n")  # not a model's truth
    assert truth_files(tmp_path / "out") == {AID: a, LABOUR: b}
    assert truth_files(tmp_path / "out" / "truth") == {AID: a, LABOUR: b}
    assert truth_files(tmp_path / "out", AID) == {AID: a}
    assert truth_files(a) == {AID: a}  # a single file: its name says the model
    with pytest.raises(UsageError, match=r"^no ground truth for wage_decision_escrow in .*truth"):
        truth_files(tmp_path / "out", "wage_decision_escrow")
    with pytest.raises(UsageError, match=r"single truth file needs --model"):
        truth_files(write(tmp_path / "x.csv", "kind,person:person\n"))


# --- 2. bad input: one-line errors naming file and line ----------------------------------------
HEADER = "kind,person:person\n"
BAD_TRUTH = {
    "empty": (b"", "line 1: empty; it must be the header kind,<key>:<identifier kind>,…"),
    "extra field": (
        (HEADER + f"omission,{person(1)}\ntransfer,{person(2)},x\n").encode(),
        "line 3: 3 fields, the header has 2",
    ),
    "unknown identifier kind": (
        f"kind,person:nokind\nomission,{person(1)}\n".encode(),
        "line 1: column 'person:nokind': 'nokind' is not an identifier kind"
        " (person, org, case, project)",
    ),
    "not UTF-8": (
        HEADER.encode() + b"omission,\xff\xfe\n",
        "line 2: not UTF-8 (byte 0xff); save it as UTF-8",
    ),
    "first column": (
        b"person:person\n",
        "line 1: the first column must be kind, not 'person:person'",
    ),
    "no key kind": (
        b"kind,person\n",
        "line 1: column 'person' must be headed <key>:<identifier kind>",
    ),
    "key twice": (b"kind,person:person,person:org\n", "line 1: lead key 'person' appears twice"),
    "bad quoting": (
        (HEADER + 'omission,"' + person(1) + "\n").encode(),
        "line 2: not valid CSV (unexpected end of data)",
    ),
    "empty kind": ((HEADER + f",{person(1)}\n").encode(), "line 2: '' is not a lead kind"),
}


@pytest.mark.parametrize("case", sorted(BAD_TRUTH))
def test_malformed_truth_is_refused_naming_file_and_line(tmp_path: Path, case: str) -> None:
    data, message = BAD_TRUTH[case]
    path = write(tmp_path / "t.csv", data)
    with pytest.raises(UsageError) as caught:
        read_truth(path)
    assert caught.value.message == f"{path} {message}"
    assert caught.value.exit_code == 2


def test_a_byte_order_mark_and_blank_lines_are_accepted(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", b"\xef\xbb\xbf" + f"{HEADER}\nomission,{person(1)}\n".encode())
    assert read_truth(path).rows == (("omission", (person(1),)),)


def test_invalid_identifiers_are_refused_and_counted(tmp_path: Path) -> None:
    text = f"{HEADER}omission,{person(1)}\nomission,12345\ntransfer,not-an-id\n"
    path = write(tmp_path / "t.csv", text)
    with pytest.raises(UsageError) as caught:
        read_truth(path)
    assert caught.value.message == (
        f"{path} line 3: person is not a valid person identifier (2 rows like it);"
        " ground truth holds canonical identifiers"
    )


def test_secret_files_that_cannot_key_tokens_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^the token secret file .*empty\.key is empty$"):
        read_secret(write(tmp_path / "empty.key", b" \n"))
    short = write(tmp_path / "short.key", b"short\n")
    with pytest.raises(UsageError) as caught:
        read_secret(short)
    assert caught.value.message == f"{short}: the token secret must be at least 32 bytes (it has 5)"
    with pytest.raises(UsageError, match=r"^cannot read the token secret .*: No such file"):
        read_secret(tmp_path / "absent.key")
    assert read_secret(write(tmp_path / "ok.key", SECRET + b"\n")) == SECRET


# --- 3. truth that does not fit the model ---------------------------------------------------
def test_another_models_truth_is_refused_by_its_lead_key(tmp_path: Path) -> None:
    path = truth_csv(tmp_path / "t.csv", labour(1))
    with pytest.raises(UsageError) as caught:
        read_truth(path, manifest(AID))
    assert caught.value.message == (
        f"{path} line 1: the truth is keyed by (person, suit) but judicial_aid_social_aid keys"
        " its leads by (person); is it another model's truth?"
    )


def test_truth_with_the_same_key_but_another_models_kinds_is_refused(tmp_path: Path) -> None:
    escrow = "wage_decision_escrow,2018-410503-47-01-960784,91500103888648562K\n"
    path = write(tmp_path / "t.csv", "kind,project:project,employer:org\n" + escrow)
    with pytest.raises(UsageError) as caught:
        read_truth(path, manifest("wage_arrears_support"))
    assert caught.value.message == (
        f"{path} line 2: 'wage_decision_escrow' is not a lead kind of wage_arrears_support"
        " (wage_arrears_support)"
    )
    assert len(read_truth(path, manifest("wage_decision_escrow")).rows) == 1


def test_unknown_kinds_of_a_kind_column_model_are_refused(tmp_path: Path) -> None:
    path = truth_csv(tmp_path / "t.csv", aid("omission", 1), aid("omision", 2))
    with pytest.raises(UsageError, match=r"line 3: 'omision' is not a lead kind of judicial_aid"):
        read_truth(path, manifest(AID))


def test_leads_keyed_otherwise_than_the_truth_are_refused(
    tmp_path: Path, registry: Registry
) -> None:
    run_job(registry, "j1", AID, [aid("omission", 1)], at=1)
    path = truth_csv(tmp_path / "t.csv", labour(1))  # no manifest given: the leads tell
    with pytest.raises(UsageError, match=r"keyed by \(person, suit\) but the leads of judicial"):
        evaluate_model(registry, path, SECRET, AID, AID)


# --- 4. the job scored ------------------------------------------------------------------------
def test_only_the_leads_of_the_newest_job_are_scored(tmp_path: Path, registry: Registry) -> None:
    run_job(registry, "j-old", AID, [aid("omission", 1), aid("omission", 9)], at=1)
    run_job(registry, "j-new", AID, [aid("omission", 1), aid("transfer", 3)], at=2)
    run_job(registry, "j-failed", AID, [], at=3, status="failed")  # never scored
    run_job(registry, "j-other", AID, [aid("omission", 2)], at=4, campaign="other")
    path = truth_csv(tmp_path / "t.csv", aid("omission", 1), aid("omission", 2), aid("transfer", 3))
    job = pick_job(registry, None, AID, AID)
    assert job is not None and job["job_id"] == "j-new"
    assert pick_job(registry, None, AID) == registry.job("j-other")  # any campaign: the newest
    quality = score_job(registry, read_truth(path, manifest(AID)), SECRET, AID, job)
    # j-old's omission 9 is not counted: before this, eval scored 3 omission leads, precision 0.5
    assert by_kind(quality) == {"omission": (1, 2, 1, 1.0, 0.5), "transfer": (1, 1, 1, 1.0, 1.0)}
    assert by_kind(evaluate_model(registry, path, SECRET, AID, AID, job="j-new")) == by_kind(
        quality
    )


def test_a_job_whose_leads_a_later_job_saw_again_is_refused(registry: Registry) -> None:
    run_job(registry, "j-old", AID, [aid("omission", 1), aid("omission", 9)], at=1)
    run_job(registry, "j-new", AID, [aid("omission", 1)], at=2)
    job = pick_job(registry, "j-old", AID)
    assert job is not None
    with pytest.raises(UsageError) as caught:
        job_leads(registry, job)
    assert caught.value.message == (
        f"job j-old: a later job of campaign {AID} saw 1 of its 2 leads again, and the registry"
        " keeps only each lead's last job; eval can score only a job whose leads no later job"
        " saw (e.g. the newest)"
    )
    assert [lead.last_job for lead in job_leads(registry, registry.find_job("j-new"))] == ["j-new"]


def test_jobs_that_cannot_be_scored_are_refused(registry: Registry) -> None:
    run_job(registry, "j-failed-0001", AID, [], at=1, status="failed")
    run_job(registry, "j-aid-000002", AID, [], at=2)
    with pytest.raises(UsageError, match=r"^job j-failed-0001 is failed; eval scores succeeded"):
        pick_job(registry, "j-failed-0001", None)
    with pytest.raises(UsageError, match=f"^job j-aid-000002 ran {AID}, not {LABOUR}$"):
        pick_job(registry, "j-aid-000002", LABOUR)
    with pytest.raises(UsageError, match=f"^job j-aid-000002 ran in campaign {AID}, not x$"):
        pick_job(registry, "j-aid-000002", AID, "x")
    with pytest.raises(UsageError, match=r"^unknown job 'nope'"):
        pick_job(registry, "nope", AID)
    assert pick_job(registry, "j-aid-00", None) == registry.job("j-aid-000002")  # a prefix
    assert pick_job(registry, None, LABOUR) is None


def test_evaluate_model_without_a_job_keeps_scoring_every_lead_of_the_campaign(
    tmp_path: Path, registry: Registry
) -> None:
    # The demo's call: one job per model in a fresh registry, so every lead is that job's.
    run_job(registry, "j1", LABOUR, [labour(1), labour(5)], at=1)
    path = truth_csv(tmp_path / "t.csv", labour(1), labour(2))
    quality = evaluate_model(registry, path, SECRET, LABOUR, LABOUR)
    assert by_kind(quality) == {LABOUR: (2, 2, 1, 0.5, 0.5)}
    with pytest.raises(UsageError, match=r"is keyed by \(person, suit\) but judicial_aid"):
        evaluate_model(registry, path, SECRET, LABOUR, LABOUR, manifest=manifest(AID))


def test_a_resumed_job_whose_attempts_found_different_leads_is_refused(registry: Registry) -> None:
    run_job(registry, "j1", AID, [aid("omission", 1), aid("omission", 2)], at=1)
    # A second attempt under the same id recorded one lead: both still name j1 as last job.
    registry.finish_job("j1", "succeeded", leads=1)
    with pytest.raises(UsageError) as caught:
        job_leads(registry, registry.find_job("j1"))
    assert caught.value.message == (
        "job j1 recorded 1 leads but 2 name it as their last job (it was resumed); the registry"
        " cannot tell which of them its last attempt found"
    )


# --- the manifest the truth is checked against ----------------------------------------------
def bumped(models: Path) -> Path:
    """models/AID at 2.0.0, its kind `transfer` renamed `referral`: AID's truth no longer fits."""
    folder = models / AID
    shutil.copytree(MODELS / AID, folder)
    toml = (folder / "model.toml").read_text(encoding="utf-8")
    toml = toml.replace('version = "1.1.0"', 'version = "2.0.0"', 1)
    (folder / "model.toml").write_text(
        toml.replace("[explanations.transfer]", "[explanations.referral]", 1), encoding="utf-8"
    )
    return folder


@pytest.fixture()
def state(tmp_path: Path) -> State:
    return init_state(tmp_path / "coordinator", "test")


def test_the_truth_is_checked_against_the_version_its_job_ran(tmp_path: Path, state: State) -> None:
    models = tmp_path / "models"
    assert load_manifest(bumped(models)).version == "2.0.0"
    registry = Registry(state.registry)
    run_job(registry, "j1", AID, [], at=1, signed_by=state)
    job = pick_job(registry, "j1", AID)
    ran = truth_manifest(state, AID, job, models)
    assert ran is not None and ran.version == manifest(AID).version == "1.1.0"
    truth = truth_csv(tmp_path / "t.csv", aid("omission", 1), aid("transfer", 3))
    assert len(read_truth(truth, ran).rows) == 2
    with pytest.raises(UsageError, match="'transfer' is not a lead kind"):
        read_truth(truth, load_manifest(models / AID))


def test_a_model_that_never_ran_is_checked_against_models_if_it_is_there(
    tmp_path: Path, state: State
) -> None:
    bumped(tmp_path / "models")
    found = truth_manifest(state, AID, None, tmp_path / "models")
    assert found is not None and found.version == "2.0.0"
    assert truth_manifest(state, LABOUR, None, tmp_path / "models") is None


def test_a_job_whose_bundle_is_not_kept_is_refused_naming_where_to_put_it(
    state: State, tmp_path: Path
) -> None:
    registry = Registry(state.registry)
    run_job(registry, "j1", AID, [], at=1)  # digest "digest": no such bundle anywhere
    kept = job_bundle_file(state, "j1")
    with pytest.raises(ConfigError) as err:
        truth_manifest(state, AID, pick_job(registry, "j1", AID), MODELS)
    assert err.value.message == (
        f"the truth of {AID}: the signed bundle job j1 ran is not in the state dir (looked for"
        f" {kept} and {state.bundles / bundle_filename(AID, '1')}); put the bundle with digest"
        f" digest… at {kept}"
    )
