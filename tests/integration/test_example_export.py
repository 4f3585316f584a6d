"""The export example DAG under ``dag.test()``: yesterday's calls, with transcripts and insights, in a file whose
records match the documented schema; the Asset event names the file; the load example puts it in a table."""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from airflow_provider_telnyx.testing.simulator import Simulator
from tests.dagrun import activate_assets, load_dag, task_states

pytestmark = pytest.mark.usefixtures("airflow_db")

DOCUMENTED_SCHEMA = Path(__file__).parents[2] / "docs" / "howto" / "export-record.schema.json"


def call(when: datetime, target: str = "+13125550100", channel: str = "phone_call", **extra: Any) -> dict[str, Any]:
    body = {
        "telnyx_conversation_channel": channel,
        "telnyx_end_user_target": target,
        "telnyx_agent_target": "+13125550199",
        "scheduled_at_fixed_datetime": when.isoformat(),
        **extra,
    }
    if channel == "sms_chat":
        body["text"] = "Your order ships today."
    return body


def test_export_example_writes_yesterdays_calls_and_the_load_example_reads_them(
    telnyx_simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exports = Path(os.environ["TELNYX_EXPORT_ROOT"].removeprefix("file://"))  # the session's (tests/conftest.py)
    monkeypatch.setenv("TELNYX_WAREHOUSE_DB", str(tmp_path / "warehouse.db"))
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    seed = telnyx_simulator.seed_event
    seeded: dict[str, datetime] = {}
    # The same three calls on each of the two days before today (whichever day the run's interval is, it holds
    # exactly three), plus an SMS (not a call) and a call long before.
    for day in (yesterday - timedelta(days=1), yesterday):
        for hour, target, extra in (
            (9, "+13125550100", {"dynamic_variables": {"order_id": "A-1"}}),
            (10, "+13125550101", {"max_retries_client_errors": 1, "retry_interval_secs": 60}),
            (11, "+13125550102", {}),
        ):
            when = day + timedelta(hours=hour)
            seeded[seed("assistant-demo", call(when, target, **extra))] = when
        seed("assistant-demo", call(day + timedelta(hours=12), "+13125550110", channel="sms_chat"))
    seed("assistant-demo", call(yesterday - timedelta(days=5)))

    # A @daily run exports its data interval: the day before the run, yesterday in production.
    dag = load_dag("example_telnyx_export_calls")
    activate_assets(*dag.get_task("export_calls").outlets)
    run = dag.test(logical_date=yesterday)
    assert run.state == "success", task_states(run)
    start, end = run.data_interval_start, run.data_interval_end
    assert end - start == timedelta(days=1)
    expected = sorted(event_id for event_id, when in seeded.items() if start <= when <= end)
    assert len(expected) == 3
    path = exports / "calls" / start.date().isoformat() / "calls.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    schema = json.loads(DOCUMENTED_SCHEMA.read_text())
    for record in records:
        jsonschema.validate(record, schema, format_checker=jsonschema.FormatChecker())
    assert sorted(r["scheduled_event_id"] for r in records) == expected
    by_target = {r["end_user_target"]: r for r in records}
    answered = by_target["+13125550100"]
    assert answered["transcript_status"] == "exported"
    assert "order_id: A-1" in answered["messages"][2]["text"]
    assert answered["insights"][0]["status"] == "completed"
    assert [a["call_status"] for a in by_target["+13125550101"]["attempts"]] == ["busy", "completed"]
    assert by_target["+13125550102"]["messages"] == []  # never answered: a conversation without messages

    ti = next(t for t in run.get_task_instances() if t.task_id == "export_calls")
    summary = ti.xcom_pull(task_ids="export_calls")
    assert (summary["rows"], summary["path"]) == (3, f"file://{path}")

    loaded = load_dag("example_telnyx_load_calls").test(run_conf={"path": f"file://{path}"})
    assert loaded.state == "success", task_states(loaded)
    with closing(sqlite3.connect(tmp_path / "warehouse.db")) as db:
        assert db.execute("SELECT count(*) FROM calls").fetchone() == (3,)
        assert db.execute("SELECT count(*) FROM call_messages").fetchone() == (14,)  # 7 for each answered call
        outcome = db.execute("SELECT outcome FROM calls WHERE end_user_target = '+13125550100'").fetchone()[0]
        assert json.loads(outcome) == {"reached": True, "confirmed": True}
