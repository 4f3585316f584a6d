"""The export against what the project did not script: odd records (a lone surrogate, 400-deep metadata, NaN) from
the simulator and from a separate raw server, very long transcripts (capped, no page past the cap asked for, read
in order), messages out of order with their metadata, the half-open data interval at midnight, destinations that
are folders, relative or climb with ``..``, and a try ended by any exception (its temporary file removed)."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
import structlog

from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError
from airflow_provider_telnyx.models.export import MAX_NESTING, export_json_schema
from airflow_provider_telnyx.operators import _export_run as export_module
from airflow_provider_telnyx.operators.export import TelnyxExportScheduledEventsOperator
from airflow_provider_telnyx.testing.clock import ManualClock
from airflow_provider_telnyx.testing.simulator import Simulator

START = datetime(2031, 5, 2, 10, 0, tzinfo=timezone.utc)
DAY = datetime(2031, 5, 1, tzinfo=timezone.utc)
ASSISTANT = "assistant-1"
CALL = {
    "telnyx_conversation_channel": "phone_call",
    "telnyx_end_user_target": "+13125550100",
    "telnyx_agent_target": "+13125550199",
}


def context(start: datetime = DAY, end: datetime | None = None) -> dict[str, Any]:
    ti = mock.MagicMock(dag_id="dag", run_id="run-1", task_id="export", map_index=-1)
    return {"ti": ti, "data_interval_start": start, "data_interval_end": end or start + timedelta(days=1)}


def export(destination: str, ctx: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    operator = TelnyxExportScheduledEventsOperator(
        task_id="export", assistant_id=ASSISTANT, destination=destination, **kwargs
    )
    return operator.execute(ctx or context())  # type: ignore[arg-type]  # a plain dict for Airflow's Context


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def seed_calls(sim: Simulator, *minutes: int) -> list[str]:
    return [
        sim.seed_event(ASSISTANT, {**CALL, "scheduled_at_fixed_datetime": (DAY + timedelta(minutes=m)).isoformat()})
        for m in minutes
    ]


def nested(depth: int, leaf: Any = "bottom") -> Any:
    value = leaf
    for _ in range(depth):
        value = {"next": value}
    return value


def depth_of(value: Any) -> int:
    depth = 0
    while isinstance(value, dict):
        value, depth = value["next"], depth + 1
    return depth


def message(i: int, **extra: Any) -> dict[str, Any]:
    at = (DAY + timedelta(hours=1, seconds=i)).isoformat().replace("+00:00", "Z")
    return {"role": "user" if i % 2 else "assistant", "text": f"message {i}", "created_at": at, "sent_at": at, **extra}


#: One message holding every value the writers refuse: a lone surrogate, nesting past what pydantic serializes, NaN.
ODD_MESSAGE = message(
    1,
    text="Sure \ud83d see you then",
    metadata={"sentiment": float("nan"), "score": float("inf"), "trace": nested(400), "tag\udc00": "x"},
)


def message_requests(sim: Simulator) -> list[str]:
    return [entry.path for entry in sim.journal if entry.route == "messages"]


# -- one record never sinks the export -------------------------------------------------------------------------


@pytest.mark.parametrize("file_format", ["jsonl", "parquet"])
def test_one_odd_transcript_among_three_is_repaired_counted_and_the_others_intact(
    sim: Simulator, tmp_path: Path, file_format: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = seed_calls(sim, 60, 120, 180)
    _ = export(f"file://{tmp_path / 'plain.jsonl'}")  # the same three before the odd one exists: the reference
    plain = lines(tmp_path / "plain.jsonl")
    sim.script_transcript(ids[1], [message(0), ODD_MESSAGE, message(2, metadata={"lang": "en"})])
    destination = tmp_path / f"events.{file_format}"
    capsys.readouterr()
    summary = export(f"file://{destination}")
    again = export(f"file://{destination}")  # a retry meets the same record, and repairs it the same way
    logged = capsys.readouterr().out
    for result in (summary, again):
        assert (result["rows"], result["repaired_records"], result["repaired_event_ids"]) == (3, 1, [ids[1]])
    if file_format == "parquet":
        rows = pytest.importorskip("pyarrow.parquet").read_table(destination).to_pylist()
        for row in rows:
            for name in ("event", "conversation_metadata", "dynamic_variables"):
                row[name] = None if row[name] is None else json.loads(row[name])
            for item in row["messages"]:
                item["metadata"] = None if item["metadata"] is None else json.loads(item["metadata"])
    else:
        rows = lines(destination)
        for row in rows:
            jsonschema.validate(row, export_json_schema(), format_checker=jsonschema.FormatChecker())
    assert [r["scheduled_event_id"] for r in rows] == ids
    for fresh, reference in ((rows[0], plain[0]), (rows[2], plain[2])):
        assert [m["text"] for m in fresh["messages"]] == [m["text"] for m in reference["messages"]]
        assert fresh["event"] == reference["event"]
    odd = rows[1]["messages"]
    assert [m["text"] for m in odd] == ["message 0", "Sure \ufffd see you then", "message 2"]
    metadata = odd[1]["metadata"]
    assert (metadata["sentiment"], metadata["score"], metadata["tag\ufffd"]) == (None, None, "x")
    # Kept down to MAX_NESTING levels of the record (record > messages > message > metadata > trace), then JSON text.
    trace = metadata["trace"]
    kept = depth_of(trace)
    assert 0 < kept < 400
    assert depth_of(json.loads(_bottom(trace))) + kept == 400
    assert odd[2]["metadata"] == {"lang": "en"}
    assert logged.count(f"Event {ids[1]} written repaired: " + _all_repairs()) == 2
    assert "see you then" not in logged  # the event id and what was changed, never the values
    assert "bottom" not in logged
    assert not list(tmp_path.glob(".*.tmp"))


def _bottom(value: Any) -> str:
    while isinstance(value, dict):
        value = value["next"]
    assert isinstance(value, str)
    return value


def _all_repairs() -> str:
    from airflow_provider_telnyx.models.export import REPAIRS

    return "; ".join(REPAIRS[key] for key in ("nesting", "non_finite", "surrogates"))


class RawApi:
    """A tiny server of fixed JSON texts, written by hand: what a server we do not control may send."""

    def __init__(self, answers: dict[str, bytes]) -> None:
        answers_ = answers

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = answers_.get(self.path.split("?")[0])
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/json")
                payload = body if body is not None else b'{"errors": [{"code": "10005", "title": "Not found"}]}'
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v2"

    def __enter__(self) -> RawApi:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def raw_event(number: int, **extra: str) -> str:
    fields = {
        "scheduled_event_id": f'"event-{number}"',
        "assistant_id": f'"{ASSISTANT}"',
        "telnyx_conversation_channel": '"phone_call"',
        "telnyx_end_user_target": '"+13125550100"',
        "telnyx_agent_target": '"+13125550199"',
        "scheduled_at_fixed_datetime": f'"2031-05-01T0{number}:00:00Z"',
        "status": '"completed"',
        "conversation_id": f'"conversation-{number}"',
        **extra,
    }
    return "{" + ",".join(f'"{name}":{value}' for name, value in fields.items()) + "}"


def test_an_event_with_what_json_allows_and_utf8_does_not_is_repaired(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event itself is odd (the red team's 400-deep extra field, a lone surrogate escape, NaN and Infinity
    tokens), sent by a hand-written server: the export succeeds and the two plain events are as sent."""
    deep = '{"next":' * 400 + '"bottom"' + "}" * 400
    odd = raw_event(2, note='"caf\\ud83d"', trace=deep, conversation_metadata='{"score": NaN, "ratio": -Infinity}')
    listing = f'{{"data":[{raw_event(1)},{odd},{raw_event(3)}],"meta":{{"total_pages":1,"page_number":1}}}}'
    meta = '"meta":{"total_pages":1,"page_number":1}'
    messages = '{"data":[{"role":"user","text":"hi","sent_at":"2031-05-01T01:00:05Z"}],' + meta + "}"
    answers = {f"/v2/ai/assistants/{ASSISTANT}/scheduled_events": listing.encode()}
    for number in (1, 2, 3):
        answers[f"/v2/ai/conversations/conversation-{number}/messages"] = messages.encode()
    with RawApi(answers) as api:
        monkeypatch.setenv(
            "AIRFLOW_CONN_TELNYX_RAW", json.dumps({"conn_type": "telnyx", "password": "KEYraw", "host": api.url})
        )
        summary = export(f"file://{tmp_path / 'events.jsonl'}", telnyx_conn_id="telnyx_raw")
    rows = lines(tmp_path / "events.jsonl")
    assert [r["scheduled_event_id"] for r in rows] == ["event-1", "event-2", "event-3"]
    assert (summary["repaired_records"], summary["repaired_event_ids"]) == (1, ["event-2"])
    event = rows[1]["event"]
    assert event["note"] == "caf\ufffd"
    assert event["conversation_metadata"] == {"score": None, "ratio": None}
    assert rows[1]["conversation_metadata"] == {"score": None, "ratio": None}
    assert depth_of(event["trace"]) + depth_of(json.loads(_bottom(event["trace"]))) == 400
    assert depth_of(event["trace"]) == MAX_NESTING - 1  # record > event > trace: containers below the record
    for plain in (rows[0], rows[2]):
        assert "trace" not in plain["event"]
        assert plain["messages"] == [
            {"role": "user", "text": "hi", "created_at": None, "sent_at": "2031-05-01T01:00:05Z", "tool_calls": [],
             "metadata": None}
        ]  # fmt: skip


def listing(*events: str, number: int = 1, total: int = 1) -> bytes:
    return f'{{"data":[{",".join(events)}],"meta":{{"total_pages":{total},"page_number":{number}}}}}'.encode()


LISTING = f"/v2/ai/assistants/{ASSISTANT}/scheduled_events"
MESSAGES_META = '"meta":{"total_pages":1,"page_number":1}'
PLAIN_MESSAGES = (
    '{"data":[{"role":"user","text":"hi","sent_at":"2031-05-01T01:00:05Z"}],' + MESSAGES_META + "}"
).encode()


@pytest.fixture
def raw_connection(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """``raw_connection(url)`` defines the connection ``telnyx_raw`` to a hand-written server."""

    def define(url: str) -> None:
        monkeypatch.setenv(
            "AIRFLOW_CONN_TELNYX_RAW", json.dumps({"conn_type": "telnyx", "password": "KEYraw", "host": url})
        )

    return define


@pytest.mark.parametrize("file_format", ["jsonl", "parquet"])
def test_an_integer_beyond_int64_is_null_in_a_parquet_column_and_exact_elsewhere(
    tmp_path: Path, raw_connection: Callable[[str], None], file_format: str
) -> None:
    """Valid JSON, a Python int, and pyarrow's ``OverflowError`` for an ``int64`` column: that record is repaired
    (the column null, ``event`` exact), the other two intact. JSON Lines holds any integer: nothing to repair."""
    big = 99999999999999999999
    odd = raw_event(2, call_duration=str(big))
    destination = tmp_path / f"events.{file_format}"
    with RawApi({LISTING: listing(raw_event(1), odd, raw_event(3))}) as api:
        raw_connection(api.url)
        summary = export(f"file://{destination}", telnyx_conn_id="telnyx_raw", include_transcript=False)
    if file_format == "parquet":
        rows = pytest.importorskip("pyarrow.parquet").read_table(destination).to_pylist()
        assert (summary["repaired_records"], summary["repaired_event_ids"]) == (1, ["event-2"])
        assert rows[1]["call_duration"] is None
        assert json.loads(rows[1]["event"])["call_duration"] == big
    else:
        rows = lines(destination)
        assert summary["repaired_records"] == 0
        assert (rows[1]["call_duration"], rows[1]["event"]["call_duration"]) == (big, big)
    assert [r["scheduled_event_id"] for r in rows] == ["event-1", "event-2", "event-3"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_failed_parquet_export_lets_go_of_its_writer(sim: Simulator, tmp_path: Path) -> None:
    """A Parquet export that fails after its first record closes pyarrow's writer while the file is open: an
    abandoned one writes its footer into the closed temporary file when collected (an unraisable exception)."""
    pytest.importorskip("pyarrow")
    seed_calls(sim, 60, 120, 180)
    gc.collect()  # what earlier tests left to the collector is theirs, not this export's
    unraisable: list[Any] = []
    with mock.patch.object(sys, "unraisablehook", unraisable.append):
        with raising_at_progress(lambda: RuntimeError("a bug")), pytest.raises(RuntimeError, match="a bug"):
            export(f"file://{tmp_path / 'events.parquet'}", progress_interval=0.000001)
        gc.collect()
    assert unraisable == []
    assert list(tmp_path.iterdir()) == []


# -- odd shapes are read item by item ---------------------------------------------------------------------------


def test_one_transcript_with_an_unexpected_message_shape_leaves_the_other_two_intact(
    tmp_path: Path, raw_connection: Callable[[str], None]
) -> None:
    """conversation-2's messages are in shapes the spec does not write: a tool call whose ``arguments`` is a JSON
    object (as OpenAI-style tool calls often are; kept, as its JSON text), a message whose ``text`` is a number
    (read without it) and one that is not an object (left out). The export succeeds with the other two intact, and
    the odd record is counted."""
    odd = (
        '{"data":[{"role":"assistant","text":null,"tool_calls":[{"id":"t1","type":"function",'
        '"function":{"name":"lookup","arguments":{"order":"B-3001"}}}]},'
        '{"role":"user","text":42,"sent_at":"2031-05-01T02:00:09Z"},"a string, not a message"],' + MESSAGES_META + "}"
    ).encode()
    answers = {LISTING: listing(raw_event(1), raw_event(2), raw_event(3))}
    for number in (1, 2, 3):
        answers[f"/v2/ai/conversations/conversation-{number}/messages"] = odd if number == 2 else PLAIN_MESSAGES
    with RawApi(answers) as api:
        raw_connection(api.url)
        summary = export(f"file://{tmp_path / 'events.jsonl'}", telnyx_conn_id="telnyx_raw")
    rows = lines(tmp_path / "events.jsonl")
    assert [r["scheduled_event_id"] for r in rows] == ["event-1", "event-2", "event-3"]
    assert rows[0]["messages"][0]["text"] == rows[2]["messages"][0]["text"] == "hi"
    number, tool = rows[1]["messages"]  # sorted by time: the tool call has none
    assert tool["tool_calls"] == [{"id": "t1", "type": "function", "name": "lookup", "arguments": '{"order":"B-3001"}'}]
    assert (number["role"], number["text"], number["sent_at"]) == ("user", None, "2031-05-01T02:00:09Z")
    assert (summary["rows"], summary["repaired_records"], summary["repaired_event_ids"]) == (3, 1, ["event-2"])


def test_one_event_with_odd_metadata_in_a_listing_page_does_not_sink_the_export(
    tmp_path: Path, raw_connection: Callable[[str], None], capsys: pytest.CaptureFixture[str]
) -> None:
    """One listed event has ``conversation_metadata`` as text, another lacks a required field, a third is not an
    object: the page's other events are exported; the first is written from what reads (its ``event`` exactly as
    sent) and counted as repaired; the two that do not read even so are left out, counted and named."""
    odd = raw_event(2, conversation_metadata='"campaign=spring"')
    fields = raw_event(4)
    no_agent = fields.replace(',"telnyx_agent_target":"+13125550199"', "")
    assert no_agent != fields
    answers = {LISTING: listing(raw_event(1), odd, no_agent, '"event-5"', raw_event(3))}
    with RawApi(answers) as api:
        raw_connection(api.url)
        summary = export(f"file://{tmp_path / 'events.jsonl'}", telnyx_conn_id="telnyx_raw", include_transcript=False)
    rows = lines(tmp_path / "events.jsonl")
    assert [r["scheduled_event_id"] for r in rows] == ["event-1", "event-2", "event-3"]
    assert (rows[1]["conversation_metadata"], rows[1]["event"]["conversation_metadata"]) == (None, "campaign=spring")
    assert rows[1]["event"] == json.loads(odd)
    assert (summary["repaired_records"], summary["repaired_event_ids"]) == (1, ["event-2"])
    assert (summary["unreadable_events"], summary["unreadable_event_ids"]) == (2, ["event-4", "item 3"])
    logged = capsys.readouterr().out
    assert "Listed event event-4 does not match the documented schema" in logged
    assert "telnyx_agent_target: Field required" in logged
    assert "campaign=spring" not in logged  # field names, never values


def test_a_named_event_with_odd_fields_is_exported_and_one_that_does_not_read_is_counted(
    tmp_path: Path, raw_connection: Callable[[str], None]
) -> None:
    """The same rules for ``event_ids`` (one GET each): the whole export never fails on one odd answer."""
    events = f"/v2/ai/assistants/{ASSISTANT}/scheduled_events"
    answers = {
        f"{events}/event-1": raw_event(1).encode(),
        f"{events}/event-2": raw_event(2, retry_count='"twice"').encode(),
        f"{events}/event-3": b'["not", "an", "event"]',
    }
    with RawApi(answers) as api:
        raw_connection(api.url)
        summary = export(
            f"file://{tmp_path / 'events.jsonl'}",
            telnyx_conn_id="telnyx_raw",
            include_transcript=False,
            event_ids=["event-1", "event-2", "event-3"],
        )
    rows = lines(tmp_path / "events.jsonl")
    assert [r["scheduled_event_id"] for r in rows] == ["event-1", "event-2"]
    assert (rows[1]["retry_count"], rows[1]["event"]["retry_count"]) == (None, "twice")
    assert (summary["repaired_event_ids"], summary["unreadable_event_ids"]) == (["event-2"], ["event-3"])


def test_an_odd_insights_run_is_read_without_its_odd_fields(
    tmp_path: Path, raw_connection: Callable[[str], None]
) -> None:
    insights = (
        '{"data":[{"id":"i1","status":"completed","conversation_insights":[{"insight_id":"s","result":"ok"}]},'
        '{"id":"i2","status":7},"not a run"],' + MESSAGES_META + "}"
    ).encode()
    answers = {
        LISTING: listing(raw_event(1)),
        "/v2/ai/conversations/conversation-1/conversations-insights": insights,
    }
    with RawApi(answers) as api:
        raw_connection(api.url)
        summary = export(
            f"file://{tmp_path / 'events.jsonl'}",
            telnyx_conn_id="telnyx_raw",
            include_transcript=False,
            include_insights=True,
        )
    (row,) = lines(tmp_path / "events.jsonl")
    assert [(run["id"], run["status"]) for run in row["insights"]] == [("i1", "completed"), ("i2", None)]
    assert summary["repaired_event_ids"] == ["event-1"]


@pytest.fixture
def paged_server() -> Iterator[Callable[[dict[str, bytes]], str]]:
    """``paged_server(pages)``: a listing whose page N is ``pages[N]`` (what offset paging gives when an event is
    created while the listing runs: the last event of page 1 is also the first of page 2)."""
    servers: list[ThreadingHTTPServer] = []

    def serve(pages: dict[str, bytes]) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                number = parse_qs(urlsplit(self.path).query).get("page[number]", ["1"])[0]
                body = pages[number]
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v2"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def test_an_event_listed_on_two_pages_is_written_once(
    tmp_path: Path, raw_connection: Callable[[str], None], paged_server: Callable[[dict[str, bytes]], str]
) -> None:
    """event-2 is on page 1 and again on page 2 (offset paging while events are created): written once."""
    raw_connection(
        paged_server(
            {
                "1": listing(raw_event(1), raw_event(2), number=1, total=2),
                "2": listing(raw_event(2), raw_event(3), number=2, total=2),
            }
        )
    )
    summary = export(f"file://{tmp_path / 'events.jsonl'}", telnyx_conn_id="telnyx_raw", include_transcript=False)
    written = [r["scheduled_event_id"] for r in lines(tmp_path / "events.jsonl")]
    assert written == ["event-1", "event-2", "event-3"]
    assert summary["rows"] == 3


# -- long transcripts ------------------------------------------------------------------------------------------


def test_a_transcript_past_the_cap_is_truncated_without_asking_for_the_pages_it_would_drop(
    sim: Simulator, tmp_path: Path
) -> None:
    short, long = seed_calls(sim, 60, 120)
    sim.script_transcript(long, count=100_000, message=message)
    sim.clear_journal()
    summary = export(f"file://{tmp_path / 'events.jsonl'}")
    rows = lines(tmp_path / "events.jsonl")
    assert (rows[0]["transcript_truncated"], len(rows[0]["messages"])) == (False, 7)
    assert rows[1]["transcript_truncated"] is True
    assert [m["text"] for m in rows[1]["messages"]] == [f"message {i}" for i in range(10_000)]
    assert summary["transcripts_truncated"] == 1
    long_pages = [path for path in message_requests(sim) if rows[1]["conversation_id"] in path]
    assert len(long_pages) == 10_000 // 100  # page 101 would only be dropped: it is never asked for
    assert rows[0]["scheduled_event_id"] == short


@pytest.mark.parametrize(
    ("count", "page_size", "pages", "kept", "truncated"),
    [
        (250, 50, 5, 250, False),  # exactly the cap, on the last page: nothing was cut
        (251, 50, 5, 250, True),  # the cap at a page's end and the API announces more: no 6th request
        (260, 100, 3, 250, True),  # the cap inside a page
        (40, 100, 1, 40, False),
    ],
)
def test_the_message_cap_at_page_boundaries(
    sim: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    count: int,
    page_size: int,
    pages: int,
    kept: int,
    truncated: bool,
) -> None:
    monkeypatch.setattr(export_module, "MAX_TRANSCRIPT_MESSAGES", 250)
    (event_id,) = seed_calls(sim, 60)
    sim.script_transcript(event_id, count=count, message=message)
    sim.clear_journal()
    summary = export(f"file://{tmp_path / 'events.jsonl'}", message_page_size=page_size)
    (row,) = lines(tmp_path / "events.jsonl")
    assert (len(row["messages"]), row["transcript_truncated"], summary["transcripts_truncated"]) == (
        kept,
        truncated,
        int(truncated),
    )
    assert len(message_requests(sim)) == pages


def test_the_byte_cap_cuts_a_transcript_of_long_messages(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_module, "MAX_TRANSCRIPT_BYTES", 50_000)
    (event_id,) = seed_calls(sim, 60)
    sim.script_transcript(event_id, count=500, message=lambda i: message(i, text=f"{i:05d}" + "é" * 5_000))
    sim.clear_journal()
    export(f"file://{tmp_path / 'events.jsonl'}", message_page_size=4)
    (row,) = lines(tmp_path / "events.jsonl")
    # 10,005 UTF-8 bytes of text each (é is two bytes): four fit under 50,000, the fifth does not.
    assert (len(row["messages"]), row["transcript_truncated"]) == (4, True)
    assert len(message_requests(sim)) == 2  # the second page held the fifth; no third was asked for


def test_past_the_parallel_share_a_transcript_reads_on_only_when_its_event_is_written_next(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_module, "PARALLEL_TRANSCRIPT_MESSAGES", 100)
    first, second = seed_calls(sim, 60, 120)
    for event_id in (first, second):
        sim.script_transcript(event_id, count=300, message=message)
    sim.clear_journal()
    export(f"file://{tmp_path / 'events.jsonl'}", message_page_size=50, max_concurrency=4)
    rows = lines(tmp_path / "events.jsonl")
    assert [len(r["messages"]) for r in rows] == [300, 300]
    which = {f"/v2/ai/conversations/{r['conversation_id']}/messages": name for r, name in zip(rows, "AB", strict=True)}
    order = "".join(which[path] for path in message_requests(sim))
    assert sorted(order) == list("AAAAAABBBBBB")
    # B reads its first two pages (100 messages) alongside A; the four others only once A is written.
    assert order.rindex("A") < order.index("BBBB")
    assert order.endswith("BBBB")


# -- what a message holds and its order ------------------------------------------------------------------------


def test_messages_keep_their_metadata_and_are_sorted_by_time_stably_unknown_times_last(
    sim: Simulator, tmp_path: Path
) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    (event_id,) = seed_calls(sim, 60)

    def at(seconds: int) -> str:
        return (DAY + timedelta(hours=1, seconds=seconds)).isoformat()

    sim.script_transcript(
        event_id,
        [
            {"role": "user", "text": "c", "sent_at": at(30), "created_at": at(1)},
            {"role": "assistant", "text": "no time"},
            {"role": "user", "text": "a", "sent_at": at(10), "metadata": {"channel": "voice", "confidence": "0.93"}},
            {"role": "assistant", "text": "b1", "created_at": at(20)},  # no sent_at: its created_at
            {"role": "tool", "text": "b2", "sent_at": at(20)},  # the same time: the API's order is kept
            {"role": "user", "text": "also no time", "metadata": "plain text"},
        ],
    )
    export(f"file://{tmp_path / 'events.jsonl'}")
    export(f"file://{tmp_path / 'events.parquet'}")
    (row,) = lines(tmp_path / "events.jsonl")
    assert [m["text"] for m in row["messages"]] == ["a", "b1", "b2", "c", "no time", "also no time"]
    assert row["messages"][0]["metadata"] == {"channel": "voice", "confidence": "0.93"}
    assert row["messages"][-1]["metadata"] == {"value": "plain text"}
    (parquet,) = pq.read_table(tmp_path / "events.parquet").to_pylist()
    assert [m["text"] for m in parquet["messages"]] == [m["text"] for m in row["messages"]]
    assert json.loads(parquet["messages"][0]["metadata"]) == {"channel": "voice", "confidence": "0.93"}
    assert parquet["messages"][1]["metadata"] is None


# -- the data interval is half-open ----------------------------------------------------------------------------


def test_consecutive_daily_runs_never_export_the_same_event_twice(sim: Simulator, tmp_path: Path) -> None:
    before, start, inside, last, midnight, after = (
        sim.seed_event(ASSISTANT, {**CALL, "scheduled_at_fixed_datetime": when.isoformat()})
        for when in (
            DAY - timedelta(microseconds=1),
            DAY,
            DAY + timedelta(hours=12),
            DAY + timedelta(days=1, microseconds=-1),
            DAY + timedelta(days=1),  # exactly midnight: the first run's API answer includes it (inclusive to_date)
            DAY + timedelta(days=1, hours=1),
        )
    )
    first = export(f"file://{tmp_path / 'day1.jsonl'}", context(DAY), include_transcript=False)
    second = export(f"file://{tmp_path / 'day2.jsonl'}", context(DAY + timedelta(days=1)), include_transcript=False)
    day1 = [r["scheduled_event_id"] for r in lines(tmp_path / "day1.jsonl")]
    day2 = [r["scheduled_event_id"] for r in lines(tmp_path / "day2.jsonl")]
    assert day1 == [start, inside, last]
    assert day2 == [midnight, after]
    # The API listed the midnight event to the first run too (its to_date is inclusive); it was left out there.
    assert (first["events_outside_range"], second["events_outside_range"]) == (1, 0)
    assert before not in day1 + day2  # the day before's


def test_explicit_dates_are_half_open_too_and_an_empty_range_is_refused(sim: Simulator, tmp_path: Path) -> None:
    midnight = sim.seed_event(ASSISTANT, {**CALL, "scheduled_at_fixed_datetime": DAY.isoformat()})
    before = export(
        f"file://{tmp_path / 'before.jsonl'}",
        from_date=(DAY - timedelta(days=1)).isoformat(),
        to_date=DAY.isoformat(),
        include_transcript=False,
    )
    assert (before["rows"], before["events_outside_range"]) == (0, 1)
    at = export(
        f"file://{tmp_path / 'at.jsonl'}",
        from_date=DAY.isoformat(),
        to_date=(DAY + timedelta(seconds=1)).isoformat(),
        include_transcript=False,
    )
    assert [r["scheduled_event_id"] for r in lines(tmp_path / "at.jsonl")] == [midnight]
    assert at["events_outside_range"] == 0
    sim.clear_journal()
    with pytest.raises(TelnyxInvalidInputError, match=r"to_date: must be after from_date \(the range is half-open"):
        export(f"file://{tmp_path / 'x.jsonl'}", from_date=DAY.isoformat(), to_date=DAY.isoformat())
    assert sim.journal == []


def retried_call(sim: Simulator, due: datetime) -> str:
    """A call that never answers, retried once 600 s after its first attempt ends (the simulator rings 30 s)."""
    body = {
        **CALL,
        "telnyx_end_user_target": "+13125550102",
        "max_retries_client_errors": 1,
        "retry_interval_secs": 600,
        "scheduled_at_fixed_datetime": due.isoformat(),
    }
    return sim.seed_event(ASSISTANT, body)


def daily_files(sim: Simulator, tmp_path: Path, event_id: str, run_at: timedelta) -> list[str]:
    """Day 1's and day 2's exports, each run ``run_at`` after its interval's end (the operator's wall clock is the
    simulator's); the days whose file holds ``event_id``."""
    files = []
    for day in (DAY, DAY + timedelta(days=1)):
        sim.clock = ManualClock(day + timedelta(days=1) + run_at)
        operator = TelnyxExportScheduledEventsOperator(
            task_id="export",
            assistant_id=ASSISTANT,
            destination=f"file://{tmp_path / f'{day:%d}.jsonl'}",
            include_transcript=False,
        )
        operator.clock = sim.clock
        operator.execute(context(day))  # type: ignore[arg-type]  # a plain dict for Airflow's Context
        if any(r["scheduled_event_id"] == event_id for r in lines(tmp_path / f"{day:%d}.jsonl")):
            files.append(f"{day:%d}")
    return files


def test_a_call_retried_across_midnight_is_in_one_daily_file_only(
    telnyx_simulator: Simulator, simulator_connection: Any, tmp_path: Path
) -> None:
    """The API moves ``scheduled_at_fixed_datetime`` to the retry's time (API reference: "becomes now +
    retry_interval_secs"). A call at 23:59:45 still ringing when the daily export runs at midnight is day 1's; it
    is retried at 00:10:15, and day 2's run, which the API lists it to, leaves it out: it was first due on day 1."""
    telnyx_simulator.time_scale = 1.0
    simulator_connection()
    event_id = retried_call(telnyx_simulator, DAY + timedelta(days=1, seconds=-15))
    assert daily_files(telnyx_simulator, tmp_path, event_id, run_at=timedelta(0)) == ["01"]


def test_a_call_retried_past_midnight_before_its_days_run_is_still_that_days(
    telnyx_simulator: Simulator, simulator_connection: Any, tmp_path: Path
) -> None:
    """First due at 23:55, its first attempt ends at 23:55:30 and its retry is due at 00:05:30: when day 1's export
    runs at 00:01, the API's time for it is already day 2's, so a listing of day 1 alone would not show it and no
    file would hold it. The listing looks past ``to_date`` (at most a day and 4 hours past now) and finds it."""
    telnyx_simulator.time_scale = 1.0
    simulator_connection()
    event_id = retried_call(telnyx_simulator, DAY + timedelta(hours=23, minutes=55))
    assert daily_files(telnyx_simulator, tmp_path, event_id, run_at=timedelta(minutes=1)) == ["01"]


# -- where the file goes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("destination", "reason"),
    [
        ("events.jsonl", "is a relative path"),
        ("exports/../events.jsonl", "is a relative path"),
        ("file:events.jsonl", "is a relative path"),
        ("file://exports/events.jsonl", "names 'exports' as a host"),
        ("file://{root}/../escaped.jsonl", "has a '..' segment"),
        ("file://{root}/%2E%2E/escaped.jsonl", "has a '..' segment"),
        ("{root}/day/../../escaped.jsonl", "has a '..' segment"),
        ("s3://bucket/exports/../other/events.jsonl", "has a '..' segment"),
        ("file://{root}/exports/", "ends with '/'"),
        ("file://{root}/calls[1].jsonl", "holds one of"),
        ("s3://bucket/day-*/calls.jsonl", "holds one of"),
    ],
)
def test_relative_and_climbing_destinations_are_refused_before_any_request(
    sim: Simulator, tmp_path: Path, destination: str, reason: str
) -> None:
    seed_calls(sim, 60)
    sim.clear_journal()
    with pytest.raises(TelnyxInvalidInputError, match=rf"destination: .*{reason}"):
        export(destination.format(root=tmp_path))
    assert sim.journal == []
    assert not list(tmp_path.parent.glob("escaped.jsonl"))


def test_a_templated_destination_is_checked_as_rendered(sim: Simulator, tmp_path: Path) -> None:
    operator = TelnyxExportScheduledEventsOperator(
        task_id="export",
        assistant_id=ASSISTANT,
        destination="file://" + str(tmp_path) + "/{{ params.team }}/events.jsonl",
    )
    ctx = {**context(), "params": {"team": "../../etc"}}
    operator.render_template_fields(ctx)  # type: ignore[arg-type]  # a plain dict for Airflow's Context
    assert operator.destination == f"file://{tmp_path}/../../etc/events.jsonl"
    with pytest.raises(TelnyxInvalidInputError, match=r"has a '\.\.' segment"):
        operator.execute(ctx)  # type: ignore[arg-type]  # a plain dict for Airflow's Context
    assert sim.journal == []


def test_an_existing_folder_as_destination_fails_before_any_request_and_hides_nothing(
    sim: Simulator, tmp_path: Path
) -> None:
    seed_calls(sim, 60)
    folder = tmp_path / "calls.jsonl"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    sim.clear_journal()
    with pytest.raises(TelnyxInvalidInputError, match=rf"destination: file://{folder} is an existing folder"):
        export(f"file://{folder}")
    assert sim.journal == []
    assert sorted(p.name for p in folder.iterdir()) == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calls.jsonl"]


@contextmanager
def at_progress(action: Callable[[], object]) -> Iterator[None]:
    """Within it, an export's progress lines call ``action()`` from inside the export (the task's log is
    structlog's)."""
    processors = structlog.get_config()["processors"]

    def act_at_progress(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if str(event.get("event", "")).startswith("Export progress"):
            action()
        return event

    structlog.configure(processors=[act_at_progress, *processors])
    try:
        yield
    finally:
        structlog.configure(processors=processors)


@contextmanager
def raising_at_progress(error: Callable[[], BaseException]) -> Iterator[None]:
    """Within it, an export's first progress line raises ``error()`` from inside the export, as a kill, a timeout
    or a bug would."""

    def raise_error() -> None:
        raise error()

    with at_progress(raise_error):
        yield


@pytest.mark.parametrize(
    "error",
    [KeyboardInterrupt, asyncio.CancelledError, SystemExit, lambda: RuntimeError("a bug"), MemoryError],
    ids=["KeyboardInterrupt", "CancelledError", "SystemExit", "RuntimeError", "MemoryError"],
)
def test_a_try_ended_by_any_exception_removes_its_temporary_file_and_keeps_the_last_file(
    sim: Simulator, tmp_path: Path, error: Callable[[], BaseException]
) -> None:
    seed_calls(sim, 60, 120, 180)
    destination = tmp_path / "events.jsonl"
    export(f"file://{destination}")
    complete = destination.read_bytes()
    with raising_at_progress(error), pytest.raises(type(error())):
        export(f"file://{destination}", progress_interval=0.000001)
    assert destination.read_bytes() == complete
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.jsonl"]


def test_an_export_ended_midway_finishes_its_requests_in_flight_before_closing_its_connections(
    sim: Simulator, tmp_path: Path
) -> None:
    """Requests still in flight when an export ends (an error at its first record, here) are cancelled and done with
    before the hook closes its connections: left to the collector, one opening a connection then leaked it (an
    unclosed transport, at random)."""
    from airflow_provider_telnyx.hooks.telnyx import TelnyxHook

    seed_calls(sim, *range(60, 60 + 40))
    pending_at_close: list[int] = []
    aclose = TelnyxHook.aclose

    async def counting_aclose(self: TelnyxHook) -> None:
        pending_at_close.append(sum(not task.done() for task in asyncio.all_tasks()) - 1)  # but the export's own
        await aclose(self)

    with (
        mock.patch.object(TelnyxHook, "aclose", counting_aclose),
        raising_at_progress(lambda: RuntimeError("a bug")),
        pytest.raises(RuntimeError, match="a bug"),
    ):
        export(f"file://{tmp_path / 'events.jsonl'}", progress_interval=0.000001, max_concurrency=10)
    assert pending_at_close == [0]


def test_on_kill_mid_export_stops_it_and_keeps_the_last_file(sim: Simulator, tmp_path: Path) -> None:
    """What Airflow 3 does on ``SIGTERM`` (``on_kill()``, no exception): the export's requests are cancelled, the
    try fails, the last complete file stays and no temporary file does."""
    seed_calls(sim, 60, 120, 180)
    destination = tmp_path / "events.jsonl"
    export(f"file://{destination}")
    complete = destination.read_bytes()
    operator = TelnyxExportScheduledEventsOperator(
        task_id="export", assistant_id=ASSISTANT, destination=f"file://{destination}", progress_interval=0.000001
    )
    with at_progress(operator.on_kill), pytest.raises(asyncio.CancelledError):
        operator.execute(context())  # type: ignore[arg-type]  # a plain dict for Airflow's Context
    assert destination.read_bytes() == complete
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.jsonl"]


def test_a_try_removes_the_temporary_files_killed_tries_left_and_nothing_else(sim: Simulator, tmp_path: Path) -> None:
    """A ``SIGKILL`` leaves a try no time: the next try of any run removes what such tries left beside the
    destination, named as the operator names its temporary files, and nothing else."""
    seed_calls(sim, 60)
    stale = [".events.jsonl.0123456789ab.tmp", ".events.jsonl.fedcba987654.tmp"]
    others = [
        ".events.jsonl.mine.tmp",
        ".other.jsonl.0123456789ab.tmp",
        "events.jsonl.0123456789ab.tmp",
        ".events.jsonl",
    ]
    for name in stale + others:
        (tmp_path / name).write_text("x")
    export(f"file://{tmp_path / 'events.jsonl'}")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["events.jsonl", *others])


_KILLED_EXPORT = textwrap.dedent(
    """
    import json, os, signal, sys, threading, time
    from datetime import datetime, timedelta, timezone
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from types import SimpleNamespace

    destination, marker = sys.argv[1], sys.argv[2]
    sys.path.insert(0, os.getcwd())
    from tests.integration.test_export_records import raw_event

    listing = ('{"data":[' + ",".join(raw_event(n) for n in (1, 2, 3)) +
               '],"meta":{"total_pages":1,"page_number":1}}').encode()
    messages = b'{"data":[{"role":"user","text":"hi"}],"meta":{"total_pages":1,"page_number":1}}'

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if "conversation-2" in self.path:  # a slow conversation: the export is mid-way
                open(marker, "w").close()
                time.sleep(120)  # a server that stalls: the test SIGTERMs the export long before; no timing asserted
            body = listing if self.path.split("?")[0].endswith("scheduled_events") else messages
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.environ["AIRFLOW_CONN_TELNYX_RAW"] = json.dumps(
        {"conn_type": "telnyx", "password": "KEYraw", "host": f"http://127.0.0.1:{server.server_address[1]}/v2"}
    )
    from airflow_provider_telnyx.operators.export import TelnyxExportScheduledEventsOperator

    op = TelnyxExportScheduledEventsOperator(
        task_id="export", assistant_id="assistant-1", destination="file://" + destination, telnyx_conn_id="telnyx_raw"
    )
    # What Airflow 3's task runner installs (airflow/sdk/execution_time/task_runner.py, _on_term): SIGTERM calls
    # the task's on_kill() and nothing else; the supervisor sends SIGKILL when the process has not exited in time.
    signal.signal(signal.SIGTERM, lambda signum, frame: op.on_kill())
    day = datetime(2031, 5, 1, tzinfo=timezone.utc)
    ti = SimpleNamespace(dag_id="dag", run_id="run-1", task_id="export", map_index=-1)
    op.execute({"ti": ti, "data_interval_start": day, "data_interval_end": day + timedelta(days=1)})
    """
)


@pytest.mark.integration  # a task process of its own, and a hand-written server on loopback
def test_a_kill_as_airflow_3_delivers_it_leaves_no_temporary_file(tmp_path: Path) -> None:
    """Airflow 3's task runner raises nothing on ``SIGTERM``: it calls ``on_kill()``, then the supervisor escalates
    to ``SIGKILL``. A task process mid-export (a conversation that takes two minutes to answer) gets ``SIGTERM``:
    within the supervisor's grace, its temporary file is gone."""
    destination = tmp_path / "events.jsonl"
    marker = tmp_path / "mid-way"
    script = tmp_path / "killed_export.py"
    script.write_text(_KILLED_EXPORT)
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, str(script), str(destination), str(marker)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():  # the child's own pace: polled, bounded
            assert child.poll() is None, "the export ended before it was mid-way"
            assert time.monotonic() < deadline, "the export never reached the slow conversation"
            time.sleep(0.1)  # polling a child process for its marker file, bounded by the deadline above
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] != []  # it was being written
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=5)  # the supervisor's escalation delay
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []
    assert not destination.exists()
