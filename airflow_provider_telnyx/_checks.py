"""Checks of plain arguments (durations, rates, times, ids, keys, templates), with no model behind them: operators
run them in their constructors at DAG parse, so this module imports nothing heavier than our exceptions.

Each refuses a bad value with :class:`~airflow_provider_telnyx.exceptions.TelnyxInvalidInputError` naming the
parameter.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from airflow_provider_telnyx._common import parse_iso_datetime
from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError

__all__ = [
    "IDEMPOTENCY_KEY_PATTERN",
    "check_aware_datetime",
    "check_duration",
    "check_event_id",
    "check_idempotency_key",
    "check_rate",
    "check_timestamp",
    "is_template",
]

#: The ``Idempotency-Key`` pattern of the scheduled-events endpoint's own reference (the OpenAPI text and the Node
#: SDK's docs: anything else is a 400, code 10015). The general idempotency guide also allows ``:``; the endpoint's
#: reference wins (docs/api-decisions.md).
IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


def check_event_id(value: Any, name: str = "scheduled_event_id") -> str:
    """Refuse an event id that is missing, typically a mistyped ``xcom_pull`` rendered to ``None``.

    :param value: the rendered argument.
    :param name: the parameter name, for the error.
    :return: the id, unchanged.
    :raises TelnyxInvalidInputError: for ``None``, ``""``, ``"None"`` or ``"null"`` and non-strings.
    """
    if not isinstance(value, str) or value.strip().lower() in ("", "none", "null"):
        raise TelnyxInvalidInputError(
            [
                (
                    name,
                    f"rendered to {value!r}, which is no event id; if it comes from ti.xcom_pull, check the "
                    "upstream task_ids and key (the create operator pushes key='scheduled_event_id')",
                )
            ],
            subject="operator argument",
        )
    return value


def _finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _refuse(name: str, what: str, allow_none: bool) -> TelnyxInvalidInputError:
    return TelnyxInvalidInputError([(name, what + (" or None" if allow_none else ""))], subject="operator argument")


def check_duration(name: str, value: Any, *, allow_none: bool = False, allow_zero: bool = False) -> None:
    """Check a duration in seconds (an interval, a timeout): a finite number, positive (or zero / ``None`` where
    allowed).

    :param name: the parameter, for the error.
    :param value: its value.
    :param allow_none: accept ``None``.
    :param allow_zero: accept ``0``.
    :raises TelnyxInvalidInputError: naming the parameter.
    """
    if value is None and allow_none:
        return
    if not _finite_number(value) or value < 0 or (value == 0 and not allow_zero):
        raise _refuse(name, "must be a finite, positive number of seconds", allow_none)


def check_rate(name: str, value: Any, *, allow_none: bool = False) -> None:
    """Check a rate: a finite, positive number of requests per second (or ``None`` where allowed).

    :param name: the parameter, for the error.
    :param value: its value.
    :param allow_none: accept ``None``.
    :raises TelnyxInvalidInputError: naming the parameter.
    """
    if value is None and allow_none:
        return
    if not _finite_number(value) or value <= 0:
        raise _refuse(name, "must be a finite, positive number of requests per second", allow_none)


def check_timestamp(name: str, value: Any, *, allow_none: bool = False) -> None:
    """Check a moment given as epoch seconds (``time.time()``): a finite, non-negative number.

    :param name: the parameter, for the error.
    :param value: its value.
    :param allow_none: accept ``None``.
    :raises TelnyxInvalidInputError: naming the parameter.
    """
    if value is None and allow_none:
        return
    if not _finite_number(value) or value < 0:
        raise _refuse(name, "must be a finite, non-negative epoch time in seconds", allow_none)


def check_aware_datetime(name: str, value: Any, *, subject: str = "operator argument") -> datetime:
    """Read a date-time argument: an aware ``datetime``, or an ISO 8601 string with an offset (what a template
    renders); a naive one is never assumed to be UTC.

    :param name: the parameter, for the error.
    :param value: its rendered value.
    :param subject: what is validated.
    :raises TelnyxInvalidInputError: naming the parameter.
    """
    if isinstance(value, str):
        try:
            value = parse_iso_datetime(value)
        except ValueError:
            raise TelnyxInvalidInputError(
                [(name, f"{value[:64]!r} is not an ISO 8601 date-time")], subject=subject
            ) from None
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise TelnyxInvalidInputError([(name, "must be a timezone-aware date-time")], subject=subject)
    return value


def check_idempotency_key(value: Any, *, field: str = "idempotency_key", subject: str = "idempotency key") -> str:
    """Check an ``Idempotency-Key`` against the endpoint's pattern.

    :param value: the key.
    :param field: the parameter name for the error (``events[3].idempotency_key``).
    :param subject: what is validated.
    :raises TelnyxInvalidInputError: when it does not match ``^[A-Za-z0-9_-]{1,255}$``.
    """
    if not isinstance(value, str) or not IDEMPOTENCY_KEY_PATTERN.fullmatch(value):
        raise TelnyxInvalidInputError(
            [(field, "must be 1 to 255 ASCII letters, digits, '-' or '_' (the API refuses anything else: 400 10015)")],
            subject=subject,
        )
    return value


def is_template(*values: Any) -> bool:
    """Whether any value is a Jinja template not rendered yet (a constructor leaves it for ``execute``)."""
    return any(isinstance(value, str) and "{{" in value for value in values)
