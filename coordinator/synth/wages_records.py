"""The wage contributor's records: the agencies' datasets built row by row, as agencies spell them.

The Builder adds rows for housing and construction (projects, escrow, wage deposits), labour
inspection and its court enforcement, wage complaints and wage suits, all with canonical
identifiers; `finish` orders the rows and spells a few identifiers dirty. The cases it is
asked to build are in wages.py.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from coordinator.synth import dirty, ids
from coordinator.synth import texts as t
from coordinator.synth.extend import Population
from coordinator.synth.ids import day, year_of

DECISION_BASIS = "行政处理决定"
STUCK, ONGOING, DONE, ENDED = "终结本次执行", "执行中", "执行完毕", "终结执行"
PERFORMED, PARTLY, UNPERFORMED, APPLIED = "已履行", "部分履行", "未履行", "已申请强制执行"
OPEN, RESOLVED, WITHDRAWN, TRANSFERRED = "处理中", "已解决", "已撤回", "已移送"
_PROJECT_STATUS = ["在建", "竣工", "停工"]

# Identifier columns per dataset (dirty spellings are drawn for these), and each one's row order.
IDS: dict[tuple[str, str], dict[str, str]] = {
    ("hrss", "inspection_decisions"): {
        "decision_no": "case", "employer_uscc": "org", "project_code": "project"},
    ("hrss", "wage_complaints"): {
        "complaint_id": "case", "worker_id": "person", "employer_uscc": "org",
        "project_code": "project"},
    ("hrss", "wage_deposits"): {"project_code": "project", "contractor_uscc": "org"},
    ("housing_construction", "projects"): {
        "project_code": "project", "developer_uscc": "org", "contractor_uscc": "org"},
    ("housing_construction", "presale_escrow"): {
        "project_code": "project", "developer_uscc": "org"},
    ("court", "enforcement_cases"): {
        "case_no": "case", "basis_doc_no": "case", "respondent_uscc": "org"},
    ("court", "labour_cases"): {
        "case_no": "case", "plaintiff_id": "person", "defendant_uscc": "org"},
}  # fmt: skip
_ORDER = {
    "inspection_decisions": "issued_on", "wage_complaints": "filed_on",
    "wage_deposits": "project_code", "projects": "permit_on", "presale_escrow": "project_code",
    "enforcement_cases": "filed_on", "labour_cases": "filed_on",
}  # fmt: skip
_DIRT = {"person": dirty.person, "org": dirty.org, "case": dirty.case, "project": dirty.project}


def _dates(days: np.ndarray) -> pl.Series:
    return ids.dates(days, optional=True)


def _money(yuan: np.ndarray) -> pl.Series:
    return pl.Series(np.round(np.asarray(yuan, dtype=float), 2)).fill_nan(None)


class Builder:
    """Rows per dataset with canonical identifiers; dirt and row order are applied at the end."""

    def __init__(self, pop: Population) -> None:
        self.rng = pop.rng("wages")
        self.size = pop.size
        self.today, self.slot = pop.as_of_day, pop.slot("wages")
        self.uscc, self.person = pop.firms["uscc"], pop.people["person_id"]
        self.firm_region = pop.firms["region"].to_numpy()
        self.region = ids.region_index(pop.firms["region"])
        active = pop.firms["status"].is_in(["存续", "在业"]).to_numpy()
        age = (self.today - pop.people["birth_date"].cast(pl.Int32).to_numpy()) / 365.25
        able = (age >= 20) & (age < 60) & ~pop.people["planted"].to_numpy()
        # Handed out in a fixed random order (wrapping round only in a tiny world), so every
        # case gets firms and workers of its own.
        self.pools = {
            "firms": self.rng.permutation(np.flatnonzero(active)),
            "workers": self.rng.permutation(np.flatnonzero(able)),
        }
        self.taken = {"firms": 0, "workers": 0}
        self.rows: dict[tuple[str, str], list[pl.DataFrame]] = {}
        self.serial = 0

    def take(self, pool: str, n: int) -> np.ndarray:
        items = self.pools[pool]
        self.taken[pool] += n
        return items[(self.taken[pool] - n + np.arange(n)) % len(items)]

    def add(self, key: tuple[str, str], **columns: object) -> None:
        self.rows.setdefault(key, []).append(pl.DataFrame(columns))

    def numbers(self, firms: np.ndarray, on: np.ndarray, kind: str) -> pl.Series:
        """Document numbers of the firms' regions and the years of `on`, unique across this
        module and in its own slot of shared registers: court case numbers for kind 执 or 民初,
        else the local agency's (人社监处字, 人社投字)."""
        seq = ids.SLOTS * (self.serial + 1 + np.arange(len(firms))) + self.slot
        self.serial += len(firms)
        region, on = self.region[firms], np.asarray(on)
        if kind in ("执", "民初"):
            return ids.court_case_numbers(region, on, seq, kind)
        return ids.award_numbers(region, on, seq, kind)

    # --- housing and construction -----------------------------------------------------------
    def escrow(self, kinds: np.ndarray) -> np.ndarray:
        """Balance per project by kind: positive, zero, or none (NaN: no escrow account)."""
        money = np.round(self.rng.lognormal(np.log(2_000_000), 0.9, len(kinds)), -2) + 100_000
        return np.select([kinds == "positive", kinds == "zero"], [money, 0.0], np.nan)

    def deposit(self, kinds: np.ndarray) -> np.ndarray:
        """Paid share of the wage deposit by kind: full, short, unpaid, none (NaN: no row)."""
        short = self.rng.uniform(0.2, 0.8, len(kinds))
        return np.select(
            [kinds == "full", kinds == "short", kinds == "unpaid"], [1.0, short, 0.0], np.nan
        )

    def projects(
        self,
        escrow: np.ndarray,
        deposit: np.ndarray,
        developers: np.ndarray | None = None,
        contractors: np.ndarray | None = None,
    ) -> tuple[pl.Series, np.ndarray]:
        """New projects (of fresh firms unless given); returns their codes and contractors."""
        rng, n = self.rng, len(escrow)
        dev = self.take("firms", n) if developers is None else developers
        con = self.take("firms", n) if contractors is None else contractors
        permit = rng.integers(day(2018, 1, 1), self.today - 400, n)
        seq = (self.serial + np.arange(n)) * 7919 % 900_000 + 100_000  # distinct below 900,000
        self.serial += n
        region = self.firm_region[dev]
        codes = pl.DataFrame({"y": year_of(permit), "r": region, "s": seq}).select(
            pl.format("{}-{}-47-01-{}", "y", "r", "s").alias("project_code")
        )["project_code"]
        dev_id, con_id = self.uscc.gather(dev), self.uscc.gather(con)
        self.add(
            ("housing_construction", "projects"),
            project_code=codes, developer_uscc=dev_id, contractor_uscc=con_id, region=region,
            permit_on=_dates(permit), status=rng.choice(_PROJECT_STATUS, n, p=[0.55, 0.35, 0.1]),
        )  # fmt: skip
        has = ~np.isnan(escrow)
        self.add(
            ("housing_construction", "presale_escrow"),
            project_code=codes.filter(has), developer_uscc=dev_id.filter(has),
            balance=_money(escrow[has]), as_of=_dates(self.today - rng.integers(1, 31, has.sum())),
        )  # fmt: skip
        has = ~np.isnan(deposit)
        required = np.round(rng.lognormal(np.log(300_000), 0.6, n), -3)
        paid_on = np.where(deposit > 0, permit + rng.integers(5, 60, n), -1)
        self.add(
            ("hrss", "wage_deposits"),
            project_code=codes.filter(has), contractor_uscc=con_id.filter(has),
            required_amount=_money(required[has]),
            paid_amount=_money(np.round(required * deposit, -2)[has]), paid_on=_dates(paid_on[has]),
        )  # fmt: skip
        return codes, con

    # --- labour inspection and its enforcement ----------------------------------------------
    def decisions(
        self, employer: np.ndarray, project: pl.Series, status: np.ndarray, paid: np.ndarray,
        issued: np.ndarray, fewest: int = 1,
    ) -> tuple[pl.Series, np.ndarray, np.ndarray]:  # fmt: skip
        """劳动保障监察行政处理决定 (paid: the share paid) for at least `fewest` workers each;
        returns numbers, amounts and amounts left unpaid."""
        rng, n = self.rng, len(employer)
        workers = np.clip(rng.geometric(0.12, n), fewest, 120)
        amount = np.round(workers * rng.uniform(3_000, 20_000, n), 2)
        paid = np.round(amount * paid, 2)
        numbers = self.numbers(employer, issued, "人社监处字")
        self.add(
            ("hrss", "inspection_decisions"),
            decision_no=numbers, employer_uscc=self.uscc.gather(employer), project_code=project,
            workers=workers, amount=_money(amount), paid_amount=_money(paid),
            issued_on=_dates(issued), status=status,
        )  # fmt: skip
        return numbers, amount, amount - paid

    def enforcement(
        self, basis: pl.Series, employer: np.ndarray, amount: np.ndarray, issued: np.ndarray,
        status: np.ndarray,
    ) -> None:  # fmt: skip
        """The court's non-litigation enforcement of decisions (申请法院强制执行)."""
        rng, n = self.rng, len(employer)
        filed = np.minimum(issued + rng.integers(200, 290, n), self.today - 2)
        closed = np.minimum(filed + rng.integers(60, 400, n), self.today - 1)
        self.add(
            ("court", "enforcement_cases"),
            case_no=self.numbers(employer, filed, "执"),
            court_region=self.firm_region[employer], basis_type=DECISION_BASIS,
            basis_doc_no=basis, respondent_uscc=self.uscc.gather(employer),
            respondent_id=pl.Series([None] * n, dtype=pl.Utf8), amount=_money(amount),
            filed_on=_dates(filed), status=status,
            closed_on=_dates(np.where(status == ONGOING, -1, closed)),
        )  # fmt: skip

    # --- wage complaints and wage suits -----------------------------------------------------
    def complaints(
        self, employer: np.ndarray, project: pl.Series, size: np.ndarray, status: np.ndarray,
        filed: np.ndarray, settle: float = 0.0,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        """Groups of workers complaining together (欠薪投诉); a share `settle` of open complaints
        is settled one by one. Per complaint: worker, employer, filing day, place in group."""
        rng = self.rng
        group = np.repeat(np.arange(len(size)), size)
        n = len(group)
        place = np.arange(n) - np.repeat(np.cumsum(size) - size, size)
        workers = self.take("workers", n)
        on = np.minimum(filed[group] + rng.integers(0, 21, n), self.today - 1)
        state = status[group]
        state = np.where((state == OPEN) & (rng.random(n) < settle), RESOLVED, state)
        closed = np.minimum(on + rng.integers(10, 81, n), self.today - 1)
        closed = np.where(state == OPEN, -1, closed)
        self.add(
            ("hrss", "wage_complaints"),
            complaint_id=self.numbers(employer[group], on, "人社投字"),
            worker_id=self.person.gather(workers), employer_uscc=self.uscc.gather(employer[group]),
            project_code=project.gather(group), amount_owed=_money(rng.uniform(2_000, 60_000, n)),
            filed_on=_dates(on), status=state, closed_on=_dates(closed),
        )  # fmt: skip
        return workers, employer[group], on, place

    def suits(self, workers: np.ndarray, employer: np.ndarray, after: np.ndarray) -> None:
        """Wage-recovery suits (追索劳动报酬纠纷) the workers filed after complaining."""
        rng, n = self.rng, len(workers)
        filed = np.minimum(after + rng.integers(30, 200, n), self.today - 2)
        decided = filed + rng.integers(30, 150, n)
        pending = pl.Series(decided >= self.today)
        outcome = rng.choice(
            [t.UPHELD, t.PARTLY, t.MEDIATED, t.WITHDRAWN], n, p=[0.4, 0.3, 0.2, 0.1]
        )
        text = np.select(
            [outcome == t.MEDIATED, outcome == t.WITHDRAWN],
            [np.array(t.MEDIATED_TEXT[0]), np.array(t.WITHDRAWN_TEXT[0])],
            t.OTHER_CONTESTED[0],
        )
        self.add(
            ("court", "labour_cases"),
            case_no=self.numbers(employer, filed, "民初"),
            court_region=self.firm_region[employer], cause=t.WAGES, filed_on=_dates(filed),
            decided_on=_dates(np.where(pending.to_numpy(), -1, decided)),
            plaintiff_id=self.person.gather(workers), defendant_uscc=self.uscc.gather(employer),
            outcome=pl.Series(outcome).set(pending, None),
            claim_amount=_money(rng.uniform(2_000, 60_000, n)),
            judgment_text=pl.Series(text).set(pending, None),
        )  # fmt: skip

    def finish(self) -> dict[tuple[str, str], pl.DataFrame]:
        """One frame per dataset in a natural row order, identifiers spelled as agencies do."""
        out = {}
        for key, parts in self.rows.items():
            frame = pl.concat(parts, how="diagonal_relaxed")
            tie = pl.Series("__tie", self.rng.random(frame.height))
            frame = frame.with_columns(tie).sort([_ORDER[key[1]], "__tie"]).drop("__tie")
            for column, kind in IDS[key].items():
                spell = _DIRT[kind]
                frame = frame.with_columns(spell(self.rng, frame[column]).alias(column))
            out[key] = frame
        return out
