"""fedscreen.fasthmac and its extension fedscreen._hmac: native HMAC-SHA256 equals Python's
hmac on both compression paths (SHA-NI and portable C), and the engine gives the same result
with the extension as with the SQL fallback."""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import random
import shutil
import string
import sys
import sysconfig
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fedscreen
from fedscreen import fasthmac
from fedscreen.engine import Engine, EngineLimits, RoleResult, SourceSpec
from fedscreen.identifiers import USCC_CHARS, person_check_char, uscc_check_char
from fedscreen.manifest import Output, Role
from fedscreen.tokens import TOKEN_HEX, TokenKeys, reference_token
from tests.fedscreen.test_engine import labour_cases
from tests.fedscreen.test_tokensql import RFC4231

PATHS = [pytest.param(False, id="fast"), pytest.param(True, id="portable")]
KEYS = TokenKeys.derive(b"f" * 32, "fasthmac", "2024")


def python_hex(key: bytes, values: list[str | None], digits: int = TOKEN_HEX) -> list[str | None]:
    return [
        None if v is None else hmac.new(key, v.encode(), hashlib.sha256).hexdigest()[:digits]
        for v in values
    ]


def native_hex(
    key: bytes, values: pa.Array | pa.ChunkedArray, portable: bool, digits: int = TOKEN_HEX
) -> list[str | None]:
    out = fasthmac.hmac_hex_array(values, key, digits=digits, portable=portable)
    assert out.type == pa.string()
    return out.to_pylist()


def test_the_extension_is_built_where_a_compiler_exists() -> None:
    # setup.py marks it optional so an install without a compiler still works; where a
    # compiler exists `pip install -e .` must have built it, or the engine takes the slower
    # SQL path unnoticed.
    compiler = sysconfig.get_config_var("CC") or "cc"
    if shutil.which(compiler.split()[0]) is None:
        pytest.skip("no C compiler: the install runs on the SQL tokeniser")
    assert fasthmac.available()


def test_sha_extensions_are_used_where_the_cpu_has_them() -> None:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    if " sha_ni" not in flags:
        pytest.skip("this CPU has no SHA extensions: only the portable path is exercised")
    assert fasthmac.has_sha_ni()


# --- known answers --------------------------------------------------------------------------
@pytest.mark.parametrize("portable", PATHS)
@pytest.mark.parametrize(("case", "key", "data", "expected"), RFC4231)
def test_native_hmac_matches_rfc4231(
    portable: bool, case: int, key: bytes, data: bytes, expected: str
) -> None:
    # Keys that are not one block are hashed / zero-padded first, exactly as HMAC does.
    values = pa.array([data], pa.binary())
    assert native_hex(key, values, portable, digits=64) == [expected]
    assert native_hex(key, values, portable, digits=32) == [expected[:32]]


@pytest.mark.parametrize("digits", [1, 2, 7, 31, 33, 63, 64])
def test_any_number_of_hex_digits(digits: int) -> None:
    key = KEYS.keys["org"]
    values = ["", "91350100M000100Y43", None, "x" * 70]
    assert native_hex(key, pa.array(values), False, digits) == python_hex(key, values, digits)


@pytest.mark.parametrize("portable", PATHS)
def test_every_message_length_up_to_five_blocks(portable: bool) -> None:
    # Covers each padding case: tail ≤ 55 bytes (one final block), 56..63 (two), whole blocks.
    key = KEYS.keys["case"]
    values = ["".join(random.Random(n).choices("0123456789ABCX", k=n)) for n in range(321)]
    assert native_hex(key, pa.array(values), portable) == python_hex(key, values)


@pytest.mark.parametrize("portable", PATHS)
@pytest.mark.parametrize(
    ("kind", "canonical"),
    [("person", "11010519491231002X"), ("org", "91350100M000100Y43"),
     ("case", "(2024)豫0502民初1号"), ("project", "GC-2024-001")],
)  # fmt: skip
def test_tokens_equal_the_reference_tokeniser(portable: bool, kind: str, canonical: str) -> None:
    got = native_hex(KEYS.keys[kind], pa.array([canonical]), portable)
    assert got == [reference_token(KEYS, kind, canonical)]


# --- property: random keys and messages, nulls, slices, chunks, layouts ----------------------
LETTER_KEYS = st.text(string.ascii_letters, min_size=64, max_size=64).map(str.encode)
MESSAGES = st.lists(st.one_of(st.none(), st.text(max_size=300)), max_size=40)
LAYOUTS = st.sampled_from([pa.string(), pa.large_string(), pa.string_view()])


@pytest.mark.parametrize("portable", PATHS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=LETTER_KEYS, values=MESSAGES, layout=LAYOUTS, data=st.data())
def test_native_equals_python_hmac(
    portable: bool, key: bytes, values: list[str | None], layout: pa.DataType, data: st.DataObject
) -> None:
    # A sliced array (offset not a multiple of 8) split into two chunks, like DuckDB's batches.
    skip = data.draw(st.integers(0, 9))
    arr = pa.array(["pad"] * skip + values, layout).slice(skip)
    cut = data.draw(st.integers(0, len(values)))
    chunked = pa.chunked_array([arr.slice(0, cut), arr.slice(cut)], layout)
    assert native_hex(key, chunked, portable) == python_hex(key, values)


def test_null_and_empty_inputs() -> None:
    key = KEYS.keys["project"]
    assert native_hex(key, pa.array([], pa.string()), False) == []
    assert native_hex(key, pa.chunked_array([], pa.string()), False) == []
    assert native_hex(key, pa.array([None, None], pa.string()), False) == [None, None]
    assert native_hex(key, pa.array([""]), False) == python_hex(key, [""])


def test_bad_arguments_are_refused() -> None:
    from fedscreen import _hmac

    _, offsets, data = pa.array(["abc", "de"]).buffers()
    with pytest.raises(ValueError, match="64 bytes"):
        _hmac.tokens(data, offsets, None, 2, b"short")
    with pytest.raises(ValueError, match="do not fit"):
        _hmac.tokens(data, offsets, None, 3, b"k" * 64)
    corrupt = pa.array([0, 3, 99], pa.int32()).buffers()[1]
    with pytest.raises(ValueError, match="out of bounds"):
        _hmac.tokens(data, corrupt, None, 2, b"k" * 64)


def test_without_the_extension_fasthmac_reports_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Importing it now fails, as when it was never built.
    monkeypatch.setitem(sys.modules, "fedscreen._hmac", None)
    monkeypatch.delattr(fedscreen, "_hmac", raising=False)
    spec = importlib.util.spec_from_file_location("fasthmac_copy", fasthmac.__file__)
    assert spec is not None and spec.loader is not None
    copy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(copy)
    assert not copy.available() and not copy.has_sha_ni()
    with pytest.raises(RuntimeError, match="not built"):
        copy.hmac_hex_array(pa.array(["x"]), b"k" * 64)


# --- the engine: the same result with and without the extension ------------------------------
def dirty_labour_cases(rows: int) -> pa.Table:
    """labour_cases with valid, legacy, dirty (full-width, Unicode whitespace, lower case),
    invalid and NULL IDs, and long case numbers."""
    rng = random.Random(11)
    base = labour_cases()

    def full(text: str) -> str:
        return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)

    def person() -> str | None:
        body = "".join(rng.choices(string.digits, k=17))
        valid = body + person_check_char(body)
        return rng.choice([
            valid, valid, valid.lower() + " ", body[:6] + body[8:], body + "0", None, "", "１" * 18,
            "\u3000" + full(valid[:9]) + "\u00a0" + valid[9:].lower() + "\t\n",
            " " + body[:6] + "\u2003" + body[8:] + "\u3000", valid[:17] + "Х", valid + "\u200b",
        ])  # fmt: skip

    def org() -> str | None:
        body = "".join(rng.choices(USCC_CHARS, k=17))
        valid = body + uscc_check_char(body)
        return rng.choice([
            valid, valid, " " + body.lower(), body + "I", None, full(valid.lower()) + "\u3000",
            valid.replace("FF", "ﬀ"), valid[:9] + "\x1c" + valid[9:], "x" * 500,
        ])  # fmt: skip

    def text(n: int) -> str:
        return "".join(rng.choices("（）()0123456789豫民初号 \u3000ａｂc", k=rng.randrange(n)))

    columns = {
        "case_no": [text(90) for _ in range(rows)],  # up to ~270 bytes: multi-block messages
        "plaintiff_id": [person() for _ in range(rows)],
        "defendant_uscc": [org() for _ in range(rows)],
        "judgment_text": [rng.choice([None, text(300)]) for _ in range(rows)],
        "claim_amount": [Decimal(rng.randrange(10**6)) / 100 for _ in range(rows)],
    }
    first = base.slice(0, 1)
    return pa.table({
        name: columns[name] if name in columns else pa.repeat(first.column(name)[0], rows)
        for name in base.column_names
    }, schema=base.schema)  # fmt: skip


OUTPUTS = (
    Output("case_no", "case"), Output("plaintiff", "person"), Output("defendant", "org"),
    Output("text", "project"), Output("flag", "bool"),
)  # fmt: skip


def run_engine(path: Path) -> RoleResult:
    spec = SourceSpec("labour_cases", "parquet", str(path))
    sql = """SELECT case_no, plaintiff_id AS plaintiff, defendant_uscc AS defendant,
                    judgment_text AS text, claim_amount > 5000 AS flag FROM labour_cases"""
    role = Role("court", "court.sql", ("labour_cases",), OUTPUTS)
    with Engine("court", {"labour_cases": spec}, EngineLimits(threads=1)) as engine:
        return engine.run(role, sql, {}, KEYS)


def test_engine_tokens_are_the_same_with_and_without_the_extension(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = dirty_labour_cases(3000)
    pq.write_table(source, tmp_path / "labour_cases.parquet")
    calls: list[str] = []
    original, original_norm = fasthmac.tokenise_table, fasthmac.normalise_tokens

    def spy(table: pa.Table, keys: dict[str, bytes]) -> pa.Table:
        calls.extend(keys)
        return original(table, keys)

    def spy_norm(
        values: pa.ChunkedArray, kind: str, key: bytes, **kw: object
    ) -> tuple[pa.ChunkedArray, object]:
        calls.append(kind)
        return original_norm(values, kind, key)

    monkeypatch.setattr(fasthmac, "tokenise_table", spy)
    monkeypatch.setattr(fasthmac, "normalise_tokens", spy_norm)
    native = run_engine(tmp_path / "labour_cases.parquet")
    # person and org IDs normalised natively, case and project numbers in SQL then hashed
    assert sorted(calls) == ["case_no", "org", "person", "text"], "the extension was not used"
    monkeypatch.setattr(fasthmac, "_hmac", None)
    fallback = run_engine(tmp_path / "labour_cases.parquet")
    assert len(calls) == 4, "the engine used the extension after it was removed"

    assert native.table.schema == fallback.table.schema
    assert native.table.equals(fallback.table)
    assert native.invalid_ids == fallback.invalid_ids
    assert native.rows_in == fallback.rows_in == 3000
    assert 0 < native.table.num_rows < 3000 and sum(native.invalid_ids.values()) > 0
    # and both are the reference tokens of the rows that were kept, NULL staying NULL
    raw = {"case_no": "case_no", "plaintiff": "plaintiff_id", "defendant": "defendant_uscc"}
    raw["text"] = "judgment_text"
    kind = {o.name: o.kind for o in OUTPUTS}
    rows = source.to_pylist()
    kept = [
        r for r in rows
        if all(r[raw[c]] is None or reference_token(KEYS, kind[c], r[raw[c]]) for c in raw)
    ]  # fmt: skip
    for col in raw:
        got = native.table.column(col).to_pylist()
        assert got == [reference_token(KEYS, kind[col], r[raw[col]]) for r in kept], col
    assert None in native.table.column("plaintiff").to_pylist()
