"""The waiters as I/O-free state machines: driven step by step with scripted answers and a manual clock."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_telnyx.exceptions import (
    TelnyxApiError,
    TelnyxScheduledEventFailedError,
    TelnyxScheduledEventWaitError,
    TelnyxWaitTimeoutError,
)
from airflow_provider_telnyx.hooks._errors import error_for_status
from airflow_provider_telnyx.hooks._http import ApiRequest
from airflow_provider_telnyx.hooks._steps import run_steps
from airflow_provider_telnyx.testing.clock import ManualClock
from airflow_provider_telnyx.utils.waiting import EventWaiter, next_sleep, resolve, wait_blocking
from airflow_provider_telnyx.utils.waiting_many import ManyEventsWaiter, resolve_many
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

        payload = wait_blocking(Hook(), ASSISTANT, waiter, sleep=slept.append)  # type: ignore[arg-type]
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
        assert payload["completed"] == ["a", "c"]
        with pytest.raises(TelnyxScheduledEventFailedError, match="1 of 3 scheduled events failed"):
            resolve_many(payload)
        result = resolve_many(payload, fail_on_failure=False)
        assert result["counts"] == {"completed": 2, "failed": 1, "total": 3}
        assert "busy" in result["failed"][0]["summary"]

    def test_events_missing_from_the_listing_are_fetched_and_a_404_ends_the_wait(self) -> None:
        clock, api = Clock(), FakeApi(a="pending", b="pending", c="pending")
        waiter = self.waiter(["a", "b", "c", "gone"], clock)
        payload = cycle(waiter, api)
        assert api.kinds() == ["list", "get"]
        assert api.requests[-1].path.endswith("/gone")
        assert payload["status"] == "error"
        assert "gone no longer exists" in payload["message"]

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
