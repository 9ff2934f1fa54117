"""Static check of a model's screening SQL before the agent runs it: deny by default.

Two parsers look at the same text, because what matters is what *DuckDB* will execute:
1. sqlglot (dialect duckdb) checks the shape: one statement, a query, tables only from the
   role's datasets or the query's own CTEs, no qualifiers, no table functions, no file paths,
   no SELECT … INTO, only declared `$name` parameters.
2. DuckDB's own parser (`json_serialize_sql`, which parses without executing) is the authority
   on functions and tables: every function call must be on an allowlist of harmless scalar,
   aggregate and window functions, every table reference a plain dataset or CTE. This closes
   any gap where sqlglot would read the text differently from DuckDB (quoting, escapes,
   method-call syntax like `'x'.getenv()`).
The engine's hardening (no file access beyond the sources, locked configuration) stays in place
underneath; this check is what gives model authors a precise, early refusal.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from functools import cache
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from fedscreen.errors import ForbiddenSQL

# Function names as DuckDB's parser reports them (lower case). Anything else is refused: file
# readers (read_text, read_csv, …), settings and environment (current_setting, getenv,
# getvariable), catalog introspection (duckdb_*), nested execution (query, query_table).
ALLOWED_FUNCTIONS = frozenset(
    # aggregates
    "count count_star sum avg mean min max any_value first last arg_min arg_max min_by max_by "
    "bool_and bool_or count_if countif median mode quantile quantile_cont quantile_disc "
    "stddev stddev_pop stddev_samp variance var_pop var_samp approx_count_distinct "
    "list array_agg string_agg group_concat product "
    # window
    "row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value "
    "last_value nth_value "
    # conditional and comparison
    "coalesce ifnull nullif greatest least if "
    # numeric
    "abs sign round floor ceil ceiling trunc mod pow power sqrt ln log log2 log10 exp "
    "divide add subtract multiply even "
    # text (no hashing, no encoding to files)
    "length strlen len lower upper lcase ucase substr substring left right trim ltrim rtrim "
    "replace concat concat_ws starts_with ends_with prefix suffix contains strpos instr "
    "position lpad rpad split_part reverse repeat translate regexp_matches "
    "regexp_full_match regexp_replace regexp_extract like_escape ilike_escape "
    # dates and intervals
    "date_diff datediff date_sub datesub date_add date_part datepart date_trunc datetrunc "
    "extract year month day quarter week weekofyear dayofweek dayofmonth dayofyear isodow "
    "yearweek last_day make_date strftime strptime age current_date today to_days to_weeks "
    "to_months to_years to_hours epoch "
    # lists and structs built by syntax ([…], {…}, (a, b), x[i]), membership tests
    "list_value struct_pack row array_extract list_extract array_slice list_slice "
    "list_contains list_has array_contains list_position array_length list_distinct "
    "list_sort list_transform list_filter list_aggregate "
    # the engine's normalising macros (fedscreen.tokensql.MACROS)
    "norm_person norm_org norm_case norm_project".split()
)
# Operators (a + b, a || b, a LIKE b → ~~, a GLOB b → ~~~, …) are functions in DuckDB's tree.
# Only symbols are allowed there; a named function flagged as an operator is still checked.
_OPERATOR_CHARS = frozenset("+-*/%^|&<>=!~@#")
# PIVOT is refused because it turns data values into column names, which would then appear in
# error messages and schemas; conditional aggregation (count(*) FILTER …) does the same job.
_ALLOWED_TABLE_REFS = {"BASE_TABLE", "SUBQUERY", "JOIN", "EXPRESSION_LIST", "EMPTY"}
_NOT_QUERY = (exp.DDL, exp.DML, exp.Command, exp.Into, exp.Pragma, exp.Set, exp.Use, exp.Pivot)


def check_sql(sql: str, allowed_tables: set[str], params: set[str]) -> None:
    """Raise ForbiddenSQL (one line, naming the construct) unless `sql` is a plain query."""
    tree = _parse_one(sql)
    tables = {t.lower() for t in allowed_tables}
    _check_shape(tree, sql, tables, params)
    _check_with_duckdb(sql, tables, params)


def named_parameters(sql: str) -> set[str]:
    """The `$name` parameters DuckDB will expect a value for (DuckDB refuses extra ones)."""
    nodes = _nodes(_duckdb_tree(sql))
    return {str(e["key"]) for n in nodes for e in n.get("named_param_map", ())}


# --- 1. sqlglot: statement shape -----------------------------------------------------------
def _parse_one(sql: str) -> exp.Expr:
    try:
        trees = [t for t in sqlglot.parse(sql, read="duckdb") if t is not None]
    except SqlglotError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ForbiddenSQL(f"cannot parse the SQL: {first}") from None
    if len(trees) != 1:
        raise ForbiddenSQL(f"exactly one statement is allowed, found {len(trees)}")
    return trees[0]


def _check_shape(tree: exp.Expr, sql: str, tables: set[str], params: set[str]) -> None:
    root = tree.unnest() if isinstance(tree, exp.Subquery) else tree
    if not isinstance(root, exp.Query):
        raise ForbiddenSQL(f"only a query is allowed, not {_statement_name(tree, sql)}")
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for node in tree.walk():
        if isinstance(node, _NOT_QUERY):
            raise ForbiddenSQL(f"{type(node).__name__.upper()} is not allowed inside a query")
        if isinstance(node, exp.Table):
            _check_table(node, sql, tables | ctes)
        elif isinstance(node, exp.Placeholder):
            _check_placeholder(str(node.args.get("this") or ""), params)
        elif isinstance(node, (exp.From, exp.Join, exp.Lateral)):
            _check_source(node.this)


def _statement_name(tree: exp.Expr, sql: str) -> str:
    if isinstance(tree, exp.Command):
        return str(tree.this).upper()
    words = sql.split()
    return words[0].upper() if words else type(tree).__name__.upper()


def _check_source(source: exp.Expr) -> None:
    if isinstance(source, exp.Lateral):
        source = source.this
    if isinstance(source, (exp.Table, exp.Subquery, exp.Values)):
        return
    raise _table_function(_func_name(source))


def _table_function(name: str) -> ForbiddenSQL:
    return ForbiddenSQL(f"table function {name}(…) is not allowed; read the role's datasets")


def _func_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name)
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return type(node).__name__.lower()


def _check_table(table: exp.Table, sql: str, known: set[str]) -> None:
    ident = table.this
    if not isinstance(ident, exp.Identifier):
        raise _table_function(_func_name(ident))
    if table.args.get("catalog") or table.args.get("db"):
        raise ForbiddenSQL(f"qualified table name {table.sql('duckdb')} is not allowed")
    start = ident.meta.get("start")
    if start is not None and sql[start : start + 1] == "'":
        raise ForbiddenSQL("a string literal (file path) cannot be used as a table")
    if ident.name.lower() not in known:
        what = "a file path" if any(c in ident.name for c in "/\\.:*") else "a table"
        raise ForbiddenSQL(f"{what} {ident.name!r} is not a dataset this role reads")


def _check_placeholder(name: str, params: set[str]) -> None:
    if not name or name.isdigit():
        raise ForbiddenSQL("positional parameters are not allowed; use $name")
    if name not in params:
        known = ", ".join(sorted(params)) or "none"
        raise ForbiddenSQL(f"unknown parameter ${name} (declared: {known})")


# --- 2. DuckDB's parser: functions and tables as DuckDB sees them ---------------------------
_LOCK = threading.Lock()


@cache
def _parser() -> duckdb.DuckDBPyConnection:
    """A data-less connection used only to parse; it never executes model SQL."""
    con = duckdb.connect(":memory:", config={"autoload_known_extensions": False})
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def _duckdb_tree(sql: str) -> dict[str, Any]:
    with _LOCK:
        rows = _parser().execute("SELECT json_serialize_sql($q)", {"q": sql}).fetchall()
    tree: dict[str, Any] = json.loads(rows[0][0])
    if tree.get("error"):
        raise ForbiddenSQL(f"DuckDB cannot parse the SQL: {tree.get('error_message', '?')}")
    if len(tree.get("statements", ())) != 1:
        raise ForbiddenSQL("exactly one statement is allowed")
    return tree


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _nodes(value)


def _check_with_duckdb(sql: str, tables: set[str], params: set[str]) -> None:
    nodes = list(_nodes(_duckdb_tree(sql)))
    ctes = {e["key"].lower() for n in nodes if "cte_map" in n for e in n["cte_map"]["map"]}
    for node in nodes:  # every SELECT node has a from_table; table functions are found here
        if "from_table" in node:
            for ref in _table_refs(node["from_table"]):
                _check_table_ref(ref, tables | ctes)
    for node in nodes:
        if "function_name" in node and "class" in node:
            _check_function(node)
        for entry in node.get("named_param_map", ()):
            _check_placeholder(str(entry["key"]), params)


def _table_refs(ref: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield ref
    if ref.get("type") == "JOIN":
        yield from _table_refs(ref["left"])
        yield from _table_refs(ref["right"])


def _check_function(node: dict[str, Any]) -> None:
    name = str(node["function_name"]).lower()
    if node.get("schema") or node.get("catalog"):
        raise ForbiddenSQL(f"qualified function name {name} is not allowed")
    if node.get("is_operator") and name and set(name) <= _OPERATOR_CHARS:
        return
    if name not in ALLOWED_FUNCTIONS:
        raise ForbiddenSQL(f"function {name}() is not allowed in screening SQL")


def _check_table_ref(ref: dict[str, Any], known: set[str]) -> None:
    kind = ref.get("type")
    if kind == "TABLE_FUNCTION":
        raise _table_function(str(ref.get("function", {}).get("function_name", "?")))
    if kind not in _ALLOWED_TABLE_REFS:
        raise ForbiddenSQL(f"table reference of type {kind} is not allowed")
    if kind != "BASE_TABLE":
        return
    if ref.get("schema_name") or ref.get("catalog_name"):
        raise ForbiddenSQL(f"qualified table name {ref['table_name']} is not allowed")
    if str(ref["table_name"]).lower() not in known:
        raise ForbiddenSQL(f"{ref['table_name']!r} is not a dataset this role reads")


def datasets_read(sql: str, reads: Iterable[str]) -> list[str]:
    """The datasets of `reads` that `sql` references, as DuckDB's parser sees the query (the
    tree check_sql checks). A name the query also defines as a CTE is left out: the
    CTE may hide the dataset, and leaving it out can only tighten the flag cap."""
    nodes = list(_nodes(_duckdb_tree(sql)))
    ctes = {str(e["key"]).lower() for n in nodes if "cte_map" in n for e in n["cte_map"]["map"]}
    named = {
        str(ref["table_name"]).lower()
        for node in nodes
        if "from_table" in node
        for ref in _table_refs(node["from_table"])
        if ref.get("type") == "BASE_TABLE"
    }
    return sorted(d for d in reads if d.lower() in named - ctes)
