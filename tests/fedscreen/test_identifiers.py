from __future__ import annotations

import hashlib
import hmac

import pytest

from fedscreen.identifiers import normalise, person_check_char, uscc_check_char
from fedscreen.tokens import TokenKeys, hmac_hex, reference_token
from tests.fedscreen.test_tokensql import RFC4231

# Known-valid identifiers (check characters computed by hand per GB 11643 / GB 32100).
VALID_PERSON = "11010519491231002X"
VALID_USCC = "91350100M000100Y43"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (VALID_PERSON, VALID_PERSON),
        ("11010519491231002x", VALID_PERSON),  # lower-case x
        (" 110105 19491231 002X ", VALID_PERSON),  # spaces
        ("１１０１０５１９４９１２３１００２Ｘ", VALID_PERSON),  # full-width
        ("110105491231002", VALID_PERSON),  # legacy 15-digit: 19 inserted, check appended
        ("110105194912310021", None),  # wrong check character
        ("1101051949123100", None),  # too short
        ("", None),
    ],
)
def test_person_ids_normalise_or_are_refused(raw: str, expected: str | None) -> None:
    assert normalise("person", raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (VALID_USCC, VALID_USCC),
        ("91350100m000100y43", VALID_USCC),
        ("９１３５０１００Ｍ０００１００Ｙ４３", VALID_USCC),
        ("91350100M000100Y44", None),  # wrong check character
        ("91350100M000100I43", None),  # I is not in the GB 32100 alphabet
    ],
)
def test_credit_codes_normalise_or_are_refused(raw: str, expected: str | None) -> None:
    assert normalise("org", raw) == expected


def test_check_characters_match_the_standards() -> None:
    assert person_check_char(VALID_PERSON[:17]) == "X"
    assert uscc_check_char(VALID_USCC[:17]) == "3"


def test_case_numbers_lose_full_width_brackets_and_spaces() -> None:
    assert normalise("case", "（2024）豫0502 民初1234号") == "(2024)豫0502民初1234号"


@pytest.mark.parametrize(("case", "key", "data", "mac"), RFC4231)
def test_hmac_matches_rfc4231(case: int, key: bytes, data: bytes, mac: str) -> None:
    assert hmac_hex(key, data) == mac


def test_tokens_differ_across_scopes_and_kinds() -> None:
    secret = b"s" * 32
    a = TokenKeys.derive(secret, "model_a", "model_a")
    b = TokenKeys.derive(secret, "model_b", "model_b")
    t = reference_token(a, "person", VALID_PERSON)
    assert t is not None and len(t) == 32
    assert t == reference_token(a, "person", "110105491231002")  # same person, legacy form
    assert t != reference_token(b, "person", VALID_PERSON)
    assert all(k.isalpha() and len(k) == 64 for k in a.keys.values())
    expected = hmac.new(a.keys["person"], VALID_PERSON.encode(), hashlib.sha256).hexdigest()
    assert t == expected[:32]
