"""Native normalisation of person and org IDs (fedscreen._hmac.normalise, _hmac_norm.c): the
same canonical IDs, tokens and invalid flags as the Python reference, for every code point and
for generated dirty input; and the engine's paths give the same result."""

from __future__ import annotations

import hashlib
import hmac
import random
import string
import sys
from functools import cache

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedscreen import fasthmac, identifiers, tokensql
from fedscreen.engine import tokenise_result
from fedscreen.identifiers import USCC_CHARS, normalise, person_check_char, uscc_check_char
from fedscreen.manifest import Output
from fedscreen.tokens import TOKEN_HEX, TokenKeys, reference_token
from tests.fedscreen.test_tokensql import ORG_CASES, PERSON_CASES

pytestmark = pytest.mark.skipif(not fasthmac.available(), reason="the extension is not built")

KEYS = TokenKeys.derive(b"n" * 32, "fastnorm", "2024")
KINDS = ("person", "org")
VALID = {"person": "11010519491231002X", "org": "91350100M000100Y43"}
ALPHABET = {"person": set("0123456789X"), "org": set(USCC_CHARS)}
POINTS = [c for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]


def native(kind: str, values: pa.Array | pa.ChunkedArray) -> tuple[list[str | None], list[bool]]:
    canonical, bad = fasthmac.normalise_array(values, kind)
    assert canonical.type == pa.string() and bad.dtype == np.bool_
    assert len(canonical) == len(bad) == len(values)
    return canonical.to_pylist(), bad.tolist()


def expected_bad(kind: str, raws: list[str | None]) -> list[bool]:
    return [r is not None and normalise(kind, r) is None for r in raws]


# --- known identifiers -------------------------------------------------------------------------
EXTRA_PERSON = [
    ("11010519491231002X", "11010519491231002X"),
    ("110105491231002", "11010519491231002X"),
    ("11010519491231002Ｘ", "11010519491231002X"),
    ("11010519491231002\u00a0x\u2028", "11010519491231002X"),
    ("1101051949123100２X\x1c", "11010519491231002X"),  # U+001C is \s in Python
    ("11010519491231002Х", None),  # Cyrillic Ha, not X
    ("11010519491231002X0", None),  # 19 characters
    ("11010519491231003X", None),  # body changed: check char no longer matches
    ("110105491231002X", None),  # 16 characters
    ("11010549123100X", None),  # legacy with a letter
    ("11010549123100", None),  # 14 digits
    ("1101054912310020", None),  # 16 digits
    ("X10105491231002", None),  # 15 characters, not all digits
    ("11010519491231002\u200b", None),  # zero-width space is not \s
    ("11010519491231002X\x00", None),
]
EXTRA_ORG = [
    ("91350100M000100Y43", "91350100M000100Y43"),
    ("\u3000９１３５０１００ｍ０００１００ｙ４３\t", "91350100M000100Y43"),
    ("91350100M000100Y43 91350100M000100Y43", None),  # two codes
    ("91350100M000100Y", None),
    ("91350100M000100Y433", None),
    ("91350100M00010OY43", None),  # letter O for zero
    ("91350100M000100У43", None),  # Cyrillic U
]


def _ligature_org() -> list[tuple[str, str | None]]:
    # str.upper() turns ﬀ, ﬂ, ﬄ into USCC letters, so they can be part of a valid code.
    body = "9135FFLFF0FL01234"
    code = body + uscc_check_char(body)
    dirty = code.replace("FFL", "ﬄ", 1).replace("FF", "ﬀ", 1).replace("FL", "ﬂ", 1)
    assert len(dirty) == len(code) - 4
    return [(dirty, code), (dirty.replace("ﬀ", "ﬁ"), None), (code.replace("FF", "ﬆ", 1), None)]


PERSON_KNOWN = PERSON_CASES + EXTRA_PERSON
ORG_KNOWN = ORG_CASES + EXTRA_ORG + _ligature_org()


@pytest.mark.parametrize(
    ("kind", "raw", "canonical"),
    [("person", r, c) for r, c in PERSON_KNOWN] + [("org", r, c) for r, c in ORG_KNOWN],
)
def test_known_ids(kind: str, raw: str, canonical: str | None) -> None:
    assert normalise(kind, raw) == canonical  # the reference agrees with the table
    assert native(kind, pa.array([raw])) == ([canonical], [canonical is None])
    tokens, bad = fasthmac.normalise_tokens(pa.array([raw]), kind, KEYS.keys[kind])
    assert tokens.to_pylist() == [reference_token(KEYS, kind, raw)]


def test_null_empty_and_whitespace_only() -> None:
    raws = [None, "", " ", "\u3000\t", None]
    for kind in KINDS:
        assert native(kind, pa.array(raws, pa.string())) == (
            [None] * 5,
            [False, True, True, True, False],
        )
        assert native(kind, pa.array([], pa.string())) == ([], [])
        assert native(kind, pa.chunked_array([], pa.string())) == ([], [])
        assert native(kind, pa.array([None, None], pa.string())) == ([None, None], [False, False])


# --- every code point ----------------------------------------------------------------------------
@cache
def cleaned() -> dict[int, str]:
    """What each code point becomes under the reference's steps (half-width, strip \\s, upper).
    They work character by character, so this is each character's part in a cleaned ID."""
    ws = identifiers._WS
    return {c: ws.sub("", identifiers.halfwidth(chr(c))).upper() for c in POINTS}


@pytest.mark.parametrize("kind", KINDS)
def test_every_code_point_inside_a_valid_id(kind: str) -> None:
    # The ID stays valid exactly when the inserted character vanishes (whitespace); anything
    # else makes it 19 characters or puts a foreign character in it.
    valid = VALID[kind]
    raws = [valid[:9] + chr(c) + valid[9:] for c in POINTS]
    got, bad = native(kind, pa.array(raws, pa.string()))
    expected = [valid if cleaned()[c] == "" else None for c in POINTS]
    diff = [hex(c) for c, g, e in zip(POINTS, got, expected, strict=True) if g != e]
    assert diff == []
    assert bad == [e is None for e in expected]
    # and that is what the full reference says: on every whitespace character and a sample
    sample = [i for i, c in enumerate(POINTS) if cleaned()[c] == ""]
    sample += random.Random(5).sample(range(len(POINTS)), 3000)
    assert [got[i] for i in sample] == [normalise(kind, raws[i]) for i in sample]
    assert sum(1 for c in POINTS if cleaned()[c] == "") == len(tokensql.WS_CODEPOINTS)


@pytest.mark.parametrize("kind", KINDS)
def test_every_code_point_that_becomes_id_characters(kind: str) -> None:
    # Each character whose cleaned form is made of ID characters, as the first character(s) of
    # a valid ID: digits, x/X and USCC letters in all their forms, and the ligatures.
    chars = {c: u for c, u in cleaned().items() if u and set(u) <= ALPHABET[kind]}
    raws = []
    for c, u in chars.items():
        if kind == "person" and u == "X":
            raws.append("11010519491231002" + chr(c))
            continue
        body = (u + "91350100M000100Y4" if kind == "org" else u + "1234567890123456")[:17]
        check = uscc_check_char(body) if kind == "org" else person_check_char(body)
        raws.append(chr(c) + body[len(u) :] + check)
    expected = [normalise(kind, r) for r in raws]
    assert None not in expected
    assert native(kind, pa.array(raws)) == (expected, [False] * len(raws))
    # 0-9, x, X and their full-width forms; 0-9, 21 letters in both cases, full-width, ﬀ ﬂ ﬄ
    assert len(chars) == {"person": 24, "org": 107}[kind]


# --- malformed UTF-8 (DuckDB and Arrow strings never hold it, but binary columns can) ----------
@pytest.mark.parametrize(
    "junk",
    [b"\x80", b"\xc3", b"\xc0\xa0", b"\xe0\x80\xa0", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
     b"\xf8\x88\x80\x80\x80", b"\xef\xbc", b"\xe3\x80", b"\xff"],
)  # fmt: skip
def test_malformed_utf8_is_invalid(junk: bytes) -> None:
    for kind in KINDS:
        valid = VALID[kind].encode()
        values = [valid[:9] + junk + valid[9:], valid + junk, junk + valid, junk, valid]
        got, bad = native(kind, pa.array(values, pa.binary()))
        assert got == [None] * 4 + [VALID[kind]]
        assert bad == [True] * 4 + [False]


def test_well_formed_multibyte_whitespace_at_the_end_of_the_buffer() -> None:
    # A sequence that ends exactly at the end of the data buffer must not be taken as truncated.
    for ws in ("\u00a0", "\u3000", "\u2029"):
        assert native("person", pa.array([VALID["person"] + ws])) == ([VALID["person"]], [False])


# --- property: generated dirty input ----------------------------------------------------------
SPACES = st.sampled_from([chr(c) for c in tokensql.WS_CODEPOINTS])
LOOKALIKES = "ßıſﬀﬁﬂﬃﬄﬅﬆхХΧχКKÅǅ０９ｘＸｍＭ零一"


@st.composite
def dirty_id(draw: st.DrawFn, kind: str) -> str:
    """A valid (or almost valid) ID with random dirt: whitespace of every kind between the
    characters, full-width and lower-case forms, legacy 15-digit person IDs, a wrong check
    character now and then, or a look-alike letter."""
    alphabet = "0123456789" if kind == "person" else USCC_CHARS
    body = "".join(draw(st.lists(st.sampled_from(alphabet), min_size=17, max_size=17)))
    if kind == "person" and draw(st.booleans()):
        chars = body[:6] + body[8:]  # legacy: 15 digits, no check char
    else:
        check = person_check_char(body) if kind == "person" else uscc_check_char(body)
        if not draw(st.integers(0, 6)):
            check = draw(st.sampled_from("0X5AI"))
        chars = body + check
    if not draw(st.integers(0, 8)):
        at = draw(st.integers(0, len(chars) - 1))
        chars = chars[:at] + draw(st.sampled_from(LOOKALIKES)) + chars[at + 1 :]
    out = []
    for ch in chars:
        form = draw(st.sampled_from(["same", "same", "full", "lower"]))
        if form == "full" and 0x21 <= ord(ch) <= 0x7E:
            ch = chr(ord(ch) + 0xFEE0)
        elif form == "lower":
            ch = ch.lower()
        out.append(draw(st.text(SPACES, max_size=2)) + ch)
    return "".join(out) + draw(st.text(SPACES, max_size=3))


@st.composite
def long_id(draw: st.DrawFn, kind: str) -> str:
    """A (dirty) ID inside thousands of whitespace characters, or a long run of junk."""
    pad = draw(SPACES) * draw(st.integers(100, 5000))
    if draw(st.booleans()):
        return pad + draw(dirty_id(kind)) + pad
    return draw(dirty_id(kind)) + draw(st.sampled_from(["0", "x", "ｘ", "A"])) * 3000


def raw_ids(kind: str) -> st.SearchStrategy[str | None]:
    return st.one_of(
        dirty_id(kind),
        dirty_id(kind),
        long_id(kind),
        st.none(),
        st.just(""),
        st.text(max_size=25),
        st.text("0123456789xX" + USCC_CHARS.lower() + LOOKALIKES + " \u3000\u00a0", max_size=22),
    )


LAYOUTS = st.sampled_from([pa.string(), pa.large_string(), pa.string_view()])
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("portable", [False, True], ids=["fast", "portable"])
@pytest.mark.parametrize("kind", KINDS)
def test_native_equals_the_reference_for_dirty_input(kind: str, portable: bool) -> None:
    @PROPERTY
    @given(values=st.lists(raw_ids(kind), max_size=40), layout=LAYOUTS, data=st.data())
    def check(values: list[str | None], layout: pa.DataType, data: st.DataObject) -> None:
        # A sliced array (offset not a multiple of 8) in two chunks, like DuckDB's batches.
        skip = data.draw(st.integers(0, 9))
        arr = pa.array(["pad"] * skip + values, layout).slice(skip)
        cut = data.draw(st.integers(0, len(values)))
        chunked = pa.chunked_array([arr.slice(0, cut), arr.slice(cut)], layout)

        expected = [normalise(kind, v) for v in values]
        bad = expected_bad(kind, values)
        assert native(kind, chunked) == (expected, bad)
        key = KEYS.keys[kind]
        tokens, got_bad = fasthmac.normalise_tokens(chunked, kind, key, portable=portable)
        assert tokens.to_pylist() == [reference_token(KEYS, kind, v) for v in values]
        assert tokens.null_count == sum(e is None for e in expected)
        assert got_bad.tolist() == bad

    check()


@pytest.mark.parametrize("digits", [1, 7, 32, 64])
def test_any_number_of_hex_digits(digits: int) -> None:
    raws = ["110105491231002", None, "junk", "11010519491231002x"]
    key = KEYS.keys["person"]
    tokens, _ = fasthmac.normalise_tokens(pa.array(raws), "person", key, digits=digits)
    expected = [
        None if c is None else hmac.new(key, c.encode(), hashlib.sha256).hexdigest()[:digits]
        for c in (normalise("person", r) for r in raws)
    ]
    assert tokens.to_pylist() == expected


def test_bad_arguments_are_refused() -> None:
    _hmac = fasthmac._hmac
    assert _hmac is not None
    _, offsets, data = pa.array(["abc", "de"]).buffers()
    with pytest.raises(ValueError, match="'person' or 'org'"):
        _hmac.normalise("case", data, offsets, None, 2)
    with pytest.raises(ValueError, match="64 bytes"):
        _hmac.normalise("org", data, offsets, None, 2, b"short")
    with pytest.raises(ValueError, match="do not fit"):
        _hmac.normalise("org", data, offsets, None, 3)
    corrupt = pa.array([0, 3, 99], pa.int32()).buffers()[1]
    with pytest.raises(ValueError, match="out of bounds"):
        _hmac.normalise("person", data, corrupt, None, 2)
    with pytest.raises(ValueError, match="normalised in SQL"):
        fasthmac.normalise_array(pa.array(["x"]), "project")
    assert fasthmac.normalises("person") and fasthmac.normalises("org")
    assert not fasthmac.normalises("case") and not fasthmac.normalises("project")


# --- the engine's tokenisation: every path gives the same result -------------------------------
def mixed_table(rows: int) -> pa.Table:
    rng = random.Random(3)

    def person() -> str | None:
        body = "".join(rng.choices(string.digits, k=17))
        valid = body + person_check_char(body)
        return rng.choice([
            valid, valid.lower(), "\u3000" + valid[:9] + "\u00a0" + valid[9:], body[:6] + body[8:],
            "".join(chr(ord(c) + 0xFEE0) for c in valid), valid[:17] + "Y", None, "", "n/a",
        ])  # fmt: skip

    def org() -> str | None:
        body = "".join(rng.choices(USCC_CHARS, k=17))
        valid = body + uscc_check_char(body)
        return rng.choice([valid, "\t" + valid.lower(), valid[:17] + "I", None])

    return pa.table({
        "p1": [person() for _ in range(rows)],
        "p2": [person() for _ in range(rows)],
        "o": [org() for _ in range(rows)],
        "c": [rng.choice(["（2024）豫0502民初1号", " ", None, "ａｂ\u3000c"]) for _ in range(rows)],
        "f": [rng.random() < 0.5 for _ in range(rows)],
    })  # fmt: skip


OUTPUTS = (
    Output("p1", "person"), Output("o", "org"), Output("c", "case"), Output("f", "bool"),
    Output("p2", "person"),
)  # fmt: skip


def test_tokenise_result_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    source = mixed_table(2000)
    with duckdb.connect(":memory:") as con:
        con.register("src_view", source)
        con.execute("CREATE TABLE src AS SELECT * FROM src_view")
        native_table, native_invalid = tokenise_result(con, OUTPUTS, KEYS, "src")
        sql_norm = tokenise_result(con, OUTPUTS, KEYS, "src", native_normalise=False)
        monkeypatch.setattr(fasthmac, "_hmac", None)
        fallback = tokenise_result(con, OUTPUTS, KEYS, "src")
    for table, invalid in (sql_norm, fallback):
        assert native_table.schema == table.schema
        assert native_table.equals(table)
        assert native_invalid == invalid
    # per kind: rows with an invalid ID of that kind (one row can count for two kinds)
    rows = source.to_pylist()
    kind = {o.name: o.kind for o in OUTPUTS if o.is_token}
    bad = [{c for c in kind if expected_bad(kind[c], [r[c]])[0]} for r in rows]
    assert native_invalid == {
        k: sum(1 for b in bad if any(kind[c] == k for c in b)) for k in sorted(set(kind.values()))
    }
    kept = [r for r, b in zip(rows, bad, strict=True) if not b]
    assert native_table.num_rows == len(kept) > 0
    for col in kind:
        expected = [reference_token(KEYS, kind[col], r[col]) for r in kept]
        assert native_table.column(col).to_pylist() == expected, col
    assert native_table.column("f").to_pylist() == [r["f"] for r in kept]


def test_tokenise_result_on_no_rows_and_all_null() -> None:
    outputs = (Output("p", "person"), Output("o", "org"))
    with duckdb.connect(":memory:") as con:
        con.execute("CREATE TABLE empty (p VARCHAR, o VARCHAR)")
        con.execute("CREATE TABLE nulls AS SELECT NULL::VARCHAR AS p, NULL::VARCHAR AS o")
        table, invalid = tokenise_result(con, outputs, KEYS, "empty")
        assert table.num_rows == 0 and invalid == {"org": 0, "person": 0}
        assert table.schema.types == [pa.string(), pa.string()]
        table, invalid = tokenise_result(con, outputs, KEYS, "nulls")
        assert table.to_pylist() == [{"p": None, "o": None}] and invalid == {"org": 0, "person": 0}


def test_tokens_are_fixed_width_lower_hex() -> None:
    tokens, _ = fasthmac.normalise_tokens(pa.array([VALID["org"]]), "org", KEYS.keys["org"])
    (token,) = tokens.to_pylist()
    assert token is not None and len(token) == TOKEN_HEX and set(token) <= set("0123456789abcdef")
