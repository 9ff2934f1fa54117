"""fedscreen.tokensql: the SQL normaliser and tokeniser agree byte for byte with the Python
reference (fedscreen.identifiers, fedscreen.tokens), and the SQL HMAC is HMAC-SHA256."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedscreen import tokensql
from fedscreen.identifiers import (
    PERSON_WEIGHTS,
    USCC_CHARS,
    normalise,
    person_check_char,
    uscc_check_char,
)
from fedscreen.tokens import TOKEN_HEX, TokenKeys, hmac_hex, reference_token

KEYS = TokenKeys.derive(b"k" * 32, "test_model", "2024-campaign")


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect(":memory:") as c:
        yield c


def register(con: duckdb.DuckDBPyConnection, raws: Sequence[str | None]) -> None:
    """`raws` as the view `data`: the values in v, their order in i."""
    con.register("data", pa.table({"v": pa.array(raws, pa.string()), "i": range(len(raws))}))


def sql_normalise(con: duckdb.DuckDBPyConnection, kind: str, raws: Sequence[str | None]) -> list:
    register(con, raws)
    query = f"SELECT v FROM ({tokensql.normalise_select('data', {'v': kind})}) ORDER BY i"
    return [row[0] for row in con.execute(query).fetchall()]


def sql_normalise_expr(
    con: duckdb.DuckDBPyConnection, kind: str, raws: Sequence[str | None]
) -> list[str | None]:
    """The single-expression form (what the engine's norm_* macros expand to)."""
    register(con, raws)
    query = f"SELECT {tokensql.normalise_expr(kind, 'v')} FROM data ORDER BY i"
    return [row[0] for row in con.execute(query).fetchall()]


def sql_tokens(
    con: duckdb.DuckDBPyConnection, kind: str, raws: Sequence[str | None]
) -> list[tuple[str | None, bool]]:
    register(con, raws)
    query = f"SELECT v, __bad_v FROM ({tokensql.tokenise_select('data', {'v': kind})}) ORDER BY i"
    return con.execute(query, tokensql.token_params(KEYS, [kind])).fetchall()


# --- HMAC: RFC 4231 --------------------------------------------------------------------------
RFC4231 = [  # (case, key, data, HMAC-SHA-256)
    (1, b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (2, b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (3, b"\xaa" * 20, b"\xdd" * 50,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (4, bytes(range(1, 26)), b"\xcd" * 50,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (6, b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (7, b"\xaa" * 131,
     b"This is a test using a larger than block-size key and a larger than block-size data. "
     b"The key needs to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "key", "data", "expected"), RFC4231)
def test_sql_hmac_matches_rfc4231(
    con: duckdb.DuckDBPyConnection, case: int, key: bytes, data: bytes, expected: str
) -> None:
    ipad, opad = tokensql.hmac_pads(key)
    sql = f"SELECT {tokensql.hmac_sql('$msg', 'ipad', 'opad')}"
    rows = con.execute(sql, {"msg": data, "ipad": ipad, "opad": opad}).fetchall()
    assert rows == [(expected,)]


# RFC 4231 test case 5 gives only the first 128 bits of the MAC: exactly a token's 32 hex digits.
RFC4231_TRUNCATED = (b"\x0c" * 20, b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b")


def test_a_token_is_the_rfc4231_truncated_hmac(con: duckdb.DuckDBPyConnection) -> None:
    key, data, expected = RFC4231_TRUNCATED
    assert len(expected) == TOKEN_HEX
    # The token path binds the ipad as VARCHAR (token_params); this key's pads are ASCII too.
    ipad, opad = tokensql.hmac_pads(key)
    sql = f"SELECT {tokensql.token_sql('$msg', 'ipad', 'opad')}"
    params = {"msg": data.decode("ascii"), "ipad": ipad.decode("ascii"), "opad": opad}
    assert con.execute(sql, params).fetchall() == [(expected,)]
    assert hmac_hex(key, data)[:TOKEN_HEX] == expected  # the Python reference truncates alike


def test_token_keys_never_appear_in_the_sql_text() -> None:
    sql = tokensql.tokenise_select("t", {"a": "person", "b": "org"})
    for kind in ("person", "org"):
        ipad, opad = tokensql.hmac_pads(KEYS.keys[kind])
        assert KEYS.keys[kind].decode() not in sql
        assert ipad.decode() not in sql and opad.decode() not in sql
    assert "$__fs_ipad_person" in sql and "$__fs_opad_org" in sql


# --- known identifiers -----------------------------------------------------------------------
PERSON_CASES = [
    ("11010519491231002X", "11010519491231002X"),  # valid, check char X
    ("11010519491231002x", "11010519491231002X"),  # lower-case x
    (" 1101 0519 4912 3100 2X\t", "11010519491231002X"),  # spaces and a tab
    ("\u30001101051949123100２Ｘ\u3000", "11010519491231002X"),  # full-width and U+3000
    ("１１０１０５１９４９１２３１００２ｘ", "11010519491231002X"),  # all full-width
    ("110105491231002", "11010519491231002X"),  # legacy 15 digits, upgraded
    (" 110105 491231002 ", "11010519491231002X"),
    ("11010519491231002Y", None),  # not a digit or X
    ("110105194912310021", None),  # wrong check char
    ("11010519491231002", None),  # 17 characters
    ("1101051949123100212", None),  # 19 characters
    ("11010549123100X", None),  # 15 with a letter
    ("", None),
    ("   ", None),
]
ORG_CASES = [
    ("91350100M000100Y43", "91350100M000100Y43"),  # valid
    ("91350100m000100y43", "91350100M000100Y43"),  # lower case
    (" ９１３５０１００Ｍ０００１００Ｙ４３ ", "91350100M000100Y43"),  # full-width, spaces
    ("91350100M000100Y44", None),  # wrong check char
    ("91350100M0001O0Y43", None),  # contains O
    ("91350100I000100Y43", None),  # contains I
    ("S1350100M000100Y43", None),  # contains S
    ("91350100V000100Y43", None),  # contains V
    ("91350100Z000100Y43", None),  # contains Z
    ("91350100M000100Y4", None),  # 17 characters
]


@pytest.mark.parametrize(("raw", "canonical"), PERSON_CASES)
def test_person_ids_normalise_like_the_reference(
    con: duckdb.DuckDBPyConnection, raw: str, canonical: str | None
) -> None:
    assert normalise("person", raw) == canonical  # the reference agrees with the test table
    assert sql_normalise(con, "person", [raw]) == [canonical]


def test_macros_normalise_like_the_reference() -> None:
    raws = [raw for raw, _ in PERSON_CASES + ORG_CASES] + ["（2024）豫0502民初1号", None]
    with duckdb.connect(":memory:") as c:
        for statement in tokensql.macro_statements():
            c.execute(statement)
        for kind, name in tokensql.MACROS.items():
            got = [c.execute(f"SELECT {name}($v)", {"v": r}).fetchall()[0][0] for r in raws]
            assert got == [normalise(kind, r) for r in raws], kind


@pytest.mark.parametrize(("raw", "canonical"), ORG_CASES)
def test_org_codes_normalise_like_the_reference(
    con: duckdb.DuckDBPyConnection, raw: str, canonical: str | None
) -> None:
    assert normalise("org", raw) == canonical
    assert sql_normalise(con, "org", [raw]) == [canonical]


def test_case_and_project_numbers_are_half_width_without_whitespace(
    con: duckdb.DuckDBPyConnection,
) -> None:
    cases = ["（2024）豫0502民初1234号", " (2024) 豫0502 民初 1234 号 ", "ab", "  ", "ＡＢ　ｃ"]
    assert sql_normalise(con, "case", cases) == [normalise("case", c) for c in cases]
    assert sql_normalise(con, "case", cases)[:2] == ["(2024)豫0502民初1234号"] * 2
    projects = ["gc-2024-001", " ＧＣ－２０２４－００１ ", "straße ﬀ", ""]
    assert sql_normalise(con, "project", projects) == [normalise("project", p) for p in projects]
    assert sql_normalise(con, "project", projects)[:3] == ["GC-2024-001"] * 2 + ["STRASSEFF"]


def test_tokens_equal_the_reference_and_invalid_ids_are_flagged(
    con: duckdb.DuckDBPyConnection,
) -> None:
    raws = [raw for raw, _ in PERSON_CASES] + [None]
    got = sql_tokens(con, "person", raws)
    assert [tok for tok, _ in got] == [reference_token(KEYS, "person", r) for r in raws]
    assert [bad for _, bad in got] == [
        r is not None and normalise("person", r) is None for r in raws
    ]
    assert all(re.fullmatch("[0-9a-f]{32}", t) for t, _ in got if t is not None)


# --- exhaustive per-character agreement ------------------------------------------------------
def test_whitespace_class_is_pythons_unicode_whitespace() -> None:
    python_ws = {c for c in range(sys.maxunicode + 1) if re.match(r"\s", chr(c))}
    assert set(tokensql.WS_CODEPOINTS) == python_ws


def test_every_code_point_normalises_like_the_reference(con: duckdb.DuckDBPyConnection) -> None:
    # Half-width, whitespace and upper-case all work character by character, so agreement on
    # strings that together hold every code point covers DuckDB's Unicode tables against
    # Python's. 64 code points per string keeps this to ~17k rows.
    points = [c for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    raws = ["".join(map(chr, points[i : i + 64])) for i in range(0, len(points), 64)]
    for kind in ("case", "project"):
        got = sql_normalise(con, kind, raws)
        diff = [hex(ord(r[0])) for r, g in zip(raws, got, strict=True) if g != normalise(kind, r)]
        assert diff == [], f"{kind}: strings starting at these code points differ"


def test_multi_character_upper_cases_are_all_in_the_bmp() -> None:
    astral = [c for c in range(0x10000, sys.maxunicode + 1) if len(chr(c).upper()) != 1]
    assert astral == []


# --- properties: generated dirty input --------------------------------------------------------
DIRT = st.sampled_from([" ", "\t", "\u3000", "\n", "\u00a0", "\u2003", ""])


def dirty(canonical: str, draw: st.DrawFn) -> str:
    """Spread whitespace through the ID, and make some characters full-width or lower-case."""
    out = []
    for ch in canonical:
        form = draw(st.sampled_from(["same", "full", "lower"]))
        if form == "full" and ch.isascii():
            ch = chr(ord(ch) + 0xFEE0)
        elif form == "lower":
            ch = ch.lower()
        out.append(draw(DIRT) + ch)
    return "".join(out) + draw(DIRT)


@st.composite
def person_ids(draw: st.DrawFn) -> str:
    body = "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=17, max_size=17)))
    if draw(st.booleans()):
        legacy = body[:6] + body[8:17]
        return dirty(legacy, draw)
    check = person_check_char(body) if draw(st.integers(0, 4)) else draw(st.sampled_from("0X5"))
    return dirty(body + check, draw)


@st.composite
def org_ids(draw: st.DrawFn) -> str:
    body = "".join(draw(st.lists(st.sampled_from(USCC_CHARS), min_size=17, max_size=17)))
    check = uscc_check_char(body) if draw(st.integers(0, 4)) else draw(st.sampled_from("0AI"))
    return dirty(body + check, draw)


TEXT = st.text(max_size=25)
IDS = {
    "person": st.one_of(person_ids(), TEXT, st.text("0123456789xX ", max_size=20)),
    "org": st.one_of(org_ids(), TEXT, st.text(USCC_CHARS.lower() + "IOSVZ ﬀﬂ", max_size=20)),
    "case": st.one_of(TEXT, st.text("（）()0123456789豫民初号 \u3000", max_size=20)),
    "project": st.one_of(TEXT, st.text("abcXYZ-_ ßﬀ０１２", max_size=20)),
}
PROPERTY = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("kind", sorted(IDS))
def test_sql_normalise_and_token_equal_the_reference_for_dirty_input(
    con: duckdb.DuckDBPyConnection, kind: str
) -> None:
    @PROPERTY
    @given(st.lists(IDS[kind], min_size=1, max_size=100))
    def check(raws: list[str]) -> None:
        expected = [normalise(kind, r) for r in raws]
        assert sql_normalise(con, kind, raws) == expected
        assert sql_normalise_expr(con, kind, raws) == expected
        tokens = [tok for tok, _ in sql_tokens(con, kind, raws)]
        assert tokens == [reference_token(KEYS, kind, r) for r in raws]

    check()


def test_person_check_char_sql_matches_the_reference(con: duckdb.DuckDBPyConnection) -> None:
    bodies = ["11010519491231002", "00000000000000000", "99999999999999999", "12345678901234567"]
    bodies += ["".join(str((i * 7 + j) % 10) for j in range(len(PERSON_WEIGHTS))) for i in range(9)]
    got = [
        con.execute(f"SELECT {tokensql.person_check_sql(b + '::BIGINT')}").fetchall()
        for b in bodies
    ]
    assert [g[0][0] for g in got] == [person_check_char(b) for b in bodies]


SQL_RATES = {"hmac_sql_ids_per_s", "normalise_sql_ids_per_s"}
END_TO_END = {"end_to_end_ids_per_s", "end_to_end_dirty_ids_per_s"}


def test_bench_tokens_reports_positive_rates(monkeypatch: pytest.MonkeyPatch) -> None:
    from fedscreen import engine, fasthmac

    calls: list[tuple[str, bool]] = []
    original = engine.tokenise_result

    def spy(*args: Any, native_normalise: bool = True) -> Any:
        calls.append((args[3], native_normalise))
        return original(*args, native_normalise=native_normalise)

    # end_to_end is measured through the engine's own tokenisation function
    monkeypatch.setattr(engine, "tokenise_result", spy)
    rates = tokensql.bench_tokens(2000)
    assert set(rates) == SQL_RATES | END_TO_END | {
        "hmac_ids_per_s", "normalise_native_ids_per_s",
        "end_to_end_sql_norm_ids_per_s", "end_to_end_dirty_sql_norm_ids_per_s",
    }  # fmt: skip
    assert all(v > 0 for v in rates.values())
    assert calls == [("ids", True), ("ids", False), ("dirty_ids", True), ("dirty_ids", False)]
    # without the extension: the SQL rates, end to end being the SQL fallback
    monkeypatch.setattr(fasthmac, "_hmac", None)
    assert set(tokensql.bench_tokens(500)) == SQL_RATES | END_TO_END


def test_the_dirty_benchmark_mix() -> None:
    with duckdb.connect(":memory:") as c:
        c.execute(f"CREATE TABLE ids AS {tokensql._valid_person_ids(1600)}")
        raws = [r[0] for r in c.execute(tokensql._dirty_person_ids("ids")).fetchall()]
        clean = [r[0] for r in c.execute("SELECT id FROM ids").fetchall()]
    canonical = [normalise("person", r) if r is not None else None for r in raws]
    pairs = list(zip(raws, canonical, clean, strict=True))
    assert sum(r == c for r, _, c in pairs) == 400  # 4 in 16 canonical
    assert sum(n == c != r for r, n, c in pairs) == 600  # 6 cleaned back to the clean ID
    assert sum(n is not None and n != c for _, n, c in pairs) == 200  # 2 legacy, upgraded
    assert sum(r is not None and n is None for r, n, _ in pairs) == 300  # 3 invalid
    assert raws.count(None) == 100
