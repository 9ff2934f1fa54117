"""Units files: longest region-code prefix wins; malformed files are refused naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from coordinator.routing import load_units
from fedscreen.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "units.example.toml"


def units_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "units.toml"
    path.write_text(body, encoding="utf-8")
    return path


def entries(*pairs: tuple[str, str]) -> str:
    return "".join(f'[[units]]\nprefix = "{p}"\nname = "{n}"\n\n' for p, n in pairs)


@pytest.mark.parametrize(
    ("region", "unit", "prefix"),
    [
        ("410502", "安阳市文峰区人民检察院", "410502"),  # county entry
        ("410503", "安阳市人民检察院", "4105"),  # no county entry: the city
        ("410102", "河南省人民检察院", "41"),  # no city entry: the province
        ("310112", "上海市闵行区人民检察院", "310112"),
        ("310101", "上海市人民检察院", "31"),
        ("420503", "宜昌市伍家岗区人民检察院", "420503"),
        ("610725", "勉县人民检察院", "610725"),
    ],
)
def test_the_shipped_example_routes_by_longest_prefix(region: str, unit: str, prefix: str) -> None:
    assert load_units(EXAMPLE).competent(region) == (unit, prefix)


@pytest.mark.parametrize("region", ["110101", "", None, "41050x", "4"])
def test_regions_nobody_covers_have_no_competent_unit(region: str | None) -> None:
    assert load_units(EXAMPLE).competent(region) is None


def test_a_city_alone_takes_all_its_counties(tmp_path: Path) -> None:
    units = load_units(units_file(tmp_path, entries(("4105", "安阳市人民检察院"))))
    assert units.competent("410522") == ("安阳市人民检察院", "4105")
    assert units.competent("410102") is None
    assert units.by_prefix == {"4105": "安阳市人民检察院"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (entries(("4105x", "x")), "units #1: prefix '4105x' must be 2 (province), 4 (city) or 6"),
        (entries(("41", "a"), ("410", "b")), "units #2: prefix '410' must be 2 (province)"),
        (entries(("4105021", "a")), "units #1: prefix '4105021' must be 2"),
        (entries(("４１", "a")), "units #1: prefix '４１' must be 2"),
        (
            entries(("41", "河南"), ("4105", "安阳"), ("4105", "又一个")),
            "units #3: prefix '4105' is listed twice (already for 安阳)",
        ),
        ('[[units]]\nprefix = "41"\n', "units #1: name is missing"),
        ('[[units]]\nname = "河南"\n', "units #1: prefix is missing"),
        (entries(("41", "  ")), "units #1: name is empty"),
        ('[[units]]\nprefix = 41\nname = "河南"\n', "units #1: prefix must be a quoted string"),
        (
            entries(("410000", "河南")),
            "units #1: prefix '410000' is a province code; write it as '41'",
        ),
        (
            entries(("410500", "安阳")),
            "units #1: prefix '410500' is a city code; write it as '4105'",
        ),
        (entries(("4100", "河南")), "units #1: prefix '4100' is a province code; write it as '41'"),
        ('[[units]]\nprefix = "41"\nname = "河南"\nnmae = "x"\n', "units #1: unknown key 'nmae'"),
        ('[unit]\nprefix = "41"\n', "unknown key 'unit' (expected only [[units]] entries)"),
        ("", "no [[units]] entries"),
        ('units = ["41"]\n', "units #1 must be a table with prefix and name"),
        ('[[units]]\nprefix = "41"\nprefix = "42"\n', "not valid TOML"),
    ],
)
def test_a_malformed_units_file_is_refused_naming_the_key(
    tmp_path: Path, body: str, message: str
) -> None:
    path = units_file(tmp_path, body)
    with pytest.raises(ConfigError) as err:
        load_units(path)
    assert err.value.message.startswith(f"{path}: ")
    assert message in err.value.message
    assert "\n" not in err.value.message
    assert err.value.exit_code == 3


def test_a_missing_units_file_says_where_to_look(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="units file .*nope.toml not found .*units.example.toml"):
        load_units(tmp_path / "nope.toml")
