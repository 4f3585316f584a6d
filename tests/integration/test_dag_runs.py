"""Real Airflow runs (``dag.test()``, triggers run in-process) against the simulator."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_telnyx.testing.simulator import Simulator
from tests.dagrun import TEST_DAGS, load_dag
from tests.harness import SimulatorConnection

# The simulated call runs 600x faster than the wall clock once dispatched (a 3-attempt failure in well under a second):
# the sensors and triggers wait for real, so a slower clock only makes the runs longer.
pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.telnyx_simulator(time_scale=600)]


def run_dag(dag_id: str) -> Any:
    return load_dag(dag_id, TEST_DAGS, "e2e_scheduled_events").test()


def states(run: Any) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def test_create_and_deferrable_sensor_complete(telnyx_simulator: Simulator) -> None:
    run = run_dag("e2e_completed")
    assert states(run) == {"schedule_call": "success", "wait_for_call": "success"}
    (event,) = telnyx_simulator.events()
    assert event["status"] == "completed"
    link = xcom(run, "schedule_call", "_link_TelnyxScheduledEventLink")
    assert link == "https://portal.telnyx.com/#/ai/assistants/edit/assistant-e2e"
    assert xcom(run, "schedule_call", "scheduled_event_id") == event["scheduled_event_id"]
    assert xcom(run, "wait_for_call", "return_value")["status"] == "completed"


def xcom(run: Any, task_id: str, key: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.query(XComModel).filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id, key=key).one()
        return XComModel.deserialize_value(row)


def test_failed_call_fails_the_sensor_with_the_attempts(
    telnyx_simulator: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_dag("e2e_failed")
    assert run.state == "failed"
    assert states(run) == {"schedule_call": "success", "wait_for_call": "failed"}
    output = "".join(capsys.readouterr())
    assert "TelnyxScheduledEventFailedError" in output
    assert "no-answer; #2 " in output
    assert "retry budget exhausted after 3 attempt(s)" in output


def test_failed_call_with_soft_fail_skips(telnyx_simulator: Simulator) -> None:
    run = run_dag("e2e_soft_fail")
    assert states(run) == {"schedule_call": "success", "wait_for_call": "skipped"}


def test_lost_create_response_and_task_retry_create_exactly_one_event(
    telnyx_simulator: Simulator, simulator_connection: SimulatorConnection
) -> None:
    simulator_connection("telnyx_no_retries", max_retries=0)
    telnyx_simulator.set_faults(lose_next_creates=1)
    run = run_dag("e2e_lost_response")
    assert states(run) == {"schedule_call": "success"}
    stats = telnyx_simulator.stats()
    assert (stats["events_created"], stats["events_stored"], stats["faults_lost_response_502"]) == (1, 1, 1)
    routes = [(e.route, e.status) for e in telnyx_simulator.journal]
    assert routes[0] == ("create", 502)
    assert ("create", 201) not in routes  # the retry found the event; it did not create (or replay) again
