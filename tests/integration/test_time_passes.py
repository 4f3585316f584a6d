"""Real Airflow runs (``dag.test()``) whose retries run after the scheduled time, checked on the simulator's journal."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from airflow_provider_telnyx._common import parse_iso_datetime
from airflow_provider_telnyx.testing.simulator import Faults, Simulator
from tests.dagrun import TEST_DAGS, load_dag
from tests.harness import SimulatorConnection

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.integration, pytest.mark.long_running]


@pytest.fixture(autouse=True)
def connections(simulator_connection: SimulatorConnection) -> None:
    simulator_connection("telnyx_no_retries", max_retries=0)
    simulator_connection("telnyx_wrong_key", password="KEYnot_the_right_one")


def run_dag(dag_id: str) -> Any:
    return load_dag(dag_id, TEST_DAGS, "time_passes").test()


def task(run: Any, task_id: str = "schedule_call") -> Any:
    (ti,) = [ti for ti in run.get_task_instances() if ti.task_id == task_id]
    return ti


def creates(simulator: Simulator) -> list[int]:
    return [e.status for e in simulator.journal if e.route == "create"]


@pytest.mark.parametrize("dag_id", ["late_send_now", "late_fail"])
def test_lost_answer_then_retry_after_the_time_reattaches(telnyx_simulator: Simulator, dag_id: str) -> None:
    telnyx_simulator.set_faults(lose_next_creates=1)  # committed, answer lost: try 1 fails
    run = run_dag(dag_id)
    ti = task(run)
    assert (ti.state, ti.try_number) == ("success", 2)
    (event,) = telnyx_simulator.events()
    assert creates(telnyx_simulator) == [502]  # try 2 found the event; it sent no create
    retry_started = ti.start_date
    assert retry_started > parse_iso_datetime(event["scheduled_at_fixed_datetime"])  # the retry ran late
    from tests.integration.test_dag_runs import xcom

    assert xcom(run, "schedule_call", "scheduled_event_id") == event["scheduled_event_id"]


def test_server_down_then_late_retry_sends_now_and_warns(
    telnyx_simulator: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    telnyx_simulator.set_faults(refuse_next_creates=1)  # nothing created: try 1 fails
    run = run_dag("late_send_now")
    ti = task(run)
    assert (ti.state, ti.try_number) == ("success", 2)
    (event,) = telnyx_simulator.events()
    assert creates(telnyx_simulator) == [503, 201]
    assert parse_iso_datetime(event["scheduled_at_fixed_datetime"]) > ti.start_date  # re-timed into the future
    output = capsys.readouterr().out
    assert "Scheduled event is late: intended for " in output
    assert "(late_policy=send_now)" in output


@pytest.mark.parametrize(
    ("dag_id", "state", "message"),
    [
        ("late_skip", "skipped", "late_policy='skip'"),
        ("late_fail", "failed", "and late_policy='fail': not sent"),
        ("late_too_late", "failed", "later than max_lateness (0.5 s)"),
    ],
)
def test_server_down_then_late_retry_follows_the_policy(
    telnyx_simulator: Simulator, capsys: pytest.CaptureFixture[str], dag_id: str, state: str, message: str
) -> None:
    telnyx_simulator.set_faults(refuse_next_creates=1)
    run = run_dag(dag_id)
    ti = task(run)
    assert (ti.state, ti.try_number) == (state, 2)
    assert creates(telnyx_simulator) == [503]
    assert telnyx_simulator.events() == []
    assert message in capsys.readouterr().out


# Scale: untraced by coverage (the paths: the batch operator's unit tests).
@pytest.mark.no_cover
@pytest.mark.telnyx_simulator(faults=Faults(rate_limit=100))
def test_batch_of_400_due_in_one_second_at_100_per_second_creates_each_once(telnyx_simulator: Simulator) -> None:
    run = run_dag("late_batch_400")
    assert task(run, "schedule_calls").state == "success"
    events = telnyx_simulator.events()
    assert len(events) == 400
    per_item = Counter(e["conversation_metadata"]["airflow_item"] for e in events)
    assert sorted(per_item) == list(range(400))
    assert set(per_item.values()) == {1}
    assert telnyx_simulator.stats()["events_created"] == 400


def test_batch_retry_after_the_lead_time_sends_only_the_missing_half(telnyx_simulator: Simulator) -> None:
    telnyx_simulator.set_faults(refuse_next_creates=50)
    run = run_dag("late_batch_retry")
    ti = task(run, "schedule_calls")
    assert (ti.state, ti.try_number) == ("success", 2)
    assert Counter(creates(telnyx_simulator)) == {201: 100, 503: 50}  # try 1: 100 sent, try 2: only the 50 missing
    per_item = Counter(e["conversation_metadata"]["airflow_item"] for e in telnyx_simulator.events())
    assert sorted(per_item) == list(range(100))
    assert set(per_item.values()) == {1}


def test_wrong_key_fails_on_the_first_try(telnyx_simulator: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_dag("late_bad_key")
    ti = task(run)
    assert (ti.state, ti.try_number) == ("failed", 1)  # retries=2, none used
    assert creates(telnyx_simulator) == [401]
    output = capsys.readouterr().out
    assert "TelnyxAuthError" in output
    assert "answered 401 Unauthorized: Authentication failed" in output
    assert "[connection 'telnyx_wrong_key']" in output
    assert "XCom not found" not in output  # the extra link needs no XCom, so a failed create logs no such error


def test_typo_in_xcom_pull_is_refused_without_a_request(
    telnyx_simulator: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_dag("late_typo_xcom")
    ti = task(run, "wait_for_call")
    assert (ti.state, ti.try_number) == ("failed", 1)
    assert [e.route for e in telnyx_simulator.journal] == ["create"]
    output = capsys.readouterr().out
    assert "scheduled_event_id: rendered to 'None'" in output
    assert "check the upstream task_ids" in output
