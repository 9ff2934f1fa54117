from __future__ import annotations

from pathlib import Path

import pytest

from fedscreen.errors import ManifestError, ParameterError
from fedscreen.manifest import load_manifest, parse_manifest

MODELS = Path(__file__).resolve().parents[2] / "models"


def test_the_shipped_model_parses() -> None:
    m = load_manifest(MODELS / "fake_labour_litigation")
    assert {r.name for r in m.roles} == {"court", "hrss", "social_security", "market_regulation"}
    assert m.role("court").output("plaintiff_id").is_token
    assert m.role("court").output("suits_bucket").values == ("3-4", "5-9", "10-19", "20+")
    assert m.title_zh.startswith("确认劳动关系")


def test_parameters_are_coerced_and_bounded() -> None:
    m = load_manifest(MODELS / "fake_labour_litigation")
    assert m.resolve_params({})["min_suits"] == 4
    assert m.resolve_params({"min_suits": "7"})["min_suits"] == 7
    with pytest.raises(ParameterError, match="min_suits=2 is below its minimum 3"):
        m.resolve_params({"min_suits": "2"})
    with pytest.raises(ParameterError, match="above its maximum 50"):
        m.resolve_params({"min_suits": "51"})
    with pytest.raises(ParameterError, match="must be an integer"):
        m.resolve_params({"min_suits": "five"})
    with pytest.raises(ParameterError, match="unknown parameter 'speed'"):
        m.resolve_params({"speed": "1"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name = 'x'", "missing key 'roles'"),
        ("name = 'Bad Name'", "lower_snake_case"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_malformed_manifests_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        parse_manifest(text)


def test_unknown_output_types_are_refused() -> None:
    text = (MODELS / "fake_labour_litigation" / "model.toml").read_text()
    with pytest.raises(ManifestError, match="unknown output type 'text'"):
        parse_manifest(text.replace('region = "region"', 'region = "text"', 1))


def test_when_missing_says_whether_a_partial_job_may_combine_and_defaults_to_withhold() -> None:
    text = (MODELS / "fake_labour_litigation" / "model.toml").read_text()
    assert load_manifest(MODELS / "wage_arrears_support").role("court").when_missing == (
        "withhold"  # the workers who sued are excluded: a missing court makes false leads
    )
    assert parse_manifest(text).role("hrss").when_missing == "combine"
    dropped = text.replace('when_missing = "combine"', "", 1)
    assert parse_manifest(dropped).role("court").when_missing == "withhold"
    with pytest.raises(ManifestError, match=r"roles.court.when_missing must be one of combine"):
        parse_manifest(text.replace('when_missing = "combine"', 'when_missing = "maybe"', 1))
