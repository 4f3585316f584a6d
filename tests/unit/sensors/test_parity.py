"""Poke, reschedule and deferrable modes must give the same state, XCom and exception for every outcome."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_telnyx._compat import AirflowSensorTimeout
from airflow_provider_telnyx.exceptions import TelnyxScheduledEventFailedError, TelnyxScheduledEventWaitError
from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
from airflow_provider_telnyx.sensors.scheduled_event import TelnyxScheduledEventSensor
from airflow_provider_telnyx.testing.clock import ManualClock
from airflow_provider_telnyx.testing.simulator import Simulator
from tests.harness import Outcome, SimulatorConnection, run_sensor

MODES = ["poke", "reschedule", "deferrable"]
START = datetime(2031, 5, 1, 8, 0, tzinfo=timezone.utc)
ASSISTANT = "assistant-parity"


def schedule(target: str, **extra: Any) -> str:
    body = {
        "telnyx_conversation_channel": "phone_call",
        "telnyx_end_user_target": target,
        "telnyx_agent_target": "+13125550199",
        "scheduled_at_fixed_datetime": (START + timedelta(seconds=30)).isoformat(),
        **extra,
    }
    return TelnyxHook().create_scheduled_event(ASSISTANT, body).event_id


def sensor(event_id: str, **kwargs: Any) -> TelnyxScheduledEventSensor:
    kwargs.setdefault("timeout", 300)
    return TelnyxScheduledEventSensor(task_id="wait", assistant_id=ASSISTANT, scheduled_event_id=event_id, **kwargs)


def outcomes(make: Any, clock: ManualClock | None, step: float = 3600) -> dict[str, Outcome]:
    results = {}
    for mode in MODES:
        results[mode] = run_sensor(make(), mode, clock, step)
    return results


def same(results: dict[str, Outcome]) -> Outcome:
    first = results["poke"]
    for mode, outcome in results.items():
        assert (outcome.state, outcome.error) == (first.state, first.error), (mode, outcome, first)
        if isinstance(first.value, dict):
            assert outcome.value["status"] == first.value["status"], mode
            assert outcome.value["scheduled_event_id"] == first.value["scheduled_event_id"], mode
    return first


def test_completed(clock: ManualClock) -> None:
    event_id = schedule("+13125550100")
    results = {}
    for mode in MODES:
        clock.advance(-3600 if results else 0)  # every mode starts from a pending event
        results[mode] = run_sensor(sensor(event_id), mode, clock)
    outcome = same(results)
    assert outcome.state == "success"
    assert outcome.value["status"] == "completed"
    assert outcome.value["call_attempts"][0]["call_status"] == "completed"


@pytest.mark.parametrize("soft_fail", [False, True])
def test_failed(clock: ManualClock, soft_fail: bool) -> None:
    event_id = schedule("+13125550102", max_retries_client_errors=1, retry_interval_secs=60)
    clock.advance(3600)
    outcome = same(outcomes(lambda: sensor(event_id, soft_fail=soft_fail), None))
    if soft_fail:
        assert outcome.state == "skipped"
    else:
        assert (outcome.state, outcome.error) == ("failed", TelnyxScheduledEventFailedError)
        assert "#1 " in outcome.message
        assert "no-answer; #2 " in outcome.message
        assert "retry budget exhausted" in outcome.message


def test_failed_without_fail_on_failure_returns_the_event(clock: ManualClock) -> None:
    event_id = schedule("+13125550103")
    clock.advance(3600)
    outcome = same(outcomes(lambda: sensor(event_id, fail_on_failure=False), None))
    assert outcome.state == "success"
    assert outcome.value["status"] == "failed"
    assert outcome.value["errors"] == ["Cannot make outbound call with no outbound voice profile"]


def test_failed_after_waiting(clock: ManualClock) -> None:
    event_id = schedule("+13125550102")
    results = {}
    for mode in MODES:
        clock.advance(-3600 if results else 0)
        results[mode] = run_sensor(sensor(event_id), mode, clock)
    assert same(results).error is TelnyxScheduledEventFailedError


@pytest.mark.parametrize("soft_fail", [False, True])
def test_timeout(clock: ManualClock, soft_fail: bool) -> None:
    event_id = schedule("+13125550100")
    results = {mode: run_sensor(sensor(event_id, timeout=0, soft_fail=soft_fail), mode) for mode in MODES}
    outcome = same(results) if soft_fail else results["poke"]
    if soft_fail:
        assert outcome.state == "skipped"
    else:
        for result in results.values():
            assert result.state == "failed"
            assert issubclass(result.error, AirflowSensorTimeout), result


@pytest.mark.parametrize("soft_fail", [False, True])
def test_deleted_event(clock: ManualClock, soft_fail: bool) -> None:
    event_id = schedule("+13125550100")
    TelnyxHook().delete_scheduled_event(ASSISTANT, event_id)
    outcome = same(outcomes(lambda: sensor(event_id, soft_fail=soft_fail), None))
    if soft_fail:
        assert outcome.state == "skipped"
    else:
        assert outcome.error is TelnyxScheduledEventWaitError
        assert "was deleted" in outcome.message


def test_auth_error(clock: ManualClock, simulator_connection: SimulatorConnection) -> None:
    event_id = schedule("+13125550100")
    simulator_connection("telnyx_revoked", password="KEYrevoked")
    outcome = same(outcomes(lambda: sensor(event_id, telnyx_conn_id="telnyx_revoked"), None))
    assert outcome.error is TelnyxScheduledEventWaitError
    assert "refused the key" in outcome.message
    assert "KEYrevoked" not in outcome.message


def test_transient_errors_tolerated_then_bounded(
    clock: ManualClock, telnyx_simulator: Simulator, simulator_connection: SimulatorConnection
) -> None:
    event_id = schedule("+13125550100")
    clock.advance(3600)
    telnyx_simulator.set_faults(error_rate=1.0)
    simulator_connection("telnyx_fragile", max_retries=0)
    results = outcomes(lambda: sensor(event_id, max_transient_errors=2, telnyx_conn_id="telnyx_fragile"), None)
    outcome = same(results)
    assert outcome.error is TelnyxScheduledEventWaitError
    assert "gave up after 3 consecutive failed polls" in outcome.message
