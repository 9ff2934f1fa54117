"""Normalisation and tokenisation as DuckDB SQL, byte-identical to fedscreen.identifiers/tokens.

The agent normalises whole result tables inside DuckDB, so nothing loops over rows in Python.
Every rule mirrors the Python reference (tests compare both on generated dirty input):
half-width → strip Unicode whitespace → upper-case (person, org, project) → validate.

Normalisation is a stack of *stages*: each stage replaces a column by an expression over that
column, and `normalise_select` nests one `SELECT * REPLACE (…)` per stage. Stages exist so that
an expensive value (the cleaned string, the 17-digit number) is computed once and then read
cheaply as a column by the next stage, instead of being repeated inside one big expression.

With the native extension (fedscreen.fasthmac) the engine normalises person and org IDs in C
instead, and uses this SQL only for case and project numbers, hashing all canonical columns
natively (several times faster than DuckDB's software sha256()). Without the extension the
SQL here does everything; tests check every path gives the reference's tokens. The SQL HMAC
is built from DuckDB's sha256(): inner = sha256(ipad || msg), outer = sha256(opad ||
unhex(inner)). Keys enter only as bound parameters (`$name`), never as SQL text, because SQL
text can end up in logs and error messages.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Mapping
from functools import cache

import duckdb

from fedscreen import fasthmac
from fedscreen.identifiers import (
    PERSON_CHECK,
    PERSON_WEIGHTS,
    USCC_CHARS,
    USCC_WEIGHTS,
    Kind,
)
from fedscreen.tokens import TOKEN_HEX, TokenKeys

BLOCK = 64  # SHA-256 block size: HMAC pads (or first hashes) the key to this length
Stage = Callable[[str], str]

# Python's `\s` for str patterns (what identifiers._WS strips), as an RE2 class. A test checks
# it against Python over every code point; RE2's own \s is ASCII-only and misses U+3000.
WS_CODEPOINTS = (
    *range(0x09, 0x0E), *range(0x1C, 0x21), 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
    0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
)  # fmt: skip
_PERSON_FMT = "[0-9]{17}[0-9X]|[0-9]{15}"
_USCC_FMT = f"[{USCC_CHARS}]{{18}}"


def lit(text: str) -> str:
    """A SQL string literal (only for constants of this module, never for data or keys)."""
    return "'" + text.replace("'", "''") + "'"


def _re_class(codepoints: Iterable[int]) -> str:
    return "[" + "".join(f"\\x{{{c:x}}}" for c in codepoints) + "]"


@cache
def special_upper() -> dict[str, str]:
    """Characters whose Python upper-case is several characters (ß → SS, ﬀ → FF, …).

    DuckDB's upper() uses simple one-to-one case mapping and agrees with Python on every other
    code point (tested exhaustively); these few are rewritten before calling it.
    """
    # All of them are in the BMP (a test checks the other planes).
    chars = (chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF)
    return {c: c.upper() for c in chars if len(c.upper()) != 1}


# --- string stages (x is a column reference; it may be repeated freely) ----------------------
def halfwidth_sql(x: str) -> str:
    # Only rows holding a full-width character pay. Mapping code points in a lambda costs about
    # 1.3 µs per value; translate() with the 94-character map costs about 6 µs.
    c = "__fs_c"  # a lambda parameter no column is called
    shifted = f"chr(unicode({c}) - {0xFEE0})"
    char = f"CASE WHEN {c} BETWEEN '\uff01' AND '\uff5e' THEN {shifted} ELSE {c} END"
    mapped = f"array_to_string(list_transform(string_split({x}, ''), lambda {c}: {char}), '')"
    return f"CASE WHEN regexp_matches({x}, '[\\x{{ff01}}-\\x{{ff5e}}]') THEN {mapped} ELSE {x} END"


def _brackets_stage(x: str) -> str:
    # Case numbers are usually written with full-width brackets （2024）; two replace() calls
    # (~0.2 µs) let most of them skip halfwidth_sql's slower mapping.
    return f"replace(replace({x}, '\uff08', '('), '\uff09', ')')"


def strip_ws_sql(x: str) -> str:
    # U+3000 (which identifiers.halfwidth turns into a space) is in the class: same result.
    return f"regexp_replace({x}, '{_re_class(WS_CODEPOINTS)}+', '', 'g')"


def upper_sql(x: str) -> str:
    """Python's str.upper(): expand the multi-character cases, then DuckDB's upper()."""
    specials = special_upper()
    chain = x  # x is a column: it appears three times
    for char, upper in specials.items():
        chain = f"replace({chain}, {lit(char)}, {lit(upper)})"
    cls = _re_class(ord(c) for c in specials)
    return f"upper(CASE WHEN regexp_matches({x}, '{cls}') THEN {chain} ELSE {x} END)"


def clean_sql(x: str) -> str:
    """Half-width, then no whitespace. `x` must be a column: halfwidth_sql repeats it."""
    return strip_ws_sql(halfwidth_sql(x))


def _format_stage(pattern: str, upper: Callable[[str], str]) -> Stage:
    """Keep a value already in canonical shape (one regexp, the common case); clean the rest and
    keep it if it then has the shape. Anything else becomes '' (the next stage makes it NULL).

    `upper` need only agree with str.upper() on whether the result can have the shape. No
    expression is repeated inside the CASE, where DuckDB does not share subexpressions (and
    nullif() would repeat its argument, so it is avoided here).
    """

    def stage(x: str) -> str:
        cleaned = upper(clean_sql(x))
        return (
            f"CASE WHEN regexp_full_match({x}, '{pattern}') THEN {x} "
            f"ELSE regexp_extract({cleaned}, '^({pattern})$') END"
        )

    return stage


# --- person: GB 11643 -------------------------------------------------------------------------
def _person_upgrade(x: str) -> str:
    # A legacy 15-digit number becomes 17 digits (century "19"); the check is appended later.
    # '' (no valid shape) becomes NULL.
    return (
        f"CASE strlen({x}) WHEN 15 THEN substr({x}, 1, 6) || '19' || substr({x}, 7) "
        f"WHEN 18 THEN {x} END"
    )


def person_check_sql(n: str) -> str:
    """The check character of the 17-digit number n (BIGINT), in one arithmetic expression.

    Σ wᵢdᵢ with dᵢ = qᵢ − 10·qᵢ₋₁ (qᵢ = the first i digits = n // 10^(17−i)) regroups into
    Σ qᵢ·(wᵢ + wᵢ₊₁) mod 11, since 10 ≡ −1 (mod 11): 16 divisions instead of 17 divisions and
    17 remainders. The sum stays below 1.2e18, inside BIGINT.
    """
    weights = (*PERSON_WEIGHTS, 0)
    terms = []
    for i in range(17):
        coeff = (weights[i] + weights[i + 1]) % 11
        prefix = n if i == 16 else f"({n} // {10 ** (16 - i)})"
        if coeff:
            terms.append(f"{prefix} * {coeff}")
    return f"substr({lit(PERSON_CHECK)}, ({' + '.join(terms)}) % 11 + 1, 1)"


def _person_append_check(x: str) -> str:
    # Outside any CASE, so DuckDB computes the CAST once for all 17 references (shared
    # subexpression). 17 digits get their check appended, 18 get a 19th char to compare with.
    return f"{x} || {person_check_sql(f'CAST(substr({x}, 1, 17) AS BIGINT)')}"


def _person_verify(x: str) -> str:
    return (
        f"CASE WHEN strlen({x}) = 18 THEN {x} "
        f"WHEN substr({x}, 18, 1) = substr({x}, 19, 1) THEN substr({x}, 1, 18) END"
    )


def _person_upper(x: str) -> str:
    # Of all characters only x/X upper-case to a digit or X, in Python and in DuckDB alike.
    return f"replace({x}, 'x', 'X')"


def _org_upper(x: str) -> str:
    # Python upper-cases ﬀ, ﬂ, ﬄ to USCC letters (FF, FL, FFL); DuckDB's upper() does not. Every
    # other non-ASCII character stays outside the USCC alphabet under both (ı → I, ſ → S are
    # excluded letters), so this is exact for the validity of an org code.
    return f"upper(replace(replace(replace({x}, 'ﬀ', 'FF'), 'ﬂ', 'FL'), 'ﬄ', 'FFL'))"


# --- org: GB 32100 ------------------------------------------------------------------------------
def uscc_check_sql(x: str) -> str:
    total = " + ".join(
        f"(strpos({lit(USCC_CHARS)}, substr({x}, {i + 1}, 1)) - 1) * {w}"
        for i, w in enumerate(USCC_WEIGHTS)
    )
    return f"substr({lit(USCC_CHARS)}, (31 - ({total}) % 31) % 31 + 1, 1)"


def _org_check(x: str) -> str:
    return f"CASE WHEN strlen({x}) = 18 AND {uscc_check_sql(x)} = substr({x}, 18, 1) THEN {x} END"


# --- case and project ---------------------------------------------------------------------------
def _nonempty(x: str) -> str:
    return f"nullif({x}, '')"


STAGES: dict[str, tuple[Stage, ...]] = {
    Kind.PERSON: (
        _format_stage(_PERSON_FMT, _person_upper),
        _person_upgrade,
        _person_append_check,
        _person_verify,
    ),
    Kind.ORG: (_format_stage(_USCC_FMT, _org_upper), _org_check),
    # nullif() in a stage of its own: it repeats its argument, which must then be a column.
    Kind.CASE: (_brackets_stage, clean_sql, _nonempty),
    Kind.PROJECT: (clean_sql, upper_sql, _nonempty),
}


def qident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def normalise_select(source: str, columns: Mapping[str, str]) -> str:
    """SELECT every column of `source`, with each `columns` name → kind replaced by its canonical
    form (NULL when NULL or invalid). `source` is a table name or a parenthesised query."""
    query = f"SELECT * FROM {source}"
    depth = max((len(STAGES[k]) for k in columns.values()), default=0)
    for level in range(depth):
        repl = [
            f"{STAGES[kind][level](qident(col))} AS {qident(col)}"
            for col, kind in columns.items()
            if level < len(STAGES[kind])
        ]
        query = f"SELECT * REPLACE ({', '.join(repl)}) FROM ({query})"
    return query


def normalise_expr(kind: str, x: str) -> str:
    """One expression for the canonical form of `x` (any expression, evaluated once).

    Each stage is bound with a one-element list_transform, DuckDB's only let-binding; that
    costs about 3.7 µs per person ID against 0.8 µs for normalise_select, so this is for the
    session macros (joins inside an agency), not for tokenising results.
    """
    expr = x
    for stage in STAGES[kind]:
        expr = f"list_transform([{expr}], lambda __fs_v: {stage('__fs_v')})[1]"
    return expr


# Macros the engine defines so that screening SQL can join on normalised IDs inside an agency
# (a legacy 15-digit ID and its 18-digit form are one person). fedscreen.sqlcheck allows them.
MACROS = {kind: f"norm_{kind}" for kind in STAGES}


def macro_statements() -> list[str]:
    return [f"CREATE MACRO {name}(raw) AS {normalise_expr(k, 'raw')}" for k, name in MACROS.items()]


# --- HMAC ---------------------------------------------------------------------------------------
def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """(key XOR ipad, key XOR opad), after hashing a key longer than a block (RFC 2104)."""
    if len(key) > BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(BLOCK, b"\x00")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def hmac_sql(message: str, ipad_param: str, opad_param: str) -> str:
    """HMAC-SHA256 (64 hex) of the expression `message`, the pads bound as parameters: a BLOB
    message with BLOB pads (checked against RFC 4231), or, in token_sql, VARCHAR with VARCHAR."""
    inner = f"sha256(${ipad_param} || {message})"
    return f"sha256(${opad_param} || unhex({inner}))"


def token_sql(canonical: str, ipad_param: str, opad_param: str) -> str:
    """The 32-hex token of a canonical VARCHAR. The ipad is bound as VARCHAR: kind keys are
    letters, so key XOR 0x36 is NUL-free ASCII and the inner hash needs no BLOB cast of the ID."""
    return f"substr({hmac_sql(canonical, ipad_param, opad_param)}, 1, {TOKEN_HEX})"


def token_param_names(kind: str) -> tuple[str, str]:
    return f"__fs_ipad_{kind}", f"__fs_opad_{kind}"


def token_params(keys: TokenKeys, kinds: Iterable[str]) -> dict[str, str | bytes]:
    """Bound parameters for token_sql, per kind: ipad as str, opad as bytes."""
    params: dict[str, str | bytes] = {}
    for kind in kinds:
        ipad, opad = hmac_pads(keys.keys[kind])
        ipad_name, opad_name = token_param_names(kind)
        params[ipad_name] = ipad.decode("ascii")
        params[opad_name] = opad
    return params


def flagged_select(source: str, columns: Mapping[str, str]) -> str:
    """Like normalise_select, plus a BOOLEAN column `__bad_<col>` per ID column telling whether
    a non-NULL raw value was invalid (so the row must be dropped). The engine tokenises the
    canonical columns of this natively (fedscreen.fasthmac) when it can."""
    if not columns:
        return f"SELECT * FROM {source}"
    raw = {c: qident("__raw_" + c) for c in columns}
    keep = ", ".join(f"{qident(c)} AS {raw[c]}" for c in columns)
    canon = normalise_select(f"(SELECT *, {keep} FROM {source})", columns)
    bads = ", ".join(
        f"({raw[c]} IS NOT NULL AND {qident(c)} IS NULL) AS {qident('__bad_' + c)}" for c in columns
    )
    return f"SELECT * EXCLUDE ({', '.join(raw.values())}), {bads} FROM ({canon})"


def tokenise_select(source: str, columns: Mapping[str, str]) -> str:
    """flagged_select with each ID column replaced by its token, in SQL (the fallback when the
    native extension is missing). Key pads are the parameters named by token_param_names;
    bind them with token_params."""
    flagged = flagged_select(source, columns)
    if not columns:
        return flagged
    tokens = ", ".join(
        f"{token_sql(qident(c), *token_param_names(k))} AS {qident(c)}" for c, k in columns.items()
    )
    return f"SELECT * REPLACE ({tokens}) FROM ({flagged})"


# --- benchmark ----------------------------------------------------------------------------------
def _valid_person_ids(n: int) -> str:
    """SQL generating n distinct valid 18-char IDs (region, date-ish digits, check char)."""
    body = "'110105' || lpad(((i * 7919) % 100000000000)::VARCHAR, 11, '0')"
    return (
        f"SELECT b || {person_check_sql('CAST(b AS BIGINT)')} AS id "
        f"FROM (SELECT {body} AS b FROM range({int(n)}) r(i))"
    )


def _dirty_person_ids(table: str) -> str:
    """SQL for the IDs of `table` as they arrive from messy sources: of every 16 rows 4 are
    canonical, 8 are valid once cleaned (spaces/tab/lower x, full-width digits, U+3000, the
    legacy 15 digits of a different ID), 2 have a wrong check char, 1 is junk and 1 is NULL."""
    dirt = {
        2: f"' ' || lower(id) || {lit(chr(9))}",
        3: f"replace(replace(id, '1', {lit(chr(0xFF11))}), '9', {lit(chr(0xFF19))})",
        4: f"substr(id, 1, 6) || {lit(chr(0x3000))} || substr(id, 7)",
        5: "substr(id, 1, 6) || substr(id, 9, 9)",
        6: "substr(id, 1, 17) || CASE substr(id, 18, 1) WHEN '0' THEN '1' ELSE '0' END",
        7: "CASE WHEN i % 16 = 7 THEN NULL ELSE 'unknown' END",
    }
    cases = " ".join(f"WHEN {k} THEN {v}" for k, v in dirt.items())
    return f"SELECT CASE i % 8 {cases} ELSE id END AS id FROM (SELECT id, rowid AS i FROM {table})"


def _rate(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, str | bytes], n: int
) -> float:
    # max() alone: DuckDB 2.0 plans count() + max() of VARCHAR without parallelism.
    start = time.perf_counter()
    con.execute(f"SELECT max(t) FROM ({sql})", params).fetchall()
    return n / (time.perf_counter() - start)


def _timed(n: int, work: Callable[..., object], *args: object, **kwargs: object) -> float:
    start = time.perf_counter()
    work(*args, **kwargs)
    return n / (time.perf_counter() - start)


def bench_tokens(n: int, threads: int = 1) -> dict[str, float]:
    """IDs per second on n person IDs, clean (all valid, canonical) and dirty (_dirty_person_ids).

    end_to_end[_dirty]_ids_per_s: normalise + checksum + HMAC + invalid count + dropping, from
    a DuckDB table to the tokenised Arrow table, through the function the engine runs
    (fedscreen.engine.tokenise_result). With the extension that normalises natively; for
    comparison in the same run, end_to_end[_dirty]_sql_norm_ids_per_s normalises in SQL and
    hashes natively (the engine's path before native normalisation). The parts: HMAC alone
    natively and in SQL (hmac_ids_per_s, hmac_sql_ids_per_s), normalisation + checksum alone
    in SQL and natively (normalise_sql_ids_per_s, normalise_native_ids_per_s). Without the
    extension only the SQL rates are reported, end_to_end being the SQL fallback.
    """
    from fedscreen.engine import tokenise_result  # the engine imports this module
    from fedscreen.manifest import Output

    keys = TokenKeys.derive(b"b" * 32, "bench", "bench")
    key = keys.keys[Kind.PERSON]
    params = token_params(keys, [Kind.PERSON])
    outputs = (Output("id", Kind.PERSON),)
    with duckdb.connect(":memory:") as con:
        con.execute(f"SET threads = {int(threads)}")
        con.execute("SET enable_progress_bar = false")
        con.execute(f"CREATE TABLE ids AS {_valid_person_ids(n)}")
        con.execute(f"CREATE TABLE dirty_ids AS {_dirty_person_ids('ids')}")
        ip, op = token_param_names(Kind.PERSON)
        hmac_only = f"SELECT {token_sql('id', ip, op)} AS t FROM ids"
        norm_only = f"SELECT id AS t FROM ({normalise_select('ids', {'id': Kind.PERSON})})"
        rates = {
            "hmac_sql_ids_per_s": _rate(con, hmac_only, params, n),
            "normalise_sql_ids_per_s": _rate(con, norm_only, {}, n),
        }
        for mix, table in (("", "ids"), ("_dirty", "dirty_ids")):
            args = (con, outputs, keys, table)
            rates[f"end_to_end{mix}_ids_per_s"] = _timed(n, tokenise_result, *args)
            if fasthmac.available():
                rates[f"end_to_end{mix}_sql_norm_ids_per_s"] = _timed(
                    n, tokenise_result, *args, native_normalise=False
                )
        if fasthmac.available():
            ids = con.sql("SELECT id FROM ids").to_arrow_table().column("id")
            rates["hmac_ids_per_s"] = _timed(n, fasthmac.hmac_hex_array, ids, key)
            rates["normalise_native_ids_per_s"] = _timed(
                n, fasthmac.normalise_array, ids, Kind.PERSON
            )
        return rates
