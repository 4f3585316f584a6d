"""``TelnyxExportScheduledEventsOperator`` against the simulator: what is selected, what each record holds (checked
against the documented schema), both formats, idempotent rewrites, and bad input refused before any request."""

from __future__ import annotations

import builtins
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest import mock

import jsonschema
import pytest

from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError, TelnyxServerError
from airflow_provider_telnyx.models.export import export_json_schema
from airflow_provider_telnyx.operators.export import TelnyxExportScheduledEventsOperator
from airflow_provider_telnyx.testing.simulator import Simulator

START = datetime(2031, 5, 2, 10, 0, tzinfo=timezone.utc)
YESTERDAY = (START - timedelta(days=1)).replace(hour=0)
ASSISTANT = "assistant-1"


def seed(
    sim: Simulator, count: int, *, target: str = "+13125550100", channel: str = "phone_call", **extra: Any
) -> list[str]:
    body: dict[str, Any] = {
        "telnyx_conversation_channel": channel,
        "telnyx_end_user_target": target,
        "telnyx_agent_target": "+13125550199",
        **extra,
    }
    if channel == "sms_chat":
        body.setdefault("text", "Your order ships today.")
    return [
        sim.seed_event(
            ASSISTANT, {**body, "scheduled_at_fixed_datetime": (YESTERDAY + timedelta(minutes=10 * i)).isoformat()}
        )
        for i in range(count)
    ]


def context(**extra: Any) -> dict[str, Any]:
    ti = mock.MagicMock(dag_id="dag", run_id="run-1", task_id="export", map_index=-1)
    return {
        "ti": ti,
        "data_interval_start": YESTERDAY,
        "data_interval_end": YESTERDAY + timedelta(days=1),
        "outlet_events": {},
        **extra,
    }


def export(tmp_path: Path, name: str = "events.jsonl", **kwargs: Any) -> tuple[dict[str, Any], Path]:
    operator = TelnyxExportScheduledEventsOperator(
        task_id="export", assistant_id=ASSISTANT, destination=f"file://{tmp_path / name}", **kwargs
    )
    return operator.execute(context()), tmp_path / name  # type: ignore[arg-type]  # a plain dict for Airflow's Context


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_data_interval_is_exported_with_transcripts_in_listed_order(sim: Simulator, tmp_path: Path) -> None:
    ids = seed(sim, 3, dynamic_variables={"appointment": "Tuesday"})
    outside = sim.seed_event(
        ASSISTANT,
        {
            "telnyx_conversation_channel": "phone_call",
            "telnyx_end_user_target": "+13125550100",
            "telnyx_agent_target": "+13125550199",
            "scheduled_at_fixed_datetime": (YESTERDAY - timedelta(days=3)).isoformat(),
        },
    )
    summary, path = export(tmp_path)
    rows = records(path)
    schema = export_json_schema()
    for row in rows:
        jsonschema.validate(row, schema, format_checker=jsonschema.FormatChecker())
    assert [r["scheduled_event_id"] for r in rows] == ids
    assert outside not in {r["scheduled_event_id"] for r in rows}
    first = rows[0]
    assert first["transcript_status"] == "exported"
    assert [m["role"] for m in first["messages"]][:2] == ["assistant", "user"]
    assert "appointment: Tuesday" in first["messages"][2]["text"]
    assert first["attempts"][0]["call_status"] == "completed"
    assert first["insights"] is None  # include_insights=False by default
    assert first["event"]["scheduled_event_id"] == ids[0]
    assert summary == {
        "path": f"file://{path}",
        "format": "jsonl",
        "bytes": path.stat().st_size,
        "rows": 3,
        "events_without_conversation": 0,
        "missing_events": 0,
        "missing_event_ids": [],
        "events_outside_range": 0,
        "repaired_records": 0,
        "repaired_event_ids": [],
        "unreadable_events": 0,
        "unreadable_event_ids": [],
        "transcripts_truncated": 0,
        "requests": 1 + 3,  # one listing page, one page of messages per event
        "seconds": summary["seconds"],
    }
    assert not list(tmp_path.glob(".*.tmp"))


def test_event_ids_from_a_batch_result_with_insights_and_missing_ids(sim: Simulator, tmp_path: Path) -> None:
    ids = seed(sim, 2) + seed(sim, 1, target="+13125550110", channel="sms_chat")
    batch_result = {"scheduled_event_ids": [ids[0], None, ids[1], ids[0], "gone-event", ids[2]]}
    summary, path = export(tmp_path, event_ids=batch_result, include_insights=True, message_page_size=3)
    rows = records(path)
    assert [r["scheduled_event_id"] for r in rows] == ids
    assert (summary["missing_events"], summary["missing_event_ids"]) == (1, ["gone-event"])
    assert rows[0]["insights"][0]["status"] == "completed"
    assert {r["insight_id"] for r in rows[0]["insights"][0]["results"]} == {"summary", "outcome"}
    assert [m["text"] for m in rows[2]["messages"]] == ["Your order ships today.", "Thanks, got it."]
    # 4 GETs of events (one 404) + 3 pages of 7 call messages x 2 + 1 SMS page + 3 insights
    assert summary["requests"] == 4 + 6 + 1 + 3


def test_events_not_dispatched_yet_have_no_conversation(sim: Simulator, tmp_path: Path) -> None:
    (done,) = seed(sim, 1)
    later = sim.seed_event(
        ASSISTANT,
        {
            "telnyx_conversation_channel": "phone_call",
            "telnyx_end_user_target": "+13125550100",
            "telnyx_agent_target": "+13125550199",
            "scheduled_at_fixed_datetime": (START + timedelta(hours=2)).isoformat(),
        },
    )
    summary, path = export(tmp_path, event_ids=[done, later], include_insights=True)
    by_id = {r["scheduled_event_id"]: r for r in records(path)}
    assert by_id[later]["status"] == "pending"
    assert (by_id[later]["transcript_status"], by_id[later]["messages"]) == ("no_conversation", None)
    assert by_id[done]["transcript_status"] == "exported"
    assert summary["events_without_conversation"] == 1


def test_without_transcript_or_insights_only_the_listing_is_read(sim: Simulator, tmp_path: Path) -> None:
    seed(sim, 5)
    sim.clear_journal()
    summary, path = export(tmp_path, include_transcript=False, include_insights=False)
    assert {r["transcript_status"] for r in records(path)} == {"not_requested"}
    assert [e.route for e in sim.journal] == ["list"]
    assert summary["rows"] == 5


def test_a_retry_rewrites_the_file_and_a_failed_try_leaves_the_last_one_whole(sim: Simulator, tmp_path: Path) -> None:
    seed(sim, 4)
    _, path = export(tmp_path)
    first = path.read_bytes()
    again, _ = export(tmp_path)
    assert again["rows"] == 4
    assert len(path.read_text().splitlines()) == 4  # rewritten, never appended
    assert [r["scheduled_event_id"] for r in records(path)] == [
        json.loads(x)["scheduled_event_id"] for x in first.decode().splitlines()
    ]
    sim.set_faults(error_rate=1.0, error_statuses=(500,))
    with pytest.raises(TelnyxServerError):
        export(tmp_path, telnyx_conn_id="telnyx_default")
    assert len(path.read_text().splitlines()) == 4  # the last complete file is still there
    assert not list(tmp_path.glob(".*.tmp"))


def test_parquet_holds_the_same_records_with_the_documented_schema(sim: Simulator, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    from airflow_provider_telnyx.utils.export_files import parquet_schema

    seed(sim, 3)
    summary, path = export(tmp_path, "events.parquet", include_insights=True)
    _, jsonl = export(tmp_path, "events.jsonl", include_insights=True)
    table = pq.read_table(path)
    assert summary["format"] == "parquet"
    assert table.schema.equals(parquet_schema())
    assert table.schema.names == list(export_json_schema()["properties"])
    parquet_rows = table.to_pylist()
    for row, record in zip(parquet_rows, records(jsonl), strict=True):
        assert row["scheduled_event_id"] == record["scheduled_event_id"]
        assert [m["text"] for m in row["messages"]] == [m["text"] for m in record["messages"]]
        assert json.loads(row["event"]) == record["event"]
        assert row["scheduled_at"].isoformat().replace("+00:00", "Z") == record["scheduled_at"].replace(".000", "")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"event_ids": "None"}, "event_ids[0]"),
        ({"event_ids": {"rows": 3}}, "event_ids"),
        ({"from_date": "2031-05-01T00:00:00"}, "from_date"),
        ({"from_date": "yesterday"}, "from_date"),
        ({"from_date": "2031-05-02T00:00:00Z", "to_date": "2031-05-01T00:00:00Z"}, "to_date"),
        ({"conversation_channel": "fax"}, "conversation_channel"),
        ({"destination": "   "}, "destination"),
    ],
)
def test_bad_input_fails_before_any_request(sim: Simulator, tmp_path: Path, kwargs: dict[str, Any], field: str) -> None:
    options = {"destination": f"file://{tmp_path / 'x.jsonl'}", **kwargs}
    operator = TelnyxExportScheduledEventsOperator(task_id="export", assistant_id=ASSISTANT, **options)
    with pytest.raises(TelnyxInvalidInputError, match=field.replace("[", r"\[")):
        operator.execute(context())  # type: ignore[arg-type]  # a plain dict for Airflow's Context
    assert sim.journal == []


def test_parquet_without_pyarrow_names_the_extra(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = builtins.__import__

    def no_pyarrow(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with pytest.raises(TelnyxInvalidInputError, match=r"airflow-provider-telnyx\[parquet\]"):
        export(tmp_path, "events.parquet")
    assert sim.journal == []


def test_no_data_interval_and_no_selection_is_refused(sim: Simulator, tmp_path: Path) -> None:
    operator = TelnyxExportScheduledEventsOperator(
        task_id="export", assistant_id=ASSISTANT, destination=f"file://{tmp_path / 'x.jsonl'}"
    )
    with pytest.raises(TelnyxInvalidInputError, match="from_date"):
        operator.execute(context(data_interval_start=None, data_interval_end=None))  # type: ignore[arg-type]  # a plain dict for Airflow's Context


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"file_format": "csv"}, "file_format"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"message_page_size": 101}, "message_page_size"),
        ({"include_transcript": "yes"}, "include_transcript"),
        ({"requests_per_second": -1}, "requests_per_second"),
    ],
)
def test_bad_arguments_fail_at_construction(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(TelnyxInvalidInputError, match=field):
        TelnyxExportScheduledEventsOperator(task_id="export", assistant_id=ASSISTANT, destination="file:///x", **kwargs)


def test_transcripts_never_reach_the_log(
    sim: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(sim, 2, dynamic_variables={"secret_word": "pineapple-7"})
    with caplog.at_level("DEBUG"):
        export(tmp_path, include_insights=True, progress_interval=0.000001)
    assert "pineapple-7" in (tmp_path / "events.jsonl").read_text()
    logged = "\n".join(r.getMessage() for r in caplog.records) + "".join(capsys.readouterr())
    assert "Export progress" in logged
    for said in ("pineapple-7", "Hi, yes, speaking", "confirmed"):
        assert said not in logged


def test_an_empty_data_interval_is_refused_not_read_as_nothing_to_export(sim: Simulator, tmp_path: Path) -> None:
    operator = TelnyxExportScheduledEventsOperator(
        task_id="export", assistant_id=ASSISTANT, destination=f"file://{tmp_path / 'x.jsonl'}"
    )
    with pytest.raises(TelnyxInvalidInputError, match="CronDataIntervalTimetable"):
        operator.execute(context(data_interval_start=START, data_interval_end=START))  # type: ignore[arg-type]  # a plain dict for Airflow's Context
    assert sim.journal == []
