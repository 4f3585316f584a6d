"""A batch's per-row results and summary (operators/_batch_results.py), directly: every public function and branch."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import pytest

from airflow_provider_telnyx.exceptions import (
    TelnyxInvalidInputError,
    TelnyxLateEventError,
    TelnyxNotFoundError,
    TelnyxServerError,
)
from airflow_provider_telnyx.operators._batch_results import (
    MAX_ERROR_TEXT,
    MAX_FIELD_TEXT,
    MAX_INPUT_TEXT,
    MAX_ROW_PROBLEMS,
    OUTCOMES,
    STATE_REJECTED,
    InvalidItemPolicy,
    ItemResult,
    bounded,
    bounded_name,
    check_on_invalid_item,
    rejected_before,
    remember_rejected,
    summarize,
    summary_line,
)
from tests.harness import DictStateStore, FakeTI

if TYPE_CHECKING:
    from airflow.sdk import Context


def ctx(try_number: int | None = 1, store: DictStateStore | None = None, clear_number: int | None = 0) -> Context:
    """A task context with what the results read: the try, the task state store and the run's clear number."""
    ti = FakeTI()
    ti.try_number = try_number  # type: ignore[assignment]  # Airflow may hand over None before the first try
    dag_run = None if clear_number is None else SimpleNamespace(clear_number=clear_number)
    return cast("Context", {"ti": ti, "task_state_store": store, "dag_run": dag_run})


# -- on_invalid_item --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "policy"),
    [("fail", InvalidItemPolicy.FAIL), ("skip", InvalidItemPolicy.SKIP), (InvalidItemPolicy.SKIP, "skip")],
)
def test_on_invalid_item_accepts_fail_and_skip(value: Any, policy: InvalidItemPolicy) -> None:
    assert check_on_invalid_item(value) == policy
    assert isinstance(check_on_invalid_item(value), InvalidItemPolicy)


@pytest.mark.parametrize("value", ["FAIL", "ignore", "", None, 1, ["fail"]])
def test_on_invalid_item_refuses_anything_else_naming_the_parameter(value: Any) -> None:
    with pytest.raises(TelnyxInvalidInputError) as caught:
        check_on_invalid_item(value)
    assert caught.value.fields == ("on_invalid_item",)
    assert "must be 'fail' or 'skip'" in str(caught.value)
    assert caught.value.__suppress_context__  # raised from None: no ValueError of the enum's own behind it


# -- bounded texts ----------------------------------------------------------------------------------------------


def test_bounded_keeps_a_text_up_to_its_limit_and_marks_a_cut() -> None:
    assert bounded("x" * MAX_ERROR_TEXT) == "x" * MAX_ERROR_TEXT
    cut = bounded("x" * (MAX_ERROR_TEXT + 1))
    assert len(cut) == MAX_ERROR_TEXT
    assert cut.endswith("...")
    assert bounded("abcdef", limit=5) == "ab..."
    assert bounded_name("f" * MAX_FIELD_TEXT) == "f" * MAX_FIELD_TEXT
    assert bounded_name("f" * (MAX_FIELD_TEXT + 50)) == "f" * (MAX_FIELD_TEXT - 3) + "..."


# -- one row's result -------------------------------------------------------------------------------------------


def test_a_failure_airflow_would_retry_is_retryable() -> None:
    result = ItemResult.failure(4, TelnyxServerError("503 from the API"))
    assert result.to_json() == {
        "index": 4,
        "outcome": "failed",
        "error_class": "TelnyxServerError",
        "error": "503 from the API",
        "retryable": True,
    }


@pytest.mark.parametrize(
    "error", [TelnyxNotFoundError("404: assistant not found"), TelnyxLateEventError("late by 2 h")]
)
def test_a_failure_no_retry_can_fix_is_not_retryable(error: BaseException) -> None:
    result = ItemResult.failure(0, error)
    assert (result.outcome, result.error_class, result.retryable) == ("failed", type(error).__name__, False)
    assert "retryable" in result.to_json()  # False is a value, kept in the JSON


def test_a_failure_without_a_message_is_named_by_its_class_and_a_long_one_is_bounded() -> None:
    assert ItemResult.failure(1, ValueError()).error == "ValueError"
    long = ItemResult.failure(2, RuntimeError("e" * 5000))
    assert long.error is not None
    assert len(long.error) == MAX_ERROR_TEXT
    assert long.error.endswith("...")
    assert long.retryable is True  # any exception: one odd answer never aborts the batch, and a retry may fix it


def test_an_invalid_row_names_its_fields_relative_to_the_row() -> None:
    result = ItemResult.invalid(
        3,
        [("events[3].end_user_target", "not a phone number"), ("events[3]", "not a mapping"), ("events[3].x", "r")],
        "555",
    )
    assert result.problems == [
        {"field": "end_user_target", "reason": "not a phone number"},
        {"field": "item", "reason": "not a mapping"},  # the row as a whole
        {"field": "x", "reason": "r"},
    ]
    assert result.error == "end_user_target: not a phone number; item: not a mapping; x: r"
    assert (result.outcome, result.error_class, result.retryable) == ("invalid", "TelnyxInvalidInputError", False)
    assert result.end_user_target_input == "555"
    assert result.scheduled_event_id is None


def test_an_invalid_row_keeps_another_rows_field_whole() -> None:
    # events[1]'s prefix is not a prefix of events[12].text: the name is kept as the exception gave it.
    (problem,) = ItemResult.invalid(1, [("events[12].text", "r")], None).problems or []
    assert problem["field"] == "events[12].text"


def test_an_invalid_row_is_bounded_whatever_the_input() -> None:
    problems = [(f"events[0].{'c' * 500}{i}", "why " * 200) for i in range(MAX_ROW_PROBLEMS + 5)]
    result = ItemResult.invalid(0, problems, "+1" + "3" * 1000)
    assert result.problems is not None
    assert len(result.problems) == MAX_ROW_PROBLEMS
    assert all(len(pair["field"]) == MAX_FIELD_TEXT for pair in result.problems)
    assert all(len(pair["reason"]) == MAX_ERROR_TEXT for pair in result.problems)
    assert result.error is not None
    assert len(result.error) == MAX_ERROR_TEXT
    assert result.end_user_target_input == ("+1" + "3" * 1000)[:MAX_INPUT_TEXT]


@pytest.mark.parametrize("target", [None, 13125550100, {"number": "+13125550100"}])
def test_an_invalid_rows_target_is_kept_only_when_written_as_text(target: Any) -> None:
    result = ItemResult.invalid(0, [("events[0].end_user_target", "r")], target)
    assert result.end_user_target_input is None
    assert "end_user_target_input" not in result.to_json()


def test_to_json_leaves_out_unset_fields_only() -> None:
    assert ItemResult(7, "not_sent").to_json() == {"index": 7, "outcome": "not_sent"}
    created = ItemResult(0, "created", scheduled_event_id="e0", scheduled_at="2031-08-01T09:10:00Z", retryable=False)
    assert created.to_json() == {
        "index": 0,
        "outcome": "created",
        "scheduled_event_id": "e0",
        "scheduled_at": "2031-08-01T09:10:00Z",
        "retryable": False,
    }


# -- the summary ------------------------------------------------------------------------------------------------


def mixed() -> list[ItemResult]:
    """Results in completion order (not input order), one of every outcome and a second failure."""
    return [
        ItemResult.failure(5, TelnyxNotFoundError("gone")),
        ItemResult(0, "created", scheduled_event_id="e0"),
        ItemResult(6, "not_sent"),
        ItemResult.failure(3, TelnyxServerError("busy")),
        ItemResult(1, "reused", scheduled_event_id="e1"),
        ItemResult.invalid(4, [("events[4].text", "empty")], None),
        ItemResult(2, "skipped"),
    ]


def test_the_summary_counts_every_outcome_in_input_order() -> None:
    summary = summarize(mixed(), requests=9, throttled=2, seconds=3.0)
    assert summary["total"] == 7
    assert summary["counts"] == {
        "created": 1,
        "reused": 1,
        "skipped": 1,
        "failed": 2,
        "invalid": 1,
        "not_sent": 1,
    }
    assert list(summary["counts"]) == list(OUTCOMES)
    assert (summary["created"], summary["already_existed"], summary["skipped"]) == (1, 1, 1)
    assert (summary["failed"], summary["invalid"]) == (2, 1)
    assert summary["retryable_failures"] == 1  # the 503; the 404 is not, and an invalid row is not a failure
    assert [item["index"] for item in summary["items"]] == list(range(7))
    assert summary["items"][4]["outcome"] == "invalid"
    assert summary["scheduled_event_ids"] == ["e0", "e1", None, None, None, None, None]
    assert (summary["requests"], summary["rate_limited"]) == (9, 2)
    assert (summary["seconds"], summary["requests_per_second"]) == (3.0, 3.0)


def test_the_summary_rounds_its_figures_and_survives_no_time_at_all() -> None:
    summary = summarize([], requests=0, throttled=0, seconds=0.0)
    assert (summary["total"], summary["items"], summary["requests_per_second"]) == (0, [], 0.0)
    assert set(summary["counts"].values()) == {0}
    instant = summarize([ItemResult(0, "created")], requests=2, throttled=0, seconds=0.0)
    assert instant["requests_per_second"] > 0  # no ZeroDivisionError on a clock that did not move
    precise = summarize([], requests=1, throttled=0, seconds=2.123456)
    assert (precise["seconds"], precise["requests_per_second"]) == (2.123, 0.47)


def test_the_summary_line_names_the_first_failure_and_the_first_invalid_row_never_the_ids() -> None:
    line = summary_line(summarize(mixed(), requests=9, throttled=2, seconds=3.0))
    assert line == (
        "7 items: 1 created, 1 reused, 1 skipped, 2 failed (1 retryable), 1 invalid; "
        "9 requests (2 rate-limited) in 3.0 s, 3.0/s. "
        "First failure: events[3]: TelnyxServerError: busy. "
        "First invalid row: events[4]: TelnyxInvalidInputError: text: empty"
    )
    assert "e0" not in line


def test_the_summary_line_of_a_clean_batch_and_of_a_summary_without_invalid_rows() -> None:
    summary = summarize([ItemResult(0, "created", scheduled_event_id="e0")], requests=1, throttled=0, seconds=0.5)
    assert summary_line(summary) == (
        "1 items: 1 created, 0 reused, 0 skipped, 0 failed (0 retryable), 0 invalid; "
        "1 requests (0 rate-limited) in 0.5 s, 2.0/s"
    )
    older = {**summary, "counts": {k: v for k, v in summary["counts"].items() if k != "invalid"}}
    assert summary_line(older) == summary_line(summary)  # a summary from before invalid rows were counted


# -- what a retry does not send again ---------------------------------------------------------------------------


def test_only_failures_no_retry_can_fix_are_remembered_and_a_retry_of_the_same_clear_reads_them() -> None:
    store = DictStateStore()
    remember_rejected(ctx(1, store, clear_number=2), mixed())
    assert store.data[STATE_REJECTED] == {
        "clear_number": 2,
        "items": {"5": {"error_class": "TelnyxNotFoundError", "error": "gone"}},  # not the 503, not the invalid row
    }
    assert rejected_before(ctx(2, store, clear_number=2)) == {
        5: {"error_class": "TelnyxNotFoundError", "error": "gone"}
    }


def test_nothing_is_remembered_when_nothing_was_rejected_or_there_is_no_store() -> None:
    store = DictStateStore()
    remember_rejected(ctx(1, store), [ItemResult.failure(0, TelnyxServerError("busy")), ItemResult(1, "created")])
    assert store.data == {}
    remember_rejected(ctx(1, None), mixed())  # no task state store (Airflow before it existed): nothing to keep


def test_a_first_try_or_a_run_without_a_store_has_nothing_rejected_before() -> None:
    store = DictStateStore()
    remember_rejected(ctx(1, store), mixed())
    assert rejected_before(ctx(1, store)) == {}  # the first try of a clear sends everything
    assert rejected_before(ctx(None, store)) == {}  # no try number yet: a first try
    assert rejected_before(ctx(2, None)) == {}
    assert rejected_before(ctx(2, store)) != {}


def test_a_cleared_run_sends_everything_again() -> None:
    store = DictStateStore()
    remember_rejected(ctx(1, store, clear_number=0), mixed())
    assert rejected_before(ctx(2, store, clear_number=1)) == {}  # cleared since: the user may have fixed it
    kept = DictStateStore()
    remember_rejected(ctx(1, kept, clear_number=None), mixed())  # a context without a dag run: clear number 0
    stored = kept.data[STATE_REJECTED]
    assert isinstance(stored, dict)
    assert stored["clear_number"] == 0
    assert rejected_before(ctx(3, kept, clear_number=None)) == rejected_before(ctx(3, kept, clear_number=0)) != {}


@pytest.mark.parametrize(
    "kept",
    [
        None,
        "not a mapping",
        {"items": {"1": {"error": "x"}}},  # no clear number
        {"clear_number": 0},  # no items
        {"clear_number": 0, "items": ["1"]},
    ],
)
def test_an_unreadable_record_means_nothing_was_rejected(kept: Any) -> None:
    store = DictStateStore()
    if kept is not None:
        store.set(STATE_REJECTED, kept)
    assert rejected_before(ctx(2, store)) == {}


def test_an_unreadable_item_in_the_record_is_dropped_the_others_kept() -> None:
    store = DictStateStore()
    store.set(STATE_REJECTED, {"clear_number": 0, "items": {"1": "odd", "2": {"error_class": "X", "error": "y"}}})
    assert rejected_before(ctx(2, store)) == {2: {"error_class": "X", "error": "y"}}
