"""Phone numbers as people write them (``+44 20 7946 0958``), made E.164 when that is unambiguous.

The rule (strict writer: nothing is guessed):

* a value already in E.164 form (``+13125550100``), a SIP URI, anything that is not a string, and anything with
  characters other than digits and separators (a letter, a line break, a tab) is returned as it is (the request
  model judges it);
* a number written with separators (spaces, dots, dashes, parentheses; :data:`PHONE_SEPARATORS`) around ``+``, a
  country code and the number is sent as ``+`` and its digits, once ``phonenumbers`` confirms those digits are a
  valid number there;
* refused, with the reason: a number without ``+`` (its country would be a guess), one whose digits are not valid
  where its country code says (too short, too long, no such range), and one that is valid only once a digit is
  dropped (``+44 (0)20 ...``: the trunk prefix ``0`` is not part of the E.164 number).

``phonenumbers`` is imported only when a written-out number is seen, never when a DAG is parsed.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_telnyx.models.inputs import E164_PATTERN

__all__ = ["PHONE_SEPARATORS", "normalize_target"]

#: Spaces a written-out number may hold: the ASCII space and the no-break, figure, thin and narrow no-break spaces
#: spreadsheets and locales produce. Never a line break, a tab or another control character: a value holding one
#: is refused, not cleaned.
_SPACES = " \u00a0\u2007\u2009\u202f"
#: What may stand between the digits of a written-out number: those spaces, dots, parentheses, and dashes (ASCII
#: ``-`` and the Unicode hyphens, dashes and minus sign spreadsheets produce).
PHONE_SEPARATORS = frozenset(_SPACES + ".()-\u2010\u2011\u2012\u2013\u2014\u2015\u2212")
_DIGITS = frozenset("0123456789")
_WHY_NOT_POSSIBLE = {
    1: "its country code is not one",
    2: "it is too short",
    3: "it is too long",
    5: "it has a length no number there has",
}


def normalize_target(value: Any) -> Any:
    """Return ``value`` in E.164 form when it is a phone number written with separators; else ``value`` itself.

    :param value: an ``end_user_target`` or ``agent_target`` as written.
    :return: ``+`` and the digits for a written-out number, otherwise ``value`` unchanged.
    :raises ValueError: with the reason, for a phone number that cannot be made E.164 without guessing.
    """
    if not isinstance(value, str) or E164_PATTERN.fullmatch(value):
        return value
    text = value.strip(_SPACES)
    if text[:4].lower() == "sip:" or text[:5].lower() == "sips:":
        return value
    plus = text.startswith("+")
    rest = text[1:] if plus else text
    digits = "".join(char for char in rest if char in _DIGITS)
    if not digits or not all(char in _DIGITS or char in PHONE_SEPARATORS for char in rest):
        return value  # not a written-out number: the request model says what is wrong with it
    if not plus:
        raise ValueError(
            "has no '+' and country code: write it as +<country code><number>, e.g. +13125550100 "
            "(the country is never guessed)"
        )
    candidate = "+" + digits
    if digits.startswith("0"):
        raise ValueError("starts with 0 after the '+': a country code never does")
    if not E164_PATTERN.fullmatch(candidate):
        raise ValueError(f"has {len(digits)} digits: an E.164 number has at most 15")
    _check_valid(candidate)
    return candidate


def _check_valid(candidate: str) -> None:
    import phonenumbers  # only when a written-out number is seen: never at DAG parse

    try:
        number = phonenumbers.parse(candidate, None)
    except phonenumbers.NumberParseException:
        raise ValueError("does not start with a country code that exists") from None
    where = f"country code +{number.country_code}"
    if phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) != candidate:
        raise ValueError(
            f"is not an E.164 number for {where}: a trunk prefix such as '(0)' after the country code is not "
            "dialled from abroad, so it is not part of the number"
        )
    if not phonenumbers.is_valid_number(number):
        why = _WHY_NOT_POSSIBLE.get(int(phonenumbers.is_possible_number_with_reason(number)), "no such number range")
        raise ValueError(f"is not a valid number for {where}: {why}")
