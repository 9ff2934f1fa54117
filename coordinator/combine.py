"""Join the agencies' flag tables into leads with the model's combine SQL (DuckDB, in memory).

Only tokens and declared flags reach here; the combine SQL sees one table per role, named after
the role, and is checked like agency SQL (one SELECT, only those tables).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from fedscreen.errors import JobFailed, ManifestError
from fedscreen.manifest import Manifest, Role
from fedscreen.sqlcheck import check_sql, named_parameters

_ARROW_TYPES = {"bool": pa.bool_()}


def declared_schema(role: Role) -> pa.Schema:
    """The Arrow schema of a role's flag table: tokens, regions and enums are strings."""
    return pa.schema([(o.name, _ARROW_TYPES.get(o.kind, pa.string())) for o in role.outputs])


@dataclass(frozen=True)
class Lead:
    lead_id: str
    key: dict[str, str]
    flags: dict[str, object]
    region: str | None
    kind: str = ""
    explanation_zh: str = ""
    explanation_en: str = ""


def lead_id(model: str, campaign: str, kind: str, key: Mapping[str, object]) -> str:
    """Stable within a model's campaign scope, so a re-run updates rather than duplicates."""
    blob = json.dumps([model, campaign, kind, sorted(key.items())], ensure_ascii=False)
    return "L" + hashlib.sha256(blob.encode()).hexdigest()[:12]


def combine(
    manifest: Manifest,
    combine_sql: str,
    tables: Mapping[str, pa.Table],
    params: Mapping[str, int | float],
    campaign: str,
) -> list[Lead]:
    missing = [r.name for r in manifest.roles if r.name not in tables]
    if missing:
        raise JobFailed(f"no flags from role(s) {', '.join(missing)}; cannot combine")
    check_sql(combine_sql, set(tables), set(params))
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        for role in manifest.roles:
            table = tables[role.name]
            if table.num_columns == 0:
                table = declared_schema(role).empty_table()
            con.register(role.name, table)
        # DuckDB binds exactly the parameters the SQL names; pass no others.
        used = {k: v for k, v in params.items() if k in named_parameters(combine_sql)}
        result = con.sql(combine_sql, params=used).to_arrow_table()
    except duckdb.Error as exc:
        raise JobFailed(f"combine SQL of {manifest.name} failed: {type(exc).__name__}") from None
    finally:
        con.close()
    return _leads(manifest, result, params, campaign)


def _leads(
    manifest: Manifest, result: pa.Table, params: Mapping[str, int | float], campaign: str
) -> list[Lead]:
    names = set(result.column_names)
    absent = [k for k in (*manifest.lead_key, manifest.kind_column or "") if k and k not in names]
    if absent:
        raise ManifestError(f"combine output of {manifest.name} lacks lead_key column {absent[0]}")
    leads: dict[str, Lead] = {}
    for row in result.to_pylist():
        key = {k: row[k] for k in manifest.lead_key}
        if any(v is None for v in key.values()):
            continue
        kind = str(row[manifest.kind_column]) if manifest.kind_column else manifest.name
        lid = lead_id(manifest.name, campaign, kind, key)
        if lid in leads:  # the first row of a lead wins; later ones add nothing
            continue
        flags = {k: v for k, v in row.items() if k not in key and k != manifest.kind_column}
        region = row.get(manifest.lead_region) if manifest.lead_region else None
        zh, en = manifest.explain(kind, row, params)
        leads[lid] = Lead(lid, key, flags, region, kind, zh, en)
    return list(leads.values())
