from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError, TelnyxScheduledEventFailedError
from airflow_provider_telnyx.operators.scheduled_event import TelnyxBatchError, TelnyxCreateScheduledEventsOperator
from airflow_provider_telnyx.sensors.scheduled_event import TelnyxScheduledEventsSensor, event_id_list
from airflow_provider_telnyx.testing.clock import ManualClock
from airflow_provider_telnyx.testing.simulator import Faults, Simulator
from airflow_provider_telnyx.triggers.scheduled_event import TelnyxScheduledEventsTrigger
from tests.harness import DictStateStore, FakeTI, SimulatorConnection, context, run_sensor

ASSISTANT = "assistant-batch"
START = datetime(2031, 8, 1, 9, 0, tzinfo=timezone.utc)


def items(n: int, first: int = 6000) -> list[dict[str, Any]]:
    return [{"end_user_target": f"+1312555{first + i:04d}", "dynamic_variables": {"n": str(i)}} for i in range(n)]


def batch(**kwargs: Any) -> TelnyxCreateScheduledEventsOperator:
    kwargs.setdefault("events", items(30))
    kwargs.setdefault("scheduled_at", START + timedelta(minutes=10))
    return TelnyxCreateScheduledEventsOperator(
        task_id="batch",
        assistant_id=ASSISTANT,
        agent_target="+13125550199",
        dynamic_variables={"campaign": "spring", "n": "default"},
        **kwargs,
    )


def test_every_bad_item_is_reported_before_anything_is_sent(telnyx_simulator: Simulator, clock: ManualClock) -> None:
    events = items(6)
    events[1]["end_user_target"] = "555"
    events[3]["scheduled_at"] = "2031-08-01T10:00:00"
    events[3]["text"] = "not for calls"
    events[4] = "not a dict"  # type: ignore[assignment]
    events[5]["surprise"] = True
    with pytest.raises(TelnyxInvalidInputError) as caught:
        batch(events=events).execute(context())
    assert caught.value.fields == (
        "events[1].end_user_target",
        "events[3].scheduled_at",
        "events[4]",
        "events[5].surprise",
    )
    assert "batch: 4 of 6 events" in str(caught.value)
    assert telnyx_simulator.journal == []


def test_creates_each_item_once_with_merged_defaults(telnyx_simulator: Simulator, clock: ManualClock) -> None:
    ti = FakeTI()
    summary = batch().execute(context(ti))
    assert (summary["total"], summary["created"], summary["failed"]) == (30, 30, 0)
    assert ti.xcoms["batch_summary"] == summary
    events = {e["scheduled_event_id"]: e for e in telnyx_simulator.events()}
    assert set(summary["scheduled_event_ids"]) == set(events)
    first = events[summary["scheduled_event_ids"][0]]
    assert first["dynamic_variables"] == {"campaign": "spring", "n": "0"}  # item keys win over defaults
    assert first["conversation_metadata"]["airflow_item"] == 0
    keys = [e.idempotency_key for e in telnyx_simulator.journal]
    assert len(set(keys)) == 30
    json.dumps(summary)


@pytest.mark.telnyx_simulator(faults=Faults(error_rate=0.3), seed=9)
def test_retry_after_a_partial_batch_creates_only_the_missing_events(
    telnyx_simulator: Simulator, clock: ManualClock, simulator_connection: SimulatorConnection
) -> None:
    simulator_connection(max_retries=0)
    store = DictStateStore()
    with pytest.raises(TelnyxBatchError) as caught:
        batch(events=items(40)).execute(context(FakeTI(try_number=1), store))
    first = caught.value.summary
    assert 0 < first["failed"] < 40
    assert first["created"] + first["failed"] == 40
    telnyx_simulator.set_faults(error_rate=0.0)
    journal_mark = len(telnyx_simulator.journal)
    second = batch(events=items(40)).execute(context(FakeTI(try_number=2), store))
    retry_creates = [e for e in telnyx_simulator.journal[journal_mark:] if e.route == "create"]
    assert len(retry_creates) == first["failed"]
    assert (second["already_existed"], second["created"]) == (first["created"], first["failed"])
    per_item = Counter(e["conversation_metadata"]["airflow_item"] for e in telnyx_simulator.events())
    assert sorted(per_item) == list(range(40))
    assert set(per_item.values()) == {1}


@pytest.mark.telnyx_simulator(faults=Faults(rate_limit=40), seed=2)
def test_hitting_429s_still_creates_everything_once(telnyx_simulator: Simulator, clock: ManualClock) -> None:
    summary = batch(events=items(120), requests_per_second=400, max_concurrency=40).execute(context())
    stats = telnyx_simulator.stats()
    assert summary["rate_limited"] > 0
    assert summary["failed"] == 0
    assert stats["events_created"] == 120 == summary["created"]
    assert stats["faults_rate_limit"] == summary["rate_limited"]


@pytest.mark.integration
@pytest.mark.parametrize("headers", ["always", "on_429", "never"])
@pytest.mark.parametrize("window", ["fixed", "token_bucket"])
def test_300_creates_at_100_per_second_on_every_server_model(
    telnyx_simulator: Simulator, clock: ManualClock, window: str, headers: str
) -> None:
    telnyx_simulator.set_faults(latency=0.02, rate_limit=100, rate_limit_window=window, rate_limit_headers=headers)
    summary = batch(events=items(300)).execute(context())
    assert (summary["created"], summary["failed"]) == (300, 0)
    per_item = Counter(e["conversation_metadata"]["airflow_item"] for e in telnyx_simulator.events())
    assert set(per_item.values()) == {1}
    assert len(per_item) == 300
    creates = [e for e in telnyx_simulator.journal if e.route == "create"]
    throttled = sum(e.status == 429 for e in creates)
    assert summary["rate_limited"] == throttled
    # The start included: where nothing is announced before the first 429, slow start (doubling every round trip)
    # overshoots by up to a round trip at twice the limit, about two windows' budget. Steady state: tests/unit.
    assert throttled < (0.1 * len(creates) if headers == "always" else 2 * 100)


def test_event_id_list_accepts_lists_templates_and_summaries() -> None:
    assert event_id_list(["a", "b"]) == ["a", "b"]
    assert event_id_list("['a', 'b']") == ["a", "b"]
    assert event_id_list({"scheduled_event_ids": ["a", None, "c"]}) == ["a", "c"]
    with pytest.raises(TelnyxInvalidInputError, match="scheduled_event_ids"):
        event_id_list([1, 2])


def _schedule(n: int, failing: int, at: datetime) -> list[str]:
    events = items(n)
    for i in range(failing):
        events[i]["end_user_target"] = "+13125550103"  # dispatch fails at once
    summary = batch(events=events, scheduled_at=at).execute(context())
    return [i for i in summary["scheduled_event_ids"] if i]


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
@pytest.mark.parametrize("fail_on_failure", [True, False])
def test_coalesced_sensor_outcomes_agree_across_modes(
    telnyx_simulator: Simulator, clock: ManualClock, mode: str, fail_on_failure: bool
) -> None:
    ids = _schedule(250, failing=2, at=START + timedelta(minutes=5))
    mark = len(telnyx_simulator.journal)
    sensor = TelnyxScheduledEventsSensor(
        task_id="wait_all",
        assistant_id=ASSISTANT,
        scheduled_event_ids=ids,
        fail_on_failure=fail_on_failure,
        timeout=300,
    )
    outcome = run_sensor(sensor, mode, clock, step=3600)
    polls = telnyx_simulator.journal[mark:]
    assert len(polls) <= 3 * 3  # at most three cycles (deferring adds one), each three list pages for 250 events
    assert {e.route for e in polls} == {"list"}, [(e.route, e.status) for e in polls]
    if fail_on_failure:
        assert (outcome.state, outcome.error) == ("failed", TelnyxScheduledEventFailedError)
        assert "2 of 250 scheduled events failed" in outcome.message
    else:
        assert outcome.state == "success"
        assert outcome.value["counts"] == {"completed": 248, "failed": 2, "total": 250}


def test_trigger_serializes_and_falls_back_to_gets_for_few_events(
    telnyx_simulator: Simulator, clock: ManualClock
) -> None:
    ids = _schedule(2, failing=0, at=START + timedelta(minutes=5))
    trigger = TelnyxScheduledEventsTrigger(assistant_id=ASSISTANT, scheduled_event_ids=ids, poll_interval=1)
    classpath, kwargs = trigger.serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert TelnyxScheduledEventsTrigger(**kwargs).serialize() == (classpath, kwargs)
    mark = len(telnyx_simulator.journal)
    sensor = TelnyxScheduledEventsSensor(task_id="w", assistant_id=ASSISTANT, scheduled_event_ids=ids, timeout=60)
    assert run_sensor(sensor, "deferrable", clock).value["counts"]["completed"] == 2
    assert {e.route for e in telnyx_simulator.journal[mark:]} == {"get"}


class CountingStore(DictStateStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, key: str, default: Any = None) -> Any:
        self.reads += 1
        return super().get(key, default)


def test_relative_schedule_reads_the_state_store_once(telnyx_simulator: Simulator) -> None:
    # Each state-store access is a round trip to the API server: validating 1,000 items must not do 1,000 of them
    # (they once made a 5-second schedule expire during validation).
    store = CountingStore()
    summary = batch(events=items(50), scheduled_at=timedelta(minutes=5)).execute(context(FakeTI(), store))
    assert summary["created"] == 50
    assert store.reads == 1
    times = {e["scheduled_at_fixed_datetime"] for e in telnyx_simulator.events()}
    assert len(times) == 1
