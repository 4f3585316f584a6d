"""Bad input, refused before any request: each case names the field, sends nothing and does not retry."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_telnyx._compat import AirflowFailException
from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError
from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
from airflow_provider_telnyx.operators.scheduled_event import TelnyxCreateScheduledEventOperator
from airflow_provider_telnyx.testing.simulator import Simulator
from tests.dagrun import TEST_DAGS, load_dag
from tests.harness import context
from tests.reliability.conftest import Report

FUTURE = datetime.now(timezone.utc) + timedelta(days=3)
GOOD = {
    "assistant_id": "assistant-ok",
    "end_user_target": "+13125550100",
    "agent_target": "+13125550199",
    "scheduled_at": FUTURE,
}


PAST_BODY = {
    "telnyx_conversation_channel": "phone_call",
    "telnyx_end_user_target": "+13125550100",
    "telnyx_agent_target": "+13125550199",
    "scheduled_at_fixed_datetime": "2020-01-01T00:00:00Z",
}


class Unserializable:
    def __repr__(self) -> str:
        return "<Unserializable>"


OPERATOR_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("empty assistant id", {"assistant_id": ""}, "assistant_id"),
    ("assistant id with /", {"assistant_id": "a/b"}, "assistant_id"),
    ("assistant id with ..", {"assistant_id": "..x"}, "assistant_id"),
    ("assistant id with ?", {"assistant_id": "a?b=1"}, "assistant_id"),
    ("assistant id with a space", {"assistant_id": "assistant 1"}, "assistant_id"),
    ("malformed number", {"end_user_target": "555-0100"}, "end_user_target"),
    ("number without +", {"end_user_target": "13125550100"}, "end_user_target"),
    ("number too long", {"end_user_target": "+1312555010012345"}, "end_user_target"),
    ("bad SIP URI", {"agent_target": "sip:missing-host@"}, "agent_target"),
    ("SIP URI with whitespace", {"agent_target": "sip:bob@example .com"}, "agent_target"),
    ("target with a newline", {"end_user_target": "+13125550100\n"}, "end_user_target"),
    ("naive datetime", {"scheduled_at": datetime(2031, 1, 1)}, "scheduled_at"),
    ("naive ISO string", {"scheduled_at": "2031-01-01T10:00:00"}, "scheduled_at"),
    ("unparsable string", {"scheduled_at": "tomorrow at ten"}, "scheduled_at"),
    ("SMS without text", {"conversation_channel": "sms_chat"}, "text"),
    (
        "retries on SMS",
        {"conversation_channel": "sms_chat", "text": "hi", "max_retries_client_errors": 2, "retry_interval_secs": 60},
        "max_retries_client_errors",
    ),
    ("retries out of range", {"max_retries_client_errors": 11, "retry_interval_secs": 60}, "max_retries_client_errors"),
    ("negative retries", {"max_retries_client_errors": -1}, "max_retries_client_errors"),
    ("interval too short", {"max_retries_client_errors": 1, "retry_interval_secs": 30}, "retry_interval_secs"),
    ("interval too long", {"max_retries_client_errors": 1, "retry_interval_secs": 90_000}, "retry_interval_secs"),
    ("retries without interval", {"max_retries_client_errors": 2}, "retry_interval_secs"),
    ("non-string dynamic variable", {"dynamic_variables": {"n": 1}}, "dynamic_variables.n"),
    ("nested metadata", {"conversation_metadata": {"n": {"a": 1}}}, "conversation_metadata.n"),
    ("unknown channel", {"conversation_channel": "fax"}, "conversation_channel"),
    ("unknown SIP region", {"call_settings": {"sip_region": "Atlantis"}}, "call_settings.sip_region"),
    ("idempotency key with bad characters", {"idempotency_key": "key with spaces!"}, "idempotency_key"),
    ("idempotency key over 255 characters", {"idempotency_key": "k" * 256}, "idempotency_key"),
    ("idempotency key with a newline", {"idempotency_key": "key-1\n"}, "idempotency_key"),
    ("non-JSON-serializable value", {"dynamic_variables": {"when": Unserializable()}}, "dynamic_variables.when"),
    ("non-JSON-serializable metadata", {"conversation_metadata": {"at": FUTURE}}, "conversation_metadata.at"),
]

CONSTRUCTOR_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("negative poll interval", {"poll_interval": -5}, "poll_interval"),
    ("zero poll interval", {"poll_interval": 0}, "poll_interval"),
    ("negative wait timeout", {"wait_timeout": -1}, "wait_timeout"),
    ("unknown late policy", {"late_policy": "later"}, "late_policy"),
    ("zero max lateness", {"max_lateness": timedelta(0)}, "max_lateness"),
]

CONNECTION_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("missing API key", {"conn_type": "telnyx"}, "password"),
    ("empty API key", {"conn_type": "telnyx", "password": "  "}, "password"),
    (
        "base URL not http(s)",
        {"conn_type": "telnyx", "password": "KEYlong_enough", "host": "ftp://api.telnyx.com"},
        "host",
    ),
    (
        "base URL with credentials",
        {"conn_type": "telnyx", "password": "KEYlong_enough", "host": "https://u:p@x.com/v2"},
        "host",
    ),
    (
        "timeout not a number",
        {"conn_type": "telnyx", "password": "KEYlong_enough", "extra": {"timeout": "soon"}},
        "extra.timeout",
    ),
    (
        "negative max_retries",
        {"conn_type": "telnyx", "password": "KEYlong_enough", "extra": {"max_retries": -2}},
        "extra.max_retries",
    ),
    ("API key with a newline", {"conn_type": "telnyx", "password": "KEYabc\r\nX-Evil: 1"}, "password"),
    ("API key with non-ASCII", {"conn_type": "telnyx", "password": "KEYcl\u00e9_secret"}, "password"),
    ("API key too short to mask", {"conn_type": "telnyx", "password": "KEY"}, "password"),
    (
        "infinite timeout",
        {"conn_type": "telnyx", "password": "KEYlong_enough", "extra": {"timeout": "inf"}},
        "extra.timeout",
    ),
    (
        "port out of range",
        {"conn_type": "telnyx", "password": "KEYlong_enough", "host": "h.example", "port": 70000},
        "port",
    ),
    (
        "proxy not a URL",
        {"conn_type": "telnyx", "password": "KEYlong_enough", "extra": {"proxy": "gopher://p"}},
        "extra.proxy",
    ),
]


def test_bad_inputs_are_refused_before_any_request(
    telnyx_simulator: Simulator, report: Report, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad input refused before any request"""
    refused: dict[str, str] = {}

    def expect(name: str, field: str, action: Any) -> None:
        with pytest.raises(TelnyxInvalidInputError) as caught:
            action()
        assert isinstance(caught.value, AirflowFailException), name  # the task fails without retrying
        assert caught.value.fields[0] == field, (name, caught.value)
        assert field in str(caught.value), name
        refused[name] = field

    for name, overrides, field in OPERATOR_CASES:
        operator = TelnyxCreateScheduledEventOperator(task_id="t", retries=3, **{**GOOD, **overrides})
        expect(name, field, lambda op=operator: op.execute(context()))
    for name, overrides, field in CONSTRUCTOR_CASES:
        expect(name, field, lambda o=overrides: TelnyxCreateScheduledEventOperator(task_id="t", **{**GOOD, **o}))
    hook = TelnyxHook()
    hook_cases: list[tuple[str, Any, str]] = [
        ("hook: event id with ..", lambda: hook.get_scheduled_event("assistant-ok", "../x"), "event_id"),
        ("hook: empty event id", lambda: hook.delete_scheduled_event("assistant-ok", ""), "event_id"),
        ("hook: request not a mapping", lambda: hook.create_scheduled_event("assistant-ok", "body"), "request"),  # type: ignore[arg-type]  # on purpose
        (
            "hook: past datetime",
            lambda: hook.create_scheduled_event("assistant-ok", {**PAST_BODY}),
            "scheduled_at_fixed_datetime",
        ),
        (
            "hook: page size over 100",
            lambda: list(hook.list_scheduled_events("assistant-ok", page_size=500)),
            "page_size",
        ),
        (
            "hook: naive from_date",
            lambda: list(hook.list_scheduled_events("a", from_date=datetime(2031, 1, 1))),
            "from_date",
        ),
    ]
    for name, action, field in hook_cases:
        expect(name, field, action)
    for name, conn, field in CONNECTION_CASES:
        monkeypatch.setenv("AIRFLOW_CONN_TELNYX_BAD", json.dumps(conn))
        expect(f"connection: {name}", field, lambda: TelnyxHook("telnyx_bad").get_scheduled_event("a", "b"))
    report.record(
        bad_inputs=len(refused),
        requests_that_reached_the_simulator=len(telnyx_simulator.journal),
        fields_named=sorted(set(refused.values())),
    )
    assert len(refused) >= 30
    assert telnyx_simulator.journal == []


def test_bad_input_fails_the_task_on_its_first_try(
    telnyx_simulator: Simulator, report: Report, airflow_db: None
) -> None:
    """Bad input refused before any request"""
    run = load_dag("e2e_bad_input", TEST_DAGS, "e2e_scheduled_events").test()
    (ti,) = run.get_task_instances()
    report.record(task_state_with_3_retries_allowed=ti.state, tries_used=ti.try_number)
    assert (ti.state, ti.try_number) == ("failed", 1)
    assert telnyx_simulator.journal == []
