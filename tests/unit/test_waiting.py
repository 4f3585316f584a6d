"""The waiters as I/O-free state machines: driven step by step with scripted answers and a manual clock."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_telnyx.exceptions import (
    TelnyxApiError,
    TelnyxInvalidInputError,
    TelnyxScheduledEventFailedError,
    TelnyxScheduledEventWaitError,
    TelnyxWaitTimeoutError,
)
from airflow_provider_telnyx.hooks._errors import error_for_status
from airflow_provider_telnyx.hooks._http import ApiRequest
from airflow_provider_telnyx.hooks._steps import run_steps
from airflow_provider_telnyx.models import parse_scheduled_event
from airflow_provider_telnyx.testing.clock import ManualClock
from airflow_provider_telnyx.utils.event_ids import Row, earliest_scheduled_at, rows_from_ids, rows_from_summary
from airflow_provider_telnyx.utils.waiting import EventWaiter, next_sleep, resolve, wait_blocking
from airflow_provider_telnyx.utils.waiting_many import MAX_FACT_ERROR, ManyEventsWaiter, resolve_many
from tests.unit.mock_api import event_json

ASSISTANT = "assistant-1"
START = 1_900_000_000.0


def api_error(status: int) -> TelnyxApiError:
    """The error the hook raises for ``status`` (its class says whether a retry may help)."""
    return error_for_status(status, reason="", body=b"", content_type="", method="GET", path="x")


class Clock(ManualClock):
    """The manual clock, read as epoch seconds (what the waiters take)."""

    def __init__(self) -> None:
        super().__init__(datetime.fromtimestamp(START, timezone.utc))

    def timestamp(self) -> float:
        return self().timestamp()


class FakeApi:
    """Answers GET one event and GET the listing from a dict of events (newest state wins); records requests."""

    def __init__(self, **statuses: str) -> None:
        self.events: dict[str, dict[str, Any]] = {
            event_id: event_json(scheduled_event_id=event_id, status=status) for event_id, status in statuses.items()
        }
        self.errors: dict[str, TelnyxApiError] = {}
        self.requests: list[ApiRequest] = []

    def __call__(self, request: ApiRequest) -> Any:
        self.requests.append(request)
        last = request.path.rsplit("/", 1)[-1]
        if last in self.errors:
            raise self.errors[last]
        if last == "scheduled_events":
            number = int((request.params or {}).get("page[number]", "1"))
            size = 100
            everything = list(self.events.values())
            pages = max(1, -(-len(everything) // size))
            chunk = everything[(number - 1) * size : number * size]
            return {
                "data": chunk,
                "meta": {"page_number": number, "total_pages": pages, "total_results": len(everything)},
            }
        if last not in self.events:
            raise api_error(404)
        return self.events[last]

    def set(self, event_id: str, status: str, **fields: Any) -> None:
        self.events[event_id] = event_json(scheduled_event_id=event_id, status=status, **fields)

    def kinds(self) -> list[str]:
        return ["list" if r.path.endswith("scheduled_events") else "get" for r in self.requests]


def cycle(waiter: Any, api: Callable[[ApiRequest], Any]) -> Any:
    return run_steps(waiter.cycle(ASSISTANT), api)


class TestEventWaiter:
    def waiter(self, clock: Clock, **kwargs: Any) -> EventWaiter:
        defaults: dict[str, Any] = {"event_id": "evt-1", "poll_interval": 30, "clock": clock.timestamp}
        return EventWaiter(**(defaults | kwargs))

    def test_pending_then_completed(self) -> None:
        clock, api = Clock(), FakeApi(**{"evt-1": "pending"})
        waiter = self.waiter(clock)
        assert cycle(waiter, api) is None
        api.set("evt-1", "completed")
        payload = cycle(waiter, api)
        assert payload["status"] == "final"
        assert resolve(payload)["status"] == "completed"
        assert waiter.polls == 2

    def test_failed_raises_or_returns_by_choice(self) -> None:
        clock, api = Clock(), FakeApi(**{"evt-1": "failed"})
        payload = cycle(self.waiter(clock), api)
        with pytest.raises(TelnyxScheduledEventFailedError, match="evt-1 to \\+13125550100 failed"):
            resolve(payload)
        assert resolve(payload, fail_on_failure=False)["status"] == "failed"

    def test_transient_errors_are_counted_consecutively_and_bounded(self) -> None:
        clock, api = Clock(), FakeApi(**{"evt-1": "pending"})
        waiter = self.waiter(clock, max_transient_errors=2)
        api.errors["evt-1"] = api_error(503)
        assert cycle(waiter, api) is None
        assert cycle(waiter, api) is None
        del api.errors["evt-1"]
        assert cycle(waiter, api) is None  # a success resets the count
        assert waiter.transient_errors == 0
        api.errors["evt-1"] = api_error(503)
        assert cycle(waiter, api) is None
        assert cycle(waiter, api) is None
        payload = cycle(waiter, api)
        assert payload["status"] == "error"
        assert "gave up after 3 consecutive failed polls" in payload["message"]

    @pytest.mark.parametrize(
        ("status", "words"), [(401, "refused the key"), (403, "refused the key"), (404, "was deleted"), (400, "failed")]
    )
    def test_errors_no_poll_can_fix_end_the_wait_at_once(self, status: int, words: str) -> None:
        clock, api = Clock(), FakeApi(**{"evt-1": "pending"})
        api.errors["evt-1"] = api_error(status)
        payload = cycle(self.waiter(clock, max_transient_errors=10), api)
        assert payload["status"] == "error"
        assert words in payload["message"]
        with pytest.raises(TelnyxScheduledEventWaitError):
            resolve(payload)

    def test_deadline(self) -> None:
        clock, api = Clock(), FakeApi(**{"evt-1": "in_progress"})
        waiter = self.waiter(clock, deadline=START + 45)
        assert waiter.next_sleep() == 30
        assert cycle(waiter, api) is None
        clock.advance(30)
        assert waiter.next_sleep() == 15  # never sleeps past the deadline
        assert cycle(waiter, api) is None
        clock.advance(15)
        payload = cycle(waiter, api)
        assert payload["status"] == "timeout"
        assert "after 3 poll(s)" in payload["message"]
        with pytest.raises(TelnyxWaitTimeoutError):
            resolve(payload)
        assert waiter.expire()["status"] == "timeout"

    def test_an_unknown_status_is_not_final_and_warned_about_once(self, caplog: pytest.LogCaptureFixture) -> None:
        clock, api = Clock(), FakeApi(**{"evt-1": "on_hold"})
        waiter = self.waiter(clock)
        with caplog.at_level(logging.WARNING):
            assert cycle(waiter, api) is None
            assert cycle(waiter, api) is None
        assert [r.getMessage().count("'on_hold'") for r in caplog.records] == [1]

    def test_wait_blocking_sleeps_between_cycles(self) -> None:
        clock, api = Clock(), FakeApi(**{"evt-1": "pending"})
        waiter = self.waiter(clock)
        slept: list[float] = []

        class Hook:
            def run(self, steps: Any) -> Any:
                if len(api.requests) == 2:
                    api.set("evt-1", "completed")
                return run_steps(steps, api)

        payload = wait_blocking(Hook(), ASSISTANT, waiter, sleep=slept.append)  # type: ignore[arg-type]  # a stand-in
        assert payload is not None
        assert payload["status"] == "final"
        assert slept == [30, 30]


def test_next_sleep() -> None:
    clock = Clock()
    assert next_sleep(10, None, clock.timestamp) == 10
    assert next_sleep(10, START + 4, clock.timestamp) == 4
    assert next_sleep(10, START - 4, clock.timestamp) == 0


class TestManyEventsWaiter:
    def waiter(self, ids: list[str], clock: Clock, **kwargs: Any) -> ManyEventsWaiter:
        return ManyEventsWaiter(event_ids=ids, poll_interval=60, clock=clock.timestamp, **kwargs)

    def test_two_events_are_fetched_not_listed(self) -> None:
        clock, api = Clock(), FakeApi(a="pending", b="pending")
        waiter = self.waiter(["a", "b"], clock)
        assert cycle(waiter, api) is None
        assert api.kinds() == ["get", "get"]

    def test_many_events_are_listed_then_fetched_when_the_listing_costs_more(self) -> None:
        statuses = {f"e{i}": "pending" for i in range(250)}
        clock, api = Clock(), FakeApi(**statuses)
        waiter = self.waiter(["e0", "e1", "e2", "e3"], clock)
        assert cycle(waiter, api) is None
        assert api.kinds() == ["list", "list", "list"]  # 250 events, 3 pages: cheaper than nothing known
        assert waiter.requests == 3
        api.requests.clear()
        assert cycle(waiter, api) is None
        assert api.kinds() == ["list"] * 3  # 3 pages still beat 4 fetches
        api.requests.clear()
        api.set("e0", "completed")
        api.set("e1", "completed")
        assert cycle(waiter, api) is None
        api.requests.clear()
        assert cycle(waiter, api) is None
        assert api.kinds() == ["get", "get"]  # 2 pending: fetched one by one

    def test_the_cheaper_way_is_chosen_from_the_last_listing(self) -> None:
        clock = Clock()
        waiter = self.waiter([f"e{i}" for i in range(5)], clock)
        assert waiter.use_list()  # nothing known yet
        waiter.end_listing(250)  # 3 pages
        assert waiter.use_list()  # 3 pages < 5 fetches
        waiter.end_listing(900)  # 9 pages
        assert not waiter.use_list()  # 5 fetches < 9 pages

    def test_final_events_leave_the_wait_and_the_split_is_reported(self) -> None:
        clock, api = Clock(), FakeApi(a="pending", b="pending", c="pending", other="pending")
        waiter = self.waiter(["a", "b", "c"], clock)
        assert cycle(waiter, api) is None
        api.set("a", "completed")
        api.set("b", "failed", errors=["busy"])
        assert cycle(waiter, api) is None
        assert list(waiter.pending) == ["c"]
        api.set("c", "completed")
        payload = cycle(waiter, api)
        assert payload["status"] == "final"
        assert {event_id: facts[0] for event_id, facts in payload["final"].items()} == {
            "a": "completed",
            "b": "failed",
            "c": "completed",
        }
        with pytest.raises(TelnyxScheduledEventFailedError, match="1 of 3 scheduled events failed") as caught:
            resolve_many(payload)
        assert "row 1: scheduled event b failed; errors: busy" in str(caught.value)
        result = resolve_many(payload, fail_on_failure=False)
        assert result["counts"] == {"completed": 2, "failed": 1, "invalid": 0, "skipped": 0, "total": 3}
        assert [(item["index"], item["outcome"], item["error"]) for item in result["items"]] == [
            (0, "completed", None),
            (1, "failed", "busy"),
            (2, "completed", None),
        ]

    def test_an_event_missing_from_the_listing_is_fetched_and_a_404_is_its_rows_deleted_outcome(self) -> None:
        """Someone deleted one pending event (cancelled the call): that row's outcome, the wait goes on."""
        clock, api = Clock(), FakeApi(a="pending", b="pending", c="pending")
        waiter = self.waiter(["a", "b", "c", "gone"], clock)
        assert cycle(waiter, api) is None
        assert api.kinds() == ["list", "get"]
        assert api.requests[-1].path.endswith("/gone")
        assert list(waiter.pending) == ["a", "b", "c"]
        for event_id in ("a", "b", "c"):
            api.set(event_id, "completed")
        payload = cycle(waiter, api)
        assert payload["status"] == "final"
        assert payload["message"] == "3 scheduled events completed, 0 failed, 1 deleted"
        rows = rows_from_ids(["a", "b", "c", "gone"])
        result = resolve_many(payload, rows=rows, fail_on_failure=False)
        assert [(item["status"], item["outcome"]) for item in result["items"]] == [
            *[("completed", "completed")] * 3,
            ("deleted", "deleted"),
        ]
        assert result["items"][3]["error"] == "no longer exists (404): deleted before it completed"
        assert result["counts"] == {"completed": 3, "failed": 0, "invalid": 0, "skipped": 0, "deleted": 1, "total": 4}
        # With fail_on_failure a deleted event did not complete: a failure of its row, named as such.
        with pytest.raises(TelnyxScheduledEventFailedError) as caught:
            resolve_many(payload, rows=rows)
        assert str(caught.value) == (
            "1 of 4 scheduled events failed (1 of them deleted before they completed). "
            "First: row 3: scheduled event gone no longer exists (404): deleted before it completed"
        )

    def test_a_listing_page_that_cannot_be_read_only_ends_the_listing(self) -> None:
        """A page the schema refuses as a whole (here: no readable ``meta``) is no reason to end the wait: the
        pending events are fetched one by one that cycle, and the next cycle lists again."""
        clock, api = Clock(), FakeApi(a="completed", b="completed", c="pending")

        def odd_listing(request: ApiRequest) -> Any:
            if request.path.endswith("scheduled_events"):
                api.requests.append(request)
                return {"data": [{"scheduled_event_id": "someone-elses"}], "meta": "?"}
            return api(request)

        waiter = self.waiter(["a", "b", "c"], clock)
        assert run_steps(waiter.cycle(ASSISTANT), odd_listing) is None
        assert api.kinds() == ["list", "get", "get", "get"]
        assert list(waiter.pending) == ["c"]
        assert waiter.requests == 4
        api.set("c", "completed")
        payload = run_steps(waiter.cycle(ASSISTANT), odd_listing)
        assert payload is not None
        assert payload["status"] == "final"

    def test_a_new_waiter_given_what_the_last_one_kept_lists_from_the_same_time(self) -> None:
        """Reschedule mode runs each poke in a new process: what a waiter keeps (a few JSON values) lets the next
        one start its listing where this one would, instead of at the assistant's oldest event."""
        ids = ["a", "b", "c", "d"]
        clock, api = Clock(), FakeApi(**{f"old{i}": "completed" for i in range(50)})
        for event_id in ids:
            api.set(event_id, "pending", scheduled_at_fixed_datetime="2031-06-01T08:00:00Z")
        first = self.waiter(ids, clock)
        assert cycle(first, api) is None
        assert [(r.params or {}).get("from_date") for r in api.requests] == [None]  # nothing known: from the oldest
        kept = first.kept()
        assert json.loads(json.dumps(kept)) == kept
        api.requests.clear()
        assert cycle(first, api) is None
        same_process = [(r.path, r.params) for r in api.requests]
        api.requests.clear()
        fresh = self.waiter(ids, clock)
        fresh.resume(kept)
        assert cycle(fresh, api) is None
        assert [(r.path, r.params) for r in api.requests] == same_process
        assert (same_process[0][1] or {})["from_date"].startswith("2031-06-01T08:00:00")

    @pytest.mark.parametrize(
        "kept", [None, "junk", {"list_from": "yesterday", "listed_total": -1, "transient_errors": True}]
    )
    def test_what_an_earlier_poke_kept_is_read_tolerantly(self, kept: Any) -> None:
        waiter = self.waiter(["a", "b", "c"], Clock())
        waiter.resume(kept)
        assert (waiter.since, waiter.listed_total, waiter.transient_errors) == (None, None, 0)

    def test_the_rows_earliest_scheduled_time_starts_the_first_listing(self) -> None:
        summary = {
            "items": [
                {"index": 0, "outcome": "created", "scheduled_event_id": "a", "scheduled_at": "2031-06-01T09:00:00Z"},
                {"index": 1, "outcome": "invalid"},
                {"index": 2, "outcome": "reused", "scheduled_event_id": "b", "scheduled_at": "2031-06-01T08:00:00Z"},
                {"index": 3, "outcome": "skipped", "scheduled_at": "2031-06-01T07:00:00Z"},  # no event: no bound
                {"index": 4, "outcome": "created", "scheduled_event_id": "c", "scheduled_at": "2031-06-01T10:00:00Z"},
            ]
        }
        rows = rows_from_summary(summary)
        since = earliest_scheduled_at(rows)
        assert since == datetime(2031, 6, 1, 8, tzinfo=timezone.utc)
        clock, api = Clock(), FakeApi(a="pending", b="pending", c="pending")
        assert cycle(self.waiter(["a", "b", "c"], clock, since=since), api) is None
        assert (api.requests[0].params or {}).get("from_date", "").startswith("2031-06-01T08:00:00")
        # A row with an event but no time (a list of ids, an older summary): no bound is guessed.
        assert earliest_scheduled_at([*rows, Row(5, "d", "created")]) is None

    def test_listing_starts_at_the_earliest_pending_time(self) -> None:
        clock, api = Clock(), FakeApi(a="pending", b="pending", c="pending")
        api.set("b", "pending", scheduled_at_fixed_datetime="2029-06-01T08:00:00Z")
        waiter = self.waiter(["a", "b", "c"], clock)
        assert cycle(waiter, api) is None
        api.requests.clear()
        cycle(waiter, api)
        assert (api.requests[0].params or {}).get("from_date", "").startswith("2029-06-01T08:00:00")

    def test_transient_errors_bounded_and_auth_errors_fatal(self) -> None:
        clock, api = Clock(), FakeApi(a="pending", b="pending")
        waiter = self.waiter(["a", "b"], clock, max_transient_errors=1)
        api.errors["a"] = api_error(503)
        assert cycle(waiter, api) is None
        payload = cycle(waiter, api)
        assert payload["status"] == "error"
        fatal = self.waiter(["a", "b"], clock, max_transient_errors=5)
        api.errors["a"] = api_error(401)
        assert cycle(fatal, api)["status"] == "error"

    def test_deadline(self) -> None:
        clock, api = Clock(), FakeApi(a="pending", b="pending")
        waiter = self.waiter(["a", "b"], clock, deadline=START + 90)
        assert cycle(waiter, api) is None
        clock.advance(90)
        payload = cycle(waiter, api)
        assert payload["status"] == "timeout"
        assert payload["pending"] == ["a", "b"]
        with pytest.raises(TelnyxWaitTimeoutError, match="2 scheduled events were not final"):
            resolve_many(payload)

    def test_a_listing_stops_once_it_costs_more_than_fetching(self) -> None:
        statuses = {f"e{i}": "pending" for i in range(1000)}
        clock, api = Clock(), FakeApi(**statuses)
        waiter = self.waiter(["e0", "e1", "e999"], clock)
        assert waiter.listing_budget() == 400
        cycle(waiter, api)
        assert api.kinds().count("list") == 5  # pages 1-5 cover the budget of 400 events, then it stops
        assert api.kinds()[5:] == ["get"]  # e999 was beyond the budget: fetched on its own


@pytest.mark.parametrize("payload", [None, {}, {"status": "maybe"}, "final", {"status": "final", "event": {"x": 1}}])
def test_unreadable_payloads_are_wait_errors(payload: Any) -> None:
    with pytest.raises(TelnyxScheduledEventWaitError):
        resolve(payload)


class TestManyResults:
    """What a many-events wait reports per input row (the one rule every mode and the batch operator use)."""

    @staticmethod
    def final(**facts: list[Any]) -> dict[str, Any]:
        return {"status": "final", "message": "", "final": facts, "pending": [], "requests": 1}

    def test_rows_of_a_batch_summary_keep_their_index_target_and_batch_outcome(self) -> None:
        summary = {
            "items": [
                {"index": 0, "outcome": "created", "scheduled_event_id": "a", "end_user_target": "+13125550100"},
                {
                    "index": 1,
                    "outcome": "invalid",
                    "end_user_target_input": "312-555-0101",
                    "error": "end_user_target: has no '+' and country code",
                    "problems": [{"field": "end_user_target", "reason": "has no '+' and country code"}],
                },
                {"index": 2, "outcome": "reused", "scheduled_event_id": "b", "end_user_target": "+13125550102"},
                {"index": 3, "outcome": "failed", "error": "TelnyxForbiddenError: D13"},
                {"index": 4, "outcome": "skipped", "scheduled_at": "2031-01-01T00:00:00+00:00"},
            ],
            "scheduled_event_ids": ["a", None, "b", None, None],
        }
        rows = rows_from_summary(summary)
        payload = self.final(a=["completed", 1, "completed", None], b=["failed", 3, "no-answer", "retries exhausted"])
        result = resolve_many(payload, rows=rows, fail_on_failure=False)
        assert result["counts"] == {"completed": 1, "failed": 2, "invalid": 1, "skipped": 1, "total": 5}
        items = result["items"]
        assert [(i["index"], i["outcome"], i.get("batch_outcome"), i["status"]) for i in items] == [
            (0, "completed", "created", "completed"),
            (1, "invalid", "invalid", None),
            (2, "failed", "reused", "failed"),
            (3, "failed", "failed", None),
            (4, "skipped", "skipped", None),
        ]
        assert items[2]["attempts"] == {"count": 3, "last_call_status": "no-answer"}
        assert items[2]["end_user_target"] == "+13125550102"
        assert items[1]["end_user_target_input"] == "312-555-0101"
        assert items[1]["attempts"] == {"count": 0, "last_call_status": None}
        assert items[3]["error"] == "TelnyxForbiddenError: D13"
        assert set(items[0]) == set(items[1]) - {"end_user_target_input"} | {"end_user_target"}

    def test_rows_the_batch_did_not_create_never_fail_the_wait(self) -> None:
        rows = [Row(0, "a", "created"), Row(1, None, "invalid"), Row(2, None, "failed")]
        result = resolve_many(self.final(a=["completed", 1, "completed", None]), rows=rows)
        assert [item["outcome"] for item in result["items"]] == ["completed", "invalid", "failed"]

    def test_a_row_whose_event_the_wait_did_not_report_is_a_wait_error(self) -> None:
        with pytest.raises(TelnyxScheduledEventWaitError, match="no outcome for scheduled event b"):
            resolve_many(self.final(a=["completed", 1, "completed", None]), rows=[Row(0, "a"), Row(1, "b")])

    def test_a_payload_of_an_earlier_trigger_is_still_read(self) -> None:
        old = {
            "status": "final",
            "completed": ["a"],
            "failed": [{"scheduled_event_id": "b", "summary": "...", "errors": ["busy"]}],
        }
        result = resolve_many(old, fail_on_failure=False)
        assert [(i["scheduled_event_id"], i["outcome"], i["error"]) for i in result["items"]] == [
            ("a", "completed", None),
            ("b", "failed", "busy"),
        ]

    def test_an_unreadable_summary_is_refused_naming_the_argument(self) -> None:
        with pytest.raises(TelnyxInvalidInputError, match="scheduled_event_ids"):
            rows_from_summary({"items": [{"index": "zero"}]})

    def test_each_event_costs_the_payload_a_bounded_size_however_long_its_history(self) -> None:
        clock = Clock()
        ids = [f"evt-{i:05d}-{'x' * 24}" for i in range(10_000)]
        waiter = ManyEventsWaiter(event_ids=ids, poll_interval=60, clock=clock.timestamp)
        attempts = [
            {"attempt_number": n, "attempted_at": "2030-01-01T10:00:00Z", "call_status": "no-answer"} for n in range(10)
        ]
        for event_id in ids:
            waiter.observe_event(
                parse_scheduled_event(
                    event_json(
                        scheduled_event_id=event_id,
                        status="failed",
                        call_attempts=attempts,
                        errors=["E" * 5_000, "F" * 5_000],
                    )
                )
            )
        payload = waiter.end_cycle(None)
        assert payload is not None
        assert payload["status"] == "final"
        size = len(json.dumps(payload))
        per_event = size / len(ids)
        id_size = len(ids[0]) + 4
        assert per_event < id_size + MAX_FACT_ERROR + 60, per_event  # the id, the error's first 120 characters
        result = resolve_many(payload, fail_on_failure=False)
        assert result["items"][9_999]["attempts"] == {"count": 10, "last_call_status": "no-answer"}
        assert len(result["items"][0]["error"]) == MAX_FACT_ERROR
