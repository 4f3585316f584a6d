"""TelnyxScheduledEventFinishedTrigger under bursts and odd events, against the simulator, driven by hand (issue 24,
item 4)."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest

from airflow_provider_telnyx.testing.clock import ManualClock
from airflow_provider_telnyx.testing.simulator import Simulator
from tests.unit.mock_api import MockApi, event_json
from tests.unit.triggers.test_finished_events import ASSISTANT, START, drive, seed, trigger

pytestmark = pytest.mark.telnyx_simulator(time_scale=1)


def test_a_window_once_over_max_pages_does_not_wedge_the_trigger_for_good(
    telnyx_simulator: Simulator, clock: ManualClock
) -> None:
    """A campaign burst larger than ``max_pages`` pages is listed in halves, so it does not block the polls after it:
    a call finishing hours later is fired (the burst finished before the look-back and is not reported)."""
    for i in range(101):  # one page too many for max_pages=1, all finished about 2 h before the trigger starts
        seed(telnyx_simulator, START - timedelta(hours=2) + timedelta(seconds=i), f"+1312555{7000 + i:04d}")
    later = seed(telnyx_simulator, START + timedelta(hours=6))  # a call long after the burst aged out
    fired = drive(trigger(poll_interval=3600, max_pages=1), clock, sleeps=10)  # ten hourly polls
    assert fired.ids == [later]


def test_a_payload_is_bounded_whatever_the_metadata_holds(clock: ManualClock) -> None:
    """An event another client tagged with a 200,000-character metadata value fires a payload under 16 kB (20 keys
    of at most 500 characters each), as ``errors`` is cut to 3 x 500."""
    big = event_json(
        assistant_id=ASSISTANT,
        scheduled_event_id="evt-big",
        scheduled_at_fixed_datetime=(START - timedelta(minutes=10)).isoformat(),
        status="completed",
        conversation_metadata={"notes": "x" * 200_000, "campaign": "spring"},
    )
    api = MockApi().script(
        httpx.Response(
            200,
            json={"data": [big], "meta": {"total_pages": 1, "total_results": 1, "page_number": 1, "page_size": 100}},
        )
    )
    t = trigger(poll_interval=60)
    t._hook = api.hook  # type: ignore[method-assign]
    fired = drive(t, clock, sleeps=2)
    assert fired.ids == ["evt-big"]
    assert len(json.dumps(fired.payloads[0])) < 16_000
