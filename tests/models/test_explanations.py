"""Every shipped model's lead explanations read in one language each: rendered with every value
each placeholder can take, the English has no Chinese characters, the Chinese no English words
(an enum value such as `unknown`), and both name the same placeholders.

A placeholder is a role's output (its declared enum values, or yes/no/none), a run parameter
(its bounds), or a column the combine SQL derives itself: those are listed in DERIVED with the
values combine.sql gives them, so a new one fails here until someone says what it can hold.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fedscreen.manifest import Manifest, load_manifest, placeholders

MODELS = Path(__file__).resolve().parents[2] / "models"
SHIPPED = sorted(p.name for p in MODELS.iterdir() if (p / "model.toml").is_file())
# CJK ideographs, radicals, CJK and full-width punctuation (，（）：；).
CJK = re.compile("[\u2e80-\u2fdf\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
ENGLISH_WORD = re.compile(r"[a-z]{2,}")  # "unknown", "court"; not the k of "100k-500k"
DERIVED: dict[tuple[str, str], tuple[object, ...]] = {
    ("fake_labour_litigation", "via"): ("court", "arbitration"),
    ("judicial_aid_social_aid", "disability_grade"): ("1", "2", "3", "4", None),
    ("judicial_aid_social_aid", "former_support"): (True, False, None),
    ("judicial_aid_social_aid", "still_in_hardship"): (True, False, None),
    ("wage_arrears_support", "workers"): (1, 50, 1200),
    ("wage_arrears_support", "workers_unsued"): (1, 50, 1200),
    ("wage_decision_escrow", "employer_is_contractor"): (True, False, None),
}
KINDS = [(name, kind) for name in SHIPPED for kind in load_manifest(MODELS / name).explanations]


def values_of(m: Manifest, name: str) -> tuple[object, ...]:
    """Every value placeholder `name` of model `m` can show, none included."""
    if (m.name, name) in DERIVED:
        return DERIVED[(m.name, name)]
    outputs = [o for role in m.roles for o in role.outputs if o.name == name]
    if outputs:
        if outputs[0].kind == "bool":
            return (True, False, None)
        return (*sorted({v for o in outputs for v in o.values}), None)
    for p in m.parameters:
        if p.name == name:
            return (p.min, p.default, p.max)
    pytest.fail(f"{m.name}: placeholder {{{name}}} is no output or parameter; add it to DERIVED")


def renderings(m: Manifest, kind: str) -> list[tuple[str, str]]:
    """(zh, en) for every value of every placeholder, the others at their first value."""
    zh, en = m.explanations[kind]
    domains = {n: values_of(m, n) for n in placeholders(zh) | placeholders(en)}
    base = {n: vs[0] for n, vs in domains.items()}
    return [m.explain(kind, {**base, n: v}) for n, vs in domains.items() for v in vs]


def test_every_shipped_model_explains_at_least_one_kind() -> None:
    assert {name for name, _kind in KINDS} == set(SHIPPED)


@pytest.mark.parametrize(("name", "kind"), KINDS)
def test_both_languages_name_the_same_placeholders(name: str, kind: str) -> None:
    zh, en = load_manifest(MODELS / name).explanations[kind]
    assert placeholders(zh) == placeholders(en)


@pytest.mark.parametrize(("name", "kind"), KINDS)
def test_english_has_no_chinese_and_chinese_no_english_words(name: str, kind: str) -> None:
    texts = renderings(load_manifest(MODELS / name), kind)
    assert len(texts) > 10
    for zh, en in texts:
        assert not CJK.search(en), en
        assert not ENGLISH_WORD.search(zh), zh
        assert "{" not in zh + en


@pytest.mark.parametrize("name", SHIPPED)
def test_every_declared_enum_value_reads_in_both_languages(name: str) -> None:
    """Also the values no explanation shows yet (disability category, subject)."""
    m = load_manifest(MODELS / name)
    for role in m.roles:
        for out in role.outputs:
            for value in out.values:
                assert not CJK.search(m.show("en", out.name, value)), (out.name, value)
                assert not ENGLISH_WORD.search(m.show("zh", out.name, value)), (out.name, value)


def test_the_cap_shown_is_the_runs_cap_in_both_languages() -> None:
    m = load_manifest(MODELS / "judicial_aid_social_aid")
    flags = {"aid_count": "2", "cap_ratio_bucket": "unknown", "over_cap": None}
    zh, en = m.explain("duplicate_or_over_cap", flags, m.resolve_params({"cap_months": "24"}))
    assert "当地上一年度职工月平均工资×24个月）的比例：未知" in zh
    assert "(24 × local prior-year average monthly wage): unknown" in en
    assert "36" not in zh + en


def test_labels_translate_values_into_plain_words() -> None:
    aid = load_manifest(MODELS / "judicial_aid_social_aid")
    flags = {"crime": "抢劫罪", "program": "低保", "loss_bucket": "10k-30k"}
    zh, en = aid.explain("omission", flags)
    assert en.startswith("Crime victim (robbery), loss 10k-30k;")
    assert "social aid minimum living allowance (dibao)" in en
    assert zh.startswith("刑事被害人（抢劫罪）损失10k-30k") and "社会救助低保" in zh
    labour = load_manifest(MODELS / "fake_labour_litigation")
    flags = {"via": "arbitration", "age_bucket": "unknown"}
    zh, en = labour.explain("fake_labour_litigation", flags)
    assert zh.startswith("经仲裁确认劳动关系") and "（年龄不详）" in zh
    assert en.startswith("Labour relationship confirmed by arbitration") and "(age unknown)" in en
