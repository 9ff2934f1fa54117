"""Housing-fund arrears, their court enforcement and every firm's tax returns (seed 002).

The Minhang case: the fund centre orders a company to pay its staff's arrears (责令限期缴存决定);
the company neither appeals nor pays; the centre applies to the court, whose enforcement ends
"no assets found" (终结本次执行) — yet the company is still registered as operating and files
revenue with the tax bureau. Planted companies follow that story; each honest look-alike
(LOOKALIKES) breaks exactly one link of it. The background never forms the chain: an arrears
enforcement ends "no assets" only against a company that really is dormant or gone.

Tax returns are written for every firm, as shared background: operating firms file revenue,
about a tenth of them are dormant (zero or token returns in recent years), and revoked,
deregistered or moved-out firms stop filing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import polars as pl

from coordinator.synth import dirty, ids
from coordinator.synth.extend import Contribution, Population, planted_count
from coordinator.synth.ids import day, year_of
from fedscreen.identifiers import normalise

MODEL = "housing_fund_feigned_poverty"
KIND = "feigned_poverty"
ARREARS = "责令限期缴存决定"
ENDED, RUNNING, DONE, TERMINATED = "终结本次执行", "执行中", "执行完毕", "终结执行"
PAID, PART, UNPAID, APPLIED = "已缴存", "部分缴存", "未缴存", "已申请强制执行"
ACTIVE = ("存续", "在业")
TAX_YEARS = np.arange(2021, 2025)  # annual returns for 2024 are filed by May 2025
START = day(2019, 1, 1)
LATE_ORDER = day(2023, 7, 1)  # planted orders are issued before this, so all ends before AS_OF
NORMAL, DORMANT, CEASED = 0, 1, 2  # a firm's tax profile
Spelling = Callable[[pl.Series], pl.Series]
LOOKALIKES = (
    "dormant",  # registered as operating, but zero or token revenue: really cannot pay
    "deregistered",  # revoked or deregistered; revenue only in older years
    "paid_later",  # enforcement ended "no assets", then the company paid (order 已缴存)
    "partly_paid",  # order 部分缴存
    "enforcement_not_ended",  # enforcement still running, completed or fully terminated
    "judgment_basis",  # "no assets" ended the enforcement of a judgment, not of an order
    "never_enforced",  # unpaid order the centre never sent to court
)


class _Rows:
    """Columns appended in chunks (scalars broadcast), concatenated once."""

    def __init__(self, *names: str) -> None:
        self.names, self.size = names, 0
        self.chunks: list[dict[str, np.ndarray]] = []

    def add(self, **cols: object) -> np.ndarray:
        n = max((len(v) for v in cols.values() if isinstance(v, np.ndarray)), default=1)
        self.chunks.append({k: np.broadcast_to(np.asarray(cols[k]), (n,)) for k in self.names})
        self.size += n
        return np.arange(self.size - n, self.size)

    def get(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate([c[k] for c in self.chunks]) for k in self.names}


@dataclass
class Built:
    frames: dict[tuple[str, str], pl.DataFrame]
    truth: pl.DataFrame  # kind, company:org, enforcement:case (canonical)
    lookalikes: pl.DataFrame  # kind, company (canonical credit code)


class _World:
    def __init__(self, pop: Population) -> None:
        self.pop, self.rng = pop, pop.rng("housing_fund")
        self.as_of = pop.as_of_day
        f = pop.firms
        self.status = f["status"].to_numpy()
        self.active = np.isin(self.status, ACTIVE)
        self.reported = np.maximum(f["reported_employees"].to_numpy(), 0)
        self.region = ids.region_index(f["region"])
        self.est = f["established_on"].cast(pl.Int32).to_numpy().astype(np.int64)
        planted = pop.people.filter("planted")["person_id"].implode()
        shells = f["legal_rep_id"].is_in(planted).to_numpy()
        self.free = ~shells  # firms not yet special (model-1 shells never are)
        self.profile = np.where(
            self.active, np.where(self.rng.random(f.height) < 0.1, DORMANT, NORMAL), CEASED
        )
        self.since = np.where(  # DORMANT: zero returns from; CEASED: no returns from
            self.profile == DORMANT,
            self.rng.integers(2021, 2025, f.height),
            self.rng.integers(2019, 2025, f.height),
        )
        self.boost = np.zeros(f.height, dtype=bool)  # planted: solid revenue
        self.orders = _Rows("firm", "employees", "cents", "issued", "deadline", "status")
        self.enf = _Rows(
            "firm", "person", "basis", "order", "decided", "cents", "filed", "status", "closed"
        )

    def take(self, mask: np.ndarray, n: int) -> np.ndarray:
        pool = np.flatnonzero(mask & self.free)
        picked = np.sort(self.rng.choice(pool, min(n, pool.size), replace=False))
        self.free[picked] = False
        return picked

    def chain(self, fids: np.ndarray, order_status: object, enf_status: object = None) -> None:
        """An arrears order issued 2020 – mid-2023 and, unless enf_status is None, its
        enforcement: applied for after the appeal periods ran out, closed months later."""
        rng, n = self.rng, len(fids)
        issued = np.maximum(rng.integers(day(2020, 1, 1), LATE_ORDER, n), self.est[fids] + 365)
        deadline = issued + rng.integers(30, 61, n)
        employees = np.minimum(rng.integers(5, 41, n), np.maximum(self.reported[fids], 5))
        # Months owed times both shares (employer's and employee's) of a wage's 5-12%.
        cents = employees * rng.integers(6, 31, n) * rng.integers(300, 1_200, n) * 100
        orders = self.orders.add(
            firm=fids,
            employees=employees,
            cents=cents,
            issued=issued,
            deadline=deadline,
            status=order_status,
        )
        if enf_status is None:
            return
        filed = deadline + rng.integers(120, 241, n)
        closed = np.where(enf_status == RUNNING, -1, filed + rng.integers(60, 241, n))
        self.enf.add(
            firm=fids,
            person=-1,
            basis=ARREARS,
            order=orders,
            decided=-1,
            cents=cents,
            filed=filed,
            status=enf_status,
            closed=closed,
        )

    def judgments(self, firms: np.ndarray, people: np.ndarray, status: np.ndarray) -> None:
        """Enforcement of judgments and awards (firm or person respondents, -1 for none)."""
        rng, n = self.rng, len(firms)
        decided = rng.integers(START, self.as_of - 400, n)
        filed = decided + rng.integers(30, 201, n)
        closed = filed + rng.integers(60, 401, n)
        status = np.where((status != RUNNING) & (closed >= self.as_of), RUNNING, status)
        self.enf.add(
            firm=firms,
            person=people,
            basis=np.where(rng.random(n) < 0.75, "判决", "仲裁裁决"),
            order=-1,
            decided=decided,
            cents=np.round(rng.lognormal(np.log(80_000), 1.3, n) * 100).astype(np.int64),
            filed=filed,
            status=status,
            closed=np.where(status == RUNNING, -1, closed),
        )


def _plant(w: _World, n: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The planted companies and the look-alikes' companies, by kind."""
    rng = w.rng
    old = w.est <= day(2019, 1, 1)
    solid = w.active & (w.reported >= 5) & old
    n = min(n, int((solid & w.free).sum()) // 8)
    planted = w.take(solid, n)
    w.chain(planted, np.where(rng.random(n) < 0.8, APPLIED, UNPAID), ENDED)
    # The seed's company had its accounts frozen by other cases: half owe judgment debts too.
    other = planted[rng.random(n) < 0.5]
    w.judgments(other, np.full(len(other), -1), rng.choice([ENDED, RUNNING], len(other)))
    like = {
        "dormant": w.take(w.active & old, n),
        "deregistered": w.take(np.isin(w.status, ["吊销", "注销"]) & old, n),
        **{k: w.take(solid, n) for k in LOOKALIKES[2:]},
    }
    w.profile[like["dormant"]] = DORMANT
    w.since[like["dormant"]] = rng.integers(2022, 2025, len(like["dormant"]))
    w.since[like["deregistered"]] = rng.integers(2023, 2025, len(like["deregistered"]))
    w.chain(like["dormant"], APPLIED, ENDED)
    w.chain(like["deregistered"], APPLIED, ENDED)
    w.chain(like["paid_later"], PAID, ENDED)
    w.chain(like["partly_paid"], PART, ENDED)
    open_ = like["enforcement_not_ended"]
    w.chain(open_, APPLIED, np.resize(np.array([RUNNING, DONE, TERMINATED]), len(open_)))
    judged = like["judgment_basis"]
    w.judgments(judged, np.full(len(judged), -1), np.full(len(judged), ENDED))
    w.chain(judged, np.where(rng.random(len(judged)) < 0.5, UNPAID, PAID))
    w.chain(like["never_enforced"], UNPAID)
    revenue = [planted] + [like[k] for k in LOOKALIKES[2:]]
    w.profile[np.concatenate(revenue)] = NORMAL
    w.boost[np.concatenate(revenue)] = True
    return planted, like


def _background(w: _World) -> None:
    rng, size = w.rng, w.pop.size
    pool = np.flatnonzero(w.free & (w.est < w.as_of - 730))
    weight = np.sqrt(w.reported[pool] + 1.0)
    fids = rng.choice(pool, size // 200, p=weight / weight.sum())
    n = len(fids)
    issued = rng.integers(np.maximum(START, w.est[fids] + 365), w.as_of - 90)
    deadline = issued + rng.integers(30, 91, n)
    filed = deadline + rng.integers(180, 271, n)
    status = rng.choice([PAID, PART, UNPAID, APPLIED], n, p=[0.68, 0.12, 0.1, 0.1])
    status = np.where((status == APPLIED) & (filed >= w.as_of - 10), UNPAID, status)
    # Only a company that really cannot pay ends "no assets found".
    able = w.profile[fids] == NORMAL
    result = np.where(
        able,
        rng.choice([RUNNING, DONE, TERMINATED], n, p=[0.3, 0.6, 0.1]),
        rng.choice([ENDED, RUNNING, TERMINATED], n, p=[0.7, 0.2, 0.1]),
    )
    closed = filed + rng.integers(60, 401, n)
    result = np.where(closed >= w.as_of, RUNNING, result)
    status = np.where((status == APPLIED) & (result == DONE) & (rng.random(n) < 0.5), PAID, status)
    employees = np.minimum(rng.geometric(0.2, n), np.maximum(w.reported[fids], 1))
    cents = employees * rng.integers(3, 37, n) * rng.integers(300, 1_200, n) * 100
    orders = w.orders.add(
        firm=fids, employees=employees, cents=cents, issued=issued, deadline=deadline, status=status
    )
    sent = (status == APPLIED) | ((status == PAID) & (result == DONE))
    sent &= filed < w.as_of
    w.enf.add(
        firm=fids[sent],
        person=-1,
        basis=ARREARS,
        order=orders[sent],
        decided=-1,
        cents=cents[sent],
        filed=filed[sent],
        status=result[sent],
        closed=np.where(result[sent] == RUNNING, -1, closed[sent]),
    )
    # Judgment and award debts: firms of any size and state, and individuals.
    m = size // 200
    firm_debtor = rng.random(m) < 0.55
    people = w.pop.people
    adults = np.flatnonzero(
        (~people["planted"]).to_numpy()
        & (people["birth_date"].cast(pl.Int32).to_numpy() < w.as_of - 22 * 365)
    )
    jf = np.where(firm_debtor, rng.choice(np.flatnonzero(w.free), m), -1)
    jp = np.where(firm_debtor, -1, rng.choice(adults, m))
    w.judgments(jf, jp, rng.choice([RUNNING, ENDED, DONE, TERMINATED], m, p=[0.3, 0.35, 0.3, 0.05]))


def _tax(w: _World) -> pl.DataFrame:
    rng, nf = w.rng, len(w.est)
    fid = np.repeat(np.arange(nf), len(TAX_YEARS))
    year = np.tile(TAX_YEARS, nf)
    since = w.since[fid]
    keep = (year >= year_of(w.est)[fid]) & ~((w.profile[fid] == CEASED) & (year >= since))
    fid, year, since = fid[keep], year[keep], since[keep]
    by_code = np.argsort(w.pop.firms["uscc"].to_numpy(), kind="stable")  # the bureau's order
    rank = np.empty(nf, dtype=np.int64)
    rank[by_code] = np.arange(nf)
    order = np.lexsort((year, rank[fid]))
    fid, year, since = fid[order], year[order], since[order]
    base = np.maximum(w.reported, 1) * rng.lognormal(np.log(180_000), 0.9, nf)
    base = np.where(w.boost, np.maximum(base, rng.uniform(6e5, 8e6, nf)), base)
    revenue = base[fid] * rng.lognormal(0, 0.25, len(fid))
    idle = (w.profile[fid] == DORMANT) & (year >= since)
    token = np.where(rng.random(len(fid)) < 0.4, rng.uniform(1_000, 30_000, len(fid)), 0.0)
    revenue = np.round(np.where(idle, token, revenue), 2)
    return pl.DataFrame(
        {
            "uscc": dirty.org(rng, w.pop.firms["uscc"].gather(fid)),
            "year": year,
            "revenue": revenue,
            "tax_paid": np.round(revenue * rng.uniform(0.01, 0.05, len(fid)), 2),
            "invoices_issued": np.where(
                revenue > 0, np.maximum(1, revenue // rng.uniform(8_000, 60_000, len(fid))), 0
            ).astype(np.int64),
        }
    )


def _optional(spell: Spelling, values: pl.Series, rows: np.ndarray) -> pl.Series:
    """values[rows] spelled by `spell`, null where rows < 0."""
    out = pl.Series([None] * len(rows), dtype=pl.Utf8)
    where = np.flatnonzero(rows >= 0)
    if where.size:
        out.scatter(where, spell(values.gather(rows[where])))
    return out


def _render(w: _World) -> tuple[dict[tuple[str, str], pl.DataFrame], pl.Series]:
    """The three agencies' files, and each enforcement case's canonical number."""
    rng, o, e = w.rng, w.orders.get(), w.enf.get()
    usccs, people, slot = w.pop.firms["uscc"], w.pop.people, w.pop.slot("housing_fund")
    person_region = ids.region_index(people["region"].gather(np.maximum(e["person"], 0)))
    region = np.where(e["firm"] >= 0, w.region[e["firm"]], person_region)
    seq = ids.sequence_numbers(rng, region, e["filed"], slot)
    case_no = ids.court_case_numbers(region, e["filed"], seq, "执")
    order_no = ids.award_numbers(
        w.region[o["firm"]],
        o["issued"],
        ids.sequence_numbers(rng, w.region[o["firm"]], o["issued"], slot),
        kind="公积金责缴字",
    )
    judged = np.flatnonzero(e["order"] < 0)
    jr, jd = region[judged], e["decided"][judged]
    jseq = ids.sequence_numbers(rng, jr, jd, slot)
    award = e["basis"][judged] == "仲裁裁决"
    basis_doc = pl.Series(
        np.where(
            award,
            ids.award_numbers(jr, jd, jseq).to_numpy(),
            ids.court_case_numbers(jr, jd, jseq).to_numpy(),
        )
    )
    doc = order_no.gather(np.maximum(e["order"], 0)).scatter(judged, basis_doc)
    enf_of_order = np.full(w.orders.size, -1)
    enf_of_order[e["order"][e["order"] >= 0]] = np.flatnonzero(e["order"] >= 0)
    eo, oo = np.argsort(e["filed"], kind="stable"), np.argsort(o["issued"], kind="stable")
    enforcement = pl.DataFrame(
        {
            "case_no": dirty.case(rng, case_no.gather(eo)),
            "court_region": ids.REGION_CODE[region[eo]],
            "basis_type": e["basis"][eo],
            "basis_doc_no": dirty.case(rng, doc.gather(eo)),
            "respondent_uscc": _optional(partial(dirty.org, rng), usccs, e["firm"][eo]),
            "respondent_id": _optional(
                partial(dirty.person, rng), people["person_id"], e["person"][eo]
            ),
            "amount": e["cents"][eo] / 100.0,
            "filed_on": ids.dates(e["filed"][eo], optional=True),
            "status": e["status"][eo],
            "closed_on": ids.dates(e["closed"][eo], optional=True),
        }
    )
    orders = pl.DataFrame(
        {
            "order_no": dirty.case(rng, order_no.gather(oo)),
            "employer_uscc": dirty.org(rng, usccs.gather(o["firm"][oo])),
            "employees_affected": o["employees"][oo],
            "amount": o["cents"][oo] / 100.0,
            "issued_on": ids.dates(o["issued"][oo], optional=True),
            "deadline": ids.dates(o["deadline"][oo], optional=True),
            "status": o["status"][oo],
            "enforcement_case_no": _optional(partial(dirty.case, rng), case_no, enf_of_order[oo]),
        }
    )
    tax = _tax(w)
    frames = {
        ("housing_fund", "arrears_orders"): orders,
        ("court", "enforcement_cases"): enforcement,
        ("tax", "enterprise_tax"): tax,
    }
    return frames, case_no


def build(pop: Population) -> Built:
    w = _World(pop)
    planted, like = _plant(w, planted_count(pop.size))
    _background(w)
    frames, case_no = _render(w)
    e = w.enf.get()
    # The planted companies' arrears enforcement cases (not their judgment debts).
    rows = np.flatnonzero(np.isin(e["firm"], planted) & (e["order"] >= 0))
    truth = pl.DataFrame(
        {
            "kind": [KIND] * len(rows),
            "company:org": pop.firms["uscc"].gather(e["firm"][rows]),
            "enforcement:case": [normalise("case", c) for c in case_no.gather(rows).to_list()],
        }
    )
    kinds = [k for k, fids in like.items() for _ in fids]
    companies = np.concatenate([like[k] for k in like]).astype(np.int64)
    lookalikes = pl.DataFrame({"kind": kinds, "company": pop.firms["uscc"].gather(companies)})
    return Built(frames, truth, lookalikes)


def contribute(pop: Population) -> Contribution:
    built = build(pop)
    return Contribution(built.frames, {MODEL: built.truth})
