"""Bad responses: what a broken proxy or a changed API could send; each is a clear error or a tolerated parse."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from airflow_provider_telnyx.exceptions import TelnyxApiError, TelnyxInvalidResponseError
from airflow_provider_telnyx.triggers.scheduled_event import TelnyxScheduledEventTrigger
from tests.reliability.conftest import Report
from tests.unit.mock_api import MockApi, event_json, sms_json

HTML = "<html><head><title>500 Internal Server Error</title></head><body>nginx</body></html>"
CASES: dict[str, tuple[httpx.Response, str]] = {
    "non-JSON 200 body": (httpx.Response(200, text="OK", headers={"content-type": "text/plain"}), "error"),
    "HTML 200 page": (httpx.Response(200, text=HTML, headers={"content-type": "text/html"}), "error"),
    "HTML 500 page": (httpx.Response(500, text=HTML, headers={"content-type": "text/html"}), "error"),
    "HTML 403 page": (httpx.Response(403, text=HTML, headers={"content-type": "text/html"}), "error"),
    "truncated JSON": (httpx.Response(200, content=json.dumps(event_json()).encode()[:40]), "error"),
    "missing required fields": (
        httpx.Response(200, json={"scheduled_event_id": "evt", "status": "completed"}),
        "error",
    ),
    # A newer API's values are kept, never guessed into an outcome: the wait goes on until its deadline.
    "unknown status value": (httpx.Response(200, json=event_json(status="archived")), "timeout"),
    "unknown channel value": (httpx.Response(200, json=event_json(telnyx_conversation_channel="fax")), "timeout"),
    "another event's id": (httpx.Response(200, json=event_json(scheduled_event_id="evt-2")), "error"),
    "JSON array body": (httpx.Response(200, json=[event_json()]), "error"),
    "empty body": (httpx.Response(200, content=b""), "error"),
    "new fields only (API grew)": (
        httpx.Response(200, json=event_json(status="completed", sentiment={"score": 0.9}, tags=["x"])),
        "final",
    ),
    "null call_duration in attempts": (
        httpx.Response(
            200,
            json=event_json(
                status="failed",
                call_attempts=[
                    {
                        "attempt_number": 1,
                        "attempted_at": "2030-01-01T10:00:00Z",
                        "call_status": "busy",
                        "call_duration": None,
                    }
                ],
            ),
        ),
        "final",
    ),
}


async def _no_wait(_: float) -> None:
    await asyncio.sleep(0)


def _trigger_outcome(response: httpx.Response, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    api = MockApi().script(response)
    trigger = TelnyxScheduledEventTrigger(
        assistant_id="assistant-1", scheduled_event_id="evt-1", max_transient_errors=2, end_time=100.0
    )
    trigger.sleep = _no_wait
    ticks = iter(range(0, 10_000, 10))
    trigger.clock = lambda: float(next(ticks))  # ten polls, then the deadline
    monkeypatch.setattr(trigger, "_hook", api.hook)

    async def first() -> Any:
        events = [event.payload async for event in trigger.run()]
        assert len(events) == 1  # exactly one event: never silent, never looping forever
        return events[0]

    return asyncio.run(asyncio.wait_for(first(), timeout=30))


def test_bad_responses_are_clear_errors(report: Report, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bad responses from the API"""
    results = {}
    for name, (response, expected) in CASES.items():
        api = MockApi().script(response)
        try:
            api.hook(max_retries=1).get_scheduled_event("assistant-1", "evt-1")
            hook_result = "parsed"
        except TelnyxApiError as error:
            hook_result = type(error).__name__
            assert "answered" in str(error), name
        payload = _trigger_outcome(response, monkeypatch)
        assert payload["status"] == expected, (name, payload)
        if expected == "error":
            assert hook_result != "parsed", name
            assert payload["message"], name
        results[name] = f"hook: {hook_result}; trigger: {payload['status']}"
    report.record(**{name.replace(" ", "_"): result for name, result in results.items()})


def test_list_pages_with_wrong_meta_end_cleanly() -> None:
    """Bad responses from the API"""
    wrong_meta = {"data": [], "meta": {"page_number": 1, "page_size": 100, "total_pages": 9, "total_results": 900}}
    api = MockApi().script(httpx.Response(200, json=wrong_meta))
    assert list(api.hook().list_scheduled_events("assistant-1")) == []
    assert len(api.requests) == 1  # an empty page ends paging whatever meta says
    stuck = {"data": [sms_json()], "meta": {"page_number": 1, "page_size": 1, "total_pages": 3, "total_results": 3}}
    api = MockApi().script(httpx.Response(200, json=stuck))
    with pytest.raises(TelnyxInvalidResponseError, match="answered page 1 when page 2 was asked for"):
        list(api.hook().list_scheduled_events("assistant-1"))
    no_meta = {"data": [event_json()]}  # no meta: paging goes on until an empty page; a repeated page is an error
    api = MockApi().script(httpx.Response(200, json=no_meta))
    with pytest.raises(TelnyxInvalidResponseError, match="answered page 2 with the same items as page 1"):
        list(api.hook().list_scheduled_events("assistant-1"))
