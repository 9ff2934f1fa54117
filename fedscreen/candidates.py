"""Candidate look-ups: keep only result rows about identifiers an earlier role flagged.

Both the agent (before anything is sent) and `fedscreen model test` (so fixtures behave as
the federation does) filter through here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from fedscreen.errors import UsageError, WrongRole
from fedscreen.manifest import Role

MAX_CANDIDATES = 2_000_000  # per column; a bigger set is no longer a targeted look-up
_TOKEN = "^[0-9a-f]{32}$"  # RE2: "$" is the end of the text, as with re.fullmatch


def check_candidates(role: Role, given: Mapping[str, Sequence[str]]) -> dict[str, pa.Array]:
    """The caller must send exactly the sets the signed manifest declares, of real tokens.

    Returns the sets as Arrow arrays, checked in one vectorised pass each (there may be
    millions of tokens), for filter_candidates to use without converting them again."""
    declared = {c.column for c in role.candidates}
    unknown = sorted(set(given) - declared)
    if unknown:
        raise UsageError(f"role {role.name} takes no candidates for column {unknown[0]!r}")
    missing = sorted(declared - set(given))
    if missing:
        raise WrongRole(f"role {role.name} needs candidate tokens for column {missing[0]!r}")
    arrays = {}
    for column, tokens in given.items():
        if len(tokens) > MAX_CANDIDATES:
            raise UsageError(f"{len(tokens)} candidates for {column} exceed {MAX_CANDIDATES}")
        arrays[column] = pa.array(tokens, pa.string())
        tokens_ok = pc.match_substring_regex(arrays[column], _TOKEN)
        # An empty set is fine (the earlier role flagged nothing); a null is no token.
        if pc.all(tokens_ok, skip_nulls=False, min_count=0).as_py() is not True:
            raise UsageError(f"candidates for {column} must be 32-hex tokens")
    return arrays


def candidate_sets(role: Role, tables: Mapping[str, pa.Table]) -> dict[str, tuple[str, ...]]:
    """The token sets `role` is to be asked about, from the earlier roles' flag tables."""
    return {
        c.column: tuple(
            sorted(v for v in pc.unique(tables[c.source_role][c.source_column]).to_pylist() if v)
        )
        for c in role.candidates
    }


def filter_candidates(table: pa.Table, given: Mapping[str, Sequence[str] | pa.Array]) -> pa.Table:
    """Rows whose token in every candidate column is in that column's set (vectorised)."""
    for column, tokens in given.items():
        keep = pc.is_in(table[column], value_set=pa.array(tokens, pa.string()))
        table = table.filter(pc.fill_null(keep, False))
    return table
