"""Render the world into agency files: identifiers, case numbers, dirt, dictionary types.

Each agency spells identifiers its own way (dirty spellings are drawn per file, so a person
can be clean at the court and dirty at social security). Rows are shuffled into a natural
order (by date or by identifier) so that planted rows are not recognisable by position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from coordinator.synth import dirty, ids
from coordinator.synth.texts import company_names
from coordinator.synth.world import AS_OF_DAY, World
from fedscreen.dictionary import datasets
from fedscreen.identifiers import normalise

_TYPES: dict[str, pl.DataType] = {
    "VARCHAR": pl.Utf8(),
    "DATE": pl.Date(),
    "DECIMAL(14,2)": pl.Decimal(14, 2),
    "INTEGER": pl.Int32(),
}
INVALID_SHARE = 0.003  # plaintiff IDs in background court cases with a wrong check character


def polars_type(sql_type: str) -> pl.DataType:
    return _TYPES[sql_type]


def conform(frame: pl.DataFrame, role: str, dataset: str) -> pl.DataFrame:
    """The dictionary's columns, in its order, with its types (and nothing else)."""
    columns = datasets(role)[dataset].columns
    return frame.select(pl.col(c.name).cast(polars_type(c.type)) for c in columns)


def _money(cents: np.ndarray) -> pl.Series:
    """Cents to yuan; negative cents mean NULL."""
    values = pl.Series(cents / 100.0)
    return values.set(pl.Series(cents < 0), None)


def _order(rng: np.random.Generator, *keys: np.ndarray) -> np.ndarray:
    """Row order by `keys` (first is primary), ties broken at random."""
    n = len(keys[0])
    return np.lexsort((rng.random(n), *reversed(keys)))


@dataclass
class Rendered:
    frames: dict[tuple[str, str], pl.DataFrame]
    truth: pl.DataFrame
    lookalikes: pl.DataFrame
    people: pl.DataFrame  # canonical: what contributors (extend.py) build on
    firms: pl.DataFrame


class _Renderer:
    def __init__(self, world: World) -> None:
        self.rng = world.rng
        self.people = world.table("people")
        self.firms = world.table("firms")
        self.cases = world.table("cases")
        self.awards = world.table("awards")
        self.person = ids.person_ids(
            self.rng, self.people["region"], self.people["birth"], self.people["male"]
        )
        self.uscc = ids.usccs(self.rng, self.firms["region"], self.firms["established"])
        case_region = self.firms["region"][self.cases["fid"]]
        seq = ids.sequence_numbers(self.rng, case_region, self.cases["filed"])
        self.case_no = ids.court_case_numbers(case_region, self.cases["filed"], seq)
        award_region = self.firms["region"][self.awards["fid"]]
        seq = ids.sequence_numbers(self.rng, award_region, self.awards["decided"])
        self.award_no = ids.award_numbers(award_region, self.awards["decided"], seq)

    def pid(self, rows: np.ndarray) -> pl.Series:
        return dirty.person(self.rng, self.person.gather(rows))

    def org(self, rows: np.ndarray) -> pl.Series:
        return dirty.org(self.rng, self.uscc.gather(rows))

    def cited(self, via: np.ndarray, key: np.ndarray) -> pl.Series:
        """The canonical number of the judgment ("court") or award ("arbitration") at `key`;
        null for any other `via`."""
        doc = pl.Series([None] * len(via), dtype=pl.Utf8)
        for kind, numbers in (("court", self.case_no), ("arbitration", self.award_no)):
            rows = np.flatnonzero(via == kind)
            if rows.size:
                doc.scatter(rows, numbers.gather(key[rows]))
        return doc

    def labour_cases(self) -> pl.DataFrame:
        c = self.cases
        order = _order(self.rng, c["filed"])
        clean = self.person.gather(c["pid"][order])
        plaintiff = dirty.person(self.rng, clean)
        background = c["background"][order].astype(bool)
        untouched = np.flatnonzero(background & (plaintiff == clean).to_numpy())
        count = max(1, round(INVALID_SHARE * int(background.sum())))
        plaintiff = dirty.corrupt_person(self.rng, plaintiff, untouched, count)
        region = self.firms["region"][c["fid"][order]]
        return pl.DataFrame(
            {
                "case_no": dirty.case(self.rng, self.case_no.gather(order)),
                "court_region": ids.REGION_CODE[region],
                "cause": c["cause"][order],
                "filed_on": ids.dates(c["filed"][order]),
                "decided_on": ids.dates(c["decided"][order]),
                "plaintiff_id": plaintiff,
                "defendant_uscc": self.org(c["fid"][order]),
                "outcome": c["outcome"][order],
                "claim_amount": _money(c["claim"][order]),
                "judgment_text": c["text"][order],
            }
        )

    def arbitration_awards(self) -> pl.DataFrame:
        a = self.awards
        order = _order(self.rng, a["decided"])
        return pl.DataFrame(
            {
                "award_no": dirty.case(self.rng, self.award_no.gather(order)),
                "region": ids.REGION_CODE[self.firms["region"][a["fid"][order]]],
                "applicant_id": self.pid(a["pid"][order]),
                "respondent_uscc": self.org(a["fid"][order]),
                "cause": a["cause"][order],
                "outcome": a["outcome"][order],
                "decided_on": ids.dates(a["decided"][order]),
                "award_text": a["text"][order],
            }
        )

    def enterprises(self) -> pl.DataFrame:
        f = self.firms
        order = self.uscc.arg_sort().to_numpy()
        n = len(order)
        est_year = ids.year_of(f["established"][order])
        active = np.isin(f["status"][order], ["存续", "在业"])
        recent = 2024 - self.rng.choice(3, n, p=[0.8, 0.15, 0.05])
        lapsed = self.rng.integers(np.minimum(est_year, 2021), 2022)
        report = np.maximum(np.where(active, recent, lapsed), est_year)
        report = np.where(est_year >= 2025, -1, report)
        places = np.array([r.place for r in ids.REGIONS])[f["region"][order]]
        return pl.DataFrame(
            {
                "uscc": self.org(order),
                "name": company_names(self.rng, places),
                "region": ids.REGION_CODE[f["region"][order]],
                "established_on": ids.dates(f["established"][order]),
                "status": f["status"][order],
                "registered_capital": _money(f["capital"][order]),
                "legal_rep_id": self.pid(f["legal_rep"][order]),
                "reported_employees": f["reported"][order],
                "last_annual_report_year": pl.Series(report).set(pl.Series(report < 0), None),
            }
        )

    def employers(self) -> pl.DataFrame:
        rows = np.flatnonzero(self.firms["insured"] > 0)
        rows = rows[self.uscc.gather(rows).arg_sort().to_numpy()]
        return pl.DataFrame(
            {
                "employer_uscc": self.org(rows),
                "insured_count": self.firms["insured"][rows],
                "as_of": ids.dates(np.full(len(rows), AS_OF_DAY)),
            }
        )

    def insured_persons(self, world: World) -> pl.DataFrame:
        ins = world.table("insured")
        pid, first = np.unique(ins["pid"], return_index=True)
        order = self.person.gather(pid).arg_sort().to_numpy()
        pid, first = pid[order], ins["first_insured"][first[order]]
        birth = np.minimum(self.people["birth"][pid], first)
        return pl.DataFrame(
            {
                "person_id": self.pid(pid),
                "birth_date": ids.dates(self.people["birth"][pid]),
                "gender": np.where(self.people["male"][pid], "M", "F"),
                "region": ids.REGION_CODE[self.people["region"][pid]],
                "first_insured_on": ids.dates(np.maximum(first, birth)),
            }
        )

    def back_payments(self, world: World) -> pl.DataFrame:
        b = world.table("back_payments")
        order = _order(self.rng, b["paid"])
        b = {k: v[order] for k, v in b.items()}
        doc = self.cited(b["ref"], b["ref_key"])
        rows = np.flatnonzero(b["ref"] == "audit")
        region = self.firms["region"][b["fid"][rows]]
        seq = ids.sequence_numbers(self.rng, region, b["paid"][rows])
        if rows.size:
            doc.scatter(rows, ids.award_numbers(region, b["paid"][rows], seq, kind="人社稽字"))
        return pl.DataFrame(
            {
                "person_id": self.pid(b["pid"]),
                "employer_uscc": self.org(b["fid"]),
                "months": b["months"],
                "amount": _money(b["amount"]),
                "paid_on": ids.dates(b["paid"]),
                "basis_type": b["basis"],
                "basis_doc_no": dirty.case(self.rng, doc, b["doc_dirt"]),
            }
        )

    def retirements(self, world: World) -> pl.DataFrame:
        r = world.table("retirements")
        order = _order(self.rng, r["retired"])
        return pl.DataFrame(
            {
                "person_id": self.pid(r["pid"][order]),
                "retired_on": ids.dates(r["retired"][order]),
                "monthly_pension": _money(r["pension"][order]),
                "contribution_months": r["contribution_months"][order],
            }
        )

    def canonical_people(self) -> pl.DataFrame:
        p = self.people
        return pl.DataFrame(
            {
                "person_id": self.person,
                "birth_date": ids.dates(p["birth"]),
                "gender": np.where(p["male"], "M", "F"),
                "region": ids.REGION_CODE[p["region"]],
                "planted": p["planted"].astype(bool),
            }
        )

    def canonical_firms(self) -> pl.DataFrame:
        f = self.firms
        return pl.DataFrame(
            {
                "uscc": self.uscc,
                "region": ids.REGION_CODE[f["region"]],
                "established_on": ids.dates(f["established"]),
                "status": f["status"],
                "reported_employees": f["reported"],
                "insured_count": f["insured"],
                "legal_rep_id": self.person.gather(f["legal_rep"]),
            }
        )

    def reference(self, table: dict[str, np.ndarray], extra: str) -> pl.DataFrame:
        """Canonical person ID and case number of truth / look-alike rows (small tables)."""
        raw = self.cited(table["via"], table["key"])
        case_no = [normalise("case", number) for number in raw.to_list()]
        return pl.DataFrame(
            {
                "person_id": [normalise("person", p) for p in self.person.gather(table["pid"])],
                "case_no": pl.Series(case_no, dtype=pl.Utf8),
                extra: table[extra],
                "via": table["via"],
            }
        )


def render(world: World) -> Rendered:
    r = _Renderer(world)
    frames = {
        ("court", "labour_cases"): r.labour_cases(),
        ("hrss", "arbitration_awards"): r.arbitration_awards(),
        ("social_security", "insured_persons"): r.insured_persons(world),
        ("social_security", "employers"): r.employers(),
        ("social_security", "back_payments"): r.back_payments(world),
        ("social_security", "retirements"): r.retirements(world),
        ("market_regulation", "enterprises"): r.enterprises(),
    }
    frames = {key: conform(frame, *key) for key, frame in frames.items()}
    truth = r.reference(world.table("truth"), "ring").with_columns(pl.col("ring").cast(pl.Int64))
    lookalikes = r.reference(world.table("lookalikes"), "kind")
    return Rendered(
        frames,
        truth.select("person_id", "case_no", "ring", "via"),
        lookalikes,
        r.canonical_people(),
        r.canonical_firms(),
    )
