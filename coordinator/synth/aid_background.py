"""The judicial-aid contributor's background volumes and the rendering of its Book.

The background never forms a story (see aid.py); rendering numbers the cases and grants,
replaces row numbers by resident IDs, spells a few identifiers dirty and lays the rows out as
each agency's datasets, with the regional wage reference.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from coordinator.synth import dirty, ids
from coordinator.synth.aid_records import (
    AS_OF,
    ATTACHED,
    CATEGORIES,
    CATEGORY_P,
    CAUSES,
    CRIMES,
    TABLES,
    Book,
)
from coordinator.synth.ids import day
from fedscreen.dictionary import datasets

ROLES = ("procuratorate", "court", "civil_affairs", "disability_federation")


# --- background ------------------------------------------------------------------------------
def background(b: Book, k: int) -> None:
    rng, size, pool = b.rng, b.pop.size, b.rest()
    # ~5% hold a disability certificate; ~1.5% are on 低保 or 特困供养, disabled people more
    # often; ~0.5% had only one-off temporary or medical aid.
    holders = rng.choice(pool, min(int(size * 0.05), pool.size), replace=False)
    _certificates(b, holders)
    others = _without(b, pool, holders)
    # Small worlds get at least 50 per planted round, so that the planted people's records
    # stay a small share of civil affairs' rows (its disclosure cap).
    n = max(int(size * 0.015), 50 * k)
    supported = np.concatenate(
        [
            rng.choice(holders, min(n * 4 // 15, holders.size), replace=False),
            rng.choice(others, min(n * 11 // 15, others.size), replace=False),
        ]
    )
    _supports(b, supported, rng.choice(["低保", "特困供养"], supported.size, p=[0.85, 0.15]))
    once = rng.choice(pool, min(int(size * 0.005), pool.size), replace=False)
    _supports(b, once, rng.choice(["临时救助", "医疗救助"], once.size))
    hardship = np.concatenate([holders, supported])
    victims = _victims(b, pool, max(size // 60, 200 * k))
    _judgments(b, victims, hardship)
    _aids(b, victims, hardship, max(k, size // 4000))
    _everyday_suits(b, _without(b, pool, victims["pid"].to_numpy()), size // 100)


def _without(b: Book, pool: np.ndarray, drop: np.ndarray) -> np.ndarray:
    """`pool` less the people in `drop` (a mask over everyone: no sorting of a million IDs)."""
    dropped = np.zeros(b.ids.len(), dtype=bool)
    dropped[drop] = True
    return pool[~dropped[pool]]


def _certificates(b: Book, pids: np.ndarray) -> None:
    rng, n = b.rng, pids.size
    issued = rng.integers(np.maximum(b.birth[pids] + 365, day(1995)), AS_OF)
    grade = rng.choice(4, n, p=[0.12, 0.2, 0.3, 0.38]) + 1
    category = rng.choice(CATEGORIES, n, p=CATEGORY_P)
    frame = {"pid": pids, "category": category, "grade": grade, "issued": issued}
    b.bulk["cert"].append(pl.DataFrame(frame))


def _supports(b: Book, pids: np.ndarray, program: np.ndarray) -> None:
    rng, n = b.rng, pids.size
    start = rng.integers(day(2012), AS_OF - 30, n)
    once = np.isin(program, ["临时救助", "医疗救助"])
    ongoing = ~once & (rng.random(n) < 0.7)
    length = np.where(once, rng.integers(1, 120, n), rng.integers(365, 6 * 365, n))
    end = np.where(ongoing, -1, np.minimum(start + length, AS_OF - 1))
    size = np.where(program == "特困供养", 1, rng.integers(1, 6, n))
    monthly = np.select(
        [program == "低保", program == "特困供养"],
        [rng.uniform(450, 800, n) * size, rng.uniform(900, 1400, n)],
        rng.uniform(500, 5000, n),
    )
    frame = pl.DataFrame(
        {
            "pid": pids,
            "program": program,
            "region": b.regions[pids],
            "start": start,
            "end": end,
            "monthly": monthly.round(-1),
            "household": size,
        }
    )
    b.bulk["support"].append(frame.with_columns(end=pl.when(pl.col("end") >= 0).then("end")))


def _victims(b: Book, pool: np.ndarray, n: int) -> pl.DataFrame:
    """Victims of everyday crimes; about one case in fourteen has a second victim."""
    rng = b.rng
    pids = rng.choice(pool, n)
    of_case = np.cumsum(rng.random(n) >= 0.07) - 1  # the case, numbered within this batch
    cases = int(of_case[-1]) + 1
    crime = rng.choice(len(CRIMES), cases, p=[c[1] for c in CRIMES])[of_case]
    median, spread = (np.array([c[i] for c in CRIMES])[crime] for i in (2, 3))
    region = b.regions[pids][np.searchsorted(of_case, np.arange(cases))]  # first victim's
    on = rng.integers(day(2019), AS_OF - 30, cases)
    first = b.cases + 1
    b.cases += cases
    case = {"case": np.arange(first, first + cases), "region": region, "on": on, "court": "刑初"}
    b.bulk["case"].append(pl.DataFrame(case))
    victims = pl.DataFrame(
        {
            "case": first + of_case,
            "pid": pids,
            "crime": np.array([c[0] for c in CRIMES])[crime],
            "loss": (median * np.exp(rng.normal(0, 1, n) * spread)).round(-1),
            "on": on[of_case],
            "region": region[of_case],
        }
    )
    b.bulk["victim"].append(victims.select(TABLES["victim"]))
    return victims


def _paid_share(rng: np.random.Generator, n: int, full: float) -> np.ndarray:
    partly = rng.random(n) < 0.5
    return np.select([rng.random(n) < full, partly], [1.0, rng.uniform(0.1, 0.9, n)], 0.0)


def _judgments(b: Book, victims: pl.DataFrame, hardship: np.ndarray) -> None:
    """Half the victims with a loss won compensation in the criminal judgment; those in
    recorded hardship were paid (else they would be omissions the truth does not list)."""
    rng = b.rng
    sued = victims.filter(pl.col("loss") >= 2000)
    sued = sued.filter(pl.Series(rng.random(sued.height) < 0.5))
    n = sued.height
    share = np.where(np.isin(sued["pid"], hardship), 1.0, _paid_share(rng, n, 0.45))
    award = (sued["loss"].to_numpy() * rng.uniform(0.5, 1.0, n)).round(-2)
    b.bulk["judgment"].append(
        sued.select(
            "case",
            "on",
            plaintiff="pid",
            defendant=pl.Series(rng.choice(b.rest(), n)),
            cause=pl.lit(ATTACHED),
            award=award,
            paid=(award * share).round(-2),
        )
    )


def _aids(b: Book, victims: pl.DataFrame, hardship: np.ndarray, n: int) -> None:
    """Aid once each, at 15-70% of the cap, to victims with a large loss and no disability;
    half of them are on 低保 (look-alikes of a transfer: already on social aid)."""
    rng = b.rng
    eligible = victims.filter(
        (pl.col("loss") >= 30_000)
        & pl.col("on").is_between(day(2019, 3), AS_OF - 120)
        & ~pl.col("pid").is_in(pl.Series(hardship).implode())
    ).unique("pid", keep="first", maintain_order=True)
    chosen = eligible[np.sort(rng.permutation(eligible.height)[:n])]
    m = chosen.height
    granted = chosen["on"].to_numpy() + rng.integers(30, 400, m)
    granted = np.clip(granted, rng.integers(day(2020), day(2020, 4), m), AS_OF - 1)
    caps = [b.cap(r, g) for r, g in zip(chosen["region"], granted.tolist(), strict=True)]
    first = b.grants + 1
    b.grants += m
    b.bulk["aid"].append(
        chosen.select(
            "case",
            "pid",
            "region",
            grant=np.arange(first, first + m),
            amount=(np.array(caps) * rng.uniform(0.15, 0.7, m)).round(-2),
            on=granted,
            dirty_pid=pl.lit(False),
            dirty_no=pl.lit(False),
        )
    )
    later = chosen["pid"].to_numpy()[rng.random(m) < 0.5]
    _supports(b, later, np.full(later.size, "低保"))


def _everyday_suits(b: Book, plaintiffs: np.ndarray, n: int) -> None:
    """Traffic, injury and property suits between people who are not victims in our data."""
    rng, n = b.rng, n if plaintiffs.size else 0  # a tiny world may have no one left
    on = rng.integers(day(2019), AS_OF - 1, n)
    pids = rng.choice(plaintiffs, n)
    first = b.cases + 1
    b.cases += n
    cases = np.arange(first, first + n)
    case = {"case": cases, "region": b.regions[pids], "on": on, "court": "民初"}
    b.bulk["case"].append(pl.DataFrame(case))
    award = np.exp(rng.normal(np.log(30_000), 1.0, n)).round(-2)
    judgments = {
        "case": cases,
        "plaintiff": pids,
        "defendant": rng.choice(b.rest(), n),
        "cause": rng.choice(CAUSES, n, p=[0.6, 0.25, 0.15]),
        "award": award,
        "paid": (award * _paid_share(rng, n, 0.6)).round(-2),
        "on": on,
    }
    b.bulk["judgment"].append(pl.DataFrame(judgments))


# --- rendering -------------------------------------------------------------------------------
def _date(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.Int32).cast(pl.Date)


def _case_numbers(b: Book) -> pl.DataFrame:
    """`（2023）豫0502刑初123号`: numbered in each court's criminal (刑初) and civil (民初)
    register, which other generators share (ids.sequence_numbers)."""
    cases = b.frame("case")
    region, on, court = (
        ids.region_index(cases["region"]),
        cases["on"].to_numpy(),
        cases["court"].to_numpy(),
    )
    seq = ids.sequence_numbers(b.rng, 2 * region + (court == "民初"), on, b.slot)
    return cases.select("case", case_no=ids.court_case_numbers(region, on, seq, court))


def _aid_numbers(b: Book, aid: pl.DataFrame) -> pl.DataFrame:
    """`文检司救〔2023〕12号`: the procuratorate's register of judicial-aid decisions."""
    grants = aid.unique("grant", keep="first").sort("grant")
    region, on = ids.region_index(grants["region"]), grants["on"].to_numpy()
    seq = ids.sequence_numbers(b.rng, region, on, b.slot)
    return grants.select("grant", aid_no=ids.award_numbers(region, on, seq, kind="检司救"))


def _spell(b: Book, frame: pl.DataFrame, column: str, force: str = "") -> pl.DataFrame:
    """A few percent of the column's identifiers dirty, and every row flagged `force`."""
    rate = np.full(frame.height, dirty.RATE)
    if force:
        rate = np.where(frame[force].to_numpy(), 1.0, rate)
    spell = dirty.case if column.endswith("_no") else dirty.person
    return frame.with_columns(spell(b.rng, frame[column], rate).alias(column))


def _people(b: Book, frame: pl.DataFrame, **columns: str) -> pl.DataFrame:
    """Row numbers of people replaced by their canonical resident IDs."""
    return frame.with_columns(b.ids.gather(frame[c]).alias(name) for name, c in columns.items())


def _order(b: Book, frame: pl.DataFrame, on: str) -> pl.DataFrame:
    """Rows in date order, ties at random, so planted rows hide among the background."""
    shuffle = pl.Series("__r", b.rng.random(frame.height))
    return frame.with_columns(shuffle).sort(on, "__r").drop("__r")


def render_frames(b: Book) -> dict[tuple[str, str], pl.DataFrame]:
    numbers = _case_numbers(b)
    cases = b.frame("case").join(numbers, on="case")
    victims = _people(b, b.frame("victim").join(cases, on="case"), person_id="pid")
    victims = victims.with_columns(loss_amount="loss", decided_on=_date("on"))
    judgments = b.frame("judgment").join(numbers, on="case")
    judgments = _people(b, judgments, plaintiff_id="plaintiff", defendant_id="defendant")
    judgments = judgments.with_columns(
        award_amount="award", paid_amount="paid", decided_on=_date("on")
    )
    aid = b.frame("aid")
    aid = aid.join(numbers, on="case").join(_aid_numbers(b, aid), on="grant")
    aid = _people(b, aid, person_id="pid").with_columns(granted_on=_date("on"))
    support = _people(b, b.frame("support"), person_id="pid").with_columns(
        start_on=_date("start"),
        end_on=_date("end"),
        monthly_amount="monthly",
        household_size="household",
    )
    certs = _people(b, b.frame("cert"), person_id="pid").with_columns(issued_on=_date("issued"))
    spelled = {
        "victims": (victims, ("person_id", "case_no"), "decided_on"),
        "judicial_aid": (aid, ("person_id", "aid_no", "case_no"), "granted_on"),
        "civil_judgments": (judgments, ("plaintiff_id", "defendant_id", "case_no"), "decided_on"),
        "assistance": (support, ("person_id",), "start_on"),
        "certificates": (certs, ("person_id",), "issued_on"),
    }
    frames = {}
    for name, (frame, columns, on) in spelled.items():
        for column in columns:
            force = {"person_id": "dirty_pid", "aid_no": "dirty_no"}.get(column, "")
            frame = _spell(b, frame, column, force if force in frame.columns else "")
        frames[name] = _order(b, frame, on)
    wages = [(r, y, w) for (r, y), w in sorted(b.wage.items())]
    frames["wage_reference"] = pl.DataFrame(
        wages, schema=["region", "year", "avg_monthly_wage"], orient="row"
    )
    return {
        (role, name): frame.select(c.name for c in datasets(role)[name].columns)
        for role in ROLES
        for name, frame in frames.items()
        if name in datasets(role)
    }
