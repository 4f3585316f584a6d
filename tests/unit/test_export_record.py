"""The export record and its writers without a server: what :meth:`ExportRecord.made_safe` changes (and only
that), the JSON line written in pieces equal to the one-shot encoding, message order, the size a message counts
for, Parquet row groups bounded in bytes, the destination checks, what is read of an odd event or message
(:func:`salvage`), a tool call's arguments sent as an object, and the time that places an event in a range."""

from __future__ import annotations

import gc
import io
import json
import math
import sys
from datetime import datetime, timedelta, timezone
from typing import Any
from unittest import mock

import pytest

from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError
from airflow_provider_telnyx.models.conversations import ConversationMessage
from airflow_provider_telnyx.models.events import parse_scheduled_event
from airflow_provider_telnyx.models.export import (
    MAX_NESTING,
    ExportMessage,
    ExportRecord,
    first_due_at,
    salvage,
    sort_by_time,
)
from airflow_provider_telnyx.utils.export_files import (
    WHOLE_LINE_MESSAGES,
    CountingFile,
    JsonLinesWriter,
    destination_path,
    json_line,
)

AT = datetime(2031, 5, 1, 9, tzinfo=timezone.utc)


def event(**extra: Any) -> Any:
    return parse_scheduled_event(
        {
            "scheduled_event_id": "event-1",
            "assistant_id": "assistant-1",
            "telnyx_conversation_channel": "phone_call",
            "telnyx_end_user_target": "+13125550100",
            "telnyx_agent_target": "+13125550199",
            "scheduled_at_fixed_datetime": "2031-05-01T09:00:00Z",
            "status": "completed",
            "call_attempts": [
                {"attempt_number": 1, "attempted_at": "2031-05-01T09:00:01Z", "call_status": "completed"}
            ],
            **extra,
        }
    )


def msg(text: str | None = "hello", seconds: int | None = 0, **extra: Any) -> ExportMessage:
    at = None if seconds is None else (AT + timedelta(seconds=seconds)).isoformat()
    return ExportMessage.of(ConversationMessage.model_validate({"role": "user", "text": text, "sent_at": at, **extra}))


def record(messages: list[ExportMessage] | None = None, **extra: Any) -> ExportRecord:
    return ExportRecord.of(
        event(**extra), messages=messages, insights=None, transcript_status="exported", exported_at=AT
    )


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"next": value}
    return value


def one_shot(item: ExportRecord) -> bytes:
    return json.dumps(item.to_json(), ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


@pytest.mark.parametrize(
    "messages",
    [None, [], [msg("a", 1), msg("b", 2, metadata={"k": "v"})], [msg(f"m{i}", i) for i in range(1_001)]],
    ids=["none", "empty", "two", "one more than a whole line takes"],
)
def test_the_json_line_in_pieces_is_the_one_shot_encoding(messages: list[ExportMessage] | None) -> None:
    item = record(messages, dynamic_variables={"name": "Zoë"})
    pieces = json_line(item)
    assert b"".join(pieces) == one_shot(item)
    if not messages or len(messages) <= WHOLE_LINE_MESSAGES:
        assert len(pieces) == 1
    else:  # one piece per message (and per other field)
        assert len(pieces) == len(messages) + len(ExportRecord.model_fields) + 2


def test_a_clean_record_needs_no_repair() -> None:
    item = record([msg("a", 1, metadata={"k": [1, 2.5, None, True]})], conversation_metadata={"airflow_dag": "d"})
    safe, repairs = item.made_safe()
    assert (safe, repairs) == (item, [])


def test_lone_surrogates_anywhere_become_u_fffd_and_nothing_else_changes() -> None:
    item = record(
        [msg("ok \ud83d then \udc00", 1, metadata={"key\ud800": "value\udfff"})],
        conversation_metadata={"note": "caf\ud83d"},
        telnyx_end_user_target="+1312555\ud83d",
    )
    with pytest.raises(UnicodeEncodeError):
        json_line(item)
    safe, repairs = item.made_safe()
    assert repairs == ["surrogates"]
    line = json.loads(b"".join(json_line(safe)))
    assert line["messages"][0]["text"] == "ok \ufffd then \ufffd"
    assert line["messages"][0]["metadata"] == {"key\ufffd": "value\ufffd"}
    assert line["conversation_metadata"] == {"note": "caf\ufffd"}
    assert line["end_user_target"] == "+1312555\ufffd"
    assert line["event"]["telnyx_end_user_target"] == "+1312555\ufffd"
    assert line["messages"][0]["sent_at"] == "2031-05-01T09:00:01Z"
    changed = ("messages", "conversation_metadata", "end_user_target", "event")
    untouched = json.loads(one_shot(record([])))
    assert {k: v for k, v in line.items() if k not in changed} == {
        k: v for k, v in untouched.items() if k not in changed
    }


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_become_null(value: float) -> None:
    item = record(dynamic_variables={"score": value, "list": [1.5, value]})
    with pytest.raises(ValueError, match="JSON compliant"):
        json_line(item)
    safe, repairs = item.made_safe()
    assert repairs == ["non_finite"]
    line = json.loads(b"".join(json_line(safe)))
    assert line["dynamic_variables"] == {"score": None, "list": [1.5, None]}
    assert line["event"]["dynamic_variables"] == {"score": None, "list": [1.5, None]}


def test_nesting_is_kept_down_to_max_nesting_levels_then_written_as_json_text() -> None:
    # record > dynamic_variables (level 1) > "trace" dict (level 2) > ...: containers to level MAX_NESTING kept.
    fits = record(dynamic_variables={"trace": nested(MAX_NESTING - 2)})
    safe, repairs = fits.made_safe()
    assert (safe, repairs) == (fits, [])
    deep = record(dynamic_variables={"trace": nested(400)})
    with pytest.raises(ValueError, match="depth"):
        json_line(deep)
    safe, repairs = deep.made_safe()
    assert repairs == ["nesting"]
    value, levels = json.loads(b"".join(json_line(safe)))["dynamic_variables"]["trace"], 0
    while isinstance(value, dict):
        value, levels = value["next"], levels + 1
    assert levels == MAX_NESTING - 1
    assert json.loads(value) == nested(400 - levels)


def test_nesting_deeper_than_any_encoder_goes_is_said_not_raised() -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    safe, repairs = record(dynamic_variables={"trace": deep}).made_safe()
    assert repairs == ["nesting"]
    text = json.loads(b"".join(json_line(safe)))["dynamic_variables"]["trace"]
    while isinstance(text, list):
        text = text[0]
    assert text == "(value nested too deeply to encode)"


def test_an_event_nested_deeper_than_pydantic_serializes_still_makes_a_record() -> None:
    item = record(trace=nested(400), status="completed")
    assert item.event["scheduled_event_id"] == "event-1"
    assert item.event["status"].value == "completed"
    safe, repairs = item.made_safe()
    line = json.loads(b"".join(json_line(safe)))
    assert repairs == ["nesting"]
    assert line["event"]["status"] == "completed"
    assert line["event"]["call_attempts"][0]["attempted_at"] == "2031-05-01T09:00:01Z"
    assert list(line["event"])[:3] == ["assistant_id", "scheduled_at_fixed_datetime", "telnyx_agent_target"]


def test_the_json_lines_writer_reports_what_it_repaired() -> None:
    raw = io.BytesIO()
    writer = JsonLinesWriter(CountingFile(raw))
    assert writer.write(record([msg("fine")])) == []
    assert writer.write(record([msg("odd \ud83d")], dynamic_variables={"x": math.nan})) == ["non_finite", "surrogates"]
    writer.close()
    assert [json.loads(line)["messages"][0]["text"] for line in raw.getvalue().splitlines()] == ["fine", "odd \ufffd"]


def test_integers_beyond_int64_are_null_in_the_integer_columns_only() -> None:
    big = 2**64
    item = record(call_duration=big, retry_count=-(2**63) - 1, dynamic_variables={"n": big})
    attempt = {"attempt_number": big, "attempted_at": "2031-05-01T09:00:01Z", "call_status": "busy"}
    item = item.model_copy(update={"attempts": [*record(call_attempts=[attempt]).attempts]})
    assert json.loads(b"".join(json_line(item)))["call_duration"] == big  # JSON holds any integer: no repair
    safe, repairs = item.made_safe()
    assert repairs == ["integer_range"]
    # attempt_number is typed int (the API always sends one), yet made_safe() nulls it past int64 like the others.
    assert (safe.call_duration, safe.retry_count, safe.attempts[0].attempt_number) == (None, None, None)  # type: ignore[comparison-overlap]
    assert safe.dynamic_variables == {"n": big}  # free-form: JSON text in Parquet, exact
    assert safe.event["call_duration"] == big


def test_a_parquet_writer_repairs_an_integer_it_cannot_hold_and_lets_go_after_a_failure() -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    from airflow_provider_telnyx.utils.export_files import ParquetWriter

    raw = io.BytesIO()
    writer = ParquetWriter(CountingFile(raw))
    assert writer.write(record(call_duration=10**20)) == ["integer_range"]  # OverflowError inside pyarrow
    writer.close()
    writer.abort()  # after close: nothing left to let go of
    (row,) = pq.read_table(io.BytesIO(raw.getvalue())).to_pylist()
    assert row["call_duration"] is None
    assert json.loads(row["event"])["call_duration"] == 10**20

    # The export failed: pyarrow's writer is let go while its file is open. Abandoned instead, it would write its
    # footer into the closed file when collected ("I/O operation on closed file", an unraisable exception).
    aborted = io.BytesIO()
    failed = ParquetWriter(CountingFile(aborted))
    failed.write(record())
    failed.abort()
    failed.abort()  # never raises, whatever state it is in
    aborted.close()
    unraisable: list[Any] = []
    with mock.patch.object(sys, "unraisablehook", unraisable.append):
        del failed
        gc.collect()
    assert unraisable == []


def test_an_event_with_odd_fields_is_read_without_them_and_one_without_a_required_field_is_not() -> None:
    raw = event().model_dump(mode="json", exclude_unset=True)
    odd = {**raw, "conversation_metadata": "campaign=spring", "retry_count": "twice", "new_field": [1]}
    read = salvage(parse_scheduled_event, odd)
    assert read is not None
    assert (read.event_id, read.conversation_metadata, read.retry_count) == ("event-1", None, None)
    assert read.model_extra == {"new_field": [1]}
    missing = {name: value for name, value in odd.items() if name != "telnyx_agent_target"}
    assert salvage(parse_scheduled_event, missing) is None
    assert salvage(parse_scheduled_event, "not an event") is None
    assert salvage(ConversationMessage.model_validate, {"text": 5, "role": "user"}) == ConversationMessage(role="user")


def test_a_tool_calls_arguments_sent_as_an_object_are_written_as_json_text() -> None:
    call = {"id": "t1", "type": "function", "function": {"name": "lookup", "arguments": {"order": "B-3001", "n": 2}}}
    text = {"id": "t2", "function": {"name": "lookup", "arguments": '{"order": "B-3002"}'}}
    (as_object, as_text) = msg(tool_calls=[call, text]).tool_calls
    assert as_object.arguments == '{"order":"B-3001","n":2}'
    assert as_text.arguments == '{"order": "B-3002"}'  # text as sent


def test_an_event_is_placed_by_when_it_was_first_due_which_retries_do_not_move() -> None:
    pending = event(call_attempts=None, scheduled_at_fixed_datetime="2031-05-01T23:59:45Z")
    assert first_due_at(pending) == datetime(2031, 5, 1, 23, 59, 45, tzinfo=timezone.utc)
    attempts = [
        {"attempt_number": 2, "attempted_at": "2031-05-02T00:10:15Z", "call_status": "no-answer"},
        {"attempt_number": 1, "attempted_at": "2031-05-01T23:59:45Z", "call_status": "no-answer"},
    ]
    retried = event(call_attempts=attempts, scheduled_at_fixed_datetime="2031-05-02T00:10:15Z")
    assert first_due_at(retried) == first_due_at(pending)


def test_messages_sort_by_sent_at_else_created_at_stably_with_unknown_times_last() -> None:
    created_only = ExportMessage.of(
        ConversationMessage.model_validate({"text": "created 2", "created_at": (AT + timedelta(seconds=2)).isoformat()})
    )
    messages = [msg("none 1", None), msg("3", 3), created_only, msg("1", 1), msg("2 again", 2), msg("none 2", None)]
    assert [m.text for m in sort_by_time(messages)] == ["1", "created 2", "2 again", "3", "none 1", "none 2"]


def test_a_message_counts_the_utf8_bytes_of_its_texts_and_metadata() -> None:
    assert msg("é" * 1_000).approx_bytes() - msg("e" * 1_000).approx_bytes() == 1_000  # é is two bytes
    assert msg(metadata={"k": "x" * 500}).approx_bytes() - msg(metadata={"k": ""}).approx_bytes() == 500
    deep = msg(metadata=nested(5_000))  # counted without recursion
    assert deep.approx_bytes() > 5_000 * len("next")


def test_parquet_row_groups_close_on_bytes_too() -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    from airflow_provider_telnyx.utils.export_files import ParquetWriter

    raw = io.BytesIO()
    writer = ParquetWriter(CountingFile(raw), row_group_size=1_000, row_group_bytes=20_000)
    for _ in range(10):
        assert writer.write(record([msg("x" * 5_000, i) for i in range(2)])) == []
    writer.close()
    parquet = pq.ParquetFile(io.BytesIO(raw.getvalue()))
    assert parquet.metadata.num_rows == 10
    assert 1 < parquet.metadata.num_row_groups <= 10


@pytest.mark.parametrize(
    ("destination", "reason"),
    [
        ("", "must be a path or URL"),
        ("calls.jsonl", "relative path"),
        ("./calls.jsonl", "relative path"),
        ("file:calls.jsonl", "relative path"),
        ("local://data/calls.jsonl", "as a host"),
        ("file://localhost/data/calls.jsonl", "as a host"),
        ("file:///data/../calls.jsonl", "'..' segment"),
        ("/data/%2e%2e/calls.jsonl", "'..' segment"),
        ("gs://bucket/a/../calls.jsonl", "'..' segment"),
        ("file:///data/day/", "ends with '/'"),
        ("s3://bucket/calls-?.jsonl", "holds one of"),
    ],
)
def test_destinations_refused(destination: str, reason: str) -> None:
    with pytest.raises(TelnyxInvalidInputError, match=f"destination: .*{reason}"):
        destination_path(destination)


def test_an_object_storage_path_is_checked_too() -> None:
    from airflow.sdk import ObjectStoragePath

    with pytest.raises(TelnyxInvalidInputError, match=r"'\.\.' segment"):
        destination_path(ObjectStoragePath("file:///data/a/../b.jsonl"))
    good = ObjectStoragePath("file:///data/b.jsonl")
    assert destination_path(good) is good
    assert str(destination_path("/data/day/calls.jsonl")) == "/data/day/calls.jsonl"
    assert str(destination_path("s3://conn@bucket/day/calls.parquet")) == "s3://conn@bucket/day/calls.parquet"
