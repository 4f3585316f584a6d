from __future__ import annotations

import pytest

from airflow_provider_telnyx.testing.simulator import Simulator
from tests.integration.conftest import load_dag

pytestmark = pytest.mark.usefixtures("airflow_db")


def test_call_example_runs_end_to_end(telnyx_simulator: Simulator) -> None:
    dag = load_dag("example_telnyx_scheduled_call")
    run = dag.test()
    assert run.state == "success"
    (event,) = telnyx_simulator.events()
    assert event["status"] == "completed"
    assert [a["call_status"] for a in event["call_attempts"]] == ["busy", "completed"]
    assert event["dynamic_variables"] == {"customer_name": "Ada", "order_id": "A-1042"}
    assert event["conversation_metadata"]["airflow_dag_id"] == "example_telnyx_scheduled_call"
    assert event["conversation_metadata"]["order_id"] == "A-1042"
