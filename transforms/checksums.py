"""Check digits of the identifier formats piiflow detects and generates. Pure functions on strings."""

from __future__ import annotations

from datetime import date

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def luhn_ok(digits: str) -> bool:
    """Luhn (mod 10) check over a string of digits; False for anything else or fewer than 2 digits."""
    if len(digits) < 2 or not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def luhn_digit(body: str) -> str:
    """The digit that makes ``body + digit`` pass the Luhn check."""
    for d in "0123456789":
        if luhn_ok(body + d):
            return d
    raise AssertionError("unreachable")


def resident_id_check(body17: str) -> str:
    """ISO 7064 MOD 11-2 check character (0-9 or X) of the first 17 digits of a resident ID."""
    total = sum((ord(c) - 48) * w for c, w in zip(body17, _ID_WEIGHTS))
    return _ID_CHECK[total % 11]


def resident_id_ok(value: str) -> bool:
    """True for an 18-character mainland resident ID with a valid check character and a real birth date,
    or a 15-digit first-generation ID with a real birth date (19YYMMDD)."""
    v = value.upper()
    if len(v) == 18 and v[:17].isdigit() and (v[17].isdigit() or v[17] == "X"):
        if resident_id_check(v[:17]) != v[17]:
            return False
        return _real_date(v[6:14]) and v[:2] in PROVINCE_CODES
    if len(v) == 15 and v.isdigit():
        return _real_date("19" + v[6:12]) and v[:2] in PROVINCE_CODES
    return False


def resident_id_shaped(digits: str) -> bool:
    """True for 18 characters laid out as a resident ID (a province code, a real birth date), whether or not the
    check character is right: a mistyped ID is still an ID, not a bank card."""
    return len(digits) == 18 and digits[:17].isdigit() and digits[:2] in PROVINCE_CODES and _real_date(digits[6:14])


def _real_date(yyyymmdd: str) -> bool:
    try:
        d = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return False
    return 1900 <= d.year <= 2030


#: First two digits of mainland resident IDs (GB/T 2260 provinces).
PROVINCE_CODES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82".split())

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_check(body17: str) -> str | None:
    """GB 32100-2015 check character of a Unified Social Credit Code's first 17 characters (None if invalid)."""
    try:
        total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(body17, _USCC_WEIGHTS))
    except ValueError:
        return None
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_ok(value: str) -> bool:
    v = value.upper()
    return len(v) == 18 and uscc_check(v[:17]) == v[17]
