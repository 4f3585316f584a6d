"""TelnyxDeleteScheduledEventsOperator's selection and retries, against the simulator and a server we did not
write (issue 24, item 1)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowTaskTimeout

from airflow_provider_telnyx.operators.delete import STATE_CANCELLED, TelnyxDeleteScheduledEventsOperator
from airflow_provider_telnyx.testing.simulator import Simulator
from tests.harness import DictStateStore, FakeTI, context
from tests.reliability.hostile import HostileServer, Received, event, hostile_server, raw

ASSISTANT = "assistant-1"


def seed(simulator: Simulator, at: datetime, target: str, **extra: Any) -> str:
    return simulator.seed_event(
        ASSISTANT,
        {
            "telnyx_conversation_channel": "phone_call",
            "telnyx_end_user_target": target,
            "telnyx_agent_target": "+13125550199",
            "scheduled_at_fixed_datetime": at.isoformat(),
            **extra,
        },
    )


def cancel(**kwargs: Any) -> TelnyxDeleteScheduledEventsOperator:
    kwargs.setdefault("assistant_id", ASSISTANT)
    return TelnyxDeleteScheduledEventsOperator(task_id="cancel", **kwargs)


def test_selection_compares_metadata_as_json_values_not_python_equality(telnyx_simulator: Simulator) -> None:
    """A selection ``{"wave": 1}`` must not cancel the events tagged ``{"wave": true}`` (or ``1.0``): JSON's 1 and
    true are different values (one rule with the finished-events trigger), whatever Python's ``True == 1`` says."""
    at = datetime.now(timezone.utc) + timedelta(days=1)
    wanted = seed(telnyx_simulator, at, "+13125557000", conversation_metadata={"wave": 1})
    seed(telnyx_simulator, at, "+13125557001", conversation_metadata={"wave": True})
    result = cancel(
        conversation_metadata={"wave": 1},
        from_date=(at - timedelta(hours=1)).isoformat(),
        to_date=(at + timedelta(hours=1)).isoformat(),
    ).execute(context())
    assert [item["scheduled_event_id"] for item in result["items"]] == [wanted]
    assert [e["conversation_metadata"] for e in telnyx_simulator.events()] == [{"wave": True}]


def test_a_timeout_mid_run_does_not_lose_what_was_cancelled(
    telnyx_simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A try ended midway by ``execution_timeout`` (or SIGTERM, both BaseExceptions) still records what it cancelled,
    so the retry reports those events ``cancelled``, not ``not_found``."""
    at = datetime.now(timezone.utc) + timedelta(days=1)
    ids = [seed(telnyx_simulator, at, f"+1312555{7100 + i:04d}") for i in range(4)]
    original = TelnyxDeleteScheduledEventsOperator._cancel_one
    done: list[str] = []

    async def timed_out_after_two(self: Any, hook: Any, index: int, event_id: str, before: bool) -> Any:
        if len(done) == 2:
            raise AirflowTaskTimeout("Timeout, PID: 1234")  # what execution_timeout's SIGALRM handler raises
        result = await original(self, hook, index, event_id, before)
        done.append(result.outcome)
        return result

    store = DictStateStore()
    with monkeypatch.context() as patch:
        patch.setattr(TelnyxDeleteScheduledEventsOperator, "_cancel_one", timed_out_after_two)
        with pytest.raises(AirflowTaskTimeout):
            cancel(scheduled_event_ids=ids, max_concurrency=1).execute(context(FakeTI(try_number=1), store))
    assert done == ["cancelled", "cancelled"]
    again = cancel(scheduled_event_ids=ids, max_concurrency=1).execute(context(FakeTI(try_number=2), store))
    assert again["counts"] == {"cancelled": 4, "already_final": 0, "not_found": 0, "failed": 0}
    kept = store.get(STATE_CANCELLED)
    assert isinstance(kept, list)
    assert sorted(str(event_id) for event_id in kept) == sorted(ids)


# -- a server we did not write ------------------------------------------------------------------------------------

HOSTILE = "assistant-hostile"
CONN = "telnyx_hostile_delete"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[HostileServer]:
    with hostile_server() as hostile:
        conn = {
            "conn_type": "telnyx",
            "password": "KEYdelete",
            "host": hostile.base_url,
            "extra": {"timeout": 5},
        }
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", json.dumps(conn))
        yield hostile


def test_a_selection_never_cancels_a_listed_event_outside_its_dates(server: HostileServer) -> None:
    """Issue 24: the selection is "the pending events whose conversation_metadata contains given key/values ...
    within from_date/to_date". A server that ignores (or reads another time for) the date filter does not turn a
    cancel of Monday's wave into a cancel of every later wave: an event neither scheduled nor created in the range
    is left alone."""
    monday = datetime(2031, 3, 3, 9, tzinfo=timezone.utc)
    later = monday + timedelta(days=30)
    listed = [
        event(
            "evt-monday",
            assistant_id=HOSTILE,
            scheduled_at_fixed_datetime=monday.isoformat(),
            created_at=(monday - timedelta(minutes=5)).isoformat(),
            conversation_metadata={"campaign": "spring"},
        ),
        event(
            "evt-next-month",
            assistant_id=HOSTILE,
            scheduled_at_fixed_datetime=later.isoformat(),
            created_at=(later - timedelta(minutes=5)).isoformat(),
            conversation_metadata={"campaign": "spring"},
        ),
    ]

    async def behave(received: Received, writer: asyncio.StreamWriter) -> None:
        if received.method == "GET" and received.path.endswith("/scheduled_events"):  # the filter is ignored
            meta = {"total_pages": 1, "total_results": 2, "page_number": 1, "page_size": 100}
            body = json.dumps({"data": listed, "meta": meta}).encode()
        elif received.method == "GET":
            body = json.dumps(next(e for e in listed if received.path.endswith(e["scheduled_event_id"]))).encode()
        else:
            body = b""
        writer.write(raw(200, body, {"Content-Type": "application/json"}))

    server.behaviour = behave
    cancel(
        assistant_id=HOSTILE,
        telnyx_conn_id=CONN,
        conversation_metadata={"campaign": "spring"},
        from_date=monday - timedelta(hours=12),
        to_date=monday + timedelta(hours=12),
    ).execute(context())
    deleted = [r.path.rsplit("/", 1)[-1] for r in server.received if r.method == "DELETE"]
    assert deleted == ["evt-monday"]
