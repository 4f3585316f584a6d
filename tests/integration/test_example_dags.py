from __future__ import annotations

from pathlib import Path

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
    run = load_dag("example_telnyx_scheduled_sms").test(run_conf={"delay_seconds": 3})  # the example says 15
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


def test_batch_follow_up_example_branches_on_the_rows_nobody_reached(telnyx_simulator: Simulator) -> None:
    from tests.dagrun import task_states
    from tests.integration.test_dag_runs import xcom

    run = load_dag("example_telnyx_batch_follow_up").test()
    assert run.state == "success"
    states = task_states(run)
    assert (states["schedule_calls"], states["wait_for_calls"], states["route"]) == ("success",) * 3
    assert (states["follow_up"], states["all_reached"]) == ("success", "skipped")
    # The batch: 20 CSV rows, 4 invalid (not sent), 16 sent, one of them refused by the API (403 D13).
    summary = xcom(run, "schedule_calls", "batch_summary")
    assert summary["counts"] | {"total": summary["total"]} == {
        "created": 15,
        "reused": 0,
        "skipped": 0,
        "failed": 1,
        "invalid": 4,
        "not_sent": 0,
        "total": 20,
    }
    events = telnyx_simulator.events()
    assert len(events) == 15
    assert {"+442079460958", "+81312345678", "+13125557001"} <= {e["telnyx_end_user_target"] for e in events}
    # The sensor: one item per CSV row, in order, the rows the batch did not create included.
    result = xcom(run, "wait_for_calls", "return_value")
    assert [item["index"] for item in result["items"]] == list(range(20))
    assert result["counts"] == {"completed": 13, "failed": 3, "invalid": 4, "skipped": 0, "total": 20}
    never_answers = result["items"][6]
    assert (never_answers["status"], never_answers["attempts"]) == (
        "failed",
        {"count": 2, "last_call_status": "no-answer"},
    )
    assert result["items"][1]["end_user_target_input"] == "+1 (312) 555-7001"
    # The branch picked the failed and invalid rows from that one XCom.
    follow_up = xcom(run, "follow_up", "return_value")
    assert [(row["row"], row["outcome"]) for row in follow_up] == [
        (3, "invalid"),
        (6, "failed"),
        (7, "invalid"),
        (9, "failed"),
        (11, "invalid"),
        (13, "failed"),
        (15, "invalid"),
    ]
    assert "has no '+' and country code" in follow_up[0]["why"]
    assert follow_up[1]["attempts"] == 2
    assert "Cannot make outbound call" in follow_up[3]["why"]
    assert "403" in follow_up[5]["why"]
    assert follow_up[6]["phone"] == "ask reception"


@pytest.mark.parametrize(
    ("dag_id", "variable", "data", "count"),
    [
        ("example_telnyx_batch_follow_up", "TELNYX_DAILY_CONTACTS_CSV", "contacts_daily.csv", 20),
        ("example_telnyx_batch_calls", "TELNYX_CONTACTS_CSV", "contacts.csv", 12),
    ],
)
def test_the_batch_examples_readers_take_a_csv_saved_by_a_spreadsheet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dag_id: str, variable: str, data: str, count: int
) -> None:
    """Excel's "CSV UTF-8" starts the file with a byte-order mark (and ends lines with CRLF). Before, the first
    header read ``\\ufeffname`` and ``row["name"]`` raised KeyError: the DAG a new user copies sent nothing."""
    saved = tmp_path / "contacts.csv"
    saved.write_bytes(b"\xef\xbb\xbf" + (EXAMPLE_DAGS / "data" / data).read_bytes().replace(b"\n", b"\r\n"))
    monkeypatch.setenv(variable, str(saved))
    rows = load_dag(dag_id).get_task("read_contacts").python_callable()
    assert len(rows) == count
    assert all(set(row["dynamic_variables"]) >= {"customer_name", "order_id"} for row in rows)
