"""docs/troubleshooting.md quotes messages exactly as the code produces them: each one is produced here."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

from airflow_provider_telnyx._checks import check_event_id, check_idempotency_key
from airflow_provider_telnyx._compat import AIRFLOW_V_3_3_PLUS
from airflow_provider_telnyx.exceptions import TelnyxNotFoundError, TelnyxServerError
from airflow_provider_telnyx.hooks.endpoints import events_pager
from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
from airflow_provider_telnyx.models import EventStatus, TelnyxClientConfig, parse_scheduled_event, path_id
from airflow_provider_telnyx.operators._arguments import TaskIdentity, build_request
from airflow_provider_telnyx.operators._late import LatePolicy, LateSendRule
from airflow_provider_telnyx.operators.batch import ItemResult, TelnyxCreateScheduledEventsOperator
from airflow_provider_telnyx.operators.scheduled_event import TelnyxCreateScheduledEventOperator
from airflow_provider_telnyx.testing.simulator import Simulator
from airflow_provider_telnyx.utils.waiting import EventWaiter, failure_summary
from tests.harness import DictStateStore, FakeTI, SimulatorConnection, context
from tests.unit.mock_api import MockApi, event_json

DOC = Path(__file__).parents[2] / "docs" / "troubleshooting.md"
NOW = datetime(2031, 1, 1, 12, tzinfo=timezone.utc)
#: Rows quoting messages that Airflow itself produces, or alternatives of a row produced here.
NOT_OURS = {"Sensor has timed out", "ReadTimeout: ..."}


def patterns() -> list[str]:
    rows = [line for line in DOC.read_text().splitlines() if line.startswith("| `")]
    quoted: list[str] = []
    for row in rows:
        first_cell = row.split(" | ")[0].removeprefix("| ")
        quoted.extend(re.findall(r"`([^`]+)`", first_cell))
    return quoted


def matches(pattern: str, message: str) -> bool:
    regex = ".*?".join(re.escape(part) for part in pattern.split("..."))
    return re.fullmatch(regex + (".*" if pattern.endswith("...") else ""), message, re.DOTALL) is not None


def raised(make: Callable[[], Any]) -> str:
    try:
        make()
    except Exception as error:
        return str(error)
    raise AssertionError("no error")


def request(**fields: Any) -> Callable[[], Any]:
    base = {"end_user_target": "+13125550100", "agent_target": "+13125550199", "scheduled_at": NOW}
    return lambda: build_request(base | fields, anchor=NOW, tags=None, subject="arguments of task schedule_call")


META = {"total_pages": 9, "total_results": 900, "page_number": 1, "page_size": 100}


def local_messages() -> list[str]:
    ticks = iter([0.0, 121.0])
    over_budget = events_pager("assistant-1", max_seconds=120)
    over_budget._clock = lambda: next(ticks)
    waiter = EventWaiter(event_id="evt-9", poll_interval=1, max_transient_errors=0)
    server_error = TelnyxServerError("Telnyx API GET /x answered 503 Service Unavailable")
    timed_out = EventWaiter(event_id="evt-9", poll_interval=1, deadline=0, clock=lambda: 1)
    failed = parse_scheduled_event(
        event_json(
            status="failed",
            errors=["Client-error retry budget exhausted after 2 attempt(s)"],
            call_attempts=[
                {"attempt_number": 1, "attempted_at": "2030-01-01T10:00:00Z", "call_status": "busy"},
                {"attempt_number": 2, "attempted_at": "2030-01-01T10:05:00Z", "call_status": "no-answer"},
            ],
        )
    )
    batch = TelnyxCreateScheduledEventsOperator(
        task_id="b", assistant_id="a", events=[{"end_user_target": "5", "scheduled_at": NOW}]
    )
    results = [
        ItemResult(0, "failed", error_class="TelnyxServerError", error="503", retryable=True),
        ItemResult(1, "created", scheduled_event_id="e1"),
    ]
    return [
        raised(lambda: TelnyxClientConfig.from_connection_fields(password="", host="", extra={})),
        raised(lambda: TelnyxClientConfig.from_connection_fields(password="KEYlong_enough", host="ftp://x", extra={})),
        raised(
            lambda: TelnyxClientConfig.from_connection_fields(password="KEYlong_enough", host="http://gw", extra={})
        ),
        raised(
            lambda: TelnyxClientConfig.from_connection_fields(
                password="KEYlong_enough", host="https://h/v2/..", extra={}
            )
        ),
        raised(lambda: check_idempotency_key("campaign:42")),
        raised(lambda: over_budget.read(over_budget.request(), {"data": [event_json()], "meta": META})),
        raised(request(end_user_target="312-555-0100")),
        raised(request(end_user_target="bob")),
        raised(request(end_user_target="+1 555 555 5555")),
        raised(request(scheduled_at="2031-01-01T10:00:00")),
        raised(request(conversation_channel="sms_chat")),
        raised(request(max_retries_client_errors=2)),
        raised(request(conversation_channel="sms_chat", text="x", max_retries_client_errors=2)),
        raised(lambda: path_id("assistant_id", "a/b")),
        raised(lambda: check_event_id("None")),
        raised(
            lambda: LateSendRule(LatePolicy.FAIL, None).send_time(
                NOW - timedelta(minutes=2), NOW, subject="scheduled_at"
            )
        ),
        raised(
            lambda: LateSendRule(LatePolicy.SEND_NOW, timedelta(hours=1)).send_time(
                NOW - timedelta(hours=2), NOW, subject="scheduled_at"
            )
        ),
        # The WARNING of a late send_now, formatted as the operator formats it.
        f"Scheduled event is late: intended for {NOW.isoformat()}, sent for "
        f"{(NOW + timedelta(seconds=10)).isoformat()} (late_policy=send_now)",
        failure_summary(failed),
        str(
            (waiter.observe(TelnyxNotFoundError("Telnyx API GET /x answered 404", http_status=404)) or {}).get(
                "message"
            )
        ),
        str((waiter.observe(server_error) or {}).get("message")),
        str((timed_out.observe(failed.model_copy(update={"status": EventStatus.PENDING})) or {}).get("message")),
        raised(lambda: batch._raise_for_failures(context(), {"total": 2}, results)),
        raised(lambda: batch.validate(TaskIdentity.of(context(), clock=lambda: NOW, namespace=lambda: None))),
    ]


def api_messages(simulator: Simulator, connect: SimulatorConnection) -> list[str]:
    connect(max_retries=0)
    hook = TelnyxHook()
    body = {
        "telnyx_conversation_channel": "phone_call",
        "telnyx_end_user_target": "+13125550100",
        "telnyx_agent_target": "+13125550199",
        "scheduled_at_fixed_datetime": (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat(),
    }
    messages = [
        raised(lambda: hook.create_scheduled_event("assistant-no-telephony", body)),
        raised(lambda: hook.create_scheduled_event("assistant-1", body | {"telnyx_end_user_target": "+13125550105"})),
    ]
    hook.create_scheduled_event("assistant-1", body, idempotency_key="k1")
    later = (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat()
    messages.append(
        raised(
            lambda: hook.create_scheduled_event(
                "assistant-1", body | {"scheduled_at_fixed_datetime": later}, idempotency_key="k1"
            )
        )
    )
    too_many = {
        "errors": [
            {
                "code": "10011",
                "title": "Too many requests",
                "detail": "You have exceeded the maximum number of allowed requests.",
            }
        ]
    }
    limited = MockApi().script(httpx.Response(429, json=too_many)).hook(max_retries=1)
    messages.append(raised(lambda: limited.get_scheduled_event("assistant-1", "e1")))
    connect(password="KEYwrong", max_retries=0)
    messages.append(raised(lambda: TelnyxHook().get_scheduled_event("assistant-1", "e1")))
    store = DictStateStore()
    store.set("telnyx_scheduled_event_id", "evt-gone")
    connect(max_retries=0)
    op = TelnyxCreateScheduledEventOperator(
        task_id="t",
        assistant_id="assistant-1",
        end_user_target="+13125550100",
        agent_target="+1312555019",
        scheduled_at=NOW,
    )
    op.end_user_target, op.agent_target = "+13125550100", "+13125550199"
    if AIRFLOW_V_3_3_PLUS:  # the message of a deleted event read back from the task state store (Airflow 3.3+)
        messages.append(raised(lambda: op.execute(context(FakeTI(try_number=2), store))))
    closed = TelnyxHook(max_retries=0)
    closed._config = TelnyxClientConfig(api_key="KEYlong_enough", base_url="http://127.0.0.1:9/v2", max_retries=0)
    messages.append(raised(lambda: closed.get_scheduled_event("assistant-1", "e1")))
    bad_body = MockApi().script(httpx.Response(200, json={"status": "pending"})).hook()
    messages.append(raised(lambda: bad_body.get_scheduled_event("assistant-1", "e1")))
    return messages


def test_every_message_the_code_produces_has_its_row(
    telnyx_simulator: Simulator, simulator_connection: SimulatorConnection
) -> None:
    quoted = patterns()
    produced = local_messages() + api_messages(telnyx_simulator, simulator_connection)
    unmatched = [message for message in produced if not any(matches(p, message) for p in quoted)]
    assert unmatched == [], "\n".join(unmatched)
    unused = [p for p in quoted if p not in NOT_OURS and not any(matches(p, message) for message in produced)]
    assert unused == []
