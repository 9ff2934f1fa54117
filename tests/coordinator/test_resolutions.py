"""The coordinator's resolutions table: every answer kept, the row showing the last, legacy
registries migrated; and the manifest a request is chosen from, read from the job's bundle."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from coordinator.resolutions import (
    Answered,
    LeadContext,
    Resolution,
    Resolutions,
    format_resolutions,
    job_manifest,
    resolutions_of,
    shown,
)
from coordinator.run import job_bundle_file
from coordinator.state import State, init_state
from fedscreen import keys
from fedscreen.bundle import bundle_digest, bundle_filename, sign_bundle
from fedscreen.errors import ConfigError, UnknownSigningKey

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "fake_labour_litigation"
ROW = {"plaintiff_id": "11010519491231002X", "case_no": "(2024)豫0502民初123号"}
# The table as coordinator.resolutions wrote it before every answer was kept.
LEGACY = (
    "CREATE TABLE resolutions (request_id TEXT PRIMARY KEY, lead_id TEXT NOT NULL,"
    ' agent TEXT NOT NULL, "column" TEXT NOT NULL, case_ref TEXT NOT NULL, reason TEXT NOT NULL,'
    " analyst TEXT NOT NULL, requested_at TEXT NOT NULL, status TEXT NOT NULL, answered_at TEXT,"
    " fields TEXT, message TEXT, request BLOB, signature BLOB)"
)


def asked(request_id: str = "r1", lead_id: str = "L1") -> Resolution:
    return Resolution(
        request_id, lead_id, "court-a", "court.plaintiff_id", "案1", "核实", "carol",
        "2025-04-02T00:00:00Z", "error", None, [], "", b"req", b"sig",
    )  # fmt: skip


def answer(r: Resolution, at: str, status: str, message: str = "", rows: int = 0) -> Resolution:
    fields = [ROW] * rows
    return dataclasses.replace(r, answered_at=at, status=status, message=message, fields=fields)


def test_every_answer_is_kept_and_the_row_shows_the_last(tmp_path: Path) -> None:
    table = Resolutions(tmp_path / "registry.sqlite")
    r = asked()
    table.save(answer(r, "2025-04-02T00:00:01Z", "pending_approval", "waiting"))
    table.save(answer(r, "2025-04-02T01:00:00Z", "pending_approval", "waiting"))
    table.save(answer(r, "2025-04-03T00:00:00Z", "resolved", rows=1))
    (found,) = table.for_lead("L1")
    assert (found.status, found.answered_at, found.fields, found.message) == (
        "resolved", "2025-04-03T00:00:00Z", [ROW], "",
    )  # fmt: skip
    assert found.history == (
        Answered("court-a", "2025-04-02T00:00:01Z", "pending_approval", "waiting", 0),
        Answered("court-a", "2025-04-02T01:00:00Z", "pending_approval", "waiting", 0),
        Answered("court-a", "2025-04-03T00:00:00Z", "resolved", "", 1),
    )
    assert table.all() == [found]
    assert format_resolutions([found]) == [
        "2025-04-02T00:00:00Z  resolved         court.plaintiff_id at court-a  by carol  case 案1"
        "  (request r1)",
        "    plaintiff_id=11010519491231002X, case_no=(2024)豫0502民初123号",
        "    answer 2025-04-02T00:00:01Z  pending_approval at court-a  waiting",
        "    answer 2025-04-02T01:00:00Z  pending_approval at court-a  waiting",
        "    answer 2025-04-03T00:00:00Z  resolved         at court-a  1 row",
    ]
    history = json.loads(json.dumps(shown(found)))["history"]  # `leads show --format json`
    assert [a["status"] for a in history] == ["pending_approval", "pending_approval", "resolved"]


def test_no_answer_after_pending_keeps_the_request_pending(tmp_path: Path) -> None:
    table = Resolutions(tmp_path / "registry.sqlite")
    r = asked()
    table.save(answer(r, "2025-04-02T00:00:01Z", "pending_approval", "waiting"))
    down = "agent court-a: Resolve: UNAVAILABLE: connection refused"
    table.save(answer(r, "2025-04-02T02:00:00Z", "error", down))
    (found,) = table.for_lead("L1")
    assert (found.status, found.message) == ("pending_approval", "waiting")
    assert [(a.status, a.message) for a in found.history] == [
        ("pending_approval", "waiting"),
        ("error", down),
    ]
    # A refusal is the agency's answer: it does replace the pending one.
    table.save(answer(r, "2025-04-02T03:00:00Z", "refused", "agent court-a refused: X"))
    assert table.for_lead("L1")[0].status == "refused"


def test_the_answers_are_append_only(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    Resolutions(path).save(answer(asked(), "2025-04-02T00:00:01Z", "denied", "no"))
    with sqlite3.connect(path) as con:
        for sql in (
            "UPDATE resolution_answers SET status = 'resolved'",
            "DELETE FROM resolution_answers",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="resolution answers are append-only"):
                con.execute(sql)
    assert [a.status for a in Resolutions(path).for_lead("L1")[0].history] == ["denied"]


def legacy_registry(path: Path) -> None:
    with sqlite3.connect(path) as con:
        con.execute(LEGACY)
        con.execute(
            "INSERT INTO resolutions VALUES ('r1', 'L1', 'court-a', 'court.plaintiff_id', '案1',"
            " '核实', 'carol', '2025-04-02T00:00:00Z', 'pending_approval',"
            " '2025-04-02T00:00:01Z', '[]', 'waiting', x'00', x'01')"
        )
    con.close()


def test_a_legacy_registry_is_shown_unchanged_and_migrated_on_the_next_write(
    tmp_path: Path,
) -> None:
    path = tmp_path / "registry.sqlite"
    legacy_registry(path)
    before = path.read_bytes()
    (shown_r,) = resolutions_of(path, "L1")
    assert path.read_bytes() == before  # `leads show` changes nothing
    pending = Answered("court-a", "2025-04-02T00:00:01Z", "pending_approval", "waiting", 0)
    assert shown_r.history == (pending,)
    assert format_resolutions([shown_r])[1:] == ["    waiting"]  # one answer: no history lines

    table = Resolutions(path)  # migrates: the row's answer becomes the first kept
    table.save(answer(shown_r, "2025-04-03T00:00:00Z", "resolved", rows=1))
    assert Resolutions(path).for_lead("L1")[0].history == (
        pending,
        Answered("court-a", "2025-04-03T00:00:00Z", "resolved", "", 1),
    )
    assert resolutions_of(path, "L1") == table.for_lead("L1")


def test_a_registry_that_never_resolved_is_read_as_empty_and_not_created(tmp_path: Path) -> None:
    assert resolutions_of(tmp_path / "registry.sqlite", "L1") == []
    assert not (tmp_path / "registry.sqlite").exists()


# --- the manifest a request is chosen from -------------------------------------------------
SIGNED_AT = datetime(2023, 3, 1, tzinfo=UTC)


def signed(state: State, at: datetime = SIGNED_AT) -> bytes:
    key = keys.load_private(state.signing_key)
    return sign_bundle(MODEL, key, state.signer_name(), now=at, valid_for=timedelta(days=30))


def lead_of(data: bytes, started: datetime = SIGNED_AT + timedelta(hours=1)) -> LeadContext:
    return LeadContext(
        "L1", "fake_labour_litigation", "1.1.0", "c", {}, {}, "verifying", "job1", {},
        bundle_digest(data), started.isoformat(timespec="seconds"),
    )  # fmt: skip


@pytest.fixture
def state(tmp_path: Path) -> State:
    return init_state(tmp_path / "coordinator", "test")


def test_the_manifest_comes_from_the_jobs_own_bundle_even_after_it_expired(
    state: State, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = signed(state)
    job_bundle_file(state, "job1").parent.mkdir()
    job_bundle_file(state, "job1").write_bytes(data)
    monkeypatch.chdir(tmp_path)  # no models/ here
    manifest = job_manifest(state, lead_of(data))
    assert (manifest.name, manifest.version) == ("fake_labour_litigation", "1.1.0")
    assert [d.column for d in manifest.role("court").disclose] == ["plaintiff_id"]


def test_the_signed_bundle_of_the_version_serves_when_it_is_the_same_signing(
    state: State,
) -> None:
    data = signed(state)
    (state.bundles / bundle_filename("fake_labour_litigation", "1.1.0")).write_bytes(data)
    assert job_manifest(state, lead_of(data)).name == "fake_labour_litigation"


def test_another_signing_of_the_version_is_not_used(state: State) -> None:
    kept = state.bundles / bundle_filename("fake_labour_litigation", "1.1.0")
    kept.write_bytes(signed(state, SIGNED_AT + timedelta(days=1)))
    with pytest.raises(ConfigError) as err:
        job_manifest(state, lead_of(signed(state)))
    assert err.value.message == (
        f"lead L1: the signed bundle job job1 ran is not in the state dir (looked for"
        f" {job_bundle_file(state, 'job1')} and {kept}; {kept} is another signing); put the"
        f" bundle with digest {bundle_digest(signed(state))[:16]}… at"
        f" {job_bundle_file(state, 'job1')}"
    )


def test_a_bundle_not_signed_by_the_coordinators_key_is_refused_naming_the_file(
    state: State, tmp_path: Path
) -> None:
    data = signed(init_state(tmp_path / "other", "other"))
    path = job_bundle_file(state, "job1")
    path.parent.mkdir()
    path.write_bytes(data)
    with pytest.raises(UnknownSigningKey, match=f"^{path}: bundle fake_labour_litigation 1.1.0"):
        job_manifest(state, lead_of(data))
