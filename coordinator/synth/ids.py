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


def sequence_numbers(rng: np.random.Generator, region: np.ndarray, on: np.ndarray) -> np.ndarray:
    """Per (region, year) increasing document numbers in date order, with gaps.

    Gaps and a random start because a register numbers every case of its kind (all civil
    first-instance suits, say), not only the labour ones here.
    """
    n = len(region)
    year = year_of(on)
    start = rng.integers(1, 600, (len(REGIONS), 2100 - 1970))
    frame = pl.DataFrame(
        {
            "row": np.arange(n),
            "region": region,
            "year": year,
            "on": on,
            "step": rng.integers(1, 30, n),
            "start": start[region, year - 1970] if n else np.empty(0, np.int64),
        }
    )
    numbered = frame.sort(["region", "year", "on", "row"]).with_columns(
        seq=pl.col("step").cum_sum().over(["region", "year"]) + pl.col("start")
    )
    out = np.empty(n, dtype=np.int64)
    out[numbered["row"].to_numpy()] = numbered["seq"].to_numpy()
    return out


def _lookup(values: list[str], index: np.ndarray) -> pl.Series:
    return pl.Series(np.array(values)[index])


def court_case_numbers(region: np.ndarray, filed: np.ndarray, seq: np.ndarray) -> pl.Series:
    """`（2024）豫0502民初1234号`: year filed, province, court code (region's last 4 digits)."""
    frame = pl.DataFrame(
        {
            "year": year_of(filed),
            "court": _lookup([r.province + r.code[2:] for r in REGIONS], region),
            "seq": seq,
        }
    )
    return frame.select(
        pl.format("（{}）{}民初{}号", "year", "court", "seq").alias("case_no")
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
