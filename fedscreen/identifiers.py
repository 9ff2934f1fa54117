"""Identifier kinds and their normalisation: the Python reference implementation.

The agent normalises and tokenises in DuckDB (fedscreen.tokens builds that SQL); this module is
the readable reference the SQL is tested against, and what synth uses to make valid IDs.
Rules: DATA_DICTIONARY.md, "Identifier kinds".
"""

from __future__ import annotations

import re
from enum import StrEnum


class Kind(StrEnum):
    PERSON = "person"
    ORG = "org"
    CASE = "case"
    PROJECT = "project"


ID_KINDS = tuple(k.value for k in Kind)

# GB 11643-1999 resident identity number.
PERSON_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
PERSON_CHECK = "10X98765432"
# GB 32100-2015 unified social credit code: 31 characters, no I, O, S, V, Z.
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

_PERSON18 = re.compile(r"[0-9]{17}[0-9X]")
_PERSON15 = re.compile(r"[0-9]{15}")
_USCC = re.compile(f"[{USCC_CHARS}]{{18}}")
_WS = re.compile(r"\s+")


def person_check_char(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, PERSON_WEIGHTS, strict=True))
    return PERSON_CHECK[total % 11]


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_CHARS[(31 - total % 31) % 31]


def halfwidth(text: str) -> str:
    """Full-width ASCII forms (U+FF01..U+FF5E) and the ideographic space to half-width."""
    return "".join(
        chr(ord(c) - 0xFEE0) if 0xFF01 <= ord(c) <= 0xFF5E else (" " if c == "\u3000" else c)
        for c in text
    )


def normalise_person(raw: str) -> str | None:
    s = _WS.sub("", halfwidth(raw)).upper()
    if _PERSON15.fullmatch(s):
        body = s[:6] + "19" + s[6:]
        return body + person_check_char(body)
    if _PERSON18.fullmatch(s) and person_check_char(s[:17]) == s[17]:
        return s
    return None


def normalise_org(raw: str) -> str | None:
    s = _WS.sub("", halfwidth(raw)).upper()
    if _USCC.fullmatch(s) and uscc_check_char(s[:17]) == s[17]:
        return s
    return None


def normalise_case(raw: str) -> str | None:
    # NFKC restricted to what case numbers contain (full-width brackets, digits, letters), so
    # that the agent's DuckDB translation gives byte-identical results.
    s = _WS.sub("", halfwidth(raw))
    return s or None


def normalise_project(raw: str) -> str | None:
    s = _WS.sub("", halfwidth(raw)).upper()
    return s or None


NORMALISERS = {
    Kind.PERSON: normalise_person,
    Kind.ORG: normalise_org,
    Kind.CASE: normalise_case,
    Kind.PROJECT: normalise_project,
}


def normalise(kind: str, raw: str | None) -> str | None:
    """The canonical form of `raw`, or None when it is not a valid identifier of `kind`."""
    if raw is None:
        return None
    return NORMALISERS[Kind(kind)](raw)
