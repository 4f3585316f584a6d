from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from airflow.triggers.base import TriggerEvent

from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
from airflow_provider_telnyx.testing.clock import ManualClock
from airflow_provider_telnyx.testing.simulator import Simulator
from airflow_provider_telnyx.triggers.scheduled_event import TelnyxScheduledEventTrigger
from tests.environment import API_KEY

ASSISTANT = "assistant-trig"
START = datetime(2031, 7, 1, 9, 0, tzinfo=timezone.utc)


def trigger(**kwargs: Any) -> TelnyxScheduledEventTrigger:
    kwargs.setdefault("assistant_id", ASSISTANT)
    kwargs.setdefault("scheduled_event_id", "evt")
    return TelnyxScheduledEventTrigger(**kwargs)


def collect(t: TelnyxScheduledEventTrigger, between_polls: Any = None) -> list[TriggerEvent]:
    async def fake_sleep(_: float) -> None:
        if between_polls:
            between_polls()
        await asyncio.sleep(0)

    t.sleep = fake_sleep

    async def go() -> list[TriggerEvent]:
        return [event async for event in t.run()]

    return asyncio.run(go())


def test_serialization_round_trip_is_json_and_keyless() -> None:
    original = trigger(poll_interval=7, end_time=1_900_000_000.5, max_transient_errors=3, cancel_on_kill=False)
    classpath, kwargs = original.serialize()
    assert classpath == "airflow_provider_telnyx.triggers.scheduled_event.TelnyxScheduledEventTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert API_KEY not in json.dumps(kwargs)
    assert API_KEY not in repr(original)
    rebuilt = TelnyxScheduledEventTrigger(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


def create(target: str = "+13125550100") -> str:
    body = {
        "telnyx_conversation_channel": "phone_call",
        "telnyx_end_user_target": target,
        "telnyx_agent_target": "+13125550199",
        "scheduled_at_fixed_datetime": (START + timedelta(minutes=1)).isoformat(),
    }
    return TelnyxHook().create_scheduled_event(ASSISTANT, body).event_id


def test_yields_one_final_event_and_only_reads(telnyx_simulator: Simulator, clock: ManualClock) -> None:
    event_id = create()
    events = collect(trigger(scheduled_event_id=event_id, poll_interval=1), lambda: clock.advance(30))
    (event,) = events
    assert event.payload["status"] == "final"
    assert event.payload["event"]["status"] == "completed"
    polls = telnyx_simulator.journal[1:]
    assert {e.method for e in polls} == {"GET"}
    assert len(polls) > 2


def test_deadline_in_the_past_yields_timeout(telnyx_simulator: Simulator, clock: ManualClock) -> None:
    event_id = create()
    (event,) = collect(trigger(scheduled_event_id=event_id, end_time=0.0))
    assert event.payload["status"] == "timeout"
    assert event_id in event.payload["message"]


def test_missing_event_yields_error(telnyx_simulator: Simulator) -> None:
    (event,) = collect(trigger(scheduled_event_id="gone"))
    assert event.payload["status"] == "error"
    assert "was deleted" in event.payload["message"]


def test_unexpected_exception_is_reported_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TELNYX_BROKEN", '{"conn_type": "telnyx", "host": "ftp://nowhere"}')
    (event,) = collect(trigger(telnyx_conn_id="telnyx_broken"))
    assert event.payload["status"] == "error"
    assert "password" in event.payload["message"]
    assert "host" in event.payload["message"]


def test_restart_from_serialize_resumes_with_only_gets(telnyx_simulator: Simulator, clock: ManualClock) -> None:
    event_id = create()
    first = trigger(scheduled_event_id=event_id, poll_interval=1)

    async def run_until_cancelled() -> None:
        polled_twice = asyncio.Event()
        waits = 0

        async def sleep(_: float) -> None:
            nonlocal waits
            waits += 1
            if waits == 2:  # after the second poll of the pending event, the wait never ends
                polled_twice.set()
                await asyncio.Event().wait()
            await asyncio.sleep(0)

        first.sleep = sleep
        task = asyncio.ensure_future(anext(aiter(first.run())))
        # A safety bound only ("this must not hang"): two polls of a local simulator take milliseconds.
        await asyncio.wait_for(polled_twice.wait(), 30)
        assert len(telnyx_simulator.journal) == 3  # the create, then two polls of the pending event
        task.cancel()  # the triggerer went away mid-wait
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run_until_cancelled())
    before = telnyx_simulator.stats()["events_created"]
    _, kwargs = first.serialize()
    (event,) = collect(TelnyxScheduledEventTrigger(**kwargs), lambda: clock.advance(60))
    assert event.payload["event"]["status"] == "completed"
    assert telnyx_simulator.stats()["events_created"] == before == 1
    assert {e.method for e in telnyx_simulator.journal[1:]} == {"GET"}
