"""A listing is bounded by more than a page count: a server whose pages cycle through items already listed is
recognised, not followed for 10,000 requests (issue 21, item 5)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from airflow_provider_telnyx.exceptions import TelnyxInvalidResponseError
from tests.unit.mock_api import MockApi, event_json, run


def _page(number: int, ids: list[str], *, more: bool) -> dict[str, Any]:
    data = [event_json(scheduled_event_id=event_id) for event_id in ids]
    meta = {"page_number": number, "page_size": len(ids), "total_pages": number + 1 if more else number}
    return {"data": data, "meta": meta}


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("period", [2, 3])
def test_pages_that_cycle_through_items_already_listed_fail_within_a_few_requests(mode: str, period: int) -> None:
    """Pages A, B, A, B, ... (each announcing one more page, numbered as asked): after two pages in a row that
    bring only items listed before, the listing fails as misbehaving instead of following up to 10,000 pages."""
    api = MockApi()
    cycle = [[f"evt-{k}-{i}" for i in range(3)] for k in range(period)]

    def answer(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page[number]"])
        if len(api.requests) > 50:  # bounded either way: past this, the cycle was followed
            return httpx.Response(200, json=_page(number, [], more=False))
        return httpx.Response(200, json=_page(number, cycle[(number - 1) % period], more=True))

    api.script(answer)
    with pytest.raises(TelnyxInvalidResponseError):
        run(api.hook(), mode, "list_scheduled_events", "assistant-1")
    assert len(api.requests) <= period + 2
