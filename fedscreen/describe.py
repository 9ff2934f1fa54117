"""Human-readable account of a bundle: what each role reads, the SQL, and what leaves.

Agency operators read this before approving (`fedscreen-agent inspect`); model authors and
analysts see the same text (`fedscreen model inspect`).
"""

from __future__ import annotations

from fedscreen.bundle import VerifiedBundle
from fedscreen.manifest import Output

_KIND_TEXT = {
    "person": "token of a resident ID (keyed hash, never the ID)",
    "org": "token of a credit code (keyed hash, never the code)",
    "case": "token of a case number (keyed hash, never the number)",
    "project": "token of a project code (keyed hash, never the code)",
    "bool": "true/false flag",
    "region": "6-digit administrative region code",
}


def _output_line(out: Output) -> str:
    if out.kind == "enum":
        return f"    {out.name}: one of {', '.join(out.values)}"
    return f"    {out.name}: {_KIND_TEXT[out.kind]}"


def describe_bundle(bundle: VerifiedBundle, role: str | None = None, with_sql: bool = True) -> str:
    m = bundle.manifest
    lines = [
        f"model:      {m.name} {m.version}",
        f"title:      {m.title_zh} / {m.title_en}",
        f"signed by:  {bundle.signer} (key {bundle.key_id}) at {bundle.signed_at:%Y-%m-%d %H:%M}Z,"
        f" expires {bundle.expires_at:%Y-%m-%d}",
        f"digest:     {bundle.digest}",
    ]
    if m.rationale_zh or m.rationale_en:
        lines.append(f"rationale:  {m.rationale_zh}")
        if m.rationale_en:
            lines.append(f"            {m.rationale_en}")
    for basis in m.legal_basis:
        lines.append(f"legal basis: {basis}")
    if m.parameters:
        lines.append("parameters (analysts may tune within these signed bounds):")
        for p in m.parameters:
            desc = f" — {p.description}" if p.description else ""
            lines.append(f"    {p.name} = {p.default} (allowed {p.min}..{p.max}){desc}")
    for r in m.roles:
        if role is not None and r.name != role:
            continue
        lines.append(f"role {r.name}: reads {', '.join(r.reads)}")
        lines.append("  leaves the agency (nothing else can):")
        lines.extend(_output_line(o) for o in r.outputs)
        for c in r.candidates:
            lines.append(
                f"  answers only about {c.column} tokens that role {c.source_role} flagged "
                f"in the same job ({c.source_column})"
            )
        for d in r.disclose:
            lines.append(
                f"  on a signed request for one lead, may reveal from {d.dataset} "
                f"(rows whose {d.source_column} matches {d.column}): {', '.join(d.fields)}"
            )
        lines.append(
            "  if one of its agents does not answer: leads are combined without it"
            if r.when_missing == "combine"
            else "  if one of its agents does not answer: the job's leads are withheld"
        )
        if with_sql:
            lines.append(f"  SQL ({r.sql_file}):")
            lines.extend("    " + line for line in bundle.text(r.sql_file).rstrip().splitlines())
    if role is not None and role not in {r.name for r in m.roles}:
        lines.append(f"this model has no SQL for role {role}: it would not run here")
    return "\n".join(lines)
