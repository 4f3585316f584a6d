"""A listing's pages read item by item: an item that does not read never fails its page (skipped with a WARNING
naming it and counted, or handed over in its place), a page of odd items only does not end the listing, and an
event listed on two pages (offset paging while events are created) is kept once; messages, which have no id, never
are dropped as duplicates."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from airflow_provider_telnyx.exceptions import TelnyxApiError, TelnyxInvalidResponseError, TelnyxListingTooLongError
from airflow_provider_telnyx.hooks._http import ApiRequest
from airflow_provider_telnyx.hooks._paging import MAX_NAMED_UNREADABLE, Pager
from airflow_provider_telnyx.hooks.endpoints import events_page, events_pager, messages_pager
from airflow_provider_telnyx.models import ConversationMessagePage, ScheduledEventPage, UnreadableItem
from tests.unit.mock_api import MockApi, event_json, run

MODES = ("sync", "async")
PAGING = "airflow_provider_telnyx.hooks._paging"


def page(data: list[Any], number: int, total_pages: int) -> dict[str, Any]:
    return {"data": data, "meta": {"page_number": number, "total_pages": total_pages}}


def odd_event(event_id: str) -> dict[str, Any]:
    """An event with text where the schema has an object (and nothing else wrong)."""
    return event_json(scheduled_event_id=event_id, conversation_metadata="campaign=spring")


def foreign_event(event_id: str) -> dict[str, Any]:
    """An event without a required field."""
    body = event_json(scheduled_event_id=event_id)
    del body["telnyx_agent_target"]
    return body


def read_all(pager: Any, pages: list[dict[str, Any]]) -> list[Any]:
    items: list[Any] = []
    for payload in pages:
        got, done = pager.read(pager.request(), payload)
        items += got
        if done:
            break
    return items


def test_a_page_keeps_what_reads_and_says_what_does_not_item_by_item() -> None:
    read = ScheduledEventPage.model_validate(
        page([event_json(scheduled_event_id="e1"), odd_event("e2"), "not an event", event_json()], 1, 1)
    )
    assert [event.event_id for event in read.items] == ["e1", "evt-1"]
    assert [(item.index, item.item_id) for item in read.unreadable] == [(1, "e2"), (2, None)]
    assert read.unreadable[0].reason == "conversation_metadata: Input should be a valid dictionary"
    assert read.unreadable[0].raw == odd_event("e2")  # as sent, for whoever reports it
    assert "campaign" not in read.unreadable[0].reason  # field names and rules, never the values
    assert [item.name() for item in read.unreadable] == ["e2", "item 2"]


def test_the_envelope_is_still_read_whole() -> None:
    from pydantic import ValidationError

    for envelope in ({"data": "x"}, {"data": [], "meta": "x"}, ["a", "list"]):
        with pytest.raises(ValidationError):
            ScheduledEventPage.model_validate(envelope)


@pytest.mark.parametrize("mode", MODES)
def test_a_listing_skips_an_odd_event_with_a_warning_naming_it(mode: str, caplog: pytest.LogCaptureFixture) -> None:
    api = MockApi().script(
        httpx.Response(200, json=page([event_json(scheduled_event_id="e1"), foreign_event("e9")], 1, 2)),
        httpx.Response(200, json=page([event_json(scheduled_event_id="e3")], 2, 2)),
    )
    with caplog.at_level(logging.WARNING, logger=PAGING):
        events = run(api.hook(), mode, "list_scheduled_events", "assistant-1")
    assert [event.event_id for event in events] == ["e1", "e3"]
    (line,) = [r.getMessage() for r in caplog.records if r.name == PAGING]
    assert line == (
        "Telnyx API GET /ai/assistants/assistant-1/scheduled_events page 1: e9 does not match the documented schema "
        "and is skipped: telnyx_agent_target: Field required"
    )


def test_a_page_of_odd_items_only_does_not_end_the_listing() -> None:
    pager = events_pager("assistant-1")
    items = read_all(pager, [page([foreign_event("e1")], 1, 2), page([event_json(scheduled_event_id="e2")], 2, 2)])
    assert [event.event_id for event in items] == ["e2"]
    assert pager.unreadable == 1


def test_kept_unreadable_items_come_in_their_place_and_are_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    pager = messages_pager("conv-1", keep_unreadable=True)
    with caplog.at_level(logging.WARNING, logger=PAGING):
        items = read_all(pager, [page([{"text": "a"}, {"text": 5}, "b", {"text": "c"}], 1, 1)])
    assert [type(item).__name__ for item in items] == [
        "ConversationMessage",
        "UnreadableItem",
        "UnreadableItem",
        "ConversationMessage",
    ]
    assert isinstance(items[1], UnreadableItem)
    assert items[1].raw == {"text": 5}
    assert pager.unreadable == 2
    assert caplog.records == []  # the caller reports them


def test_past_the_first_named_ones_one_warning_gives_the_count(caplog: pytest.LogCaptureFixture) -> None:
    pager = events_pager("assistant-1")
    odd = [foreign_event(f"e{n}") for n in range(MAX_NAMED_UNREADABLE + 5)]
    with caplog.at_level(logging.WARNING, logger=PAGING):
        assert read_all(pager, [page(odd, 1, 1)]) == []
    lines = [r.getMessage() for r in caplog.records if r.name == PAGING]
    assert len(lines) == MAX_NAMED_UNREADABLE + 1
    assert lines[-1].endswith(f"{MAX_NAMED_UNREADABLE + 5} items did not match the documented schema and were "
                              f"skipped (the first {MAX_NAMED_UNREADABLE} named above)")  # fmt: skip


def test_an_event_listed_on_two_pages_is_kept_once() -> None:
    pager = events_pager("assistant-1")
    ids = [event_json(scheduled_event_id=name) for name in ("e1", "e2", "e3")]
    items = read_all(pager, [page(ids[:2], 1, 2), page(ids[1:], 2, 2)])
    assert [event.event_id for event in items] == ["e1", "e2", "e3"]
    assert pager.duplicates == 1


def test_an_unreadable_event_listed_on_two_pages_is_handed_over_once() -> None:
    pager = events_pager("assistant-1", keep_unreadable=True)
    items = read_all(pager, [page([odd_event("e1")], 1, 2), page([odd_event("e1"), event_json()], 2, 2)])
    assert [getattr(item, "item_id", None) or item.event_id for item in items] == ["e1", "evt-1"]


def test_messages_have_no_id_and_are_never_dropped_as_duplicates() -> None:
    pager = messages_pager("conv-1")
    items = read_all(pager, [page([{"text": "ok"}, {"text": "a"}], 1, 2), page([{"text": "ok"}], 2, 2)])
    assert [item.text for item in items] == ["ok", "a", "ok"]
    assert pager.duplicates == 0


def test_a_repeated_page_is_still_refused() -> None:
    pager = events_pager("assistant-1")
    same = page([event_json(scheduled_event_id="e1")], 1, 3)
    pager.read(pager.request(), same)
    with pytest.raises(TelnyxInvalidResponseError, match="answered page 1 when page 2 was asked for"):
        pager.read(pager.request(), same)


def test_a_tool_call_with_arguments_as_an_object_reads_and_keeps_them() -> None:
    call = {"id": "t1", "type": "function", "function": {"name": "lookup", "arguments": {"order": "B-3001"}}}
    read = ConversationMessagePage.model_validate(page([{"role": "assistant", "tool_calls": [call]}], 1, 1))
    assert read.unreadable == []
    (message,) = read.items
    assert message.tool_calls is not None
    assert message.tool_calls[0].function is not None
    assert message.tool_calls[0].function.arguments == {"order": "B-3001"}


def test_a_page_repeated_without_its_number_is_refused() -> None:
    pager = events_pager("assistant-1")
    same = {"data": [event_json(scheduled_event_id="e1")], "meta": {"total_pages": 3}}  # no page_number to compare
    pager.read(pager.request(), same)
    with pytest.raises(TelnyxInvalidResponseError, match="answered page 2 with the same items as page 1"):
        pager.read(pager.request(), same)


def test_more_pages_than_the_ceiling_are_refused_at_the_ceiling() -> None:
    """A server announcing one more page each time is followed up to the ceiling, not past it."""
    pager = events_pager("assistant-1", max_pages=2)
    assert pager.read(pager.request(), page([event_json(scheduled_event_id="e1")], 1, 2))[1] is False
    with pytest.raises(TelnyxListingTooLongError, match="announced more than 2 pages; stopped at page 2"):
        pager.read(pager.request(), page([event_json(scheduled_event_id="e2")], 2, 3))
    assert pager.number == 2  # no third page asked for


def test_a_first_page_announcing_more_than_the_ceiling_is_refused_at_once() -> None:
    """An honest server says how many pages there are: past the ceiling, nothing more is asked for."""
    pager = events_pager("assistant-1", max_pages=2)
    with pytest.raises(TelnyxListingTooLongError, match="announced more than 2 pages; stopped at page 1"):
        pager.read(pager.request(), page([event_json(scheduled_event_id="e1")], 1, 10**9))
    assert pager.number == 1


def pager_on(clock: list[float], max_seconds: float | None) -> Pager:
    """An events pager on an injected monotonic clock (``clock[0]``, moved by the test)."""
    return Pager(
        lambda number: ApiRequest("GET", "/listing", params={"page[number]": str(number)}),
        events_page,
        lambda event: event.event_id,
        max_seconds=max_seconds,
        clock=lambda: clock[0],
    )


def test_a_listing_that_outlasts_its_time_budget_stops_on_an_injected_clock() -> None:
    now = [100.0]
    pager = pager_on(now, max_seconds=60)
    pager.request()  # the budget starts with the first request
    now[0] += 60  # exactly the budget: still within it
    assert pager.read(pager.request(), page([event_json(scheduled_event_id="e1")], 1, 5))[1] is False
    now[0] += 1
    with pytest.raises(TelnyxApiError, match=r"not over after 2 pages in 61 s \(budget 60 s\); stopped there"):
        pager.read(pager.request(), page([event_json(scheduled_event_id="e2")], 2, 5))


def test_without_a_time_budget_only_pages_bound_a_listing() -> None:
    now = [0.0]
    pager = pager_on(now, max_seconds=None)
    pager.request()
    now[0] += 10**6
    items, done = pager.read(pager.request(), page([event_json(scheduled_event_id="e1")], 1, 2))
    assert (len(items), done) == (1, False)
