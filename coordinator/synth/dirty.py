"""Dirty but valid spellings of identifiers, as agencies really store them.

Every spelling made here must normalise (fedscreen.identifiers.normalise) to the clean value:
the point is to exercise the agents' normalisation before tokenising, so that the same person
still joins across agencies. Invalid values are made elsewhere, on purpose and rarely.
"""

from __future__ import annotations

import numpy as np
import polars as pl

_ASCII = [chr(c) for c in range(ord("0"), ord("9") + 1)] + [
    chr(c) for c in range(ord("A"), ord("Z") + 1)
]
_FULLWIDTH = [chr(ord(c) + 0xFEE0) for c in _ASCII]
_DIGITS = _ASCII[:10]
_FULLWIDTH_DIGITS = _FULLWIDTH[:10]

RATE = 0.03  # share of identifier values spelled dirty in every agency file


def _pick(rng: np.random.Generator, n: int, rate: float | np.ndarray) -> np.ndarray:
    return np.flatnonzero(rng.random(n) < rate)


def _apply(
    values: pl.Series, idx: np.ndarray, kinds: np.ndarray, spellings: list[pl.Expr]
) -> pl.Series:
    """Replace values[idx] by spelling number kinds[i] of each."""
    if idx.size == 0:
        return values
    frame = pl.DataFrame({"s": values.gather(idx), "k": kinds})
    expr: pl.Expr = pl.col("s")
    for number, spelling in reversed(list(enumerate(spellings))):
        expr = pl.when(pl.col("k") == number).then(spelling).otherwise(expr)
    dirty = frame.select(expr.alias("s")).to_series()
    out = values.clone()
    out.scatter(idx, dirty)
    return out


def person(rng: np.random.Generator, ids: pl.Series, rate: float | np.ndarray = RATE) -> pl.Series:
    """Full-width characters, grouped with spaces, trailing space, lower-case x, legacy 15-digit.

    Legacy IDs exist only for people born in the 1900s (upgrading inserts "19"); lower-case
    x only where the check character is X. Ineligible picks fall back to another spelling.
    """
    idx = _pick(rng, len(ids), rate)
    sub = ids.gather(idx)
    kinds = rng.choice(5, size=idx.size, p=[0.25, 0.2, 0.1, 0.15, 0.3])
    has_x = sub.str.ends_with("X").to_numpy()
    legacy_ok = (sub.str.slice(6, 2) == "19").to_numpy()
    kinds = np.where((kinds == 3) & ~has_x, 0, kinds)
    kinds = np.where((kinds == 4) & ~legacy_ok, 1, kinds)
    s = pl.col("s")
    spellings = [
        s.str.replace_many(_ASCII, _FULLWIDTH),
        pl.concat_str([s.str.slice(0, 6), s.str.slice(6, 8), s.str.slice(14, 4)], separator=" "),
        pl.concat_str([s, pl.lit(" ")]),
        s.str.to_lowercase(),
        pl.concat_str([s.str.slice(0, 6), s.str.slice(8, 9)]),
    ]
    return _apply(ids, idx, kinds, spellings)


def org(rng: np.random.Generator, codes: pl.Series, rate: float | np.ndarray = RATE) -> pl.Series:
    """Full-width characters, spaces between the code's parts, lower case, padding."""
    idx = _pick(rng, len(codes), rate)
    sub = codes.gather(idx)
    kinds = rng.choice(4, size=idx.size, p=[0.3, 0.3, 0.25, 0.15])
    has_letter = sub.str.contains("[A-Z]").to_numpy()
    kinds = np.where((kinds == 2) & ~has_letter, 1, kinds)
    s = pl.col("s")
    spellings = [
        s.str.replace_many(_ASCII, _FULLWIDTH),
        pl.concat_str([s.str.slice(0, 8), s.str.slice(8, 9), s.str.slice(17, 1)], separator=" "),
        s.str.to_lowercase(),
        pl.concat_str([pl.lit(" "), s]),
    ]
    return _apply(codes, idx, kinds, spellings)


def case(
    rng: np.random.Generator, numbers: pl.Series, rate: float | np.ndarray = RATE
) -> pl.Series:
    """Half-width brackets, inserted spaces, full-width digits (court and award numbers)."""
    idx = _pick(rng, len(numbers), rate)
    sub = numbers.gather(idx)
    kinds = rng.choice(3, size=idx.size, p=[0.4, 0.4, 0.2])
    has_bracket = sub.str.contains("（", literal=True).fill_null(False).to_numpy()
    kinds = np.where((kinds == 0) & ~has_bracket, 1, kinds)
    s = pl.col("s")
    spellings = [
        s.str.replace_many(["（", "）"], ["(", ")"]),
        s.str.replace_many(["）", "〕", "民初"], ["） ", "〕 ", "民初 "]),
        s.str.replace_many(_DIGITS, _FULLWIDTH_DIGITS),
    ]
    return _apply(numbers, idx, kinds, spellings)


def project(
    rng: np.random.Generator, codes: pl.Series, rate: float | np.ndarray = RATE
) -> pl.Series:
    """Full-width digits and hyphens, spaces around hyphens, or padding (project codes)."""
    idx = _pick(rng, len(codes), rate)
    kinds = rng.integers(0, 3, idx.size)
    s = pl.col("s")
    spellings = [
        s.str.replace_many([*_DIGITS, "-"], [*_FULLWIDTH_DIGITS, "－"]),
        s.str.replace_all("-", " - ", literal=True),
        pl.concat_str([pl.lit(" "), s, pl.lit(" ")]),
    ]
    return _apply(codes, idx, kinds, spellings)


def corrupt_person(
    rng: np.random.Generator, ids: pl.Series, candidates: np.ndarray, count: int
) -> pl.Series:
    """`count` of the clean IDs at `candidates` get a wrong check character: genuinely invalid.

    Callers pass only rows left clean by person(), so no dirty spelling (a legacy 15-digit
    form drops the check character) can make a corrupted value valid again.
    """
    count = min(count, candidates.size)
    if count <= 0:
        return ids
    idx = np.sort(rng.choice(candidates, size=count, replace=False))
    sub = ids.gather(idx)
    # Shift the check character to another member of "10X98765432": always wrong.
    check = "10X98765432"
    shifts = rng.integers(1, 11, idx.size)
    wrong = [
        check[(check.index(c) + int(k)) % 11]
        for c, k in zip(sub.str.slice(17, 1).to_list(), shifts, strict=True)
    ]
    bad = (sub.str.slice(0, 17) + pl.Series(wrong)).alias(ids.name)
    out = ids.clone()
    out.scatter(idx, bad)
    return out
