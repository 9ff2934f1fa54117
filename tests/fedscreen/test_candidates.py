from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from fedscreen.candidates import check_candidates, filter_candidates
from fedscreen.errors import ManifestError, UsageError, WrongRole
from fedscreen.manifest import parse_manifest
from tests.toy_manifest import manifest_header

BASE_ROLES = """\
[roles.court]
sql = "court.sql"
reads = ["enforcement_cases"]
[roles.court.outputs]
respondent = "org"
[roles.tax]
sql = "tax.sql"
reads = ["enterprise_tax"]
[roles.tax.outputs]
uscc = "org"
revenue = ["0", "1+"]
{tax_candidates}
[roles.market_regulation]
sql = "m.sql"
reads = ["enterprises"]
[roles.market_regulation.outputs]
uscc = "org"
{market_candidates}
[combine]
sql = "combine.sql"
lead_key = ["company"]
kind = "kind"
[explanations.poor]
zh = "营业收入 {{revenue}}，仍在经营：{{operating}}"
en = "revenue {{revenue}}, operating: {{operating}}"
"""
BASE = "\n" + manifest_header("staged", "1", title_zh="分阶段", title_en="Staged") + BASE_ROLES
TAX = '[roles.tax.candidates]\nuscc = "court.respondent"'
MARKET = '[roles.market_regulation.candidates]\nuscc = "tax.uscc"'


def manifest(tax: str = TAX, market: str = ""):  # type: ignore[no-untyped-def]
    return parse_manifest(BASE.format(tax_candidates=tax, market_candidates=market))


def test_roles_run_in_stages_after_the_roles_they_look_up() -> None:
    stages = manifest(market=MARKET).stages()
    assert [[r.name for r in s] for s in stages] == [["court"], ["tax"], ["market_regulation"]]
    assert [[r.name for r in s] for s in manifest(tax="").stages()] == [
        ["court", "market_regulation", "tax"]
    ]


@pytest.mark.parametrize(
    ("tax", "message"),
    [
        ('[roles.tax.candidates]\nuscc = "nowhere.x"', "no other role 'nowhere'"),
        ('[roles.tax.candidates]\nuscc = "court.missing"', "no output column 'missing'"),
        ('[roles.tax.candidates]\nrevenue = "court.respondent"', "tokens of one kind"),
        ('[roles.tax.candidates]\nuscc = "court"', 'must look like "role.column"'),
    ],
)
def test_bad_candidate_declarations_are_refused(tax: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        manifest(tax=tax)


def test_a_cycle_of_look_ups_is_refused() -> None:
    cyclic = TAX.replace("court.respondent", "market_regulation.uscc")
    with pytest.raises(ManifestError, match="cycle"):
        manifest(tax=cyclic, market=MARKET).stages()


def test_explanations_render_buckets_and_booleans_in_both_languages() -> None:
    m = manifest()
    zh, en = m.explain("poor", {"revenue": "1+", "operating": True})
    assert zh == "营业收入 1+，仍在经营：是"
    assert en == "revenue 1+, operating: yes"
    assert m.explain("poor", {"revenue": None}) == (
        "营业收入 —，仍在经营：—",
        "revenue —, operating: —",
    )


TOKENS = [f"{i:032x}" for i in range(5)]


def test_only_rows_about_candidate_tokens_are_kept() -> None:
    table = pa.table({"uscc": [TOKENS[0], TOKENS[1], None, TOKENS[3]], "revenue": ["0"] * 4})
    kept = filter_candidates(table, {"uscc": (TOKENS[1], TOKENS[3], TOKENS[4])})
    assert kept["uscc"].to_pylist() == [TOKENS[1], TOKENS[3]]
    checked = check_candidates(manifest().role("tax"), {"uscc": (TOKENS[1], TOKENS[3])})
    assert filter_candidates(table, checked).equals(kept)  # the agent's path: checked arrays
    assert filter_candidates(table, {}).num_rows == 4


def test_the_agent_takes_exactly_the_declared_candidate_sets() -> None:
    tax = manifest().role("tax")
    assert check_candidates(tax, {"uscc": tuple(TOKENS)})["uscc"].to_pylist() == TOKENS
    assert check_candidates(tax, {"uscc": ()})["uscc"].to_pylist() == []  # nothing was flagged
    with pytest.raises(WrongRole, match="needs candidate tokens for column 'uscc'"):
        check_candidates(tax, {})
    with pytest.raises(UsageError, match="takes no candidates for column 'revenue'"):
        check_candidates(tax, {"uscc": (), "revenue": ()})
    for bad in ("410502196501150116", "AB" * 16, TOKENS[1] + "\n", TOKENS[1][:31], "g" * 32):
        with pytest.raises(UsageError, match="32-hex tokens"):
            check_candidates(tax, {"uscc": (TOKENS[0], bad)})


def test_evaluation_counts_per_kind(tmp_path: Path) -> None:
    from coordinator.combine import Lead
    from coordinator.evaluate import evaluate_model
    from coordinator.registry import Registry
    from fedscreen.tokens import TokenKeys, reference_token

    secret = b"k" * 32
    keys = TokenKeys.derive(secret, "m", "m")
    people = ["11010519491231002X", "110105491231002", "410502196501150116"]
    canonical = ["11010519491231002X", "11010519491231002X", "410502196501150116"]
    truth = tmp_path / "truth.csv"
    truth.write_text(
        "kind,person:person\nomission," + canonical[0] + "\ntransfer," + canonical[2] + "\n"
    )
    registry = Registry(tmp_path / "r.sqlite")
    registry.start_job("j", "m", "1", "d", "m", {}, ("标题", "Title"))
    token = [reference_token(keys, "person", p) for p in people]
    leads = [
        Lead("L1", {"person": str(token[1])}, {}, None, "omission"),  # legacy form, same person
        Lead("L2", {"person": str(token[2])}, {}, None, "omission"),  # right person, wrong kind
    ]
    registry.record_leads("j", "m", "1", "m", leads)
    # Another campaign's lead never counts, whatever its key (tokens are campaign-scoped).
    registry.record_leads(
        "j", "m", "1", "other", [Lead("L3", {"person": "x"}, {}, None, "transfer")]
    )
    quality = {q.kind: q for q in evaluate_model(registry, truth, secret, "m", "m")}
    assert (quality["omission"].leads, quality["omission"].true_positives) == (2, 1)
    assert quality["omission"].precision == 0.5 and quality["omission"].recall == 1.0
    assert quality["transfer"].recall == 0.0
    assert quality["transfer"].leads == 0
