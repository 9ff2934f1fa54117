"""`fedscreen eval` in-process: models come from the truth, each is scored on its newest job
(or --job), and bad input is one line on stderr, exit 2, nothing written."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import pytest

from coordinator.cli import main
from coordinator.registry import Registry
from coordinator.state import State
from tests.coordinator.test_evaluate import (
    AID,
    LABOUR,
    SECRET,
    aid,
    bumped,
    labour,
    run_job,
    truth_csv,
    write,
)

ESCROW = "wage_decision_escrow"
COLUMNS = ("model", "job", "kind", "leads", "planted", "true", "precision", "recall")


@pytest.fixture()
def registry(state: Path) -> Registry:
    return Registry(State(state).registry)


Ran = Callable[..., None]


@pytest.fixture()
def ran(state: Path, registry: Registry) -> Ran:
    """run_job, keeping the signed bundle each job ran in the state dir, as `run` does."""
    return functools.partial(run_job, registry, signed_by=State(state))


@pytest.fixture()
def secret(tmp_path: Path) -> Path:
    return write(tmp_path / "secret.key", SECRET + b"\n")


@pytest.fixture()
def out(tmp_path: Path) -> Path:
    """A synth output folder: truth for three models (escrow's has one planted case)."""
    folder = tmp_path / "synth"
    truth_csv(
        folder / "truth" / f"{AID}.leads.csv",
        aid("omission", 1),
        aid("omission", 2),
        aid("transfer", 3),
    )
    truth_csv(folder / "truth" / f"{LABOUR}.leads.csv", labour(1), labour(2))
    escrow = "wage_decision_escrow,2018-410503-47-01-960784,91500103888648562K\n"
    write(folder / "truth" / f"{ESCROW}.leads.csv", "kind,project:project,employer:org\n" + escrow)
    write(folder / "truth" / "lookalikes.csv", "kind,person_id\nhonest,1\n")
    return folder


def fs_eval(state: Path, *args: str) -> int:
    return main(["--state", str(state), "eval", *args])


Eval = Callable[..., int]


@pytest.fixture()
def fs_eval_out(state: Path, out: Path, secret: Path) -> Eval:
    """fs_eval with `--truth` the synth output and `--secret` the secret, then the args given."""
    return functools.partial(fs_eval, state, "--truth", str(out), "--secret", str(secret))


Row = tuple[str, ...]


def table(stdout: str) -> list[Row]:
    """The rows of the printed table (its values hold no spaces), after checking its header."""
    lines = [line for line in stdout.splitlines() if line and not line.startswith("note: ")]
    assert tuple(lines[0].split()) == COLUMNS
    return [tuple(line.split()) for line in lines[1:]]


def notes(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("note: ")]


@pytest.fixture()
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """./models (not made yet): the test runs in its tmp_path."""
    monkeypatch.chdir(tmp_path)
    return tmp_path / "models"


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def aid_found_nothing(job: str) -> list[Row]:
    """Judicial aid's rows when `job` (or `none`) found none of its three planted cases."""
    return [
        (AID, job, "omission", "0", "2", "0", "0.000", "0.000"),
        (AID, job, "transfer", "0", "1", "0", "0.000", "0.000"),
    ]


def eval_every_model(
    fs_eval_out: Eval, capsys: pytest.CaptureFixture[str], labour_row: Row, aid_job: str
) -> list[str]:
    """Eval all three models, check the table (labour's row, then judicial aid's, whose job
    `aid_job` found nothing, then escrow's, which never ran) and return the notes printed."""
    assert fs_eval_out() == 0
    stdout = capsys.readouterr().out
    escrow_row = (ESCROW, "none", ESCROW, "0", "1", "0", "0.000", "0.000")
    assert table(stdout) == [labour_row, *aid_found_nothing(aid_job), escrow_row]
    return notes(stdout)


# --- 1. models come from the truth ------------------------------------------------------------
def test_a_model_whose_job_found_nothing_shows_recall_zero(
    ran: Ran, fs_eval_out: Eval, capsys: pytest.CaptureFixture[str]
) -> None:
    ran("j-aid", AID, [], at=1)
    ran("j-lab", LABOUR, [labour(1), labour(7)], at=2)
    labour_row = (LABOUR, "j-lab", LABOUR, "2", "2", "1", "0.500", "0.500")
    assert eval_every_model(fs_eval_out, capsys, labour_row, "j-aid") == [
        f"note: {ESCROW} has no succeeded or partial job: all its planted cases are missed"
    ]
    assert fs_eval_out("--model", AID) == 0
    assert table(capsys.readouterr().out) == aid_found_nothing("j-aid")


def test_a_named_model_that_never_ran_is_refused(
    ran: Ran, fs_eval_out: Eval, capsys: pytest.CaptureFixture[str]
) -> None:
    ran("j-aid", AID, [], at=1)
    assert fs_eval_out("--model", ESCROW) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"error: {ESCROW} has no succeeded or partial job to score (fedscreen run {ESCROW})\n"
    )


def test_a_partial_job_is_scored_with_a_note(
    ran: Ran, fs_eval_out: Eval, capsys: pytest.CaptureFixture[str]
) -> None:
    ran("j-lab", LABOUR, [labour(2)], at=1, status="partial")
    assert fs_eval_out("--model", LABOUR) == 0
    stdout = capsys.readouterr().out
    assert table(stdout) == [(LABOUR, "j-lab", LABOUR, "1", "2", "1", "1.000", "0.500")]
    assert notes(stdout) == [
        "note: job j-lab of fake_labour_litigation was partial: 2 of 3 agents answered"
    ]


# --- 2. bad input: one line, exit 2, nothing written ----------------------------------------------
HEADER = "kind,person:person\n"


def bad_truth(tmp_path: Path, name: str) -> Path:
    p = f"{aid('omission', 1)[1]['person'][1]}"
    files: dict[str, str | bytes] = {
        "empty": b"",
        "extra field": f"{HEADER}omission,{p}\ntransfer,{p},x\n",
        "nokind": f"kind,person:nokind\nomission,{p}\n",
        "gb18030": HEADER.encode() + "omission,张".encode("gb18030") + b"\n",
        "labour": (tmp_path / "synth" / "truth" / f"{LABOUR}.leads.csv").read_bytes(),
    }
    return write(tmp_path / "bad" / f"{AID}.leads.csv", files[name])


BAD_INPUT = {
    # case: (secret file, bad truth file, the message after "error: ")
    "no secret": (
        "/nonexistent",
        None,
        "Invalid value for '--secret': File '/nonexistent' does not exist.",
    ),
    "secret dir": ("DIR", None, "Invalid value for '--secret': File '{secret}' is a directory."),
    "empty secret": (b"", None, "the token secret file {secret} is empty"),
    "short secret": (
        b"0123456789\n",
        None,
        "{secret}: the token secret must be at least 32 bytes (it has 10)",
    ),
    "empty truth": (
        None,
        "empty",
        "{truth} line 1: empty; it must be the header kind,<key>:<identifier kind>,…",
    ),
    "extra field": (None, "extra field", "{truth} line 3: 3 fields, the header has 2"),
    "nokind": (
        None,
        "nokind",
        "{truth} line 1: column 'person:nokind': 'nokind' is not an identifier kind"
        " (person, org, case, project)",
    ),
    "non-UTF-8": (None, "gb18030", "{truth} line 2: not UTF-8 (byte 0xd5); save it as UTF-8"),
    "another model's truth": (
        None,
        "labour",
        "{truth} line 1: the truth is keyed by (person, suit) but judicial_aid_social_aid keys"
        " its leads by (person); is it another model's truth?",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path,
    state: Path,
    ran: Ran,
    out: Path,
    secret: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
) -> None:
    ran("j-aid", AID, [aid("omission", 1)], at=1)
    secret_spec, truth_spec, message = BAD_INPUT[case]
    if secret_spec == "DIR":
        secret = tmp_path
    elif isinstance(secret_spec, str):
        secret = Path(secret_spec)
    elif isinstance(secret_spec, bytes):
        secret = write(tmp_path / "bad.key", secret_spec)
    truth = bad_truth(tmp_path, truth_spec) if truth_spec else out
    before = snapshot(state), snapshot(out)
    code = fs_eval(state, "--truth", str(truth), "--secret", str(secret), "--model", AID)
    captured = capsys.readouterr()
    assert (code, captured.out) == (2, "")
    assert captured.err == "error: " + message.format(secret=secret, truth=truth) + "\n"
    assert (snapshot(state), snapshot(out)) == before


def test_no_registry_is_refused_not_created(
    state: Path, fs_eval_out: Eval, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fs_eval_out() == 2
    registry = state / "registry.sqlite"
    assert capsys.readouterr().err == (
        f"error: no lead registry at {registry}: nothing has run (fedscreen run MODEL)\n"
    )
    assert not registry.exists()


# --- 4. the job scored ------------------------------------------------------------------------
def test_the_newest_job_is_scored_unless_another_is_named(
    ran: Ran, fs_eval_out: Eval, capsys: pytest.CaptureFixture[str]
) -> None:
    ran("j-old-000001", AID, [aid("omission", 1), aid("omission", 8)], at=1)
    ran("j-new-000002", AID, [aid("omission", 1), aid("transfer", 3)], at=2)
    expected = [
        (AID, "j-new-000002", "omission", "1", "2", "1", "1.000", "0.500"),
        (AID, "j-new-000002", "transfer", "1", "1", "1", "1.000", "1.000"),
    ]
    assert fs_eval_out("--model", AID) == 0
    assert table(capsys.readouterr().out) == expected
    assert fs_eval_out("--job", "j-new-00") == 0  # a prefix; the job names the model
    assert table(capsys.readouterr().out) == expected

    assert fs_eval_out("--job", "j-old-000001") == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"error: job j-old-000001: a later job of campaign {AID} saw 1 of its 2 leads again,"
        " and the registry keeps only each lead's last job; eval can score only a job whose"
        " leads no later job saw (e.g. the newest)\n"
    )
    assert fs_eval_out("--job", "j-new-000002", "--model", LABOUR) == 2
    assert capsys.readouterr().err == f"error: job j-new-000002 ran {AID}, not {LABOUR}\n"


def test_campaign_picks_the_newest_job_of_that_campaign(
    ran: Ran, fs_eval_out: Eval, capsys: pytest.CaptureFixture[str]
) -> None:
    ran("j-main", AID, [aid("omission", 1)], at=1)
    ran("j-trial", AID, [aid("omission", 1), aid("omission", 2)], at=2, campaign="t")
    assert fs_eval_out("--model", AID, "--campaign", AID) == 0
    assert table(capsys.readouterr().out)[0] == (
        AID, "j-main", "omission", "1", "2", "1", "1.000", "0.500"
    )  # fmt: skip
    assert fs_eval_out("--model", AID) == 0  # any campaign: the newest, tokenised in its campaign
    assert table(capsys.readouterr().out)[0] == (
        AID, "j-trial", "omission", "2", "2", "2", "1.000", "1.000"
    )  # fmt: skip


# --- 5. the truth is checked against the model version the job ran ---------------------------
def test_an_old_job_is_checked_against_its_bundle_not_the_bumped_models_folder(
    ran: Ran, fs_eval_out: Eval, capsys: pytest.CaptureFixture[str], models: Path
) -> None:
    ran("j-aid-000001", AID, [aid("transfer", 3)], at=1)  # ran the shipped 1.1.0
    bumped(models)  # ./models: 2.0.0, which has no kind `transfer`
    expected = [
        (AID, "j-aid-000001", "omission", "0", "2", "0", "0.000", "0.000"),
        (AID, "j-aid-000001", "transfer", "1", "1", "1", "1.000", "1.000"),
    ]
    for chosen in (("--job", "j-aid-000001"), ("--model", AID)):
        assert fs_eval_out(*chosen) == 0
        assert table(capsys.readouterr().out) == expected


def test_a_model_not_in_models_is_checked_against_its_job_and_one_with_neither_is_noted(
    ran: Ran, fs_eval_out: Eval, capsys: pytest.CaptureFixture[str], models: Path
) -> None:
    ran("j-lab", LABOUR, [labour(1)], at=1)
    models.mkdir()  # ./models holds none of the three
    labour_row = (LABOUR, "j-lab", LABOUR, "1", "2", "1", "1.000", "0.500")
    assert eval_every_model(fs_eval_out, capsys, labour_row, "none") == [
        f"note: {m}: no job, no manifest (not in models): its truth is checked for form only,"
        " and all its planted cases are missed"
        for m in (AID, ESCROW)
    ]


def test_a_job_whose_bundle_is_gone_is_refused_before_anything_is_scored(
    state: Path, ran: Ran, fs_eval_out: Eval, capsys: pytest.CaptureFixture[str]
) -> None:
    ran("j-aid", AID, [], at=1)
    ran("j-lab", LABOUR, [labour(1)], at=2)
    kept = State(state).root / "jobs" / "j-lab.fsb"
    kept.unlink()
    assert fs_eval_out() == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(
        f"error: the truth of {LABOUR}: the signed bundle job j-lab ran is not in the state dir"
        f" (looked for {kept} and "
    )
