from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from fedscreen.errors import ManifestError, ParameterError
from fedscreen.manifest import load_manifest, parse_manifest

MODELS = Path(__file__).resolve().parents[2] / "models"
SHIPPED = sorted(p.name for p in MODELS.iterdir() if (p / "model.toml").is_file())
LABOUR = (MODELS / "fake_labour_litigation" / "model.toml").read_text(encoding="utf-8")


def changed(old: str, new: str, text: str = LABOUR) -> str:
    """`text` with its first `old` replaced: the change must apply, or the test proves nothing."""
    assert old in text, old
    return text.replace(old, new, 1)


def line(start: str) -> str:
    """The first whole line of the shipped model.toml that begins with `start`."""
    return next(x for x in LABOUR.splitlines() if x.startswith(start))


def without(key: str, text: str = LABOUR) -> str:
    """`text` without the top-level `key` (a one-line string, a list or a multi-line string)."""
    value = r'(""".*?"""|\[.*?\]|"[^"\n]*")'
    out, n = re.subn(rf"^{key} = {value}\n", "", text, count=1, flags=re.S | re.M)
    assert n == 1, key
    return out


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
        ("name = 'x'", "model.toml: missing key 'version'"),
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


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_model_parses_with_titles_rationale_and_legal_basis(name: str) -> None:
    m = load_manifest(MODELS / name)
    assert m.name == name
    assert all(t.strip() for t in (m.title_zh, m.title_en, m.rationale_zh, m.rationale_en))
    assert m.legal_basis and all(b.startswith("《") for b in m.legal_basis)


def test_the_five_models_are_among_those_checked() -> None:
    assert {
        "fake_labour_litigation", "housing_fund_feigned_poverty", "judicial_aid_social_aid",
        "wage_arrears_support", "wage_decision_escrow",
    } <= set(SHIPPED)  # fmt: skip


def test_the_strict_parse_reads_the_shipped_model_as_written() -> None:
    m = parse_manifest(LABOUR)
    assert len(m.legal_basis) == 3
    assert m.legal_basis[0].startswith("《中华人民共和国民事诉讼法》第二百一十五条")
    assert m.rationale_en.startswith("Brokers arrange suits")
    assert (m.lead_region, m.kind_column, m.lead_key) == ("region", None, ("person", "suit"))
    assert [p.name for p in m.parameters][:2] == ["window_days", "min_suits"]
    assert m.parameters[0].description.startswith("days either side")


def test_a_legal_basis_given_as_a_string_is_refused_not_split_into_characters() -> None:
    text = changed(
        'version = "1.1.0"\n',
        'version = "1.1.0"\nlegal_basis = "民事诉讼法"\n',
        without("legal_basis"),
    )
    with pytest.raises(ManifestError, match=r"^model.toml: legal_basis must be a list of strings$"):
        parse_manifest(text)


def test_without_removes_one_key_and_leaves_valid_toml() -> None:
    for key in ("title_zh", "rationale_zh", "legal_basis"):
        doc = tomllib.loads(without(key))
        assert key not in doc and set(tomllib.loads(LABOUR)) - set(doc) == {key}


@pytest.mark.parametrize(
    "key", ["title_zh", "title_en", "rationale_zh", "rationale_en", "legal_basis"]
)
def test_every_model_must_have_titles_rationale_and_legal_basis(key: str) -> None:
    with pytest.raises(ManifestError, match=f"^model.toml: missing key '{key}'$"):
        parse_manifest(without(key))


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('version = "1.1.0"', 'version = "1.1.0"\nlegal_basiss = []', "legal_basiss"),
        ('sql = "court.sql"', 'sqll = "court.sql"', "roles.court.sqll"),
        ('lead_key = ["person", "suit"]', 'lead_key = ["person", "suit"]\nregoin = "x"',
         "combine.regoin"),
        ("max = 365\n", "max = 365\nstep = 1\n", "parameters.window_days.step"),
        ('lead_key = "person", when', 'lead_key = "person", whenn',
         "roles.court.disclose.plaintiff_id.whenn"),
        ("[explanations.fake_labour_litigation]\n",
         "[explanations.fake_labour_litigation]\nde = 'x'\n",
         "explanations.fake_labour_litigation.de"),
    ],
)  # fmt: skip
def test_unknown_keys_are_refused_at_every_level(old: str, new: str, key: str) -> None:
    with pytest.raises(ManifestError, match=rf"^model.toml: unknown key '{key}' \(allowed: "):
        parse_manifest(changed(old, new))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (line("title_zh = "), "title_zh = 1", "title_zh must be a non-empty string"),
        (line("title_en = "), 'title_en = " "', "title_en must be a non-empty string"),
        ('version = "1.1.0"', "version = 1", "version must be a non-empty string"),
        ('version = "1.1.0"', 'version = "../1"', "version must be letters, digits"),
        ("legal_basis = [\n", "legal_basis = [\n  1,\n", "legal_basis must be a list of strings"),
        ('reads = ["labour_cases"]', 'reads = "labour_cases"',
         "roles.court.reads must be a list of strings"),
        ('reads = ["labour_cases"]', "reads = []", "roles.court.reads must not be empty"),
        ('sql = "court.sql"', "sql = 1", "roles.court.sql must be a non-empty string"),
        ('lead_key = ["person", "suit"]', 'lead_key = "person"',
         "combine.lead_key must be a list of strings"),
        ('region = "region"\n\n[explanations', "region = 1\n\n[explanations",
         "combine.region must be a non-empty string"),
        ("default = 90", "default = true", "parameters.window_days.default must be a number"),
        ("min = 30\n", 'min = "30"\n', "parameters.window_days.min must be a number"),
        ('description = "days either side of a suit in which suits against the same defendant'
         ' are counted"', "description = 1", "parameters.window_days.description must be a string"),
        ('when = { via = "court" }', "when = { via = 1 }",
         'roles.court.disclose.plaintiff_id.when must be a table of flag = "value"'),
        ('when = { via = "court" }', 'when = "court"',
         "roles.court.disclose.plaintiff_id.when must be a table"),
        ("[roles.court.outputs]\n", '[roles.court.outputs]\nextra = { kind = "person" }\n',
         "roles.court.outputs.extra: unknown output type"),
        (line("zh = "), 'zh = ["经"]', "explanations.fake_labour_litigation.zh must be a"),
    ],
)  # fmt: skip
def test_every_field_is_type_checked_naming_its_key(old: str, new: str, message: str) -> None:
    with pytest.raises(ManifestError, match=f"^model.toml: {message}"):
        parse_manifest(changed(old, new))


def test_a_candidate_that_is_not_a_string_is_refused() -> None:
    text = (MODELS / "housing_fund_feigned_poverty" / "model.toml").read_text(encoding="utf-8")
    text = changed('employer_uscc = "court.respondent_uscc"', "employer_uscc = 1", text)
    with pytest.raises(
        ManifestError,
        match=r'^model.toml: roles.housing_fund.candidates.employer_uscc must look like "',
    ):
        parse_manifest(text)


def test_a_role_that_is_not_a_table_is_refused() -> None:
    roles = LABOUR[LABOUR.index("\n[roles.court]") : LABOUR.index("\n[combine]")]
    text = changed(roles, '\n[roles]\ncourt = "court.sql"\n')
    with pytest.raises(ManifestError, match=r"^model.toml: roles.court must be a table$"):
        parse_manifest(text)


def test_labels_are_read_per_language_and_flag() -> None:
    m = parse_manifest(LABOUR)
    assert m.labels["zh"]["via"] == {"court": "诉讼", "arbitration": "仲裁"}
    assert m.labels["zh"]["age_bucket"]["unknown"] == "年龄不详"
    assert (m.show("zh", "via", "court"), m.show("en", "via", "court")) == ("诉讼", "a court")
    assert m.show("en", "age_bucket", "unknown") == "unknown"  # no English label: as it is
    assert (m.show("zh", "small_employer", True), m.show("en", "x", None)) == ("是", "—")
    assert parse_manifest(without_labels(LABOUR)).labels == {}


def without_labels(text: str) -> str:
    start = text.index("\n# How raw values read")
    assert "[labels" not in text[:start]
    return text[:start] + "\n"


EN_VIA = '[labels.en.via]\ncourt = "a court"\narbitration = "arbitration"\n'


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("[labels.en.via]", "[labels.de.via]", r"unknown key 'labels.de' \(allowed: zh, en\)"),
        ('court = "诉讼"', "court = 1", "labels.zh.via.court must be a non-empty string"),
        ('court = "诉讼"', 'court = " "', "labels.zh.via.court must be a non-empty string"),
        ("[labels.en.via]", "[labels.en.vai]",
         "labels.en.vai is neither an enum output nor named by an explanation"),
        ("[labels.en.via]", "[labels.en.small_employer]",
         "labels.en.small_employer is a bool output: only enum values and combine columns"),
        ('unknown = "年龄不详"', 'unknwon = "年龄不详"',
         "labels.zh.age_bucket.unknwon is not a value of the enum age_bucket"),
        (EN_VIA, '[labels]\nen = "via"\n', "labels.en must be a table"),
        (EN_VIA, '[labels.en]\nvia = "a court"\n', "labels.en.via must be a table"),
        ("经{via}确认", "经{via确认",
         "explanations.fake_labour_litigation.zh is not a valid template"),
    ],
)  # fmt: skip
def test_bad_labels_are_refused_naming_the_key(old: str, new: str, message: str) -> None:
    with pytest.raises(ManifestError, match=f"^model.toml: {message}"):
        parse_manifest(changed(old, new))


def test_a_template_shows_the_runs_parameters_but_a_flag_of_that_name_wins() -> None:
    text = changed("同一被告窗口期内", "同一被告 {window_days} 天内")
    text = changed("in the window;", "within {window_days} days;", text)
    m = parse_manifest(text)
    params = m.resolve_params({"window_days": "120"})
    zh, en = m.explain("fake_labour_litigation", {"via": "court"}, params)
    assert "同一被告 120 天内被诉 — 件" in zh and "within 120 days;" in en
    zh, en = m.explain("fake_labour_litigation", {"window_days": 7}, params)
    assert "同一被告 7 天内" in zh and "within 7 days;" in en
    zh, en = m.explain("fake_labour_litigation", {})
    assert "同一被告 — 天内" in zh and "within — days;" in en
