from __future__ import annotations

import csv
import io
import json
import logging
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_telnyx.exceptions import (
    TelnyxBatchError,
    TelnyxInvalidInputError,
    TelnyxScheduledEventFailedError,
)
from airflow_provider_telnyx.operators._batch_results import MAX_FIELD_TEXT
from airflow_provider_telnyx.operators.batch import TelnyxCreateScheduledEventsOperator
from airflow_provider_telnyx.sensors.scheduled_event import TelnyxScheduledEventsSensor
from airflow_provider_telnyx.testing.clock import ManualClock
from airflow_provider_telnyx.testing.simulator import Faults, Simulator
from airflow_provider_telnyx.triggers.scheduled_event import TelnyxScheduledEventsTrigger
from tests.harness import DictStateStore, FakeTI, SimulatorConnection, context, run_sensor

pytestmark = pytest.mark.long_running

ASSISTANT = "assistant-batch"
START = datetime(2031, 8, 1, 9, 0, tzinfo=timezone.utc)


def items(n: int, first: int = 6000) -> list[dict[str, Any]]:
    return [{"end_user_target": f"+1312555{first + i:04d}", "dynamic_variables": {"n": str(i)}} for i in range(n)]


def batch(**kwargs: Any) -> TelnyxCreateScheduledEventsOperator:
    kwargs.setdefault("events", items(30))
    kwargs.setdefault("scheduled_at", START + timedelta(minutes=10))
    return TelnyxCreateScheduledEventsOperator(
        task_id="batch",
        assistant_id=ASSISTANT,
        agent_target="+13125550199",
        dynamic_variables={"campaign": "spring", "n": "default"},
        **kwargs,
    )


def test_every_bad_item_is_reported_before_anything_is_sent(telnyx_simulator: Simulator, clock: ManualClock) -> None:
    events = items(6)
    events[1]["end_user_target"] = "555"
    events[3]["scheduled_at"] = "2031-08-01T10:00:00"
    events[3]["text"] = "not for calls"
    events[4] = "not a dict"  # type: ignore[call-overload]  # an item that is no object, on purpose
    events[5]["surprise"] = True
    ti = FakeTI()
    with pytest.raises(TelnyxInvalidInputError) as caught:
        batch(events=events).execute(context(ti))
    assert caught.value.fields == (
        "events[1].end_user_target",
        "events[3].scheduled_at",
        "events[4]",
        "events[5].surprise",
    )
    assert "batch: 4 of 6 events" in str(caught.value)
    assert telnyx_simulator.journal == []
    # The summary is pushed first: every row, bad or not sent, so a user sees which rows to fix.
    summary = ti.xcoms["batch_summary"]
    assert [(item["index"], item["outcome"]) for item in summary["items"]] == [
        (0, "not_sent"),
        (1, "invalid"),
        (2, "not_sent"),
        (3, "invalid"),
        (4, "invalid"),
        (5, "invalid"),
    ]
    assert summary["items"][1]["problems"] == [
        {
            "field": "end_user_target",
            "reason": "has no '+' and country code: write it as +<country code><number>, "
            "e.g. +13125550100 (the country is never guessed)",
        }
    ]
    assert summary["items"][1]["end_user_target_input"] == "555"
    assert summary["items"][4]["problems"] == [{"field": "item", "reason": "must be a dict"}]
    assert (summary["counts"]["invalid"], summary["counts"]["not_sent"], summary["requests"]) == (4, 2, 0)


def test_creates_each_item_once_with_merged_defaults(telnyx_simulator: Simulator, clock: ManualClock) -> None:
    ti = FakeTI()
    summary = batch().execute(context(ti))
    assert (summary["total"], summary["created"], summary["failed"]) == (30, 30, 0)
    assert ti.xcoms["batch_summary"] == summary
    events = {e["scheduled_event_id"]: e for e in telnyx_simulator.events()}
    assert set(summary["scheduled_event_ids"]) == set(events)
    first = events[summary["scheduled_event_ids"][0]]
    assert first["dynamic_variables"] == {"campaign": "spring", "n": "0"}  # item keys win over defaults
    assert first["conversation_metadata"]["airflow_item"] == 0
    keys = [e.idempotency_key for e in telnyx_simulator.journal]
    assert len(set(keys)) == 30
    json.dumps(summary)


@pytest.mark.telnyx_simulator(faults=Faults(error_rate=0.3), seed=9)
def test_retry_after_a_partial_batch_creates_only_the_missing_events(
    telnyx_simulator: Simulator, clock: ManualClock, simulator_connection: SimulatorConnection
) -> None:
    simulator_connection(max_retries=0)
    store = DictStateStore()
    with pytest.raises(TelnyxBatchError) as caught:
        batch(events=items(40)).execute(context(FakeTI(try_number=1), store))
    first = caught.value.summary
    assert 0 < first["failed"] < 40
    assert first["created"] + first["failed"] == 40
    telnyx_simulator.set_faults(error_rate=0.0)
    journal_mark = len(telnyx_simulator.journal)
    second = batch(events=items(40)).execute(context(FakeTI(try_number=2), store))
    retry_creates = [e for e in telnyx_simulator.journal[journal_mark:] if e.route == "create"]
    assert len(retry_creates) == first["failed"]
    assert (second["already_existed"], second["created"]) == (first["created"], first["failed"])
    per_item = Counter(e["conversation_metadata"]["airflow_item"] for e in telnyx_simulator.events())
    assert sorted(per_item) == list(range(40))
    assert set(per_item.values()) == {1}


@pytest.mark.telnyx_simulator(faults=Faults(latency=0.05))
def test_the_requests_in_flight_reuse_their_connections(telnyx_simulator: Simulator, clock: ManualClock) -> None:
    """60 creates in flight at once: httpx's default pool keeps 20 connections alive, so each answer past the 20th
    closed its connection and the next request opened another (a TLS handshake each, against the API)."""
    summary = batch(events=items(240), requests_per_second=1000, max_concurrency=60).execute(context())
    assert summary["created"] == 240
    stats = telnyx_simulator.stats()
    assert stats["requests"] == 240
    assert stats["client_connections"] <= 61  # paced_hook: one per request in flight, and one for a listing page


# Scale (120 creates through 429s): untraced by coverage, like the tests below (the paths: tests above).
@pytest.mark.no_cover
@pytest.mark.telnyx_simulator(faults=Faults(rate_limit=40), seed=2)
def test_hitting_429s_still_creates_everything_once(telnyx_simulator: Simulator, clock: ManualClock) -> None:
    summary = batch(events=items(120), requests_per_second=400, max_concurrency=40).execute(context())
    stats = telnyx_simulator.stats()
    assert summary["rate_limited"] > 0
    assert summary["failed"] == 0
    assert stats["events_created"] == 120 == summary["created"]
    assert stats["faults_rate_limit"] == summary["rate_limited"]


# 1,800 creates on six server models, a rate over time: the tests above walk each path once; untraced (no_cover).
@pytest.mark.no_cover
@pytest.mark.integration
@pytest.mark.parametrize("headers", ["always", "on_429", "never"])
@pytest.mark.parametrize("window", ["fixed", "token_bucket"])
def test_300_creates_at_100_per_second_on_every_server_model(
    telnyx_simulator: Simulator, clock: ManualClock, window: str, headers: str
) -> None:
    telnyx_simulator.set_faults(latency=0.02, rate_limit=100, rate_limit_window=window, rate_limit_headers=headers)
    summary = batch(events=items(300)).execute(context())
    assert (summary["created"], summary["failed"]) == (300, 0)
    per_item = Counter(e["conversation_metadata"]["airflow_item"] for e in telnyx_simulator.events())
    assert set(per_item.values()) == {1}
    assert len(per_item) == 300
    creates = [e for e in telnyx_simulator.journal if e.route == "create"]
    throttled = sum(e.status == 429 for e in creates)
    assert summary["rate_limited"] == throttled
    # The start included: where nothing is announced before the first 429, slow start (doubling every round trip)
    # overshoots by up to a round trip at twice the limit, about two windows' budget. Steady state: tests/unit.
    assert throttled < (0.1 * len(creates) if headers == "always" else 2 * 100)


#: A day's contacts as a user's CSV has them: numbers written by hand, four of them unusable.
CONTACTS_CSV = """name,phone
Ada,+1 312 555 6000
Grace,+1 (312) 555-6001
Alan,+1.312.555.6002
Edsger,312-555-6003
Barbara,+44 20 7946 0958
Donald,+13125556005
Margaret,+13125556006
Ken,+1 555 555 5555
Frances,+13125556008
John,+13125556009
Radia,+13125556010
Linus,+13125556011
Guido,+1 312 555
Bjarne,+13125556013
Anders,+13125556014
Dennis,+13125556015
Brian,+13125556016
Rob,+13125556017
Yukihiro,+81 3-1234-5678
Larry,ask reception
"""


def csv_events() -> list[dict[str, Any]]:
    rows = csv.DictReader(io.StringIO(CONTACTS_CSV))
    return [{"end_user_target": row["phone"], "dynamic_variables": {"name": row["name"]}} for row in rows]


def test_csv_with_bad_rows_skipped_sends_the_others_and_reports_each_row(
    telnyx_simulator: Simulator, clock: ManualClock, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    ti = FakeTI()
    with caplog.at_level(logging.INFO):
        summary = batch(events=csv_events(), on_invalid_item="skip").execute(context(ti))  # the task succeeds
    logged = caplog.text + "".join(capfd.readouterr())
    assert "4 of 20 rows are invalid and are not sent (on_invalid_item='skip'" in logged
    assert "Creating 16 scheduled events (0 already handled)" in logged  # invalid rows are not "handled"
    assert ti.xcoms["batch_summary"] == summary
    assert (summary["total"], summary["created"], summary["invalid"], summary["failed"]) == (20, 16, 4, 0)
    events = telnyx_simulator.events()
    assert len(events) == 16
    invalid = {item["index"]: item for item in summary["items"] if item["outcome"] == "invalid"}
    assert sorted(invalid) == [3, 7, 12, 19]
    assert {index: [p["field"] for p in item["problems"]] for index, item in invalid.items()} == {
        3: ["end_user_target"],
        7: ["end_user_target"],
        12: ["end_user_target"],
        19: ["end_user_target"],
    }
    assert invalid[3]["problems"][0]["reason"].startswith("has no '+' and country code")
    assert invalid[7]["problems"][0]["reason"] == "is not a valid number for country code +1: no such number range"
    assert invalid[12]["problems"][0]["reason"] == "is not a valid number for country code +1: it is too short"
    assert invalid[19]["problems"][0]["reason"].startswith("must be an E.164 phone number")
    assert invalid[19]["end_user_target_input"] == "ask reception"
    assert all("scheduled_event_id" not in item for item in invalid.values())
    # Written-out numbers were sent in E.164; the summary keeps both.
    row = summary["items"][1]
    assert (row["end_user_target"], row["end_user_target_input"]) == ("+13125556001", "+1 (312) 555-6001")
    assert "end_user_target_input" not in summary["items"][5]  # written as sent
    by_name = {e["dynamic_variables"]["name"]: e["telnyx_end_user_target"] for e in events}
    assert (by_name["Barbara"], by_name["Yukihiro"]) == ("+442079460958", "+81312345678")
    # Each created row's event is the one sent for that row (its airflow_item tag is the row's index).
    tagged = {e["scheduled_event_id"]: e["conversation_metadata"]["airflow_item"] for e in events}
    assert all(
        tagged[item["scheduled_event_id"]] == item["index"] for item in summary["items"] if item["outcome"] == "created"
    )


@pytest.mark.parametrize("mode", ["fail", "skip"])
def test_3000_invalid_rows_make_no_log_line_over_20000_characters(
    telnyx_simulator: Simulator,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    mode: str,
) -> None:
    events: list[Any] = [{"end_user_target": f"312-555-{i:04d}"} for i in range(2_990)]
    events += [{"end_user_target": "+13125550100", "scheduled_at": f"tomorrow {i}"} for i in range(10)]
    ti = FakeTI()
    op = batch(events=events, on_invalid_item=mode)
    with caplog.at_level(logging.DEBUG):
        if mode == "fail":
            with pytest.raises(TelnyxInvalidInputError) as caught:
                op.execute(context(ti))
            error = caught.value
            # What the task runner logs for a failed task: the message and the traceback.
            logging.getLogger("airflow.task").error("Task failed with exception", exc_info=error)
        else:
            op.execute(context(ti))
    out, err = capfd.readouterr()
    lines = caplog.text.splitlines() + out.splitlines() + err.splitlines()
    report = [line for line in lines if "and 2980 more: events[*].end_user_target: has no '+'" in line]
    assert report, "the capture saw the report"  # so that the bound below is about the real lines
    assert max(map(len, lines)) < 20_000
    reason = "has no '+' and country code: write it as +<country code><number>, e.g. +13125550100"
    assert f"{reason} (the country is never guessed) (2970)" in report[0]  # the rest counted by field and reason
    # Every problem is still at hand: in the summary, one entry per row with its reason.
    items = ti.xcoms["batch_summary"]["items"]
    assert [item["outcome"] for item in items] == ["invalid"] * 3_000
    assert items[2_995]["problems"][0]["field"] == "scheduled_at"
    if mode == "fail":
        assert len(error.problems) == 3_000
    assert telnyx_simulator.journal == []


def test_on_invalid_item_is_checked_as_written_and_as_rendered(telnyx_simulator: Simulator, clock: ManualClock) -> None:
    with pytest.raises(TelnyxInvalidInputError, match="on_invalid_item: must be 'fail' or 'skip'"):
        batch(on_invalid_item="ignore")
    op = batch(on_invalid_item="{{ params.on_invalid_item }}")  # checked once rendered
    op.on_invalid_item = "ignore"
    with pytest.raises(TelnyxInvalidInputError, match="on_invalid_item"):
        op.execute(context())
    assert telnyx_simulator.journal == []


# -- dirty rows are each that row's outcome (review 22) -----------------------------------------------------------


def test_a_row_with_keys_of_mixed_types_is_that_rows_outcome_not_a_crash(
    telnyx_simulator: Simulator, clock: ManualClock
) -> None:
    """``csv.DictReader`` puts a row's extra values (an unquoted comma in a note) under the key ``None``; with one
    other unknown column the row's keys are ``{str, None}``, which do not sort together. Before: TypeError, the
    whole batch failed, nothing sent, no summary, even with ``on_invalid_item="skip"``."""
    text = "end_user_target,notes\n+13125550100,ok\n+13125550101,call after 5, ask Bo\n"
    rows = list(csv.DictReader(io.StringIO(text)))
    assert set(rows[1]) == {"end_user_target", "notes", None}  # what the CSV reader gives
    ti = FakeTI()
    summary = batch(events=[{"end_user_target": rows[0]["end_user_target"]}, rows[1]], on_invalid_item="skip").execute(
        context(ti)
    )
    assert [item["outcome"] for item in summary["items"]] == ["created", "invalid"]
    problems = summary["items"][1]["problems"]
    assert [problem["field"] for problem in problems] == ["None", "notes"]
    assert "past the header's last column" in problems[0]["reason"]
    assert ti.xcoms["batch_summary"] == summary
    assert len(telnyx_simulator.events()) == 1


class _UnreadableRow(Mapping[str, Any]):
    """A row whose values cannot be read (a lazy record whose source went away)."""

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("the source of this record is closed")

    def __iter__(self) -> Iterator[str]:
        return iter(["end_user_target"])

    def __len__(self) -> int:
        return 1


def test_any_error_while_validating_a_row_is_that_rows_invalid_outcome(
    telnyx_simulator: Simulator, clock: ManualClock
) -> None:
    summary = batch(events=[*items(2), _UnreadableRow()], on_invalid_item="skip").execute(context())
    assert [item["outcome"] for item in summary["items"]] == ["created", "created", "invalid"]
    assert summary["items"][2]["problems"] == [
        {"field": "item", "reason": "could not be read: RuntimeError: the source of this record is closed"}
    ]
    with pytest.raises(TelnyxInvalidInputError, match=r"events\[2\]: could not be read: RuntimeError"):
        batch(events=[*items(2), _UnreadableRow()]).execute(context())


def test_two_rows_with_the_same_idempotency_key_are_refused_before_any_request(
    telnyx_simulator: Simulator, clock: ManualClock
) -> None:
    """Rows 1 and 2 reuse row 0's ``idempotency_key``. Before: both were sent, the API answered 422 (10027), and
    they were reported ``failed``, retryable, "created by an earlier try": every retry sent them again. The first
    row with a key keeps it; the others are ``invalid`` on ``idempotency_key`` (one key cannot create two
    events), before any request."""
    events = [
        {"end_user_target": "+13125550100", "idempotency_key": "order-B-3001"},
        {"end_user_target": "+13125550101", "idempotency_key": "order-B-3001"},
        {"end_user_target": "+13125550102", "idempotency_key": "order-B-3001"},
        {"end_user_target": "+13125550103", "idempotency_key": "order-B-3002"},
    ]
    summary = batch(events=events, on_invalid_item="skip", fail_on_item_error=False).execute(context())
    entries = summary["items"]
    assert [item["outcome"] for item in entries] == ["created", "invalid", "invalid", "created"], entries
    assert entries[1]["problems"] == [
        {"field": "idempotency_key", "reason": "is the same as events[0].idempotency_key: each row needs its own key"}
    ]
    assert [e.route for e in telnyx_simulator.journal].count("create") == 2
    # By default (on_invalid_item="fail") nothing is sent, the rows named.
    mark = len(telnyx_simulator.journal)
    with pytest.raises(TelnyxInvalidInputError, match=r"events\[1\]\.idempotency_key: is the same as events\[0\]"):
        batch(events=events).execute(context())
    assert telnyx_simulator.journal[mark:] == []


def test_an_invalid_rows_summary_entry_stays_bounded_whatever_its_column_names(
    telnyx_simulator: Simulator, clock: ManualClock
) -> None:
    """An unknown column named by a 5,000-character header (a CSV whose header line is really data). Before: the
    name was copied whole into every row's ``problems[].field``, 11 MB of XCom for 2,000 rows."""
    events = [{"end_user_target": "+13125550100", "k" * 5_000: "x"} for _ in range(50)]
    summary = batch(events=events, on_invalid_item="skip").execute(context())
    entry = summary["items"][0]
    assert entry["outcome"] == "invalid"
    assert len(json.dumps(entry)) < 1_000, len(json.dumps(entry))
    assert entry["problems"][0]["field"] == "k" * (MAX_FIELD_TEXT - 3) + "..."
    assert len(json.dumps(summary)) < 50 * 1_000


def _schedule(n: int, failing: int, at: datetime) -> list[str]:
    events = items(n)
    for i in range(failing):
        events[i]["end_user_target"] = "+13125550103"  # dispatch fails at once
    summary = batch(events=events, scheduled_at=at).execute(context())
    return [i for i in summary["scheduled_event_ids"] if i]


# Scale (250 events created for each of six runs): untraced by coverage; the sensor's paths: tests/unit/sensors.
@pytest.mark.no_cover
@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
@pytest.mark.parametrize("fail_on_failure", [True, False])
def test_coalesced_sensor_outcomes_agree_across_modes(
    telnyx_simulator: Simulator, clock: ManualClock, mode: str, fail_on_failure: bool
) -> None:
    ids = _schedule(250, failing=2, at=START + timedelta(minutes=5))
    mark = len(telnyx_simulator.journal)
    sensor = TelnyxScheduledEventsSensor(
        task_id="wait_all",
        assistant_id=ASSISTANT,
        scheduled_event_ids=ids,
        fail_on_failure=fail_on_failure,
        timeout=300,
    )
    outcome = run_sensor(sensor, mode, clock, step=3600)
    polls = telnyx_simulator.journal[mark:]
    assert len(polls) <= 3 * 3  # at most three cycles (deferring adds one), each three list pages for 250 events
    assert {e.route for e in polls} == {"list"}, [(e.route, e.status) for e in polls]
    if fail_on_failure:
        assert (outcome.state, outcome.error) == ("failed", TelnyxScheduledEventFailedError)
        assert "2 of 250 scheduled events failed" in outcome.message
    else:
        assert outcome.state == "success"
        assert outcome.value["counts"] == {"completed": 248, "failed": 2, "invalid": 0, "skipped": 0, "total": 250}
        assert [item["index"] for item in outcome.value["items"]] == list(range(250))
        assert [item["outcome"] for item in outcome.value["items"][:3]] == ["failed", "failed", "completed"]


def test_trigger_serializes_and_falls_back_to_gets_for_few_events(
    telnyx_simulator: Simulator, clock: ManualClock
) -> None:
    ids = _schedule(2, failing=0, at=START + timedelta(minutes=5))
    trigger = TelnyxScheduledEventsTrigger(assistant_id=ASSISTANT, scheduled_event_ids=ids, poll_interval=1)
    classpath, kwargs = trigger.serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert TelnyxScheduledEventsTrigger(**kwargs).serialize() == (classpath, kwargs)
    mark = len(telnyx_simulator.journal)
    sensor = TelnyxScheduledEventsSensor(task_id="w", assistant_id=ASSISTANT, scheduled_event_ids=ids, timeout=60)
    assert run_sensor(sensor, "deferrable", clock).value["counts"]["completed"] == 2
    assert {e.route for e in telnyx_simulator.journal[mark:]} == {"get"}


def test_trigger_of_10000_rows_serializes_with_only_the_ids() -> None:
    ids = [f"{i:08d}-0000-4000-8000-000000000000" for i in range(10_000)]
    trigger = TelnyxScheduledEventsTrigger(assistant_id=ASSISTANT, scheduled_event_ids=[*ids, ids[0]], poll_interval=1)
    classpath, kwargs = trigger.serialize()
    encoded = json.dumps(kwargs)
    assert kwargs["scheduled_event_ids"] == ids  # duplicates waited for once
    assert len(encoded) < 10_000 * (len(ids[0]) + 4) + 500  # the ids and the options: nothing per row besides
    assert TelnyxScheduledEventsTrigger(**json.loads(encoded)).serialize() == (classpath, kwargs)


class CountingStore(DictStateStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, key: str, default: Any = None) -> Any:
        self.reads += 1
        return super().get(key, default)


def test_relative_schedule_reads_the_state_store_once(telnyx_simulator: Simulator) -> None:
    # Each state-store access is a round trip to the API server: validating 1,000 items must not do 1,000 of them
    # (they once made a 5-second schedule expire during validation).
    store = CountingStore()
    summary = batch(events=items(50), scheduled_at=timedelta(minutes=5)).execute(context(FakeTI(), store))
    assert summary["created"] == 50
    assert store.reads == 1
    times = {e["scheduled_at_fixed_datetime"] for e in telnyx_simulator.events()}
    assert len(times) == 1
