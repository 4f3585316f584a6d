"""Stopping a campaign: TelnyxDeleteScheduledEventsOperator against the simulator, alone and in its example DAG."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_telnyx.exceptions import TelnyxBatchError, TelnyxInvalidInputError
from airflow_provider_telnyx.operators.batch import TelnyxCreateScheduledEventsOperator
from airflow_provider_telnyx.operators.delete import STATE_CANCELLED, TelnyxDeleteScheduledEventsOperator
from airflow_provider_telnyx.testing.simulator import Simulator
from tests.dagrun import load_dag, task_states
from tests.harness import DictStateStore, FakeTI, SimulatorConnection, context

ASSISTANT = "assistant-1"


def batch(n: int, **kwargs: Any) -> dict[str, Any]:
    op = TelnyxCreateScheduledEventsOperator(
        task_id="batch",
        assistant_id=ASSISTANT,
        agent_target="+13125550199",
        scheduled_at=datetime.now(timezone.utc) + timedelta(days=1),
        events=[{"end_user_target": f"+1312555{7000 + i:04d}"} for i in range(n)],
        **kwargs,
    )
    return op.execute(context())


def deletes(simulator: Simulator) -> list[int]:
    return [e.status for e in simulator.journal if e.route == "delete"]


def cancel(**kwargs: Any) -> TelnyxDeleteScheduledEventsOperator:
    return TelnyxDeleteScheduledEventsOperator(task_id="cancel", assistant_id=ASSISTANT, **kwargs)


def test_a_batch_of_ten_is_cancelled_with_one_delete_each_and_a_second_run_changes_nothing(
    telnyx_simulator: Simulator,
) -> None:
    summary = batch(10)
    result = cancel(scheduled_event_ids=summary).execute(context())
    assert result["counts"] == {"cancelled": 10, "already_final": 0, "not_found": 0, "failed": 0}
    assert deletes(telnyx_simulator) == [200] * 10
    assert telnyx_simulator.events() == []
    assert telnyx_simulator.stats()["events_cancelled"] == 10
    again = cancel(scheduled_event_ids=summary).execute(context())
    assert again["counts"] == {"cancelled": 0, "already_final": 0, "not_found": 10, "failed": 0}
    assert deletes(telnyx_simulator) == [200] * 10  # the second run reads (404) and deletes nothing


def test_a_retry_counts_what_an_earlier_try_cancelled_as_cancelled(telnyx_simulator: Simulator) -> None:
    summary = batch(3)
    store = DictStateStore()
    cancel(scheduled_event_ids=summary).execute(context(FakeTI(try_number=1), store))
    cancelled = store.get(STATE_CANCELLED)
    assert isinstance(cancelled, list)
    assert len(cancelled) == 3
    again = cancel(scheduled_event_ids=summary).execute(context(FakeTI(try_number=2), store))
    assert again["counts"]["cancelled"] == 3


def test_dispatched_events_are_reported_not_touched(telnyx_simulator: Simulator, clock: Any) -> None:
    ids = [
        telnyx_simulator.seed_event(
            ASSISTANT,
            {
                "telnyx_conversation_channel": "phone_call",
                "telnyx_end_user_target": "+13125550100",
                "telnyx_agent_target": "+13125550199",
                "scheduled_at_fixed_datetime": (clock() - timedelta(hours=2)).isoformat(),
            },
        )
    ]
    result = cancel(scheduled_event_ids=ids).execute(context())
    (item,) = result["items"]
    assert (item["outcome"], item["status"]) == ("already_final", "completed")
    assert deletes(telnyx_simulator) == []


def test_a_selection_cancels_only_the_pending_events_carrying_the_tag(telnyx_simulator: Simulator) -> None:
    batch(4, conversation_metadata={"campaign": "spring"})
    other = TelnyxCreateScheduledEventsOperator(
        task_id="other",
        assistant_id=ASSISTANT,
        agent_target="+13125550199",
        scheduled_at=datetime.now(timezone.utc) + timedelta(days=1),
        events=[{"end_user_target": "+13125558000"}, {"end_user_target": "+13125558001"}],
        conversation_metadata={"campaign": "autumn"},
    )
    other.execute(context(FakeTI(task_id="other")))  # another task instance: its own idempotency keys
    now = datetime.now(timezone.utc)
    result = cancel(
        conversation_metadata={"campaign": "spring"},
        from_date=now.isoformat(),
        to_date=(now + timedelta(days=2)).isoformat(),
    ).execute(context())
    assert result["counts"]["cancelled"] == 4
    assert [e["conversation_metadata"]["campaign"] for e in telnyx_simulator.events()] == ["autumn", "autumn"]


def test_one_failure_is_that_events_outcome_and_the_task_fails_after_trying_all(
    telnyx_simulator: Simulator, simulator_connection: SimulatorConnection
) -> None:
    summary = batch(5)
    simulator_connection(max_retries=0)
    ids = [*summary["scheduled_event_ids"], "evt-missing"]
    telnyx_simulator.set_faults(error_rate=1.0, error_statuses=(503,))
    with pytest.raises(TelnyxBatchError, match="6 of 6 events could not be cancelled") as caught:
        cancel(scheduled_event_ids=ids, only_if_pending=False, max_concurrency=2).execute(context())
    assert caught.value.summary["counts"]["failed"] == 6
    assert all(item["retryable"] for item in caught.value.summary["items"])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "scheduled_event_ids"),
        ({"scheduled_event_ids": ["a"], "conversation_metadata": {"x": "y"}}, "scheduled_event_ids"),
        ({"scheduled_event_ids": ["a"], "max_concurrency": 0}, "max_concurrency"),
    ],
)
def test_bad_arguments_fail_at_parse_time(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(TelnyxInvalidInputError, match=field):
        cancel(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"conversation_metadata": {}}, "conversation_metadata"),
        ({"conversation_metadata": {"x": {"nested": 1}}}, "conversation_metadata"),
        (
            {"conversation_metadata": {"x": "y"}, "from_date": "yesterday", "to_date": "2031-01-01T00:00:00Z"},
            "from_date",
        ),
        ({"conversation_metadata": {"x": "y"}, "from_date": "2031-01-02T00:00:00", "to_date": None}, "from_date"),
        ({"scheduled_event_ids": ["a", "None"]}, r"scheduled_event_ids\[1\]"),
    ],
)
def test_bad_rendered_arguments_fail_before_any_request(
    telnyx_simulator: Simulator, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(TelnyxInvalidInputError, match=field):
        cancel(**kwargs).execute(context())
    assert telnyx_simulator.journal == []


@pytest.mark.usefixtures("airflow_db")
def test_the_example_dag_stops_the_campaign(telnyx_simulator: Simulator) -> None:
    run = load_dag("example_telnyx_cancel_campaign").test()
    assert run.state == "success", task_states(run)
    assert telnyx_simulator.events() == []
    assert deletes(telnyx_simulator) == [200] * 10
