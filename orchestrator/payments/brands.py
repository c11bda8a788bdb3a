"""Card brands by IIN (the leading digits), with each brand's number and security-code lengths.

A brand is decided by the longest matching prefix range, so a narrow range inside a wide one
wins (Discover's 622126-622925 inside UnionPay's 62). Ranges follow the public IIN tables the
networks publish; anything outside them is an unknown brand, which callers hear as "card type
not accepted" rather than "wrong number".
"""
from dataclasses import dataclass
from typing import Optional, Tuple


@dataclass(frozen=True)
class Brand:
    name: str
    lengths: Tuple[int, ...]
    code_length: int
    ranges: Tuple[Tuple[str, str], ...]  # (first, last) prefixes of equal length, inclusive


BRANDS = {b.name: b for b in (
    Brand("visa", (13, 16, 19), 3, (("4", "4"),)),
    Brand("mastercard", (16,), 3, (("51", "55"), ("222100", "272099"))),
    Brand("amex", (15,), 4, (("34", "34"), ("37", "37"))),
    Brand("discover", (16, 17, 18, 19), 3,
          (("6011", "6011"), ("644", "649"), ("65", "65"), ("622126", "622925"))),
    Brand("diners", (14, 15, 16, 17, 18, 19), 3,
          (("300", "305"), ("3095", "3095"), ("36", "36"), ("38", "39"))),
    Brand("jcb", (16, 17, 18, 19), 3, (("3528", "3589"),)),
    Brand("unionpay", (16, 17, 18, 19), 3, (("62", "62"), ("8100", "8171"))),
    Brand("maestro", (12, 13, 14, 15, 16, 17, 18, 19), 3,
          (("5018", "5018"), ("5020", "5020"), ("5038", "5038"), ("5893", "5893"),
           ("6304", "6304"), ("6759", "6759"), ("6761", "6763"))),
)}


def brand_of(digits: object) -> Optional[str]:
    """The brand name for a number (or its first six digits or more), or None if unknown."""
    if not isinstance(digits, str) or not digits.isdigit():
        return None
    best, best_length = None, 0
    for brand in BRANDS.values():
        for first, last in brand.ranges:
            width = len(first)
            if len(digits) >= width and first <= digits[:width] <= last and width > best_length:
                best, best_length = brand.name, width
    return best


def luhn_ok(digits: str) -> bool:
    """The mod-10 check every brand's numbers carry as their last digit."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0
