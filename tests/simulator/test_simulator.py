from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_telnyx.exceptions import (
    TelnyxAuthError,
    TelnyxConflictError,
    TelnyxConnectionError,
    TelnyxNotFoundError,
    TelnyxRateLimitError,
    TelnyxServerError,
    TelnyxValidationError,
)
from airflow_provider_telnyx.hooks._retry import RATE_LIMIT_RETRIES
from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
from airflow_provider_telnyx.testing.clock import ManualClock
from airflow_provider_telnyx.testing.lifecycle import OUTCOMES
from airflow_provider_telnyx.testing.simulator import Faults, Simulator, outcome_table_markdown

START = datetime(2031, 3, 1, 9, 0, tzinfo=timezone.utc)
ASSISTANT = "assistant-7f3c"


def body(target: str = "+13125550100", *, at: datetime | None = None, **extra: Any) -> dict[str, Any]:
    channel = "sms_chat" if "text" in extra else "phone_call"
    return {
        "telnyx_conversation_channel": channel,
        "telnyx_end_user_target": target,
        "telnyx_agent_target": "+13125550199",
        "scheduled_at_fixed_datetime": (at or START + timedelta(minutes=5)).isoformat(),
        **extra,
    }


def raw(sim: Simulator, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {sim.api_key}", **kwargs.pop("headers", {})}
    with httpx.Client(base_url=sim.base_url or "", timeout=10) as client:
        return client.request(method, path, headers=headers, **kwargs)


def hook(**kwargs: Any) -> TelnyxHook:
    return TelnyxHook(sleep=lambda _: None, **kwargs)


clock_marker = pytest.mark.telnyx_simulator(time_scale=1.0)


@pytest.mark.telnyx_simulator(time_scale=1.0)
def test_every_outcome_in_the_table(telnyx_simulator: Simulator) -> None:
    clock = ManualClock(START)
    telnyx_simulator.clock = clock
    h = hook()
    expected = {
        "+13125550100": ("completed", ["completed"]),
        "+13125550101": ("completed", ["busy", "completed"]),
        "+13125550102": ("failed", ["no-answer", "no-answer", "no-answer"]),
        "+13125550103": ("failed", []),
        "+13125550104": ("completed", ["completed"]),
        "+13125550110": ("completed", []),
        "+13125550111": ("failed", []),
    }
    assert set(expected) | {"+13125550105"} == set(OUTCOMES)  # 0105's create is refused (tested below)
    ids = {}
    for target in expected:
        sms = OUTCOMES[target].name.startswith("sms")
        extra = {"text": "Hi"} if sms else {"max_retries_client_errors": 2, "retry_interval_secs": 120}
        ids[target] = h.create_scheduled_event(ASSISTANT, body(target, **extra)).event_id
    assert {h.get_scheduled_event(ASSISTANT, i).status_text for i in ids.values()} == {"pending"}
    clock.advance(3 * 3600)
    for target, (status, calls) in expected.items():
        event = h.get_scheduled_event(ASSISTANT, ids[target])
        assert event.status_text == status, target
        assert [a.call_status for a in event.attempts] == calls, target
        assert bool(event.errors) == (status == "failed"), target
    long_call = h.get_scheduled_event(ASSISTANT, ids["+13125550104"])
    assert long_call.call_duration == 1200  # type: ignore[attr-defined]  # a phone call's field
    exhausted = h.get_scheduled_event(ASSISTANT, ids["+13125550102"])
    assert exhausted.retry_count == 2
    assert "retry budget exhausted after 3 attempt(s)" in (exhausted.errors or [""])[0]
    assert "+13125550102" in outcome_table_markdown()


@clock_marker
def test_retry_lifecycle_timestamps(telnyx_simulator: Simulator, clock: ManualClock) -> None:
    h = hook()
    at = START + timedelta(seconds=30)
    event = h.create_scheduled_event(
        ASSISTANT, body("+13125550101", at=at, max_retries_client_errors=1, retry_interval_secs=300)
    )
    assert (event.status_text, event.retry_count, event.attempts) == ("pending", 0, [])
    clock.advance(31)  # dispatched, ringing
    live = h.get_scheduled_event(ASSISTANT, event.event_id)
    assert (live.status_text, live.call_status, live.dispatched_at) == ("in_progress", "ringing", at)  # type: ignore[attr-defined]  # a phone call's
    assert live.conversation_id
    clock.advance(10)  # busy after 3 s: back to pending, rescheduled at end + interval
    waiting = h.get_scheduled_event(ASSISTANT, event.event_id)
    assert waiting.status_text == "pending"
    assert waiting.retry_count == 1
    assert waiting.scheduled_at_fixed_datetime == at + timedelta(seconds=3 + 300)
    assert [a.call_status for a in waiting.attempts] == ["busy"]
    clock.advance(300 + 60)
    done = h.get_scheduled_event(ASSISTANT, event.event_id)
    assert done.status_text == "completed"
    assert [(a.attempt_number, a.call_status, a.call_duration) for a in done.attempts] == [
        (1, "busy", None),
        (2, "completed", 45),
    ]
    assert done.attempts[1].attempted_at == at + timedelta(seconds=303)
    assert done.call_status == "completed"  # type: ignore[attr-defined]  # a phone call's field
    assert done.retry_count == 1
    assert done.errors == []


@pytest.mark.telnyx_simulator(time_scale=60.0)
def test_time_scale_compresses_the_event_clock_consistently(telnyx_simulator: Simulator) -> None:
    clock = ManualClock(START)
    telnyx_simulator.clock = clock
    h = hook()
    at = START + timedelta(seconds=10)
    event = h.create_scheduled_event(
        ASSISTANT, body("+13125550101", at=at, max_retries_client_errors=1, retry_interval_secs=60)
    )
    clock.advance(10 + 1.2)  # 1.2 real seconds after dispatch = 72 event seconds: busy (3 s) + 60 s wait + 9 s
    event = h.get_scheduled_event(ASSISTANT, event.event_id)
    assert event.status_text == "in_progress"
    assert event.scheduled_at_fixed_datetime == at + timedelta(seconds=63)
    clock.advance(1)
    final = h.get_scheduled_event(ASSISTANT, event.event_id)
    assert final.status_text == "completed"
    first, second = final.attempts
    assert second.attempted_at - first.attempted_at == timedelta(seconds=3 + 60)


@clock_marker
def test_business_rules_and_schema_errors(telnyx_simulator: Simulator, clock: ManualClock) -> None:
    path = f"/ai/assistants/{ASSISTANT}/scheduled_events"
    cases = [
        (body(at=START - timedelta(seconds=1)), 400, "scheduled_at_fixed_datetime"),
        ({**body(), "telnyx_conversation_channel": "sms_chat"}, 400, "/text"),
        (body(text="x", max_retries_client_errors=1, retry_interval_secs=60), 400, "/max_retries_client_errors"),
        (body(max_retries_client_errors=2), 400, "/retry_interval_secs"),
        (body(max_retries_client_errors=11, retry_interval_secs=60), 422, "max_retries_client_errors"),
        (body(max_retries_client_errors=1, retry_interval_secs=59), 422, "retry_interval_secs"),
        ({k: v for k, v in body().items() if k != "telnyx_agent_target"}, 422, "telnyx_agent_target"),
        (body(dynamic_variables={"a": 1}), 422, "dynamic_variables"),
        (body(call_settings={"sip_region": "Mars"}), 422, "sip_region"),
    ]
    for payload, status, where in cases:
        response = raw(telnyx_simulator, "POST", path, json=payload)
        assert response.status_code == status, (payload, response.text)
        assert where in response.text
    no_telephony = raw(telnyx_simulator, "POST", "/ai/assistants/assistant-no-telephony/scheduled_events", json=body())
    assert "telephony settings" in no_telephony.text
    refused = raw(telnyx_simulator, "POST", path, json=body(target="+13125550105"))
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["code"] == "D13"
    with pytest.raises(TelnyxValidationError, match="must be in the future"):
        hook().create_scheduled_event(ASSISTANT, body(at=START - timedelta(seconds=5)) | {"text": None})
    assert telnyx_simulator.stats().get("events_created", 0) == 0


def test_auth(telnyx_simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_TELNYX_WRONG",
        json.dumps({"conn_type": "telnyx", "password": "KEYwrong", "host": telnyx_simulator.base_url}),
    )
    with pytest.raises(TelnyxAuthError, match="401"):
        hook(telnyx_conn_id="telnyx_wrong").get_scheduled_event(ASSISTANT, "x")
    ok, message = hook(telnyx_conn_id="telnyx_wrong").test_connection()
    assert not ok
    assert "Authentication failed" in message
    assert hook().test_connection()[0]


def test_get_and_delete_missing_event_404(telnyx_simulator: Simulator) -> None:
    with pytest.raises(TelnyxNotFoundError, match="10005"):
        hook().get_scheduled_event(ASSISTANT, "no-such-event")
    with pytest.raises(TelnyxNotFoundError):
        hook().delete_scheduled_event(ASSISTANT, "no-such-event")


@clock_marker
def test_delete_cancels_pending_and_removes_finished(telnyx_simulator: Simulator, clock: ManualClock) -> None:
    h = hook()
    pending = h.create_scheduled_event(ASSISTANT, body()).event_id
    finished = h.create_scheduled_event(ASSISTANT, body(at=START + timedelta(seconds=1))).event_id
    clock.advance(120)
    h.delete_scheduled_event(ASSISTANT, pending)
    h.delete_scheduled_event(ASSISTANT, finished)
    stats = telnyx_simulator.stats()
    assert (stats["events_cancelled"], stats["events_deleted"], stats["events_stored"]) == (1, 1, 0)
    with pytest.raises(TelnyxNotFoundError):
        h.get_scheduled_event(ASSISTANT, pending)


@clock_marker
def test_list_paging_meta_and_filters(telnyx_simulator: Simulator, clock: ManualClock) -> None:
    h = hook()
    for minute in range(1, 8):
        extra = {"text": "hello"} if minute % 3 == 0 else {}
        h.create_scheduled_event(ASSISTANT, body(at=START + timedelta(minutes=minute), **extra))
    h.create_scheduled_event("assistant-other", body())
    path = f"/ai/assistants/{ASSISTANT}/scheduled_events"
    page = raw(telnyx_simulator, "GET", path, params={"page[number]": 2, "page[size]": 3}).json()
    assert page["meta"] == {"total_pages": 3, "total_results": 7, "page_number": 2, "page_size": 3}
    assert len(page["data"]) == 3
    default = raw(telnyx_simulator, "GET", path).json()["meta"]
    assert (default["page_size"], default["page_number"]) == (20, 1)
    beyond = raw(telnyx_simulator, "GET", path, params={"page[number]": 9, "page[size]": 3}).json()
    assert beyond["data"] == []
    assert beyond["meta"]["page_number"] == 9
    assert raw(telnyx_simulator, "GET", path, params={"page[size]": 101}).status_code == 422
    assert raw(telnyx_simulator, "GET", path, params={"page[number]": 0}).status_code == 422
    assert raw(telnyx_simulator, "GET", path, params={"from_date": "soon"}).status_code == 422
    sms = list(h.list_scheduled_events(ASSISTANT, conversation_channel="sms_chat", page_size=1))
    assert len(sms) == 2
    window = list(
        h.list_scheduled_events(
            ASSISTANT, from_date=START + timedelta(minutes=2), to_date=START + timedelta(minutes=4), page_size=2
        )
    )
    assert [e.scheduled_at_fixed_datetime.minute for e in window] == [2, 3, 4]
    assert len(list(h.list_scheduled_events(ASSISTANT, page_size=2))) == 7
    empty = raw(telnyx_simulator, "GET", "/ai/assistants/assistant-ada/scheduled_events").json()
    assert empty == {"data": [], "meta": {"total_pages": 0, "total_results": 0, "page_number": 1, "page_size": 20}}
    unknown = raw(telnyx_simulator, "GET", "/ai/assistants/nobody/scheduled_events")
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["code"] == "10005"


@clock_marker
def test_idempotency_replay_conflict_and_bad_keys(telnyx_simulator: Simulator, clock: ManualClock) -> None:
    path = f"/ai/assistants/{ASSISTANT}/scheduled_events"
    first = raw(telnyx_simulator, "POST", path, json=body(), headers={"Idempotency-Key": "order-42"})
    again = raw(telnyx_simulator, "POST", path, json=body(), headers={"Idempotency-Key": "order-42"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    other = raw(telnyx_simulator, "POST", path, json=body("+13125550101"), headers={"Idempotency-Key": "order-42"})
    assert other.status_code == 422
    for bad in ["has space", "x" * 256, "semi;colon"]:
        refused = raw(telnyx_simulator, "POST", path, json=body(), headers={"Idempotency-Key": bad})
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["code"] == "10015"
    # A failed request is not replayed: the same key may be used again once the body is fixed.
    failed = raw(
        telnyx_simulator, "POST", path, json=body(max_retries_client_errors=3), headers={"Idempotency-Key": "k2"}
    )
    fixed = raw(telnyx_simulator, "POST", path, json=body(), headers={"Idempotency-Key": "k2"})
    assert (failed.status_code, fixed.status_code) == (400, 201)
    assert telnyx_simulator.stats()["events_created"] == 2


async def test_idempotency_conflict_while_in_flight(telnyx_simulator: Simulator) -> None:
    telnyx_simulator.set_faults(hold_creates=True)
    h = TelnyxHook(max_retries=0)
    payload = body(at=datetime.now(timezone.utc) + timedelta(hours=1))
    held = asyncio.create_task(h.acreate_scheduled_event(ASSISTANT, payload, idempotency_key="same"))
    deadline = time.monotonic() + 30  # a safety bound only: the create reaches a local simulator in milliseconds
    while telnyx_simulator.stats().get("creates_held", 0) == 0:
        assert time.monotonic() < deadline, "the first create was never held"
        await asyncio.sleep(0.01)
    twin = TelnyxHook(max_retries=0)
    with pytest.raises(TelnyxConflictError, match="409"):
        await twin.acreate_scheduled_event(ASSISTANT, payload, idempotency_key="same")
    await twin.aclose()
    telnyx_simulator.release_held()
    created = await held
    assert created.status_text == "pending"
    await h.aclose()
    assert telnyx_simulator.stats()["events_created"] == 1


# Scale: untraced by coverage (the paths: the tests above).
@pytest.mark.no_cover
async def test_200_concurrent_creates_exact_counts(telnyx_simulator: Simulator) -> None:
    at = datetime.now(timezone.utc) + timedelta(hours=1)
    h = TelnyxHook()
    keys = [f"batch-{i % 150}" for i in range(200)]  # 50 keys sent twice, concurrently

    async def create(i: int) -> str:
        payload = body(f"+1312555{1000 + (i % 150):04d}", at=at)
        for _ in range(20):  # a concurrent twin may still be in flight (409): wait for its replay
            try:
                return (await h.acreate_scheduled_event(ASSISTANT, payload, idempotency_key=keys[i])).event_id
            except TelnyxConflictError:
                await asyncio.sleep(0.01)
        raise AssertionError("never resolved")

    ids = await asyncio.gather(*(create(i) for i in range(200)))
    await h.aclose()
    stats = telnyx_simulator.stats()
    assert len(set(ids)) == 150
    assert stats["events_created"] == 150
    assert stats["events_stored"] == 150
    assert len(list(TelnyxHook().list_scheduled_events(ASSISTANT))) == 150
    assert all(ids[i] == ids[i + 150] for i in range(50))


@pytest.mark.telnyx_simulator(faults=Faults(rate_limit=5), monotonic=lambda: 1000.25)
def test_rate_limit_429_with_headers(telnyx_simulator: Simulator) -> None:
    path = f"/ai/assistants/{ASSISTANT}/scheduled_events"
    headers = {"Authorization": f"Bearer {telnyx_simulator.api_key}"}
    with httpx.Client(base_url=telnyx_simulator.base_url or "", headers=headers) as client:
        answers = [client.get(path) for _ in range(12)]
    limited = [a for a in answers if a.status_code == 429]
    assert len(limited) == 12 - 5  # the rate-limit clock is frozen: all 12 fall in one window
    error = limited[0]
    assert error.json()["errors"][0]["code"] == "10011"
    assert error.headers["x-ratelimit-limit"] == "5"
    assert error.headers["x-ratelimit-remaining"] == "0"
    assert 1 <= int(error.headers["x-ratelimit-reset"]) <= 1
    assert answers[0].headers["x-ratelimit-limit"] == "5"
    waits: list[float] = []
    with pytest.raises(TelnyxRateLimitError):
        TelnyxHook(max_retries=0, sleep=waits.append).get_scheduled_event(ASSISTANT, "x")
    # 429s have their own retry budget beyond max_retries, each wait the one the answer asked for (injected here:
    # the frozen window never resets).
    assert waits == [1.0] * RATE_LIMIT_RETRIES  # x-ratelimit-reset: 1
    assert telnyx_simulator.stats()["faults_rate_limit"] >= len(limited)


@pytest.mark.telnyx_simulator(faults=Faults(error_rate=1.0))
def test_error_rate_answers_5xx_without_processing(telnyx_simulator: Simulator) -> None:
    with pytest.raises(TelnyxServerError):
        hook(max_retries=2).create_scheduled_event(ASSISTANT, body(at=datetime.now(timezone.utc) + timedelta(hours=1)))
    assert {e.status for e in telnyx_simulator.journal} <= {500, 502, 503}
    assert telnyx_simulator.stats().get("events_created", 0) == 0


@pytest.mark.telnyx_simulator(faults=Faults(timeout_rate=1.0, hang_seconds=0.5))
def test_timeouts_hang_then_504(telnyx_simulator: Simulator) -> None:
    with pytest.raises(TelnyxConnectionError, match="DeadlineExceeded"):  # the request's whole time, 0.2 s
        hook(max_retries=0, timeout=0.2).get_scheduled_event(ASSISTANT, "x")
    response = raw(telnyx_simulator, "GET", f"/ai/assistants/{ASSISTANT}/scheduled_events/x")
    assert response.status_code == 504


@pytest.mark.telnyx_simulator(faults=Faults(latency=0.2))
def test_latency(telnyx_simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Watched, not timed: every wait the simulator's own code takes passes this spy (and is still waited for real);
    # the server it runs on (uvicorn, in the same thread) has waits of its own, not counted.
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def spy(seconds: float, *args: Any) -> Any:
        if sys._getframe(1).f_globals.get("__name__") == Simulator.__module__:
            waits.append(seconds)
        return await real_sleep(seconds, *args)

    monkeypatch.setattr(asyncio, "sleep", spy)
    for _ in range(2):
        assert raw(telnyx_simulator, "GET", f"/ai/assistants/{ASSISTANT}/scheduled_events").status_code == 200
    assert waits == [0.2, 0.2]  # the latency, once before each answer


@pytest.mark.telnyx_simulator(faults=Faults(lose_create_rate=1.0))
def test_lost_create_responses_commit_the_event(telnyx_simulator: Simulator) -> None:
    at = datetime.now(timezone.utc) + timedelta(hours=1)
    kinds = set()
    for i in range(12):
        with pytest.raises((TelnyxServerError, TelnyxConnectionError)) as caught:
            TelnyxHook(max_retries=0).create_scheduled_event(ASSISTANT, body(at=at), idempotency_key=f"lost-{i}")
        kinds.add(type(caught.value))
    assert kinds == {TelnyxServerError, TelnyxConnectionError}
    stats = telnyx_simulator.stats()
    assert stats["events_created"] == 12
    assert stats["faults_lost_response_502"] + stats["faults_lost_response_dropped"] == 12
    telnyx_simulator.set_faults(lose_create_rate=0.0)
    replay = TelnyxHook().create_scheduled_event(ASSISTANT, body(at=at), idempotency_key="lost-0")
    assert replay.event_id == telnyx_simulator.journal[0].event_id
    assert telnyx_simulator.stats()["events_created"] == 12


def test_sdk_round_trip(telnyx_simulator: Simulator) -> None:
    import telnyx
    from telnyx.types.ai.assistants import ScheduledPhoneCallEventResponse, ScheduledSMSEventResponse

    client = telnyx.Telnyx(api_key=telnyx_simulator.api_key, base_url=telnyx_simulator.base_url, max_retries=0)
    events = client.ai.assistants.scheduled_events
    at = datetime.now(timezone.utc) + timedelta(hours=1)
    call = events.create(
        ASSISTANT,
        scheduled_at_fixed_datetime=at,
        telnyx_agent_target="+13125550199",
        telnyx_conversation_channel="phone_call",
        telnyx_end_user_target="+13125550100",
        dynamic_variables={"name": "Ada"},
        conversation_metadata={"order": 42, "vip": True},
        max_retries_client_errors=2,
        retry_interval_secs=120,
        call_settings={"sip_region": "Europe"},
        idempotency_key="sdk-1",
    )
    assert isinstance(call, ScheduledPhoneCallEventResponse)
    assert call.call_settings is not None
    assert call.call_settings.sip_region == "Europe"
    for i in range(4):
        events.create(
            ASSISTANT,
            scheduled_at_fixed_datetime=at,
            telnyx_agent_target="+13125550199",
            telnyx_conversation_channel="sms_chat",
            telnyx_end_user_target=f"+1312555011{i}",
            text=f"message {i}",
        )
    fetched = events.retrieve(call.scheduled_event_id or "", assistant_id=ASSISTANT)
    assert isinstance(fetched, ScheduledPhoneCallEventResponse)
    assert fetched.dynamic_variables == {"name": "Ada"}
    listed = list(events.list(ASSISTANT, page_size=2))
    assert len(listed) == 5
    assert [type(e).__name__ for e in listed] == ["ScheduledPhoneCallEventResponse"] + ["ScheduledSMSEventResponse"] * 4
    assert all(isinstance(e, ScheduledSMSEventResponse) for e in listed[1:])
    events.delete(call.scheduled_event_id or "", assistant_id=ASSISTANT)  # typed to return None: nothing to assert
    with pytest.raises(telnyx.NotFoundError):
        events.retrieve(call.scheduled_event_id or "", assistant_id=ASSISTANT)
    assert telnyx_simulator.stats()["events_stored"] == 4


def test_control_endpoints(telnyx_simulator: Simulator) -> None:
    with httpx.Client(base_url=(telnyx_simulator.base_url or "").removesuffix("/v2")) as client:
        assert client.put("/_sim/faults", json={"latency": 0.01}).json()["latency"] == 0.01
        assert client.put("/_sim/faults", json={"nope": 1}).status_code == 400
        raw(telnyx_simulator, "GET", f"/ai/assistants/{ASSISTANT}/scheduled_events")
        journal = client.get("/_sim/journal").json()
        assert [(e["route"], e["status"]) for e in journal] == [("list", 200)]
        assert client.get("/_sim/stats").json()["requests_by_route_status"] == {"list 200": 1}
        client.post("/_sim/reset")
        assert client.get("/_sim/stats").json()["requests"] == 0


def test_command_line_server(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_telnyx.testing.simulator",
            "--port",
            "0",
            "--port-file",
            str(port_file),
            "--api-key",
            "KEYcli",
            "--time-scale",
            "60",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text():
            assert process.poll() is None
            assert time.monotonic() < deadline
            time.sleep(0.05)  # polling a child process for its port file, bounded by the deadline
        url = f"http://127.0.0.1:{port_file.read_text()}/v2"
        ok = httpx.get(f"{url}/ai/assistants", headers={"Authorization": "Bearer KEYcli"})
        assert ok.status_code == 200
        assert httpx.get(f"{url}/ai/assistants", headers={"Authorization": "Bearer other"}).status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "Telnyx simulator listening on http://127.0.0.1:" in out
