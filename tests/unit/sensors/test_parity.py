"""Poke, reschedule and deferrable modes must give the same state, XCom and exception for every outcome."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest

from airflow_provider_telnyx._compat import AIRFLOW_V_3_3_PLUS, AirflowSensorTimeout, TaskDeferred
from airflow_provider_telnyx.exceptions import TelnyxScheduledEventFailedError, TelnyxScheduledEventWaitError
from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
from airflow_provider_telnyx.operators.batch import TelnyxCreateScheduledEventsOperator
from airflow_provider_telnyx.sensors.scheduled_event import TelnyxScheduledEventSensor, TelnyxScheduledEventsSensor
from airflow_provider_telnyx.testing.clock import ManualClock
from airflow_provider_telnyx.testing.simulator import Simulator
from airflow_provider_telnyx.utils.waiting import PollingWaiter
from tests.harness import DictStateStore, FakeTI, Outcome, SimulatorConnection, context, run_deferred, run_sensor

#: What a waiter resolves to (one event's or many events' payload).
Payload = TypeVar("Payload")
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
    results: dict[str, Outcome] = {}
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
    results: dict[str, Outcome] = {}
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
            assert result.error is not None, result
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
    if not AIRFLOW_V_3_3_PLUS:
        # No task state store before Airflow 3.3: each reschedule poke is a new process that cannot know the failed
        # checks before it, so it pokes on (the harness stops it after 100 pokes); the sensor's timeout bounds it.
        rescheduled = results.pop("reschedule")
        assert (rescheduled.state, rescheduled.message) == ("failed", "the sensor never finished")
    outcome = same(results)
    assert outcome.error is TelnyxScheduledEventWaitError
    assert "gave up after 3 consecutive failed polls" in outcome.message


# -- many events: one result item per input row, the same in every mode ------------------------------------------


#: A batch's rows: written-out and bad numbers, a call that fails, a create the API refuses, and a later call that
#: is still pending at the sensor's first check.
BATCH_ROWS: list[dict[str, Any]] = [
    {"end_user_target": "+1 (312) 555-0100"},  # 0: answers
    {"end_user_target": "312-555-0100"},  # 1: invalid, never sent
    {"end_user_target": "+13125550103"},  # 2: the dispatch fails
    {"end_user_target": "+1 312 555 0105"},  # 3: the create is refused (403 D13): the batch's failure
    {"end_user_target": "+13125550101", "scheduled_at": START + timedelta(hours=2)},  # 4: busy, then answers
    {"end_user_target": "+1 555 555 5555"},  # 5: invalid
]


def batch_operator(**kwargs: Any) -> TelnyxCreateScheduledEventsOperator:
    return TelnyxCreateScheduledEventsOperator(
        task_id="batch",
        assistant_id=ASSISTANT,
        events=BATCH_ROWS,
        agent_target="+13125550199",
        scheduled_at=START + timedelta(seconds=30),
        max_retries_client_errors=1,
        retry_interval_secs=60,
        on_invalid_item="skip",
        fail_on_item_error=False,
        **kwargs,
    )


#: Each row's outcome once every event of ``batch_operator()``'s six rows is final.
BATCH_OUTCOMES = ["completed", "invalid", "failed", "failed", "completed", "invalid"]


def many_sensor(summary: Any, **kwargs: Any) -> TelnyxScheduledEventsSensor:
    kwargs.setdefault("timeout", 300)
    return TelnyxScheduledEventsSensor(
        task_id="wait_all", assistant_id=ASSISTANT, scheduled_event_ids=summary, **kwargs
    )


def in_every_mode(clock: ManualClock, make: Any) -> dict[str, Outcome]:
    """Run ``make()`` in each mode from the same moment: rows 0 and 2 final, row 4 pending until the sensor's first
    check is over (so poke keeps it in its waiter, deferrable hands it to the trigger and carries the others)."""
    base = clock()
    results = {}
    for mode in MODES:
        clock.advance((base - clock()).total_seconds())
        results[mode] = run_sensor(make(), mode, clock, step=3 * 3600)
    return results


def test_many_events_give_the_same_row_results_in_every_mode(clock: ManualClock) -> None:
    summary = batch_operator().execute(context())
    clock.advance(600)
    results = in_every_mode(clock, lambda: many_sensor(summary, fail_on_failure=False))
    assert results["poke"].state == "success", results["poke"]
    assert results["reschedule"].value == results["poke"].value
    assert results["deferrable"].value == results["poke"].value
    result = results["poke"].value
    assert result["counts"] == {"completed": 2, "failed": 2, "invalid": 2, "skipped": 0, "total": 6}
    items = result["items"]
    assert [(i["index"], i["outcome"], i["batch_outcome"], i["status"]) for i in items] == [
        (0, "completed", "created", "completed"),
        (1, "invalid", "invalid", None),
        (2, "failed", "created", "failed"),
        (3, "failed", "failed", None),
        (4, "completed", "created", "completed"),
        (5, "invalid", "invalid", None),
    ]
    assert [i["scheduled_event_id"] for i in items] == summary["scheduled_event_ids"]
    assert [i["attempts"] for i in items] == [
        {"count": 1, "last_call_status": "completed"},
        {"count": 0, "last_call_status": None},
        {"count": 0, "last_call_status": "failed"},  # failed at dispatch: no call attempt, the event says "failed"
        {"count": 0, "last_call_status": None},
        {"count": 2, "last_call_status": "completed"},  # busy, then answered
        {"count": 0, "last_call_status": None},
    ]
    assert items[2]["error"] == "Cannot make outbound call with no outbound voice profile"
    assert "403" in items[3]["error"]
    assert "Destination not allowed" in items[3]["error"]
    assert items[1]["error"].startswith("end_user_target: has no '+' and country code")
    assert (items[0]["end_user_target"], items[0]["end_user_target_input"]) == ("+13125550100", "+1 (312) 555-0100")
    assert items[5]["end_user_target_input"] == "+1 555 555 5555"
    json.dumps(result)


def test_many_events_fail_alike_in_every_mode_naming_the_row(clock: ManualClock) -> None:
    summary = batch_operator().execute(context())
    clock.advance(600)
    outcome = same(in_every_mode(clock, lambda: many_sensor(summary)))
    assert (outcome.state, outcome.error) == ("failed", TelnyxScheduledEventFailedError)
    assert outcome.message.startswith("1 of 3 scheduled events failed. First: row 2: scheduled event ")
    assert "to +13125550103 failed; errors: Cannot make outbound call" in outcome.message


def test_a_list_of_ids_gives_one_item_per_id_in_every_mode(clock: ManualClock) -> None:
    ids = [schedule("+13125550100"), schedule("+13125550102", max_retries_client_errors=1, retry_interval_secs=60)]
    clock.advance(3600)
    results = in_every_mode(clock, lambda: many_sensor(ids, fail_on_failure=False))
    assert results["reschedule"].value == results["poke"].value == results["deferrable"].value
    assert results["poke"].value["items"] == [
        {
            "index": 0,
            "scheduled_event_id": ids[0],
            "status": "completed",
            "outcome": "completed",
            "attempts": {"count": 1, "last_call_status": "completed"},
            "error": None,
        },
        {
            "index": 1,
            "scheduled_event_id": ids[1],
            "status": "failed",
            "outcome": "failed",
            "attempts": {"count": 2, "last_call_status": "no-answer"},
            "error": results["poke"].value["items"][1]["error"],
        },
    ]
    assert "retry budget exhausted" in results["poke"].value["items"][1]["error"]


@pytest.mark.parametrize("deferrable", [False, True])
def test_the_batch_operators_own_wait_gives_the_sensors_result(
    clock: ManualClock, monkeypatch: pytest.MonkeyPatch, deferrable: bool
) -> None:
    import airflow_provider_telnyx.utils.waiting as waiting

    blocking = waiting.wait_blocking

    def three_hours_pass(_: float) -> None:
        clock.advance(3 * 3600)

    def wait_while_time_passes(hook: TelnyxHook, assistant_id: str, waiter: PollingWaiter[Payload]) -> Payload:
        return blocking(hook, assistant_id, waiter, sleep=three_hours_pass)

    # The blocking wait's sleep moves the simulator's clock instead (the wait itself is the real one).
    monkeypatch.setattr(waiting, "wait_blocking", wait_while_time_passes)
    begin = clock()
    ti = FakeTI()
    op = batch_operator(wait_for_completion=True, deferrable=deferrable, poll_interval=1, fail_on_failure=False)
    try:
        result = op.execute(context(ti))
    except TaskDeferred as deferred:
        result = run_deferred(op, deferred, context(ti), lambda: clock.advance(3 * 3600))
    summary = ti.xcoms["batch_summary"]
    assert {k: v for k, v in result.items() if k != "outcome"} == summary
    clock.advance((begin + timedelta(hours=10) - clock()).total_seconds())  # every event final
    sensor = run_sensor(many_sensor(summary, fail_on_failure=False), "poke")
    assert result["outcome"] == sensor.value
    assert [item["outcome"] for item in result["outcome"]["items"]] == BATCH_OUTCOMES


def test_events_final_before_the_deferral_are_settled_by_the_triggers_event_alone(clock: ManualClock) -> None:
    """``dag.test()`` (Airflow 3.1-3.3) resumes a deferred task with the trigger's event only, not the deferral's
    kwargs: rows 0 and 2, final at the sensor's first check, must reach the resume through the trigger."""
    summary = batch_operator().execute(context())
    clock.advance(600)  # rows 0 and 2 final, row 4 pending
    sensor = many_sensor(summary, fail_on_failure=False, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context())
    assert not deferred.value.kwargs  # nothing rides beside the trigger
    trigger = deferred.value.trigger
    row_0, _, row_2, _, row_4, _ = summary["scheduled_event_ids"]  # rows 1, 3 and 5 were not created
    assert trigger.scheduled_event_ids == [row_4]
    assert sorted(trigger.serialize()[1]["already_final"]) == sorted([row_0, row_2])
    clock.advance(3 * 3600)  # row 4 final too
    result = run_deferred(sensor, deferred.value, context())
    assert [item["outcome"] for item in result["items"]] == BATCH_OUTCOMES


@pytest.mark.parametrize("mode", MODES)
def test_one_cancelled_call_leaves_every_other_rows_result(clock: ManualClock, mode: str) -> None:
    """Someone cancels one pending call of four (the customer phoned in). Before, in every mode, the wait failed
    with TelnyxScheduledEventWaitError "no longer exists" and no row had a result. Now the cancelled row is
    ``deleted`` and the three others have their outcome; with ``fail_on_failure`` a deleted call did not complete,
    so it fails the task as a failed call would, naming the row."""
    ids = [
        schedule("+13125550100", scheduled_at_fixed_datetime=(START + timedelta(minutes=m)).isoformat())
        for m in (1, 2, 3, 120)
    ]
    clock.advance(600)
    TelnyxHook().delete_scheduled_event(ASSISTANT, ids[3])  # still pending: cancelled
    outcome = run_sensor(many_sensor(ids, fail_on_failure=False, timeout=36_000), mode, clock, step=7200)
    assert outcome.state == "success", outcome.message
    items = outcome.value["items"]
    assert [(item["status"], item["outcome"]) for item in items] == [("completed", "completed")] * 3 + [
        ("deleted", "deleted")
    ]
    assert items[3]["error"] == "no longer exists (404): deleted before it completed"
    assert outcome.value["counts"] == {
        "completed": 3,
        "failed": 0,
        "invalid": 0,
        "skipped": 0,
        "deleted": 1,
        "total": 4,
    }
    failing = run_sensor(many_sensor(ids, timeout=36_000), mode, clock, step=7200)
    assert (failing.state, failing.error) == ("failed", TelnyxScheduledEventFailedError)
    assert failing.message.startswith(
        f"1 of 4 scheduled events failed (1 of them deleted before they completed). First: row 3: scheduled event "
        f"{ids[3]} no longer exists (404)"
    )


def test_a_reschedule_poke_costs_what_a_poke_cycle_costs(telnyx_simulator: Simulator, clock: ManualClock) -> None:
    """In reschedule mode every poke is a new process with a new sensor. Before, a new waiter knew no pending
    times, so each poke listed the assistant's events from the oldest (1,500 old events, 20 pending: 16 requests
    per reschedule poke against 1 per poke-mode cycle). Now where the listing starts is kept in the task state
    store: a poke costs what the pending events need, not what the account's history holds."""
    for minute in range(1_500):
        old = (START - timedelta(days=30, minutes=minute)).isoformat()
        telnyx_simulator.seed_event(
            ASSISTANT,
            {
                "telnyx_conversation_channel": "phone_call",
                "telnyx_end_user_target": "+13125550100",
                "telnyx_agent_target": "+13125550199",
                "scheduled_at_fixed_datetime": old,
            },
        )
    ids = [
        schedule("+13125550100", scheduled_at_fixed_datetime=(START + timedelta(minutes=300 + i)).isoformat())
        for i in range(20)
    ]
    ctx = context(FakeTI(), DictStateStore())

    def sensor() -> TelnyxScheduledEventsSensor:
        return many_sensor(ids, mode="reschedule", timeout=86_400)

    def requests(poke: Any) -> int:
        mark = len(telnyx_simulator.journal)
        assert poke(ctx) is False
        return len(telnyx_simulator.journal) - mark

    same = sensor()
    first = requests(same.poke)  # knows nothing yet: from the oldest event, once
    poke_mode_cycle = requests(same.poke)
    reschedule_poke = requests(sensor().poke)  # what the next reschedule poke does: a new task process
    assert (first, poke_mode_cycle, reschedule_poke) == (16, 1, 1)
    # Given the batch's summary (its rows carry their scheduled_at), even the first poke lists from there.
    summary = {
        "items": [
            {
                "index": i,
                "scheduled_event_id": event_id,
                "scheduled_at": (START + timedelta(minutes=300 + i)).isoformat(),
            }
            for i, event_id in enumerate(ids)
        ]
    }
    fresh = context(FakeTI(), DictStateStore())
    mark = len(telnyx_simulator.journal)
    assert many_sensor(summary, mode="reschedule", timeout=86_400).poke(fresh) is False
    assert len(telnyx_simulator.journal) - mark == 1
