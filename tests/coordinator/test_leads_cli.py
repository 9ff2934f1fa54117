"""`fedscreen leads …` in-process: filters, formats (xlsx opened with openpyxl), working a lead,
routing, and bad input refused with one line and the registry untouched."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest
from openpyxl import load_workbook

from coordinator.cli import main
from coordinator.combine import Lead
from coordinator.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_UNITS = ROOT / "deploy" / "units.example.toml"
TITLE = "确认劳动关系补缴社保虚假诉讼、虚假仲裁"

# lead id → (model, region, found_at)
LEADS = {
    "L00000000000a": ("fake_labour", "410502", "2025-01-10T02:00:00+00:00"),
    "L00000000000b": ("fake_labour", "410503", "2025-02-10T02:00:00+00:00"),
    "L00000000000c": ("fake_labour", "110101", "2025-03-10T02:00:00+00:00"),
    "L00000000000d": ("judicial_aid", "410522", "2025-03-20T02:00:00+00:00"),
    "L00000000000e": ("judicial_aid", None, "2025-04-01T02:00:00+00:00"),
}
A, B, C, D, E = LEADS


@pytest.fixture(autouse=True)
def _analyst(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEDSCREEN_ANALYST", "值班检察官")


@pytest.fixture()
def state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    root = tmp_path / "state"
    assert main(["init", str(root)]) == 0
    registry = Registry(root / "registry.sqlite")
    titles = {"fake_labour": (TITLE, "Fake labour suits"), "judicial_aid": ("司法救助", "Aid")}
    for model, (zh, en) in titles.items():
        registry.start_job(f"j-{model}", model, "1.0.0", "d", model, {}, (zh, en))
        leads = [
            Lead(
                i, {"plaintiff": f"{n:032x}"}, {"suits": "10-19"}, r, model, f"说明{i}", f"why {i}"
            )
            for n, (i, (m, r, _)) in enumerate(LEADS.items())
            if m == model
        ]
        registry.record_leads(f"j-{model}", model, "1.0.0", model, leads)
    con = sqlite3.connect(registry.path)
    with con:
        for lead_id, (_, _, found) in LEADS.items():
            con.execute("UPDATE leads SET found_at = ? WHERE lead_id = ?", (found, lead_id))
    con.close()
    capsys.readouterr()
    return root


def fs(state: Path, *args: str) -> int:
    return main(["--state", str(state), *args])


def dump(state: Path) -> str:
    con = sqlite3.connect(state / "registry.sqlite")
    try:
        return "\n".join(con.iterdump())
    finally:
        con.close()


def one_error_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("error: "), repr(err)
    return err[len("error: ") : -1]


def listed(state: Path, capsys: pytest.CaptureFixture[str], *filters: str) -> list[str]:
    assert fs(state, "leads", "list", "--format", "json", *filters) == 0
    return [r["lead"] for r in json.loads(capsys.readouterr().out)]


# --- list: filters and formats ----------------------------------------------------------------
def test_list_filters_by_model_state_region_and_since(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert listed(state, capsys) == [C, A, B, E, D]  # by model, then region (none first)
    assert listed(state, capsys, "--model", "judicial_aid") == [E, D]
    assert listed(state, capsys, "--region", "41") == [A, B, D]
    assert listed(state, capsys, "--region", "410502") == [A]
    assert listed(state, capsys, "--since", "2025-03-01") == [C, E, D]
    assert listed(state, capsys, "--since", "2025-03-15T00:00:00+00:00") == [E, D]
    assert fs(state, "leads", "assign", B, "--to", "张三") == 0
    capsys.readouterr()
    assert listed(state, capsys, "--state", "assigned") == [B]
    assert listed(
        state, capsys, "--state", "new", "--region", "4105", "--model", "fake_labour"
    ) == [A]


def test_list_as_json_carries_the_lead_fields(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fs(state, "leads", "list", "--format", "json", "--region", "410502") == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row == {
        "lead": A,
        "model": "fake_labour",
        "version": "1.0.0",
        "title": TITLE,
        "title_en": "Fake labour suits",
        "kind": "fake_labour",
        "region": "410502",
        "unit": "",
        "state": "new",
        "assignee": "",
        "found": "2025-01-10T02:00:00+00:00",
        "last_seen": row["last_seen"],
        "explanation": f"说明{A}",
        "explanation_en": f"why {A}",
        "flags": "suits=10-19",
        "key": "plaintiff=00000000…",
    }


def test_list_as_csv_has_a_header_and_a_row_per_lead(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fs(state, "leads", "list", "--format", "csv", "--model", "fake_labour") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["lead"], r["region"], r["title"]) for r in rows] == [
        (C, "110101", TITLE),
        (A, "410502", TITLE),
        (B, "410503", TITLE),
    ]


def test_list_as_a_table_shows_state_and_unit(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fs(state, "leads", "list", "--region", "410502") == 0
    header, line = capsys.readouterr().out.splitlines()
    assert header.split() == [
        "lead", "key", "title", "title_en", "region", "kind", "state", "unit", "assignee",
        "found", "flags", "explanation"
    ]  # fmt: skip
    # the key's token abbreviated to 8 hex digits, the title in both languages, the flags
    assert line.split() == [A, "plaintiff=00000000…", TITLE, "Fake", "labour", "suits", "410502",
                            "fake_labour", "new", "2025-01-10T02:00:00+00:00", "suits=10-19",
                            f"说明{A}"]  # fmt: skip
    assert fs(state, "leads", "list", "--state", "disposed") == 0
    assert capsys.readouterr().out == "no leads\n"


def test_list_as_xlsx_is_a_real_workbook(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "leads.xlsx"
    assert fs(state, "leads", "assign", A, "--to", "张三") == 0
    assert fs(state, "leads", "list", "--format", "xlsx", "--out", str(out)) == 0
    assert capsys.readouterr().out.endswith(f"wrote 5 leads to {out}\n")
    book = load_workbook(out)
    sheet = book.active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:10] == (
        "线索编号 lead",
        "模型 model",
        "模型代号 model id",
        "版本 version",
        "线索类型 kind",
        "行政区划 region",
        "承办单位 unit",
        "状态",
        "state",
        "承办人 assignee",
    )
    assert len(rows) == 1 + len(LEADS)
    assert [r[0] for r in rows[1:]] == [C, A, B, E, D]
    by_id = {r[0]: r for r in rows[1:]}
    assert by_id[A][1:10] == (TITLE, "fake_labour", "1.0.0", "fake_labour", "410502", None,
                              "已分派", "assigned", "张三")  # fmt: skip
    assert by_id[D][1] == "司法救助" and by_id[D][7:9] == ("新线索", "new")
    assert by_id[A][12] == f"说明{A}"
    assert sheet.freeze_panes == "A2"


def test_list_writes_csv_to_a_file_with_out(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "leads.csv"
    assert fs(state, "leads", "list", "--format", "csv", "--state", "new", "--out", str(out)) == 0
    assert capsys.readouterr().out == f"wrote 5 leads to {out}\n"
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [r["lead"] for r in rows] == [C, A, B, E, D]


def test_xlsx_needs_an_out_file(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert fs(state, "leads", "list", "--format", "xlsx") == 2
    assert one_error_line(capsys.readouterr().err) == (
        "--format xlsx writes a file: add --out FILE.xlsx"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "last week"], "--since 'last week' must be a date like 2025-03-01"),
        (["--region", "41x"], "--region '41x' must be 1 to 6 digits of a region code"),
        (["--region", "4105021"], "--region '4105021' must be 1 to 6 digits"),
        (["--state", "done"], "Invalid value for '--state'"),
    ],
)
def test_bad_filters_are_one_line_errors(
    state: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert fs(state, "leads", "list", *args) == 2
    assert message in one_error_line(capsys.readouterr().err)


# --- working a lead ---------------------------------------------------------------------------
def test_a_lead_worked_from_found_to_disposed_shows_its_history(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    steps = [
        (["transfer", A, "--to", "文峰区人民检察院", "--reason", "属地管辖", "--as", "王处长"],
         f"{A}: new → transferred — 文峰区人民检察院: 属地管辖 (by 王处长)"),
        (["assign", A, "--to", "张三", "--as", "李科长"],
         f"{A}: transferred → assigned — 张三 (by 李科长)"),
        (["verify", A, "--as", "张三"], f"{A}: assigned → verifying — 核实开始 (by 张三)"),
        (["note", A, "调取", "卷宗"], f"{A}: verifying — 调取 卷宗 (by 值班检察官)"),
        (["verify", A, "--true", "--reason", "虚假诉讼属实", "--as", "张三"],
         f"{A}: verifying → verified_true — 虚假诉讼属实 (by 张三)"),
        (["dispose", A, "--action", "retrial_proposal", "--reason", "判决依据虚假", "--as", "张三"],
         f"{A}: verified_true → disposed — retrial_proposal 再审检察建议: 判决依据虚假 (by 张三)"),
    ]  # fmt: skip
    for args, printed in steps:
        assert fs(state, "leads", *args) == 0, args
        assert capsys.readouterr().out == printed + "\n"
    assert fs(state, "leads", "show", A) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"lead {A}  [disposed 已处置]\n")
    for line in (
        f"model       fake_labour 1.0.0  {TITLE} / Fake labour suits",
        "unit        文峰区人民检察院",
        "assignee    张三",
        "verdict     true: 虚假诉讼属实",
        "disposal    retrial_proposal 再审检察建议",
        f"说明          说明{A}",
        f"explanation why {A}",
        "flags       suits=10-19",
        "key         plaintiff=00000000…",
    ):
        assert line in out.splitlines(), line
    history = out.split("\nhistory\n")[1].splitlines()
    assert history[0].split() == ["when", "who", "action", "state", "why"]
    assert [h.split()[1:3] for h in history[1:]] == [
        ["fedscreen", "found"],
        ["王处长", "transfer"],
        ["李科长", "assign"],
        ["张三", "verify"],
        ["值班检察官", "note"],
        ["张三", "verify"],
        ["张三", "dispose"],
    ]
    assert history[2].split()[3:] == ["new", "→", "transferred", "文峰区人民检察院:", "属地管辖"]


def test_show_as_json_has_the_history(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert fs(state, "leads", "verify", B) == 0
    assert fs(state, "leads", "verify", B, "--false", "--reason", "确有劳动关系") == 0
    capsys.readouterr()
    assert fs(state, "leads", "show", B, "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["state"], doc["verdict"], doc["verdict_reason"]) == (
        "verified_false",
        "false",
        "确有劳动关系",
    )
    assert [(h["actor"], h["to_state"]) for h in doc["history"]] == [
        ("fedscreen", "new"),
        ("值班检察官", "verifying"),
        ("值班检察官", "verified_false"),
    ]
    assert doc["resolutions"] == []


def test_the_actor_defaults_to_the_os_user(
    state: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FEDSCREEN_ANALYST")
    monkeypatch.setattr("getpass.getuser", lambda: "zhangsan")
    assert fs(state, "leads", "note", A, "看过") == 0
    assert capsys.readouterr().out == f"{A}: new — 看过 (by zhangsan)\n"


def test_show_includes_the_resolved_identity(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    con = sqlite3.connect(state / "registry.sqlite")
    with con:  # the table as coordinator.resolutions writes it
        con.execute(
            "CREATE TABLE resolutions (request_id TEXT PRIMARY KEY, lead_id TEXT, agent TEXT,"
            ' "column" TEXT, case_ref TEXT, reason TEXT, analyst TEXT, requested_at TEXT,'
            " status TEXT, answered_at TEXT, fields TEXT, message TEXT, request BLOB,"
            " signature BLOB)"
        )
        con.execute(
            "INSERT INTO resolutions VALUES ('r1', ?, 'court-a', 'plaintiff', ?, '核实', '张三',"
            " '2025-04-02T00:00:00+00:00', 'resolved', '2025-04-02T00:01:00+00:00', ?, NULL,"
            " x'00ff', x'01')",
            (
                A,
                "(2025)豫0502民监1号",
                '[{"plaintiff_id": "11010519491231002X", "case_no": "(2024)豫0502民初123号"},'
                ' {"plaintiff_id": "11010519491231002X", "case_no": "(2024)豫0502民初124号"}]',
            ),
        )
        con.execute(
            "INSERT INTO resolutions VALUES ('r2', ?, 'court-a', 'plaintiff', 'X', '核实', '李四',"
            " '2025-04-03T00:00:00+00:00', 'denied', '2025-04-03T00:01:00+00:00', NULL,"
            " 'the operator denied it', x'00', x'01')",
            (A,),
        )
    con.close()
    assert fs(state, "leads", "show", A) == 0
    out = capsys.readouterr().out
    assert out.split("resolved identity (必要关联查询)\n")[1] == (
        "  2025-04-02T00:00:00+00:00  resolved         plaintiff at court-a  by 张三"
        "  case (2025)豫0502民监1号  (request r1)\n"
        "      plaintiff_id=11010519491231002X, case_no=(2024)豫0502民初123号\n"
        "      plaintiff_id=11010519491231002X, case_no=(2024)豫0502民初124号\n"
        "  2025-04-03T00:00:00+00:00  denied           plaintiff at court-a  by 李四"
        "  case X  (request r2)\n"
        "      the operator denied it\n"
    )
    assert fs(state, "leads", "show", A, "--format", "json") == 0
    resolutions = json.loads(capsys.readouterr().out)["resolutions"]
    assert [(r["request_id"], r["status"]) for r in resolutions] == [
        ("r1", "resolved"),
        ("r2", "denied"),
    ]
    assert "request" not in resolutions[0] and "signature" not in resolutions[0]
    assert fs(state, "leads", "show", B) == 0
    assert "resolved identity" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        ([], ["verify", A, "--true", "--reason", "x"],
         f"lead {A} is new: cannot move it to verified_true; legal from new: assigned (leads "
         "assign), transferred (leads transfer), verifying (leads verify)"),
        ([], ["dispose", A, "--action", "protest", "--reason", "r"],
         f"lead {A} is new: cannot move it to disposed"),
        ([["verify", A], ["verify", A, "--false", "--reason", "无"]],
         ["dispose", A, "--action", "protest", "--reason", "r"],
         f"lead {A} is verified_false: it can only be disposed of with closed, not protest"),
        ([["verify", A], ["verify", A, "--true", "--reason", "有"]], ["assign", A, "--to", "x"],
         f"lead {A} is verified_true: cannot move it to assigned; legal from verified_true: "
         "disposed (leads dispose --action retrial_proposal|protest|"),
        ([["verify", A]], ["verify", A, "--true"], "a verdict needs --reason (why the lead is"),
        ([], ["assign", A, "--to", " "], "the assignee (--to) must not be empty"),
        ([], ["dispose", A, "--action", "pardon", "--reason", "r"], "Invalid value for '--action'"),
        # handing a lead elsewhere or ending it always says why
        ([], ["transfer", A, "--to", "某院"], "a transfer needs --reason (why"),
        ([["verify", A], ["verify", A, "--false", "--reason", "无"]],
         ["dispose", A, "--action", "closed"], "a disposal needs --reason (why this action)"),
        ([], ["transfer", A, "--to", "某院", "--reason", "  "], "a transfer needs --reason"),
    ],
)  # fmt: skip
def test_illegal_steps_are_refused_and_change_nothing(
    state: Path,
    capsys: pytest.CaptureFixture[str],
    setup: list[list[str]],
    args: list[str],
    message: str,
) -> None:
    for step in setup:
        assert fs(state, "leads", *step) == 0
    capsys.readouterr()
    before = dump(state)
    assert fs(state, "leads", *args) == 2
    captured = capsys.readouterr()
    assert message in one_error_line(captured.err)
    assert captured.out == ""
    assert dump(state) == before


@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx"])
def test_list_to_a_missing_folder_is_one_line_and_writes_nothing(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    out = tmp_path / "no-such-dir" / f"leads.{fmt}"
    assert fs(state, "leads", "list", "--format", fmt, "--out", str(out)) == 2
    assert one_error_line(capsys.readouterr().err) == (
        f"--out {out}: folder {out.parent} does not exist"
    )
    assert not out.parent.exists()


def test_list_to_a_file_replaces_it_whole(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "leads.csv"
    out.write_text("old content that is longer than nothing\n" * 100, encoding="utf-8")
    assert (
        fs(state, "leads", "list", "--format", "csv", "--out", str(out), "--model", "judicial_aid")
        == 0
    )
    assert capsys.readouterr().out == f"wrote 2 leads to {out}\n"
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert sorted(r["lead"] for r in rows) == [D, E]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["leads.csv", "state"]  # no temp file


@pytest.mark.parametrize(
    "args",
    [
        ["show", "L999999999999"],
        ["assign", "L999999999999", "--to", "张三"],
        ["transfer", "L999999999999", "--to", "某院", "--reason", "x"],
        ["verify", "L999999999999"],
        ["verify", "L999999999999", "--false", "--reason", "x"],
        ["dispose", "L999999999999", "--action", "closed", "--reason", "x"],
        ["note", "L999999999999", "x"],
    ],
)
def test_unknown_lead_ids_are_one_line_errors(
    state: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    before = dump(state)
    assert fs(state, "leads", *args) == 2
    assert one_error_line(capsys.readouterr().err) == (
        "unknown lead 'L999999999999' (see: fedscreen leads list)"
    )
    assert dump(state) == before


# --- routing ----------------------------------------------------------------------------------
def test_route_sends_each_lead_to_the_longest_prefix(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # B already has a unit
    assert (
        fs(state, "leads", "transfer", B, "--to", "北关区人民检察院", "--reason", "指定管辖") == 0
    )
    capsys.readouterr()
    assert fs(state, "leads", "route", "--units", str(EXAMPLE_UNITS), "--as", "内勤") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "routed 2 leads"
    routed = sorted(line.split() for line in out[2:4])
    assert routed == [["安阳县人民检察院", "1"], ["安阳市文峰区人民检察院", "1"]]
    assert out[4] == f"2 left unrouted, no unit in {EXAMPLE_UNITS} covers: 110101 (1), none (1)"
    registry = Registry(state / "registry.sqlite")
    units = {lead.lead_id: (lead.unit, lead.state) for lead in registry.leads()}
    assert units == {
        A: ("安阳市文峰区人民检察院", "new"),
        B: ("北关区人民检察院", "transferred"),
        C: (None, "new"),
        D: ("安阳县人民检察院", "new"),
        E: (None, "new"),
    }
    route = registry.events(A)[-1]
    assert (route.actor, route.action, route.from_state, route.to_state, route.detail) == (
        "内勤", "route", "new", "new", "安阳市文峰区人民检察院 (prefix 410502)"
    )  # fmt: skip
    assert [e.action for e in registry.events(B)] == ["found", "transfer"]
    before = dump(state)
    assert fs(state, "leads", "route", "--units", str(EXAMPLE_UNITS)) == 0
    assert capsys.readouterr().out.splitlines()[0] == "routed 0 leads"
    assert dump(state) == before


def test_route_defaults_to_the_units_file_in_the_state_dir(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fs(state, "leads", "route") == 3
    assert "units.toml not found" in one_error_line(capsys.readouterr().err)
    (state / "units.toml").write_text('[[units]]\nprefix = "41"\nname = "河南省人民检察院"\n')
    assert fs(state, "leads", "route") == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split() for line in out[:3]] == [
        ["routed", "3", "leads"],
        ["unit", "leads"],
        ["河南省人民检察院", "3"],
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[[units]]\nprefix = "4105x"\nname = "安阳"\n', "units #1: prefix '4105x' must be 2"),
        ('[[units]]\nprefix = "41"\nname = "豫"\n[[units]]\nprefix = "41"\nname = "又"\n',
         "units #2: prefix '41' is listed twice (already for 豫)"),
        ('[[units]]\nprefix = "41"\n', "units #1: name is missing"),
        ('[[units]]\nprefix = "41"\nname = "豫"\n[[units]]\nprefix = "411"\nname = "x"\n',
         "units #2: prefix '411' must be 2 (province), 4 (city) or 6 (county) digits"),
    ],
)  # fmt: skip
def test_a_malformed_units_file_routes_nothing(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, message: str
) -> None:
    units = tmp_path / "units.toml"
    units.write_text(body, encoding="utf-8")
    before = dump(state)
    assert fs(state, "leads", "route", "--units", str(units)) == 3
    assert one_error_line(capsys.readouterr().err).startswith(f"{units}: {message}")
    assert dump(state) == before
