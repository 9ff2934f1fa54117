"""The hardened DuckDB session in which an agent runs screening SQL over its own data.

One in-memory DuckDB per session, one VIEW per logical dataset over the agency's physical
source. Before any model SQL runs, the session is sealed: it may read exactly the source files,
cannot install or load extensions, and its configuration is locked, so even SQL that slipped
past fedscreen.sqlcheck cannot read other files, write anything, or loosen the settings.
`run` then checks, executes, enforces the declared outputs, normalises and tokenises every
identifier (person and org IDs natively, case and project numbers normalised in DuckDB, all
hashed natively with fedscreen.fasthmac; everything in SQL without the extension); only flags
and tokens come back.
"""

from __future__ import annotations

import glob
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pyarrow

from fedscreen import fasthmac
from fedscreen.dictionary import Dataset, datasets
from fedscreen.errors import (
    ConfigError,
    FedscreenError,
    OutputRefused,
    QueryFailed,
    QueryTimeout,
    SchemaMismatch,
)
from fedscreen.manifest import Output, Role
from fedscreen.sqlcheck import check_sql, datasets_read, named_parameters
from fedscreen.tokens import TokenKeys
from fedscreen.tokensql import (
    flagged_select,
    macro_statements,
    qident,
    token_params,
    tokenise_select,
)

RESULT = "__fs_result"
TOKENISED = "__fs_tokenised"
# Errors about the query text (names, syntax) are safe to show; errors raised while reading
# rows (conversion, overflow, CSV parsing) can quote data values, so only their class is shown.
_TEXT_ERRORS = (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException)
_INTEGERS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"}
_INTEGERS |= {"U" + t for t in _INTEGERS}
_DECIMAL = re.compile(r"DECIMAL\((\d+),(\d+)\)")
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z_]{0,62}[0-9]{0,2}")


@dataclass(frozen=True)
class SourceSpec:
    dataset: str
    format: Literal["parquet", "csv", "duckdb"]
    path: str  # a file, or a glob for parquet/csv
    table: str | None = None  # for format="duckdb": the table inside the DuckDB file


@dataclass(frozen=True)
class EngineLimits:
    memory_limit: str = "2GB"
    threads: int = 2
    timeout_seconds: float = 600.0


@dataclass(frozen=True)
class RoleResult:
    table: pyarrow.Table  # tokenised, columns in the role's declared output order
    rows_in: int  # max row count over the datasets the query references (the cap's base)
    invalid_ids: dict[str, int]  # kind -> rows dropped because a non-null identifier was invalid
    seconds: float


def type_problem(expected: str, actual: str) -> str | None:
    """Why `actual` cannot stand for the dictionary's `expected` type, or None if it can.

    Widening that cannot change a model's result is accepted: any integer type for INTEGER,
    and DECIMAL(p,2) with p ≥ 14 for DECIMAL(14,2) (same scale, so sums and thresholds are
    exact). DOUBLE for money, TIMESTAMP for DATE, numbers for identifiers are refused.
    """
    if actual == expected or (expected == "INTEGER" and actual in _INTEGERS):
        return None
    want, got = _DECIMAL.fullmatch(expected), _DECIMAL.fullmatch(actual)
    if want and got and got[2] == want[2] and int(got[1]) >= int(want[1]):
        return None
    return f"has type {actual}, expected {expected}"


class Engine:
    def __init__(
        self, role: str, sources: Mapping[str, SourceSpec], limits: EngineLimits = EngineLimits()
    ) -> None:
        self.role = role
        self.limits = limits
        self._datasets = datasets(role)
        unknown = sorted(set(sources) - set(self._datasets))
        if unknown:
            known = ", ".join(sorted(self._datasets))
            raise ConfigError(f"role {role} has no dataset {unknown[0]!r} (known: {known})")
        for name, spec in sources.items():
            if spec.dataset != name:
                raise ConfigError(f"source for {name!r} names dataset {spec.dataset!r}")
        self._files = {name: _source_files(spec) for name, spec in sources.items()}
        self._attached: dict[str, str] = {}  # DuckDB file -> catalog alias
        self._csv_raw: dict[str, str] = {}  # dataset -> read_csv(…) of its text
        self.sources = dict(sources)
        self._cancelled = threading.Event()  # set by cancel(), from any thread; never cleared
        self._con = duckdb.connect(":memory:", config=_startup_config(limits))
        try:
            for name, spec in sources.items():
                self._open_source(name, spec)
            for statement in macro_statements():
                self._con.execute(statement)
            self._seal()
        except BaseException:
            self._con.close()
            raise

    def _open_source(self, name: str, spec: SourceSpec) -> None:
        try:
            self._create_view(name, spec)
        except (duckdb.IOException, *_TEXT_ERRORS) as exc:  # a path or a name, never a value
            first = str(exc).splitlines()[0]
            raise ConfigError(
                f"dataset {name}: cannot open {spec.format} {spec.path}: {first}"
            ) from None
        except duckdb.Error as exc:  # e.g. CSV sniffing: its text can quote a row
            raise ConfigError(
                f"dataset {name}: cannot open {spec.format} {spec.path} "
                f"({type(exc).__name__}; details withheld: they can quote data values)"
            ) from None

    # --- setup ------------------------------------------------------------------------------
    def _create_view(self, name: str, spec: SourceSpec) -> None:
        files = self._files[name]
        if spec.format == "parquet":
            body = f"SELECT * FROM read_parquet({_str_list(files)})"
        elif spec.format == "csv":
            body = self._csv_body(self._datasets[name], files)
        else:
            # Attached read-only rather than copied: no second copy in memory, DuckDB's own
            # storage speed, and the attached catalog is unreachable from model SQL (sqlcheck
            # refuses qualified names; it is not among the role's datasets).
            alias = self._attached.get(files[0])
            if alias is None:  # one file may hold several datasets; DuckDB attaches it once
                alias = self._attached[files[0]] = f"__fs_src_{len(self._attached)}"
                self._con.execute(f"ATTACH {_str(files[0])} AS {qident(alias)} (READ_ONLY)")
            schema, _, table = (spec.table or name).rpartition(".")
            body = f"SELECT * FROM {qident(alias)}.{qident(schema or 'main')}.{qident(table)}"
        self._con.execute(f"CREATE VIEW {qident(name)} AS {body}")

    def _csv_body(self, dataset: Dataset, files: list[str]) -> str:
        # Read as text, then TRY_CAST the dictionary's columns to the dictionary's types: IDs
        # stay VARCHAR with their leading zeros, money is DECIMAL, and one malformed value (a
        # date "2024-02-30") becomes NULL instead of failing every run; validate() counts them.
        # A dictionary column the file lacks is left out, so validate() reports it as missing.
        raw = self._csv_raw[dataset.name] = _csv_reader(files)
        header = [str(r[0]) for r in self._con.execute(f"DESCRIBE FROM {raw}").fetchall()]
        types = {c.name: c.type for c in dataset.columns if c.type != "VARCHAR"}
        # nullif(…, '') is not decoration: DuckDB 2.0 pushes a bare TRY_CAST into the CSV
        # scanner, which then casts strictly and fails on the first malformed value.
        cols = ", ".join(
            f"TRY_CAST(nullif({qident(h)}, '') AS {types[h]}) AS {qident(h)}"
            if h in types
            else qident(h)
            for h in header
        )
        return f"SELECT {cols} FROM {raw}"

    def _seal(self) -> None:
        paths = sorted({f for files in self._files.values() for f in files})
        self._con.execute("SET enable_progress_bar = false")  # it would draw on the agent's stdout
        self._con.execute(f"SET allowed_paths = {_str_list(paths)}")
        self._con.execute("SET enable_external_access = false")
        self._con.execute("SET lock_configuration = true")

    # --- schema -----------------------------------------------------------------------------
    def validate(self) -> list[str]:
        """Every difference from the dictionary, one line each naming dataset and column; []
        if none. For CSV sources this includes values that do not parse (a full scan)."""
        problems = self._schema_problems()
        for name in sorted(self._csv_raw):
            problems += self._unparsed(name, dict(self._columns(name)))
        return problems

    def check(self, datasets: Iterable[str] | None = None) -> None:
        """SchemaMismatch if a dataset (of `datasets`, default every mapped one) lacks a column
        or has a wrong type. Schema only (DESCRIBE, no scan), so cheap enough before every job.
        Unparsed CSV values do not count: they read as NULL, and a model can still run."""
        problems = self._schema_problems(datasets)
        if problems:
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            raise SchemaMismatch("; ".join(problems[:3]) + more)

    def _schema_problems(self, datasets: Iterable[str] | None = None) -> list[str]:
        problems = []
        for name in sorted(self.sources if datasets is None else set(datasets)):
            actual = dict(self._columns(name))
            for col in self._datasets[name].columns:
                where = f"{self.role}.{name}: column {col.name}"
                if col.name not in actual:
                    problems.append(f"{where} is missing (expected {col.type})")
                elif problem := type_problem(col.type, actual[col.name]):
                    problems.append(f"{where} {problem}")
        return problems

    def _unparsed(self, name: str, actual: Mapping[str, str]) -> list[str]:
        """For a CSV source: values of typed columns that did not parse (and became NULL)."""
        raw = self._csv_raw[name]
        typed = [
            c for c in self._datasets[name].columns if c.name in actual and c.type != "VARCHAR"
        ]
        if not typed:
            return []
        counts = ", ".join(
            f"count(*) FILTER (WHERE {qident(c.name)} <> '' "
            f"AND TRY_CAST(nullif({qident(c.name)}, '') AS {c.type}) IS NULL)"
            for c in typed
        )
        with self._duckdb_errors():
            row = self._con.execute(f"SELECT {counts} FROM {raw}").fetchall()[0]
        return [
            f"{self.role}.{name}: column {c.name} has {n} value(s) that are not {c.type} "
            "(read as NULL)"
            for c, n in zip(typed, row, strict=True)
            if n
        ]

    def describe(self) -> dict[str, tuple[list[tuple[str, str]], int]]:
        return {name: (self._columns(name), self._count(name)) for name in sorted(self.sources)}

    def _columns(self, name: str) -> list[tuple[str, str]]:
        with self._duckdb_errors():
            rows = self._con.execute(f"DESCRIBE {qident(name)}").fetchall()
        return [(str(r[0]), str(r[1])) for r in rows]

    def _count(self, name: str) -> int:
        with self._duckdb_errors():
            return int(_scalar(self._con, f"SELECT count(*) FROM {qident(name)}"))

    # --- screening --------------------------------------------------------------------------
    def run(
        self, role: Role, sql: str, params: Mapping[str, int | float], keys: TokenKeys
    ) -> RoleResult:
        missing = [d for d in role.reads if d not in self.sources]
        if missing:
            raise SchemaMismatch(f"role {role.name} reads {missing[0]!r}, which is not mapped")
        check_sql(sql, set(role.reads), set(params))
        # The sources are re-read for every job: one replaced under a running agent must fail
        # here, naming dataset and column, not later as a binder error about the model's SQL.
        self.check(role.reads)
        used = {p: params[p] for p in named_parameters(sql)}
        # A trailing ";" would end the CREATE … AS statement the query is wrapped in.
        body = sql.rstrip().rstrip(";")
        start = time.monotonic()
        deadline = _Deadline(self._con, self.limits.timeout_seconds, self._cancelled)
        counted: int | None = None  # rows_in, once known: a refusal after it carries it
        try:
            with self._duckdb_errors(), deadline:
                # The flag cap's base: only what the query reads, so a manifest cannot loosen
                # the cap by declaring a big dataset it never queries.
                rows_in = max((self._count(d) for d in datasets_read(sql, role.reads)), default=0)
                counted = rows_in
                deadline.check()
                self._con.execute(f"CREATE OR REPLACE TEMP TABLE {RESULT} AS {body}", used)
                deadline.check()
                try:
                    _enforce_outputs(self._con, role.outputs)
                except OutputRefused as exc:
                    exc.count(rows_in=rows_in, rows_out=_result_rows(self._con))
                    raise
                table, invalid = tokenise_result(self._con, role.outputs, keys)
                deadline.check()
        except FedscreenError as exc:
            exc.count(rows_in=counted)  # for the audit log; keeps counts already set
            raise
        finally:
            self._drop_temp()
        return RoleResult(table, rows_in, invalid, time.monotonic() - start)

    @contextmanager
    def _duckdb_errors(self) -> Iterator[None]:
        """DuckDB errors as one-line messages that never quote data values."""
        try:
            yield
        except duckdb.InterruptException:
            seconds = self.limits.timeout_seconds
            raise QueryTimeout(f"the query ran longer than {seconds:g} s and was stopped") from None
        except _TEXT_ERRORS as exc:
            raise QueryFailed(f"query failed: {str(exc).splitlines()[0]}") from None
        except duckdb.Error as exc:
            kind = type(exc).__name__  # the text itself may be the data value
            raise QueryFailed(
                f"query failed while reading data ({kind}); details withheld because they can "
                "quote data values - run the model on fixtures to debug"
            ) from None

    def _drop_temp(self) -> None:
        # Never mask the error that ended the run; a leftover table is replaced next time.
        with suppress(duckdb.Error):
            for table in (RESULT, TOKENISED):
                self._con.execute(f"DROP TABLE IF EXISTS temp.{table}")

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- re-identification on request (必要关联查询, agent.reident) ----------------------------
    def lookup(
        self,
        dataset: str,
        column: str,
        kind: str,
        token: str,
        keys: TokenKeys,
        fields: tuple[str, ...],
    ) -> list[dict[str, str]]:
        """`fields` of every row of `dataset` whose `column` tokenises to `token` under `keys`,
        as text (NULL as ""), distinct and sorted; [] if no row does.

        The column's distinct values are tokenised with `tokenise_result`, the very code that
        tokenised the job's outputs, so every raw spelling (full-width, lower-case x, 15-digit)
        that produced the token is found. Errors never quote data values.
        """
        import pyarrow.compute as pc  # only this rarely used path needs it

        if dataset not in self.sources:
            raise SchemaMismatch(f"dataset {dataset!r} is not mapped at this agency")
        names = set(self._datasets[dataset].column_names())
        unknown = [c for c in (column, *fields) if c not in names]
        if unknown:
            raise SchemaMismatch(f"dataset {dataset} has no column {unknown[0]!r}")
        table_name, col = "__fs_lookup", qident(column)
        outputs = (Output("__fs_raw", "enum"), Output("__fs_token", kind))
        deadline = _Deadline(self._con, self.limits.timeout_seconds, self._cancelled)
        try:
            with self._duckdb_errors(), deadline:
                self._con.execute(
                    f"CREATE OR REPLACE TEMP TABLE {table_name} AS SELECT DISTINCT {col} AS "
                    f"__fs_raw, {col} AS __fs_token FROM {qident(dataset)} WHERE {col} IS NOT NULL"
                )
                tokens, _ = tokenise_result(self._con, outputs, keys, table_name)
                deadline.check()
                raws = tokens.filter(pc.equal(tokens["__fs_token"], token))["__fs_raw"]
                if len(raws) == 0:
                    return []
                cols = ", ".join(
                    f"coalesce(CAST({qident(f)} AS VARCHAR), '') AS {qident(f)}" for f in fields
                )
                rows = self._con.execute(
                    f"SELECT DISTINCT {cols} FROM {qident(dataset)} "
                    f"WHERE list_contains($raws, {col}) ORDER BY ALL",
                    {"raws": raws.to_pylist()},
                ).fetchall()
        finally:
            with suppress(duckdb.Error):
                self._con.execute(f"DROP TABLE IF EXISTS temp.{table_name}")
        return [dict(zip(fields, (str(v) for v in row), strict=True)) for row in rows]

    def cancel(self) -> None:
        """Stop the work from another thread (the caller went away, or the agent is shutting
        down): the running statement raises duckdb.InterruptException, and so does any later
        one of this run or lookup — the flag is sticky, and the deadline's watcher repeats the
        interrupt, since DuckDB drops one that lands between statements. Safe from any thread;
        on a closed connection it does nothing."""
        self._cancelled.set()
        with suppress(duckdb.Error):
            self._con.interrupt()


# --- output enforcement and tokenisation ------------------------------------------------------
def _result_rows(con: duckdb.DuckDBPyConnection) -> int | None:
    """How many rows a refused result had (for the audit log), or None if it cannot be read."""
    try:
        return int(_scalar(con, f"SELECT count(*) FROM {RESULT}"))
    except duckdb.Error:
        return None


def _enforce_outputs(con: duckdb.DuckDBPyConnection, outputs: tuple[Output, ...]) -> None:
    """Refuse the result unless it has exactly the declared columns, types and value sets.
    Messages name the column, never a value."""
    actual = {str(r[0]): str(r[1]) for r in con.execute(f"DESCRIBE {RESULT}").fetchall()}
    declared = {o.name: o for o in outputs}
    for name in actual:
        if name not in declared:
            # Name it only if it looks like a name a model author wrote, not like a value.
            shown = repr(name) if _PLAIN_NAME.fullmatch(name) else "(name withheld)"
            raise OutputRefused(f"result column {shown} is not a declared output")
    for out in outputs:
        if out.name not in actual:
            raise OutputRefused(f"declared output {out.name!r} is missing from the result")
        want = "BOOLEAN" if out.kind == "bool" else "VARCHAR"
        if actual[out.name] != want:
            raise OutputRefused(
                f"output {out.name!r} ({out.kind}) must be {want}, not {actual[out.name]}"
            )
        _check_values(con, out)


def _check_values(con: duckdb.DuckDBPyConnection, out: Output) -> None:
    col = qident(out.name)
    if out.kind == "region":
        bad = f"NOT regexp_full_match({col}, '[0-9]{{6}}')"
        what = "a 6-digit region code"
        params: dict[str, Any] = {}
    elif out.kind == "enum":
        bad = f"NOT list_contains($values, {col})"
        what = f"one of its {len(out.values)} declared values"
        params = {"values": list(out.values)}
    else:
        return
    count = _scalar(con, f"SELECT count(*) FROM {RESULT} WHERE {col} IS NOT NULL AND {bad}", params)
    if count:
        raise OutputRefused(f"output {out.name!r}: {count} row(s) hold a value that is not {what}")


def tokenise_result(
    con: duckdb.DuckDBPyConnection,
    outputs: tuple[Output, ...],
    keys: TokenKeys,
    source: str = RESULT,
    *,
    native_normalise: bool = True,
) -> tuple[pyarrow.Table, dict[str, int]]:
    """The declared output columns of `source` with every ID normalised and tokenised, and per
    ID kind the count of rows dropped because a non-NULL ID was invalid.

    With the extension (fedscreen.fasthmac), person and org IDs are fetched raw and normalised
    and hashed in one native pass; case and project numbers are normalised in SQL and hashed
    natively (native_normalise=False normalises every kind in SQL: the benchmark's baseline).
    Without it, everything runs in SQL. All give the same tokens, counts and dropped rows.
    """
    ids = {o.name: o.kind for o in outputs if o.is_token}
    if not fasthmac.available():
        return _tokenise_sql(con, outputs, ids, keys, source)
    native = {c: k for c, k in ids.items() if native_normalise and fasthmac.normalises(k)}
    in_sql = {c: k for c, k in ids.items() if c not in native}
    flags = [qident("__bad_" + c) for c in in_sql]
    cols = ", ".join([qident(o.name) for o in outputs] + flags)
    # The keys never enter DuckDB.
    table = con.sql(f"SELECT {cols} FROM ({flagged_select(source, in_sql)})").to_arrow_table()
    bad = {c: table.column("__bad_" + c).to_numpy() for c in in_sql}
    for col, kind in native.items():
        tokens, bad[col] = fasthmac.normalise_tokens(table.column(col), kind, keys.keys[kind])
        table = table.set_column(table.schema.get_field_index(col), col, tokens)
    invalid = {
        kind: int(np.count_nonzero(np.logical_or.reduce([bad[c] for c in ids if ids[c] == kind])))
        for kind in sorted(set(ids.values()))
    }
    table = table.select([o.name for o in outputs])
    if bad:
        drop = np.logical_or.reduce(list(bad.values()))
        if drop.any():
            # Column by column: several times faster than Table.filter (pyarrow 26).
            keep = pyarrow.array(~drop)
            table = pyarrow.table([c.filter(keep) for c in table.columns], schema=table.schema)
    table = fasthmac.tokenise_table(table, {c: keys.keys[k] for c, k in in_sql.items()})
    return table, invalid


def _tokenise_sql(
    con: duckdb.DuckDBPyConnection,
    outputs: tuple[Output, ...],
    ids: Mapping[str, str],
    keys: TokenKeys,
    source: str,
) -> tuple[pyarrow.Table, dict[str, int]]:
    """The fallback without the extension: normalise, flag and hash in SQL. Keys are bound
    parameters: the SQL text (which can reach logs) never contains them."""
    kinds = sorted(set(ids.values()))
    sql = tokenise_select(source, ids)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {TOKENISED} AS {sql}", token_params(keys, kinds))
    bad = {c: qident("__bad_" + c) for c in ids}
    invalid: dict[str, int] = {}
    if ids:
        counts = ", ".join(
            f"count(*) FILTER (WHERE {' OR '.join(bad[c] for c in ids if ids[c] == k)})"
            for k in kinds
        )
        row = con.execute(f"SELECT {counts} FROM {TOKENISED}").fetchall()[0]
        invalid = dict(zip(kinds, (int(v) for v in row), strict=True))
    keep = f"WHERE NOT ({' OR '.join(bad.values())})" if ids else ""
    cols = ", ".join(qident(o.name) for o in outputs)
    return con.sql(f"SELECT {cols} FROM {TOKENISED} {keep}").to_arrow_table(), invalid


# --- helpers ------------------------------------------------------------------------------------
class _Deadline:
    """Interrupt the connection once the time is up or the engine was cancelled, and again
    every POLL_SECONDS until the work ends: DuckDB drops an interrupt that lands before or
    between statements, so one interrupt is not enough. The steps also call check(), for an
    interrupt that landed just after a statement finished."""

    POLL_SECONDS = 0.05

    def __init__(
        self, con: duckdb.DuckDBPyConnection, seconds: float, cancelled: threading.Event
    ) -> None:
        self._con = con
        self._seconds = seconds
        self._cancelled = cancelled
        self._fired = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="engine-deadline", daemon=True)

    def _watch(self) -> None:
        ends = time.monotonic() + self._seconds
        while not self._done.wait(min(self.POLL_SECONDS, max(ends - time.monotonic(), 0))):
            if self._cancelled.is_set() or time.monotonic() >= ends:
                self._fired.set()
                with suppress(duckdb.Error):
                    self._con.interrupt()

    def check(self) -> None:
        if self._fired.is_set() or self._cancelled.is_set():
            raise duckdb.InterruptException("stopped between statements")

    def __enter__(self) -> _Deadline:
        self.check()  # cancelled before the work began
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


def _startup_config(limits: EngineLimits) -> dict[str, Any]:
    return {
        "memory_limit": limits.memory_limit,
        "threads": limits.threads,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        # The Python client would otherwise resolve unknown table names to Python variables
        # (DataFrames, Arrow tables) in the caller's frames.
        "python_enable_replacements": False,
    }


def _source_files(spec: SourceSpec) -> list[str]:
    """The files behind a source, resolved now: with external access off, DuckDB can read
    listed files but cannot list directories, so globs are expanded here."""
    if spec.format not in ("parquet", "csv", "duckdb"):
        raise ConfigError(f"dataset {spec.dataset}: unknown source format {spec.format!r}")
    if spec.format == "duckdb":
        files = [spec.path] if Path(spec.path).is_file() else []
    else:
        files = sorted(f for f in glob.glob(spec.path) if Path(f).is_file())
    if not files:
        raise ConfigError(f"dataset {spec.dataset}: no source file at {spec.path}")
    return [str(Path(f).resolve()) for f in files]


def _csv_reader(files: list[str]) -> str:
    return f"read_csv({_str_list(files)}, header = true, all_varchar = true)"


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> Any:
    # fetchall, not fetchone: DuckDB 2 refuses further work on a connection while a result
    # has not been read to its end.
    return con.execute(sql, params or {}).fetchall()[0][0]


def _str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _str_list(items: list[str]) -> str:
    return "[" + ", ".join(_str(i) for i in items) + "]"
