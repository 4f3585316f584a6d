"""The finished-events trigger against a burst no halving can split."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_provider_telnyx.testing.clock import ManualClock
from airflow_provider_telnyx.testing.simulator import Simulator
from tests.unit.triggers.test_finished_events import START, drive, seed, trigger

pytestmark = pytest.mark.telnyx_simulator(time_scale=1)


def test_a_burst_scheduled_at_one_instant_does_not_wedge_the_trigger_for_good(
    telnyx_simulator: Simulator, clock: ManualClock
) -> None:
    """A campaign that schedules more than max_pages pages of calls at the same second (halving cannot split it)
    must not block every later poll: a call finishing hours later is still fired."""
    burst_at = START - timedelta(hours=2)  # one instant, finished before the look-back: not to be reported
    for i in range(101):  # one page too many for max_pages=1
        seed(telnyx_simulator, burst_at, f"+1312555{7000 + i:04d}")
    later = seed(telnyx_simulator, START + timedelta(hours=6))
    fired = drive(trigger(poll_interval=3600, max_pages=1), clock, sleeps=10)  # ten hourly polls
    assert fired.ids == [later]
