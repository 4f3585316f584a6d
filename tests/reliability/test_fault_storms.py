"""Fault storms: 30% of all requests answered 429, 502, 503 or timing out."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_telnyx._common import DEFAULT_MAX_RETRIES
from airflow_provider_telnyx.exceptions import TelnyxApiError, TelnyxConnectionError, TelnyxServerError
from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
from airflow_provider_telnyx.sensors.scheduled_event import TelnyxScheduledEventSensor
from airflow_provider_telnyx.testing.clock import ManualClock
from airflow_provider_telnyx.testing.simulator import Faults, Simulator
from airflow_provider_telnyx.triggers.scheduled_event import TelnyxScheduledEventTrigger
from tests.harness import SimulatorConnection, run_sensor
from tests.reliability.conftest import Report

pytestmark = pytest.mark.long_running

ASSISTANT = "assistant-storm"
#: A hung request hangs 2 s: well past the hooks' timeouts below, which are themselves far above what a request takes
#: on a loaded machine (15 in flight in one process, beside other processes on 2 cores), so only a hang times out.
STORM = Faults(error_rate=0.225, error_statuses=(429, 502, 503), timeout_rate=0.075, hang_seconds=2.0)
START = datetime(2031, 9, 1, 12, 0, tzinfo=timezone.utc)
OPS = 60


async def _no_wait(_: float) -> None:
    await asyncio.sleep(0)


def storm_hook() -> TelnyxHook:
    # Budget: 10 retries per request; a 1 s timeout: hung requests time out, queued ones do not.
    return TelnyxHook(max_retries=10, timeout=1.0, sleep=lambda _: None, async_sleep=_no_wait)


def body(i: int) -> dict[str, Any]:
    return {
        "telnyx_conversation_channel": "phone_call",
        "telnyx_end_user_target": f"+1312555{4000 + i:04d}",
        "telnyx_agent_target": "+13125550199",
        "scheduled_at_fixed_datetime": (START + timedelta(hours=1)).isoformat(),
    }


def faults_absorbed(stats: dict[str, Any]) -> dict[str, int]:
    return {k.removeprefix("faults_"): v for k, v in stats.items() if k.startswith("faults_")}


@pytest.mark.telnyx_simulator(faults=STORM, seed=3)
async def test_every_operation_completes_within_the_retry_budget(telnyx_simulator: Simulator, report: Report) -> None:
    """Fault storm: create, get, list and delete under 30% faults"""
    telnyx_simulator.clock = ManualClock(START)
    hook = storm_hook()
    limit = asyncio.Semaphore(15)

    async def bounded(coroutine: Any) -> Any:
        async with limit:
            return await coroutine

    created = await asyncio.gather(
        *(bounded(hook.acreate_scheduled_event(ASSISTANT, body(i), idempotency_key=f"storm-{i}")) for i in range(OPS))
    )
    ids = [event.event_id for event in created]
    fetched = await asyncio.gather(*(bounded(hook.aget_scheduled_event(ASSISTANT, i)) for i in ids))
    listed = [event async for event in hook.alist_scheduled_events(ASSISTANT, page_size=7)]
    synced = list(storm_hook().list_scheduled_events(ASSISTANT, page_size=9))
    await asyncio.gather(*(bounded(hook.adelete_scheduled_event(ASSISTANT, i)) for i in ids))
    await hook.aclose()
    stats = telnyx_simulator.stats()
    absorbed = faults_absorbed(stats)
    report.record(
        operations=OPS * 3 + 2,
        requests=stats["requests"],
        faults_absorbed=sum(absorbed.values()),
        faults_by_kind=absorbed,
        operations_failed=0,
        events_created=stats["events_created"],
        events_left=stats["events_stored"],
    )
    assert [e.event_id for e in fetched] == ids
    assert sorted(e.event_id for e in listed) == sorted(ids) == sorted(e.event_id for e in synced)
    assert stats["events_created"] == OPS
    assert stats["events_stored"] == 0
    assert sum(absorbed.values()) >= stats["requests"] * 0.2
    assert {"http_429", "http_502", "http_503", "timeout"} <= set(absorbed)


@pytest.mark.telnyx_simulator(faults=STORM, seed=4)
def test_sensors_and_triggers_reach_the_right_outcome(
    telnyx_simulator: Simulator, report: Report, simulator_connection: SimulatorConnection
) -> None:
    """Fault storm: sensors and triggers under 30% faults"""
    clock = ManualClock(START)
    telnyx_simulator.clock = clock
    telnyx_simulator.set_faults(error_rate=0.0, timeout_rate=0.0)  # set up calmly
    hook = TelnyxHook()
    outcomes = {
        hook.create_scheduled_event(ASSISTANT, body(i) | {"telnyx_end_user_target": target}).event_id: expected
        for i, (target, expected) in enumerate(
            [("+13125550100", "completed"), ("+13125550103", "failed"), ("+13125550110", "completed")] * 3
        )
        if not target.endswith("110")
    } | {
        hook.create_scheduled_event(
            ASSISTANT,
            body(99)
            | {"telnyx_conversation_channel": "sms_chat", "text": "hi", "telnyx_end_user_target": "+13125550111"},
        ).event_id: "failed"
    }
    telnyx_simulator.set_faults(error_rate=STORM.error_rate, timeout_rate=STORM.timeout_rate)
    simulator_connection("telnyx_storm", max_retries=3, timeout=0.5)  # one request at a time: 0.5 s is ample
    # The poking sensor's hook does not retry (so no real backoff sleeps); its own error budget absorbs faults.
    simulator_connection("telnyx_storm_poke", max_retries=0, timeout=0.5)
    reached: dict[str, int] = {"trigger": 0, "sensor": 0}
    for event_id, expected in outcomes.items():
        clock.advance(-7200)
        trigger = TelnyxScheduledEventTrigger(
            assistant_id=ASSISTANT, scheduled_event_id=event_id, telnyx_conn_id="telnyx_storm", max_transient_errors=10
        )

        async def advance(_: float) -> None:
            clock.advance(600)
            await asyncio.sleep(0)

        trigger.sleep = advance

        async def first(t: TelnyxScheduledEventTrigger = trigger) -> Any:
            async for event in t.run():
                return event.payload
            return None

        payload = asyncio.run(first())
        assert payload["status"] == "final", payload
        assert payload["event"]["status"] == expected
        reached["trigger"] += 1
        sensor = TelnyxScheduledEventSensor(
            task_id="wait",
            assistant_id=ASSISTANT,
            scheduled_event_id=event_id,
            fail_on_failure=False,
            telnyx_conn_id="telnyx_storm_poke",
            max_transient_errors=10,
            timeout=300,
        )
        outcome = run_sensor(sensor, "poke")
        assert outcome.state == "success", outcome
        assert outcome.value["status"] == expected
        reached["sensor"] += 1
    absorbed = faults_absorbed(telnyx_simulator.stats())
    report.record(
        events=len(outcomes),
        triggers_right_outcome=f"{reached['trigger']}/{len(outcomes)}",
        sensors_right_outcome=f"{reached['sensor']}/{len(outcomes)}",
        faults_absorbed=sum(absorbed.values()),
    )
    assert sum(absorbed.values()) > 0


@pytest.mark.telnyx_simulator(faults=Faults(error_rate=1.0), seed=1)
def test_total_outage_fails_clearly_and_quickly(telnyx_simulator: Simulator, report: Report) -> None:
    """Total outage: 100% faults for longer than the retry budget"""
    # "Quickly" is counted, not timed: a bounded number of requests, and every wait between them asked of an injected
    # sleep (none is waited for real). The seconds are a figure for the report only.
    started = time.monotonic()
    waits: list[float] = []
    with pytest.raises(TelnyxServerError) as server:
        TelnyxHook(max_retries=3, sleep=waits.append).get_scheduled_event(ASSISTANT, "evt")
    assert len(telnyx_simulator.journal) == 4
    assert len(waits) == 3  # one wait between each two of the four attempts
    telnyx_simulator.set_faults(error_rate=0.0, timeout_rate=1.0, hang_seconds=1.0)
    waits.clear()
    with pytest.raises(TelnyxConnectionError) as timeout:
        TelnyxHook(max_retries=2, timeout=0.1, sleep=waits.append).get_scheduled_event(ASSISTANT, "evt")
    assert len(waits) == 2  # three attempts, each cut by the client's timeout
    telnyx_simulator.set_faults(timeout_rate=0.0, error_rate=1.0)
    telnyx_simulator.clear_journal()
    trigger = TelnyxScheduledEventTrigger(assistant_id=ASSISTANT, scheduled_event_id="evt", max_transient_errors=3)
    trigger_waits: list[float] = []

    async def wait(seconds: float) -> None:
        trigger_waits.append(seconds)
        await asyncio.sleep(0)

    trigger.sleep = wait

    async def first() -> Any:
        async for event in trigger.run():
            return event.payload
        return None

    payload = asyncio.run(first())  # the trigger's hook waits between retries with the trigger's own sleep
    elapsed = time.monotonic() - started
    report.record(
        hook_error=type(server.value).__name__,
        hook_timeout_error=type(timeout.value).__name__,
        trigger_event=payload["status"],
        seconds_to_give_up=round(elapsed, 2),
    )
    assert isinstance(server.value, TelnyxApiError)
    assert "DeadlineExceeded" in str(timeout.value)  # each attempt cut at the request's whole time
    assert payload["status"] == "error"
    assert "gave up after 4 consecutive failed polls" in payload["message"]
    polls = 4 * (1 + DEFAULT_MAX_RETRIES)  # four polls, each with the connection's retries
    # The three hung requests above may still be journalled (as "timeout") once their hang ends: not counted here.
    assert len([entry for entry in telnyx_simulator.journal if entry.fault != "timeout"]) == polls
    assert len(trigger_waits) == polls - 1  # a wait between every two requests, none after the last
