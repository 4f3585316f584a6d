"""One rule for what an upstream task hands over as "the events" (the sensor, the export and the delete take it)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError
from airflow_provider_telnyx.utils.event_ids import Row, event_ids_from, event_rows, rows_from_summary

SUMMARY = {
    "items": [
        {"index": 0, "outcome": "created", "scheduled_event_id": "a", "end_user_target": "+13125550100"},
        {"index": 1, "outcome": "invalid", "error": "end_user_target: bad"},
        {"index": 2, "outcome": "reused", "scheduled_event_id": "a"},
    ],
    "scheduled_event_ids": ["a", None, "a"],
}


@pytest.mark.parametrize(
    ("value", "ids"),
    [
        (["a", "b"], ["a", "b"]),
        ("a", ["a"]),
        ("a, b", ["a", "b"]),
        ("['a', 'b']", ["a", "b"]),
        (("a", None, "b", "a"), ["a", "b"]),
        ({"scheduled_event_id": "e1", "status": "pending"}, ["e1"]),
        ({"scheduled_event_ids": ["a", None, "c"]}, ["a", "c"]),
        (SUMMARY, ["a"]),
        ([], []),
    ],
    ids=["list", "one", "commas", "rendered-list", "tuple-none-dup", "single-event", "ids-only", "summary", "empty"],
)
def test_every_shape_an_upstream_task_hands_over(value: Any, ids: list[str]) -> None:
    assert event_ids_from(value) == ids


def test_rows_keep_the_batchs_outcome_and_rows_without_an_event() -> None:
    rows = event_rows(SUMMARY)
    assert [(r.index, r.scheduled_event_id, r.batch_outcome) for r in rows] == [
        (0, "a", "created"),
        (1, None, "invalid"),
        (2, "a", "reused"),
    ]
    assert rows[0].carried == {"end_user_target": "+13125550100"}
    assert event_rows(["x", None]) == [Row(0, "x"), Row(1, None, "not_created")]


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ([1, 2], "ids[0]"),
        (["a", "None"], "ids[1]"),
        (["a", ""], "ids[1]"),
        ({"other": 1}, "ids: a mapping must be"),
        (42, "ids: must be a list"),
        ("[1, 2", "ids: is not a list"),
    ],
)
def test_anything_else_is_refused_naming_the_argument_and_position(value: Any, where: str) -> None:
    with pytest.raises(TelnyxInvalidInputError, match=where.replace("[", r"\[").replace("]", r"\]")):
        event_ids_from(value, field_name="ids")


def test_a_summary_whose_items_are_not_rows_is_refused() -> None:
    with pytest.raises(TelnyxInvalidInputError, match="integer index"):
        rows_from_summary({"items": [{"index": "zero"}]})


def test_a_list_of_ids_with_none_for_rows_not_created_gives_one_row_each() -> None:
    """The batch summary's ``scheduled_event_ids`` is "the event id per input index (None where there is none)"
    (docs/howto/batch.md), and the sensor takes "a list of ids ... each id is a row, indexed by its position"
    (docs/howto/sensor.md): that list as it is gives 3 rows, the middle one without an event."""
    rows = event_rows(["event-a", None, "event-c"])
    assert [(row.index, row.scheduled_event_id) for row in rows] == [(0, "event-a"), (1, None), (2, "event-c")]
