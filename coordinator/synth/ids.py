"""Synthetic identifiers, vectorised: resident IDs, credit codes, case numbers, dirty spellings.

The check-character rules come from fedscreen.identifiers (its weights and alphabets); this
module only applies them to whole numpy arrays at once, because a Python call per person is
too slow for a million people. Tests cross-check samples against the scalar reference.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import numpy as np
import polars as pl

from fedscreen.identifiers import PERSON_CHECK, PERSON_WEIGHTS, USCC_CHARS, USCC_WEIGHTS

EPOCH = datetime.date(1970, 1, 1)


def day(year: int, month: int = 1, dom: int = 1) -> int:
    """Days since 1970-01-01: the internal date representation (cheap numpy arithmetic)."""
    return (datetime.date(year, month, dom) - EPOCH).days


@dataclass(frozen=True)
class Region:
    code: str  # GB/T 2260 county-level code
    province: str  # abbreviation used in court case numbers (豫, 京, ...)
    place: str  # the name a local company would carry (安阳, 勉县, ...)
    arbitration: str  # prefix of the local arbitration committee's award numbers
    weight: float  # share of the population


# Real county-level divisions. Anyang (the seed's district) is over-weighted on purpose.
REGIONS: tuple[Region, ...] = (
    Region("110101", "京", "北京", "京东", 0.04),  # 北京市东城区
    Region("110105", "京", "北京", "京朝", 0.05),  # 北京市朝阳区
    Region("310112", "沪", "上海", "闵", 0.05),  # 上海市闵行区
    Region("310115", "沪", "上海", "浦", 0.05),  # 上海市浦东新区
    Region("320102", "苏", "南京", "玄", 0.04),  # 南京市玄武区
    Region("330106", "浙", "杭州", "西", 0.04),  # 杭州市西湖区
    Region("370102", "鲁", "济南", "历", 0.04),  # 济南市历下区
    Region("410102", "豫", "郑州", "中", 0.05),  # 郑州市中原区
    Region("410502", "豫", "安阳", "文", 0.10),  # 安阳市文峰区
    Region("410503", "豫", "安阳", "北", 0.07),  # 安阳市北关区
    Region("410522", "豫", "安阳", "安县", 0.06),  # 安阳县
    Region("420102", "鄂", "武汉", "岸", 0.04),  # 武汉市江岸区
    Region("420503", "鄂", "宜昌", "伍", 0.04),  # 宜昌市伍家岗区
    Region("430102", "湘", "长沙", "芙", 0.04),  # 长沙市芙蓉区
    Region("440106", "粤", "广州", "穗天", 0.05),  # 广州市天河区
    Region("460105", "琼", "海口", "秀", 0.04),  # 海口市秀英区
    Region("469005", "琼", "文昌", "文昌", 0.04),  # 文昌市
    Region("500103", "渝", "重庆", "渝中", 0.04),  # 重庆市渝中区
    Region("510104", "川", "成都", "锦", 0.04),  # 成都市锦江区
    Region("610113", "陕", "西安", "雁", 0.04),  # 西安市雁塔区
    Region("610725", "陕", "勉县", "勉", 0.03),  # 汉中市勉县
)
REGION_CODE = np.array([r.code for r in REGIONS])
REGION_P = np.array([r.weight for r in REGIONS]) / sum(r.weight for r in REGIONS)

_REGION_DIGITS = np.array([[int(c) for c in r.code] for r in REGIONS], dtype=np.uint8)
_PERSON_W = np.array(PERSON_WEIGHTS, dtype=np.int64)
_PERSON_CHECK = np.frombuffer(PERSON_CHECK.encode(), dtype=np.uint8)
_USCC_W = np.array(USCC_WEIGHTS, dtype=np.int64)
_USCC_ALPHABET = np.frombuffer(USCC_CHARS.encode(), dtype=np.uint8)
_ORG_W = np.array((3, 7, 9, 10, 5, 8, 4, 2), dtype=np.int64)  # GB 11714-1997
_MA_FROM = day(2015, 10, 1)  # organisation codes of firms registered since then start "MA"
SLOTS = 4  # residue classes of shared registers: the seed-001 world (0) and its contributors


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """(n, width) matrix of the decimal digits of `values` (< 10**9), most significant first."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int32)
    return ((values.astype(np.int32)[:, None] // powers) % 10).astype(np.uint8)


def ymd(days: np.ndarray) -> np.ndarray:
    """YYYYMMDD integers of internal dates."""
    d = days.astype("datetime64[D]")
    month_start = d.astype("datetime64[M]")
    year = d.astype("datetime64[Y]").astype(np.int64) + 1970
    month = month_start.astype(np.int64) % 12 + 1
    dom = (d - month_start).astype(np.int64) + 1
    return year * 10000 + month * 100 + dom


def year_of(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def _to_series(ascii_rows: np.ndarray, name: str) -> pl.Series:
    width = ascii_rows.shape[1]
    packed = np.ascontiguousarray(ascii_rows, dtype=np.uint8).view(f"S{width}").ravel()
    return pl.Series(name, packed).cast(pl.Utf8)


def _first_duplicates(keys: np.ndarray) -> np.ndarray:
    """Indices of every occurrence of a key after its first (the ones to redraw)."""
    order = np.argsort(keys)  # which copy is redrawn does not matter, only that one stays
    repeat = keys[order][1:] == keys[order][:-1]
    return np.sort(order[1:][repeat])


def person_ids(
    rng: np.random.Generator, region: np.ndarray, birth: np.ndarray, male: np.ndarray
) -> pl.Series:
    """Unique GB 11643 IDs: region, birth date, sequence (odd = male), check character."""
    n = len(region)
    born_on = ymd(birth)
    prefix = REGION_CODE.astype(np.int64)[region] * 10**8 + born_on  # 14 digits
    k = rng.integers(1, 500, n)
    for _ in range(100):
        seq = 2 * k + male.astype(np.int64)
        redo = _first_duplicates(prefix * 1000 + seq)
        if redo.size == 0:
            break
        k[redo] = rng.integers(1, 500, redo.size)
    else:  # only when hundreds of people share a region, birth date and gender
        raise ValueError("cannot make unique resident IDs: too many people per birth date")
    body = np.empty((n, 17), dtype=np.uint8)
    body[:, :6] = _REGION_DIGITS[region]
    body[:, 6:14] = _digits(born_on, 8)
    body[:, 14:] = _digits(seq, 3)
    rows = np.empty((n, 18), dtype=np.uint8)
    rows[:, :17] = body + ord("0")
    rows[:, 17] = _PERSON_CHECK[(body.astype(np.int32) @ _PERSON_W.astype(np.int32)) % 11]
    return _to_series(rows, "person_id")


def _org_values(codes: np.ndarray) -> np.ndarray:
    """GB 11714 character values: digits as themselves, A=10 ... Z=35."""
    return np.where(codes <= ord("9"), codes - ord("0"), codes - ord("A") + 10).astype(np.int64)


def org_code_check_char(first8: str) -> str:
    """Scalar GB 11714 check character (reference for tests and readers)."""
    values = _org_values(np.frombuffer(first8.encode(), dtype=np.uint8))
    c = 11 - int((values * _ORG_W).sum()) % 11
    return "X" if c == 10 else "0" if c == 11 else str(c)


def usccs(rng: np.random.Generator, region: np.ndarray, established: np.ndarray) -> pl.Series:
    """Unique GB 32100 codes "91" + region + 9-char organisation code + check character."""
    n = len(region)
    rows = np.empty((n, 18), dtype=np.uint8)
    rows[:, 0:2] = np.frombuffer(b"91", dtype=np.uint8)
    rows[:, 2:8] = _REGION_DIGITS[region] + ord("0")
    modern = established >= _MA_FROM
    todo = np.arange(n)
    while todo.size:
        body = rng.integers(0, 10, (todo.size, 8)) + ord("0")
        mod = modern[todo]
        tail = _USCC_ALPHABET[rng.integers(0, len(USCC_CHARS), (int(mod.sum()), 6))]
        body[mod] = np.hstack([np.tile(np.frombuffer(b"MA", np.uint8), (int(mod.sum()), 1)), tail])
        rows[todo, 8:16] = body
        c = 11 - (_org_values(rows[todo, 8:16]) * _ORG_W).sum(axis=1) % 11
        rows[todo, 16] = np.where(c == 10, ord("X"), np.where(c == 11, ord("0"), c + ord("0")))
        keys = np.ascontiguousarray(rows[:, :17]).view("S17").ravel()
        todo = _first_duplicates(keys)
    index = np.zeros(256, dtype=np.int64)
    index[_USCC_ALPHABET] = np.arange(len(USCC_CHARS))
    total = (index[rows[:, :17]] * _USCC_W).sum(axis=1)
    rows[:, 17] = _USCC_ALPHABET[(31 - total % 31) % 31]
    return _to_series(rows, "uscc")


def sequence_numbers(
    rng: np.random.Generator, register: np.ndarray, on: np.ndarray, slot: int = 0
) -> np.ndarray:
    """Per (register, year) increasing document numbers in date order, with gaps.

    `register` tells registers apart: a region index, or any integer key (a region and a kind
    of case, say). Gaps and a random start because a register numbers every case of its kind
    (all civil first-instance suits, say), not only the ones made here. Several generators file
    into one register (a court's 执 numbers come from the housing-fund and the wage contributors):
    each numbers only its own residue class `slot` modulo SLOTS, so no two ever issue one number.
    """
    if not 0 <= slot < SLOTS:
        raise ValueError(f"slot must be in [0, {SLOTS}), got {slot}")
    n = len(register)
    frame = pl.DataFrame(
        {
            "row": np.arange(n),
            "register": np.asarray(register, dtype=np.int64),
            "year": year_of(np.asarray(on)),
            "on": on,
            "step": rng.integers(1, 30, n),
            "start": rng.integers(1, 600, n),
        }
    )
    group = ["register", "year"]
    numbered = frame.sort([*group, "on", "row"]).with_columns(
        seq=pl.col("step").cum_sum().over(group) + pl.col("start").first().over(group)
    )
    out = np.empty(n, dtype=np.int64)
    out[numbered["row"].to_numpy()] = numbered["seq"].to_numpy() * SLOTS + slot
    return out


def region_index(codes: pl.Series) -> np.ndarray:
    """Indices into REGIONS of region codes."""
    lookup = {code: i for i, code in enumerate(REGION_CODE)}
    return codes.replace_strict(lookup, return_dtype=pl.Int64).to_numpy()


def dates(days: np.ndarray, *, optional: bool = False) -> pl.Series:
    """Internal day numbers as dates; if `optional`, negative numbers (the -1 of "none") are
    NULL (only for events, which all happen after 1970: birth dates may be negative)."""
    days = np.asarray(days, dtype=np.int64)
    out = pl.Series(days.astype(np.int32)).cast(pl.Date)
    return out.set(pl.Series(days < 0), None) if optional else out


def _lookup(values: list[str], index: np.ndarray) -> pl.Series:
    return pl.Series(np.array(values)[index])


def court_case_numbers(
    region: np.ndarray, filed: np.ndarray, seq: np.ndarray, kind: str | np.ndarray = "民初"
) -> pl.Series:
    """`（2024）豫0502民初1234号`: year filed, province, court code (region's last 4 digits) and
    the kind of case (民初 civil first instance, 执 enforcement, 刑初 criminal; one or per row)."""
    frame = pl.DataFrame(
        {
            "year": year_of(filed),
            "court": _lookup([r.province + r.code[2:] for r in REGIONS], region),
            "kind": np.broadcast_to(np.asarray(kind), (len(seq),)),
            "seq": seq,
        }
    )
    return frame.select(
        pl.format("（{}）{}{}{}号", "year", "court", "kind", "seq").alias("case_no")
    ).to_series()


def award_numbers(
    region: np.ndarray, decided: np.ndarray, seq: np.ndarray, kind: str = "劳人仲案字"
) -> pl.Series:
    """`文劳人仲案字〔2024〕123号` (kind "人社稽字" gives audit notice numbers)."""
    frame = pl.DataFrame(
        {
            "year": year_of(decided),
            "prefix": _lookup([r.arbitration for r in REGIONS], region),
            "seq": seq,
        }
    )
    return frame.select(
        pl.format("{}" + kind + "〔{}〕{}号", "prefix", "year", "seq").alias("award_no")
    ).to_series()
