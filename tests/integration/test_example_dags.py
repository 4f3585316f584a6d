from __future__ import annotations

import pytest

from airflow_provider_telnyx.testing.simulator import Simulator
from tests.dagrun import EXAMPLE_DAGS, dag_bag, load_dag

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


def test_sms_example_runs_end_to_end(telnyx_simulator: Simulator) -> None:
    run = load_dag("example_telnyx_scheduled_sms").test()
    assert run.state == "success"
    (event,) = telnyx_simulator.events()
    assert (event["telnyx_conversation_channel"], event["status"]) == ("sms_chat", "completed")
    assert event["text"] == "Hi Ada, your order has shipped."


def test_every_example_dag_parses_without_errors_or_warnings() -> None:
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = dag_bag(str(EXAMPLE_DAGS))
    ours = [w for w in caught if "example_dags" in str(w.filename) or "airflow_provider_telnyx" in str(w.filename)]
    assert bag.import_errors == {}
    assert ours == [], [str(w.message) for w in ours]
    files = sorted(p.stem for p in EXAMPLE_DAGS.glob("example_*.py"))
    assert sorted(bag.dag_ids) == files


def test_batch_example_calls_every_contact_once(telnyx_simulator: Simulator) -> None:
    run = load_dag("example_telnyx_batch_calls").test()
    assert run.state == "success"
    events = telnyx_simulator.events()
    assert len(events) == 12
    assert {e["status"] for e in events} == {"completed"}
    assert {e["dynamic_variables"]["campaign"] for e in events} == {"delivery-update"}
    assert sorted(e["dynamic_variables"]["customer_name"] for e in events)[:2] == ["Ada", "Alan"]
    stats = telnyx_simulator.stats()
    assert stats["events_created"] == 12
    polls = [e for e in telnyx_simulator.journal if e.route in ("list", "get")]
    assert len(polls) < 12  # coalesced: fewer requests than calls, across every polling cycle
