"""What an upstream task hands over as "the events": one rule for every operator and sensor that takes them.

A list of ids (``None`` entries are rows without an event, e.g. a batch's unsent items), one id, the string a
Jinja template renders a list to, the batch operator's summary as it is (an ``XComArg`` such as ``batch.output``),
or the single create operator's event. :func:`event_rows` keeps the input rows (with the batch's outcome for each);
:func:`event_ids_from` only the distinct ids.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_provider_telnyx._checks import check_event_id
from airflow_provider_telnyx._common import parse_iso_datetime
from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError

__all__ = [
    "CARRIED_KEYS",
    "Row",
    "earliest_scheduled_at",
    "event_ids_from",
    "event_rows",
    "rows_from_ids",
    "rows_from_summary",
]

#: Keys of a batch summary's row carried into a wait's result as they are (each bounded by the batch).
CARRIED_KEYS = ("end_user_target", "end_user_target_input", "error")


def event_rows(value: Any, *, field_name: str = "scheduled_event_ids", subject: str = "sensor argument") -> list[Row]:
    """The input rows in ``value``: a batch summary (one per input row, those without an event included), the
    single operator's event (one row), one id, or a list of ids (or the string a template renders a list to; a
    comma-separated string is a list too), one row per entry.

    :param value: the rendered argument.
    :param field_name: the argument, for errors.
    :param subject: what is validated, for errors.
    :raises TelnyxInvalidInputError: for any other shape, or an id that is no id (``"None"``, ``""``: a mistyped
        ``xcom_pull``), naming the argument and the position.
    """
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("[", "("):
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                raise TelnyxInvalidInputError([(field_name, "is not a list of event ids")], subject=subject) from None
        else:
            value = [part.strip() for part in text.split(",")] if "," in text else [text]
    if isinstance(value, Mapping):
        if "items" in value or "scheduled_event_ids" in value:  # the batch operator's summary
            return rows_from_summary(value, field_name=field_name, subject=subject)
        if "scheduled_event_id" in value:  # the single create operator's event
            value = [value["scheduled_event_id"]]
        else:
            raise TelnyxInvalidInputError(
                [(field_name, "a mapping must be a create operator's result (scheduled_event_id or a batch summary)")],
                subject=subject,
            )
    if not isinstance(value, list | tuple):
        raise TelnyxInvalidInputError(
            [(field_name, "must be a list of event ids (or a batch summary)")], subject=subject
        )
    return rows_from_ids(
        [None if item is None else check_event_id(item, f"{field_name}[{index}]") for index, item in enumerate(value)]
    )


def event_ids_from(value: Any, *, field_name: str = "event_ids", subject: str = "operator argument") -> list[str]:
    """The distinct event ids in ``value`` (any shape :func:`event_rows` takes), in their first order; rows
    without an event are left out.

    :param value: the rendered argument.
    :param field_name: the argument, for errors.
    :param subject: what is validated, for errors.
    :raises TelnyxInvalidInputError: as :func:`event_rows`.
    """
    ids = (row.scheduled_event_id for row in event_rows(value, field_name=field_name, subject=subject))
    return list(dict.fromkeys(event_id for event_id in ids if event_id))


@dataclass(frozen=True)
class Row:
    """One input row of a wait: its position, its event (``None`` when the batch did not create one) and what the
    batch said of it.

    :param index: the row's index (in the batch's ``events``, or in the list of ids).
    :param scheduled_event_id: its event, if any.
    :param batch_outcome: the batch's outcome for it (``created``, ``reused``, ``invalid``, ``failed``, ...), when
        the wait was given a batch summary.
    :param carried: the batch's bounded facts kept in the result (``end_user_target``, ``end_user_target_input``,
        ``error``).
    :param scheduled_at: the time the batch created (or found) its event for, when the summary says: the event is
        never due before it (a retried call only moves later).
    """

    index: int
    scheduled_event_id: str | None
    batch_outcome: str | None = None
    carried: Mapping[str, Any] = field(default_factory=dict)
    scheduled_at: datetime | None = None


def earliest_scheduled_at(rows: Sequence[Row]) -> datetime | None:
    """The earliest ``scheduled_at`` of the rows with an event: no event of theirs is due before it, so a wait's
    listing may start there. ``None`` when some row with an event has no known time.

    :param rows: the wait's rows.
    """
    times = [row.scheduled_at for row in rows if row.scheduled_event_id]
    if not times or any(at is None for at in times):
        return None
    return min(at for at in times if at is not None)


def _aware_time(value: Any) -> datetime | None:
    """An ISO time with an offset as a datetime; anything else (a tolerant reader) ``None``."""
    if not isinstance(value, str):
        return None
    try:
        at = parse_iso_datetime(value)
    except ValueError:
        return None
    return at if at.utcoffset() is not None else None


def rows_from_ids(event_ids: Sequence[str | None]) -> list[Row]:
    """One row per id, indexed by position (``None``: a row without an event).

    :param event_ids: the ids.
    """
    return [Row(index, event_id, None if event_id else "not_created") for index, event_id in enumerate(event_ids)]


def rows_from_summary(
    summary: Mapping[str, Any], *, field_name: str = "scheduled_event_ids", subject: str = "sensor argument"
) -> list[Row]:
    """The rows of a batch operator's summary (its ``items``; or, for a dict with only ``scheduled_event_ids``, one
    row per position, ``None`` for a row without an event).

    :param summary: the batch summary, as the batch operator returns it.
    :param field_name: the argument it came from, for errors.
    :param subject: what is validated, for errors.
    :raises TelnyxInvalidInputError: when it has neither ``items`` nor ``scheduled_event_ids`` in a readable shape.
    """
    items = summary.get("items")
    if items is None:
        ids = summary.get("scheduled_event_ids")
        if not isinstance(ids, list | tuple) or not all(i is None or (isinstance(i, str) and i) for i in ids):
            raise TelnyxInvalidInputError(
                [(field_name, "must be a list of event ids (or a batch summary)")], subject=subject
            )
        return [Row(index, event_id, None if event_id else "not_created") for index, event_id in enumerate(ids)]
    rows: list[Row] = []
    if isinstance(items, list | tuple):
        for position, item in enumerate(items):
            if not isinstance(item, Mapping):
                break
            index, event_id, outcome = item.get("index", position), item.get("scheduled_event_id"), item.get("outcome")
            if (
                isinstance(index, bool)
                or not isinstance(index, int)
                or not (event_id is None or isinstance(event_id, str))
            ):
                break
            carried = {key: item[key] for key in CARRIED_KEYS if item.get(key) is not None}
            at = _aware_time(item.get("scheduled_at"))
            rows.append(Row(index, event_id or None, str(outcome) if outcome is not None else None, carried, at))
        else:
            return rows
    raise TelnyxInvalidInputError(
        [(field_name, "a batch summary's items must be dicts with an integer index")], subject=subject
    )
