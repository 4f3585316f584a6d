"""``TelnyxScheduledEventFinishedTrigger``: one trigger event per finished scheduled event, across polls, filters,
restarts and failures, against the simulator (its clock is the trigger's, driven by hand) and a scripted server
that ignores the date filter and answers in any order."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError
from airflow_provider_telnyx.testing.clock import ManualClock
from airflow_provider_telnyx.testing.simulator import Simulator
from airflow_provider_telnyx.triggers.finished_events import (
    CLOCK_SLACK,
    TelnyxScheduledEventFinishedTrigger,
)
from tests.environment import API_KEY
from tests.unit.mock_api import MockApi, event_json

ASSISTANT = "assistant-trig"
START = datetime(2031, 8, 1, 9, 0, tzinfo=timezone.utc)
CALLER = "+13125550199"
ANSWERS, NEVER_ANSWERS, BUSY_THEN_ANSWERS = "+13125550100", "+13125550102", "+13125550101"
DISPATCH_FAILS, LONG_CALL, SMS_DELIVERED, SMS_FAILS = "+13125550103", "+13125550104", "+13125550110", "+13125550111"

# The simulator's event clock runs at the wall clock's pace: timestamps are what a real API would report.
pytestmark = pytest.mark.telnyx_simulator(time_scale=1)


def trigger(**kwargs: Any) -> TelnyxScheduledEventFinishedTrigger:
    kwargs.setdefault("assistant_id", ASSISTANT)
    return TelnyxScheduledEventFinishedTrigger(**kwargs)


def seed(simulator: Simulator, at: datetime, target: str = ANSWERS, channel: str = "phone_call", **extra: Any) -> str:
    body: dict[str, Any] = {
        "telnyx_conversation_channel": channel,
        "telnyx_end_user_target": target,
        "telnyx_agent_target": CALLER,
        "scheduled_at_fixed_datetime": at.isoformat(),
        **extra,
    }
    if channel == "sms_chat":
        body["text"] = "Your order has shipped."
    return simulator.seed_event(ASSISTANT, body)


class Fired:
    """What one run of a trigger fired: each payload with the clock time it was fired at, and the poll."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []
        self.at: list[datetime] = []
        self.sleeps: list[float] = []

    @property
    def ids(self) -> list[str]:
        return [p["scheduled_event_id"] for p in self.payloads]


def drive(
    t: TelnyxScheduledEventFinishedTrigger,
    clock: ManualClock,
    sleeps: int,
    after_sleep: Callable[[int], None] | None = None,
) -> Fired:
    """Run ``t`` as the triggerer would, until its ``sleeps``-th wait, where it is cancelled (the triggerer stops or
    dies). Each wait moves the manual clock forward by what the trigger asked for."""
    fired = Fired()
    t.clock = lambda: clock().timestamp()

    async def sleep(seconds: float) -> None:
        fired.sleeps.append(seconds)
        if len(fired.sleeps) >= sleeps:
            raise asyncio.CancelledError  # cancelled while waiting, as a triggerer cancels its triggers
        clock.advance(seconds)
        if after_sleep is not None:
            after_sleep(len(fired.sleeps))
        await asyncio.sleep(0)

    t.sleep = sleep

    async def go() -> None:
        try:
            async for event in t.run():
                fired.payloads.append(event.payload)
                fired.at.append(clock())
        except asyncio.CancelledError:
            pass

    asyncio.run(go())
    return fired


def list_requests(simulator: Simulator) -> list[Any]:
    return [entry for entry in simulator.journal if entry.route == "list"]


# -- construction -----------------------------------------------------------------------------------------------


def test_serialize_round_trips_json_only_without_the_key() -> None:
    original = trigger(
        telnyx_conn_id="telnyx_prod",
        conversation_channel="phone_call",
        conversation_metadata={"wave": 2, "campaign": "spring", "vip": True},
        look_back=timedelta(minutes=90),
        max_in_flight=3600,
        poll_interval=30,
        max_pages=7,
    )
    classpath, kwargs = original.serialize()
    assert classpath == "airflow_provider_telnyx.triggers.finished_events.TelnyxScheduledEventFinishedTrigger"
    assert kwargs == {
        "assistant_id": ASSISTANT,
        "telnyx_conn_id": "telnyx_prod",
        "conversation_channel": "phone_call",
        "conversation_metadata": {"campaign": "spring", "vip": True, "wave": 2},
        "look_back": 5400.0,
        "max_in_flight": 3600.0,
        "poll_interval": 30.0,
        "max_pages": 7,
    }
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert API_KEY not in json.dumps(kwargs)
    assert API_KEY not in repr(original)
    rebuilt = TelnyxScheduledEventFinishedTrigger(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    # Airflow tells watchers apart by this hash: a re-parse of the same DAG file must give the same trigger.
    assert type(original).hash(classpath, kwargs) == type(rebuilt).hash(*rebuilt.serialize())
    assert trigger().serialize()[1]["look_back"] == 3600.0  # the documented default: one hour


def test_an_asset_watcher_accepts_it() -> None:
    from airflow.sdk import Asset, AssetWatcher
    from airflow.triggers.base import BaseEventTrigger

    watched = trigger()
    asset = Asset(name="finished_calls", watchers=[AssetWatcher(name="finished_calls", trigger=watched)])
    assert isinstance(watched, BaseEventTrigger)
    assert asset.watchers[0].trigger is watched


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"assistant_id": "a/b"}, "assistant_id"),
        ({"conversation_channel": "fax"}, "conversation_channel"),
        ({"conversation_metadata": {"nested": {"a": 1}}}, "conversation_metadata.nested"),
        ({"conversation_metadata": ["campaign"]}, "conversation_metadata"),
        ({"look_back": timedelta(hours=-1)}, "look_back"),
        ({"max_in_flight": float("nan")}, "max_in_flight"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"max_pages": 0}, "max_pages"),
    ],
)
def test_bad_arguments_fail_at_construction_naming_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(TelnyxInvalidInputError) as caught:
        trigger(**kwargs)
    assert caught.value.fields == (field,)


# -- firing ----------------------------------------------------------------------------------------------------


def test_fires_once_per_event_that_finishes_and_never_for_pending_or_in_progress(
    telnyx_simulator: Simulator, clock: ManualClock
) -> None:
    minute = timedelta(minutes=1)
    expected = {
        seed(telnyx_simulator, START + 10 * minute): ("completed", 1),
        # Never answers: three attempts an hour apart, failed two hours after its first time. Each retry moved its
        # scheduled_at_fixed_datetime forward, so it is listed near its last dispatch, not its first.
        seed(
            telnyx_simulator,
            START + 10 * minute,
            NEVER_ANSWERS,
            max_retries_client_errors=2,
            retry_interval_secs=3600,
        ): ("failed", 3),
        seed(
            telnyx_simulator,
            START + 15 * minute,
            BUSY_THEN_ANSWERS,
            max_retries_client_errors=1,
            retry_interval_secs=600,
        ): (
            "completed",
            2,
        ),
        seed(telnyx_simulator, START + 20 * minute, DISPATCH_FAILS): ("failed", 0),
        seed(telnyx_simulator, START + 30 * minute, LONG_CALL): ("completed", 1),  # in progress for 20 minutes
        seed(telnyx_simulator, START + 40 * minute, SMS_DELIVERED, channel="sms_chat"): ("completed", 0),
        seed(telnyx_simulator, START + 45 * minute, SMS_FAILS, channel="sms_chat"): ("failed", 0),
    }
    tomorrow = seed(telnyx_simulator, START + timedelta(days=1))  # pending all along
    fired = drive(trigger(poll_interval=60), clock, sleeps=180)  # three hours, one poll a minute

    assert sorted(fired.ids) == sorted(expected)  # each once; never the pending one
    assert tomorrow not in fired.ids
    for payload, at in zip(fired.payloads, fired.at, strict=True):
        event_id = payload["scheduled_event_id"]
        final_at = telnyx_simulator.final_at(event_id)
        assert final_at is not None
        assert final_at <= at < final_at + timedelta(seconds=60)  # not before it finished; at the next poll
        assert (payload["status"], payload["attempts"]) == expected[event_id]
        assert payload["assistant_id"] == ASSISTANT
    by_id = {p["scheduled_event_id"]: p for p in fired.payloads}
    late = next(i for i, (status, attempts) in expected.items() if attempts == 3)
    assert by_id[late]["call_status"] == "no-answer"
    assert by_id[late]["attempts_summary"].count("no-answer") == 3
    assert by_id[late]["errors"]  # the API says why it failed
    assert datetime.fromisoformat(by_id[late]["scheduled_at"]) > START + 2 * timedelta(hours=1)
    failed_sms = next(p for p in fired.payloads if p["end_user_target"] == SMS_FAILS)
    assert failed_sms["conversation_channel"] == "sms_chat"
    assert "30007" in failed_sms["errors"][0]
    json.dumps(fired.payloads)  # JSON-safe as it is
    assert all(len(json.dumps(p)) < 2_000 for p in fired.payloads)  # compact: no transcript

    # Read-only, and one listing request per poll (a handful of events fit in one page).
    requests = telnyx_simulator.journal
    assert {(entry.method, entry.route) for entry in requests} == {("GET", "list")}
    assert len(requests) == 180


def test_events_finished_before_the_look_back_are_not_reported(telnyx_simulator: Simulator, clock: ManualClock) -> None:
    hour, minute = timedelta(hours=1), timedelta(minutes=1)
    seed(telnyx_simulator, START - 3 * hour)  # long ago
    seed(telnyx_simulator, START - 70 * minute)  # a 45-second call: finished 69 minutes before the start
    recent = seed(telnyx_simulator, START - 50 * minute)  # finished 49 minutes before the start
    # Dispatched before the cutoff, finished after it (a 20-minute call): it counts by when it finished.
    straddling = seed(telnyx_simulator, START - 61 * minute, LONG_CALL)
    fired = drive(trigger(look_back=timedelta(hours=1)), clock, sleeps=3)
    assert sorted(fired.ids) == sorted([recent, straddling])
    assert fired.at[0] == START  # found by the first poll


def test_channel_and_metadata_filters(telnyx_simulator: Simulator, clock: ManualClock) -> None:
    at = START + timedelta(minutes=5)
    spring = {"campaign": "spring", "wave": 2}
    wanted = {
        seed(telnyx_simulator, at, conversation_metadata={**spring, "order_id": "A-1"}),  # extra keys are fine
        seed(telnyx_simulator, at, DISPATCH_FAILS, conversation_metadata=spring),  # failed counts too
    }
    for unwanted in (
        {"conversation_metadata": {"campaign": "spring", "wave": "2"}},  # "2" is not 2
        {"conversation_metadata": {"campaign": "autumn", "wave": 2}},
        {"conversation_metadata": {"campaign": "spring"}},
        {},
    ):
        seed(telnyx_simulator, at, **unwanted)
    seed(telnyx_simulator, at, SMS_DELIVERED, channel="sms_chat", conversation_metadata=spring)
    vip_one = seed(telnyx_simulator, at, conversation_metadata={"vip": 1})

    fired = drive(trigger(conversation_channel="phone_call", conversation_metadata=spring), clock, sleeps=10)
    assert sorted(fired.ids) == sorted(wanted)
    queries = [parse_qs(x.query) for x in telnyx_simulator.exchanges if x.path.endswith("/scheduled_events")]
    assert {q["conversation_channel"][0] for q in queries} == {"phone_call"}  # the listing itself is narrowed

    assert drive(trigger(conversation_metadata={"vip": True}), clock, sleeps=2).ids == []  # 1 is not true
    assert drive(trigger(conversation_metadata={"vip": 1}), clock, sleeps=2).ids == [vip_one]


# Scale: untraced by coverage (the paths: the tests above).
@pytest.mark.no_cover
@pytest.mark.parametrize("events", [0, 1, 30, 100, 250])
def test_one_listing_per_poll_whatever_the_number_of_events(
    telnyx_simulator: Simulator, clock: ManualClock, events: int
) -> None:
    """Every event in the window fits one request up to 100; beyond, ceil(events / 100) requests per poll."""
    for i in range(events):  # dispatched over the ten minutes before the start: in every poll's window
        seed(telnyx_simulator, START - timedelta(seconds=600 - (600 * i) // max(events, 1)))
    polls = 15
    fired = drive(trigger(poll_interval=60), clock, sleeps=polls)
    assert len(fired.ids) == len(set(fired.ids)) == events
    requests = list_requests(telnyx_simulator)
    assert len(telnyx_simulator.journal) == len(requests)  # no per-event or transcript read
    assert len(requests) == polls * max(1, math.ceil(events / 100))


# Scale: untraced by coverage (the paths: the tests above).
@pytest.mark.no_cover
def test_a_restart_redelivers_only_inside_the_look_back_and_loses_nothing(
    telnyx_simulator: Simulator, clock: ManualClock
) -> None:
    """The acceptance test: a trigger re-created from ``serialize()`` after a crash fires once per finished event,
    at least once across the restart, again only for events inside its look-back."""
    every = timedelta(minutes=7)
    seeded = [seed(telnyx_simulator, START - timedelta(hours=2) + i * every) for i in range(52)]  # to START + 4 h
    first = trigger(poll_interval=60, look_back=timedelta(hours=1))
    before = drive(first, clock, sleeps=90)  # runs 90 minutes, then the triggerer dies
    first_run_requests = len(telnyx_simulator.journal)
    clock.advance(25 * 60)  # down for 25 minutes: calls finish meanwhile
    restarted_at = clock()
    second = TelnyxScheduledEventFinishedTrigger(**first.serialize()[1])
    after = drive(second, clock, sleeps=200)  # until START + 5 h

    finished = {i for i in seeded if (telnyx_simulator.final_at(i) or clock()) < clock()}
    look_back_start = START - timedelta(hours=1)
    due = {i for i in finished if telnyx_simulator.final_at(i) >= look_back_start}  # type: ignore[operator]  # finished: a final time
    assert len(before.ids) == len(set(before.ids))  # once per run
    assert len(after.ids) == len(set(after.ids))
    assert set(before.ids) | set(after.ids) == due  # no loss: every event that finished since the look-back
    redelivered = set(before.ids) & set(after.ids)
    inside = {i for i in before.ids if telnyx_simulator.final_at(i) >= restarted_at - timedelta(hours=1)}  # type: ignore[operator]  # reported: a final time
    assert redelivered == inside  # at least once: again exactly the events in the restarted trigger's look-back
    assert 0 < len(redelivered) < len(before.ids)
    recovery = telnyx_simulator.journal[first_run_requests:]
    assert {(e.method, e.route) for e in recovery} == {("GET", "list")}


def test_only_the_async_side_is_used(
    telnyx_simulator: Simulator, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing blocks the triggerer's event loop: no request goes through the hook's sync side."""
    from airflow_provider_telnyx.hooks.telnyx import TelnyxHook

    def blocking(*_: Any, **__: Any) -> Any:
        raise AssertionError("a blocking request on the triggerer's event loop")

    for name in ("_exchange", "get_client", "get_config"):
        monkeypatch.setattr(TelnyxHook, name, blocking)
    finished = seed(telnyx_simulator, START - timedelta(minutes=5))
    assert drive(trigger(), clock, sleeps=3).ids == [finished]


# Scale: untraced by coverage (the paths: the tests above).
@pytest.mark.no_cover
def test_memory_and_listings_stay_bounded_by_the_window(telnyx_simulator: Simulator, clock: ManualClock) -> None:
    """A day of calls, one every ten minutes, polled every five: the ids remembered and the events each listing
    returns are those of the window (about two hours), not of the day."""
    calls = [seed(telnyx_simulator, START + timedelta(minutes=10 * i + 1)) for i in range(144)]
    t = trigger(poll_interval=300)
    remembered: list[int] = []
    fired = drive(t, clock, sleeps=24 * 12 + 2, after_sleep=lambda _: remembered.append(len(t.watch.reported)))  # type: ignore[union-attr]  # set once running
    assert sorted(fired.ids) == sorted(calls)
    window = t.max_in_flight + 2 * CLOCK_SLACK.total_seconds() + t.poll_interval  # seconds
    bound = math.ceil(window / 600) + 1
    assert max(remembered) <= bound < 20
    assert remembered[-1] <= bound
    listed = [
        json.loads(x.response_body)["meta"]["total_results"]
        for x in telnyx_simulator.exchanges
        if x.path.endswith("/scheduled_events")
    ]
    assert max(listed) <= bound + 1  # (+1: the call dispatched but not finished yet)


def test_a_failed_poll_loses_nothing_and_backs_off(
    telnyx_simulator: Simulator, clock: ManualClock, simulator_connection: Any
) -> None:
    simulator_connection("telnyx_default", max_retries=0)
    during_outage = seed(telnyx_simulator, START + timedelta(minutes=2))

    def outage(sleeps: int) -> None:
        if sleeps == 1:
            telnyx_simulator.set_faults(failing_assistants=(ASSISTANT,))
        if sleeps == 5:
            telnyx_simulator.set_faults(failing_assistants=())

    fired = drive(trigger(poll_interval=60), clock, sleeps=8, after_sleep=outage)
    assert fired.ids == [during_outage]
    assert fired.sleeps == [60, 60, 120, 240, 480, 60, 60, 60]  # doubling while the API fails, then back
    statuses = Counter(e.status for e in telnyx_simulator.journal)
    assert statuses == {503: 4, 200: 4}


# -- a server we did not write: no date filter, any order, an event twice ---------------------------------------


def test_nothing_depends_on_the_listing_order_or_on_the_date_filter(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server that ignores ``from_date``/``to_date`` and answers in a different order each time, with an event
    listed twice: only final events inside the window fire, once each, and the ignored filter is logged once."""
    clock = ManualClock(START)
    rng = random.Random(7)

    def event(event_id: str, at: datetime, status: str) -> dict[str, Any]:
        return event_json(
            assistant_id=ASSISTANT,
            scheduled_event_id=event_id,
            scheduled_at_fixed_datetime=at.isoformat(),
            status=status,
            dispatched_at=at.isoformat(),
        )

    history = [
        event("ancient", START - timedelta(days=2), "completed"),  # outside the window: never fired
        event("old", START - timedelta(minutes=90), "completed"),  # inside the window, before the look-back
        event("recent", START - timedelta(minutes=20), "completed"),
        event("failed", START - timedelta(minutes=10), "failed"),
        event("live", START - timedelta(minutes=1), "in_progress"),
        event("tomorrow", START + timedelta(days=1), "pending"),  # outside the window (and pending)
    ]

    def page(request: httpx.Request) -> httpx.Response:
        size = int(request.url.params["page[size]"])
        number = int(request.url.params["page[number]"])
        rows = history[:]
        rng.shuffle(rows)
        rows.insert(3, history[2])  # "recent" twice
        if clock() >= START + timedelta(minutes=3):
            history[4] = event("live", START - timedelta(minutes=1), "completed")
        chunk = rows[(number - 1) * size : number * size]
        meta = {"total_pages": math.ceil(len(rows) / size), "total_results": len(rows), "page_number": number}
        return httpx.Response(200, json={"data": chunk, "meta": {**meta, "page_size": size}})

    api = MockApi().script(page)
    t = trigger(poll_interval=60, look_back=timedelta(hours=1))
    t._hook = api.hook  # type: ignore[method-assign]  # the mock API's hook
    with caplog.at_level(logging.WARNING):
        fired = drive(t, clock, sleeps=8)
    assert sorted(fired.ids) == ["failed", "live", "recent"]
    assert len(api.requests) == 8  # one page of 7 rows per poll
    assert t.watch is not None
    assert t.watch.outside_window == 2 * 8  # "ancient" and "tomorrow", at every poll
    # Logged once (stdlib logging on Airflow 3.0, structlog to stdout later: read both).
    # Once, wherever the Airflow version sends task logs (stdout, the logging tree, or both on 3.0).
    assert max(capsys.readouterr().out.count("outside that range"), caplog.text.count("outside that range")) == 1
