"""The trigger's deadline cuts a poll still waiting for its answer: the wait ends as a timeout, never hangs."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
from airflow_provider_telnyx.triggers import scheduled_event
from airflow_provider_telnyx.triggers.scheduled_event import TelnyxScheduledEventTrigger


def test_a_poll_in_flight_at_the_deadline_ends_the_wait_as_a_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[httpx.Request] = []

    async def never(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        await asyncio.Event().wait()  # the API holds the poll (within the connection's 30 s timeout)
        raise AssertionError("unreachable")

    # The trigger's clock says 0.05 s are left; the grace past the deadline (1 s) is taken away so the cut comes
    # at once. The connection's own timeout is far longer: only the trigger's deadline can end this wait.
    monkeypatch.setattr(scheduled_event, "DEADLINE_GRACE", 0.0)
    trigger = TelnyxScheduledEventTrigger(assistant_id="assistant-1", scheduled_event_id="evt-1", end_time=1000.0)
    trigger.clock = lambda: 999.95
    hook = TelnyxHook(async_transport=httpx.MockTransport(never))
    monkeypatch.setattr(trigger, "_hook", lambda: hook)
    assert hook.get_config().timeout >= 30

    async def events() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    assert asyncio.run(events()) == [
        {
            "status": "timeout",
            "event_id": "evt-1",
            "message": "Scheduled event evt-1 was not final after 0 poll(s) before the deadline "
            "(the last check had no answer by then)",
        }
    ]
    assert len(asked) == 1  # the poll was sent, and cut while waiting
