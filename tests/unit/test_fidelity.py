"""Faithful to the real API, not to our simulator: a tolerant reader, the guides' rules, retry timing as the API
and the SDK define it, the connection's host/port/schema, and keys that differ between deployments.

Answers come from ``httpx.MockTransport`` fixtures shaped like the OpenAPI text and the official SDK's types, with
what a newer API may add.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from airflow_provider_telnyx.exceptions import (
    TelnyxConnectionError,
    TelnyxInvalidInputError,
    TelnyxNotFoundError,
    TelnyxServerError,
)
from airflow_provider_telnyx.hooks._retry import BACKOFF_MAX, backoff, retry_after_seconds
from airflow_provider_telnyx.models import (
    ScheduledEvent,
    ScheduledEventPage,
    ScheduledEventRequest,
    ScheduledPhoneCallEvent,
    TelnyxClientConfig,
    field_errors,
)
from airflow_provider_telnyx.operators._arguments import TaskIdentity
from airflow_provider_telnyx.utils.waiting import EventWaiter
from airflow_provider_telnyx.utils.waiting_many import ManyEventsWaiter
from tests.harness import DictStateStore, FakeTI, context
from tests.unit.mock_api import MockApi, event_json, run

MODES = ["sync", "async"]
KEY = "KEYfidelity_0123"

#: A phone-call event as a newer API might answer: unknown fields at every level, values we do not know yet,
#: nulls where the SDK types fields as optional, timestamps without an offset.
NEWER_CALL = {
    "assistant_id": "assistant-1",
    "scheduled_event_id": "evt-1",
    "telnyx_conversation_channel": "phone_call",
    "telnyx_end_user_target": "+13125550100",
    "telnyx_agent_target": "+13125550199",
    "scheduled_at_fixed_datetime": "2030-01-01T10:00:00",
    "created_at": "2029-12-31T10:00:00.123",
    "status": "paused",
    "retry_count": None,
    "retry_attempts": None,
    "max_retries_client_errors": None,
    "retry_interval_secs": None,
    "call_status": "voicemail",
    "errors": None,
    "conversation_metadata": {"order": 7, "score": 0.5, "note": None},
    "call_settings": {"sip_region": "Asia Pacific", "codec": "opus"},
    "call_attempts": [
        {
            "attempt_number": 1,
            "attempted_at": "2030-01-01T10:00:05",
            "call_status": "voicemail",
            "call_duration": None,
            "amd_result": {"machine": True},
        }
    ],
    "sentiment": {"score": 0.9, "labels": ["positive"]},
}


class TestTolerantReader:
    def test_a_newer_event_parses_and_round_trips(self) -> None:
        event = ScheduledEvent.parse(NEWER_CALL)
        assert isinstance(event, ScheduledPhoneCallEvent)
        assert (event.status, event.known_status, event.is_final) == ("paused", None, False)
        assert event.retry_count is None
        assert event.max_retries_client_errors is None
        assert event.scheduled_at_fixed_datetime == datetime(2030, 1, 1, 10, tzinfo=timezone.utc)
        assert event.attempts[0].attempted_at.tzinfo is not None
        assert event.call_settings is not None
        assert event.call_settings.sip_region == "Asia Pacific"
        assert event.call_settings.model_extra == {"codec": "opus"}
        assert event.attempts[0].model_extra == {"amd_result": {"machine": True}}
        dumped = event.to_json_dict()
        assert dumped["sentiment"] == NEWER_CALL["sentiment"]
        assert ScheduledEvent.parse(dumped) == event

    def test_an_unknown_channel_parses_as_the_base_event(self) -> None:
        event = ScheduledEvent.parse(event_json(telnyx_conversation_channel="whatsapp_chat", status=None))
        assert type(event) is ScheduledEvent
        assert event.telnyx_conversation_channel == "whatsapp_chat"
        assert (event.status_text, event.is_final) == ("missing", False)

    @pytest.mark.parametrize("mode", MODES)
    def test_get_list_and_create_read_newer_answers(self, mode: str) -> None:
        page = {"data": [NEWER_CALL], "meta": {"page_number": 1, "total_pages": 1, "cursor": "x"}, "links": {}}
        api = MockApi().script(
            httpx.Response(200, json=NEWER_CALL),
            httpx.Response(200, json=page),
            httpx.Response(201, json=NEWER_CALL),
        )
        hook = api.hook()
        assert run(hook, mode, "get_scheduled_event", "assistant-1", "evt-1").status == "paused"
        (listed,) = run(hook, mode, "list_scheduled_events", "assistant-1")
        assert listed.call_status == "voicemail"
        body = {
            "telnyx_conversation_channel": "phone_call",
            "telnyx_end_user_target": "+13125550100",
            "telnyx_agent_target": "+13125550199",
            "scheduled_at_fixed_datetime": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat(),
        }
        assert run(hook, mode, "create_scheduled_event", "assistant-1", body).event_id == "evt-1"

    def test_page_meta_may_be_partial(self) -> None:
        assert ScheduledEventPage.model_validate({"data": [], "meta": {}}).is_last
        assert not ScheduledEventPage.model_validate({"data": [event_json()], "meta": {"page_number": 1}}).is_last

    def test_waiters_keep_waiting_on_an_unknown_status_and_warn_once(self, caplog: pytest.LogCaptureFixture) -> None:
        waiter = EventWaiter(event_id="evt-1", poll_interval=1, deadline=100.0, clock=lambda: 0.0)
        unknown = ScheduledEvent.parse(NEWER_CALL)
        many = ManyEventsWaiter(event_ids=["evt-1", "evt-2"], poll_interval=1)
        with caplog.at_level(logging.WARNING, logger="airflow_provider_telnyx.utils.waiting"):
            assert [waiter.observe(unknown) for _ in range(3)] == [None, None, None]
            for _ in range(3):
                many.observe_event(unknown)
        assert "evt-1" in many.pending
        warnings = [r.getMessage() for r in caplog.records if "does not know" in r.getMessage()]
        assert len(warnings) == 2  # one per waiter and event, not one per poll
        assert "status 'paused'" in warnings[0]
        timed_out = EventWaiter(event_id="evt-1", poll_interval=1, deadline=100.0, clock=lambda: 200.0)
        assert (timed_out.observe(unknown) or {}).get("status") == "timeout"  # bounded by the deadline


class TestGuideRules:
    def test_retry_interval_only_with_retries(self) -> None:
        body = {
            "telnyx_conversation_channel": "phone_call",
            "telnyx_end_user_target": "+13125550100",
            "telnyx_agent_target": "+13125550199",
            "scheduled_at_fixed_datetime": "2031-01-01T00:00:00Z",
            "retry_interval_secs": 120,
        }
        for retries in (None, 0):
            with pytest.raises(ValidationError) as caught:
                ScheduledEventRequest.model_validate({**body, "max_retries_client_errors": retries})
            assert (
                "retry_interval_secs",
                "is only allowed when max_retries_client_errors > 0 (the API answers 400)",
            ) in field_errors(caught.value)
        assert ScheduledEventRequest.model_validate({**body, "max_retries_client_errors": 1}).retry_interval_secs == 120

    @pytest.mark.parametrize("mode", MODES)
    @pytest.mark.parametrize("key", ["tenant:order-42:call", "a.b", "x" * 256, "", "é"])
    def test_idempotency_keys_outside_the_endpoints_pattern_are_refused_before_any_request(
        self, mode: str, key: str
    ) -> None:
        # The endpoint's own reference: ^[A-Za-z0-9_-]{1,255}$ (anything else is a 400, code 10015).
        api = MockApi().script(httpx.Response(201, json=event_json()))
        body = {
            "telnyx_conversation_channel": "phone_call",
            "telnyx_end_user_target": "+13125550100",
            "telnyx_agent_target": "+13125550199",
            "scheduled_at_fixed_datetime": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat(),
        }
        with pytest.raises(TelnyxInvalidInputError, match="idempotency_key"):
            run(api.hook(), mode, "create_scheduled_event", "assistant-1", body, idempotency_key=key)
        assert api.requests == []
        run(api.hook(), mode, "create_scheduled_event", "assistant-1", body, idempotency_key="tenant_order-42-call")
        assert api.requests[0].headers["Idempotency-Key"] == "tenant_order-42-call"


def _answer(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers, json={"errors": [{"code": "x", "title": "t"}]})


@pytest.mark.parametrize("mode", MODES)
class TestRetryTiming:
    @pytest.mark.parametrize(
        ("status", "headers", "expected"),
        [
            (429, {"Retry-After": "2"}, 2.0),
            (503, {"Retry-After": "3"}, 3.0),
            (503, {"Retry-After-Ms": "1500"}, 1.5),
            (429, {"x-ratelimit-reset": "7"}, 7.0),
            (429, {"Retry-After": "4", "x-ratelimit-reset": "9"}, 4.0),
        ],
    )
    def test_hints_honoured(self, mode: str, status: int, headers: dict[str, str], expected: float) -> None:
        api = MockApi().script(_answer(status, **headers), httpx.Response(200, json=event_json()))
        run(api.hook(max_retries=1), mode, "get_scheduled_event", "assistant-1", "evt-1")
        assert api.sleeps == [expected]

    @pytest.mark.parametrize(
        ("status", "headers"),
        [(503, {"x-ratelimit-reset": "50"}), (500, {"Retry-After": "9"}), (502, {"x-ratelimit-reset": "50"})],
    )
    def test_other_hints_ignored(self, mode: str, status: int, headers: dict[str, str]) -> None:
        api = MockApi().script(_answer(status, **headers), _answer(status, **headers), httpx.Response(200, json={}))
        with pytest.raises(Exception):  # noqa: B017 - the third answer is no event; only the waits matter
            run(api.hook(max_retries=2), mode, "get_scheduled_event", "assistant-1", "evt-1")
        assert len(api.sleeps) == 2
        assert 0.25 <= api.sleeps[0] <= 0.5, api.sleeps  # the backoff (equal jitter), not the header
        assert 0.5 <= api.sleeps[1] <= 1.0, api.sleeps

    @pytest.mark.parametrize("hint", [{"x-ratelimit-reset": "0"}, {"Retry-After": "0"}, {"Retry-After-Ms": "0"}, {}])
    def test_a_429_that_says_wait_0_is_waited_out_not_hammered(self, mode: str, hint: dict[str, str]) -> None:
        # A fixed window's edge: the server answers 429 with "reset 0" for 1.5 s of its clock. The hook's waits are
        # the only thing that moves that clock here, so the test measures the rule, not the machine.
        api = MockApi()

        def answer(request: httpx.Request) -> httpx.Response:
            if sum(api.sleeps) < 1.5:
                return _answer(429, **hint)
            return httpx.Response(200, json=event_json())

        api.script(answer)
        run(api.hook(max_retries=0), mode, "get_scheduled_event", "assistant-1", "evt-1")
        assert len(api.requests) <= 12, api.sleeps
        assert min(api.sleeps) >= 0.25

    def test_x_should_retry(self, mode: str) -> None:
        stop = MockApi().script(_answer(503, **{"x-should-retry": "false"}))
        with pytest.raises(TelnyxServerError):
            run(stop.hook(max_retries=3), mode, "get_scheduled_event", "assistant-1", "evt-1")
        assert len(stop.requests) == 1
        go = MockApi().script(_answer(400, **{"x-should-retry": "true"}), httpx.Response(200, json=event_json()))
        run(go.hook(max_retries=3), mode, "get_scheduled_event", "assistant-1", "evt-1")
        assert len(go.requests) == 2


def test_backoff_has_a_floor_and_doubles_to_its_cap() -> None:
    assert [backoff(n, draw=lambda: 0.0) for n in range(4)] == [0.25, 0.5, 1.0, 2.0]
    assert [backoff(n, draw=lambda: 1.0) for n in range(4)] == [0.5, 1.0, 2.0, 4.0]
    assert backoff(100, draw=lambda: 1.0) == BACKOFF_MAX
    assert backoff(100, draw=lambda: 0.0) == BACKOFF_MAX / 2


@pytest.mark.parametrize(
    ("headers", "status", "expected"),
    [
        ({"Retry-After": "nan"}, 429, None),
        ({"Retry-After": "inf"}, 429, None),
        ({"Retry-After": "-5"}, 503, None),
        ({"Retry-After": "0"}, 429, None),
        ({"Retry-After-Ms": "0"}, 429, None),
        ({"x-ratelimit-reset": "0"}, 429, None),
        ({"Retry-After": "0", "x-ratelimit-reset": "2"}, 429, 2.0),
        ({"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"}, 429, None),
        ({"Retry-After": "soon"}, 429, None),
        ({"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}, 429, 60.0),
        ({"Retry-After": "9999"}, 429, 60.0),
        ({"retry-after-ms": "nan"}, 503, None),
        ({"x-ratelimit-reset": "nan"}, 429, None),
        ({"x-ratelimit-reset": "1e400"}, 429, None),
    ],
)
def test_header_waits_are_finite_positive_and_capped(
    headers: dict[str, str], status: int, expected: float | None
) -> None:
    assert retry_after_seconds(status, httpx.Headers(headers), now=1_000.0) == expected


class TestConnection:
    @pytest.mark.parametrize(
        ("host", "port", "schema", "base_url"),
        [
            (None, None, None, "https://api.telnyx.com/v2"),
            ("api.telnyx.com", None, "https", "https://api.telnyx.com/v2"),
            ("127.0.0.1", 8765, "v2", "http://127.0.0.1:8765/v2"),
            ("localhost", 8765, None, "http://localhost:8765/v2"),
            ("[::1]", 8765, None, "http://[::1]:8765/v2"),
            ("telnyx.internal", 8443, "https", "https://telnyx.internal:8443/v2"),
            ("https://gw.example.com/telnyx/v2", 8443, None, "https://gw.example.com:8443/telnyx/v2"),
            ("gw.example.com:9000/v2", 9000, None, "https://gw.example.com:9000/v2"),
        ],
    )
    def test_host_port_and_schema_combine_like_the_http_provider(
        self, host: str | None, port: int | None, schema: str | None, base_url: str
    ) -> None:
        config = TelnyxClientConfig.from_connection_fields(password=KEY, host=host, port=port, schema=schema, extra={})
        assert config.base_url == base_url

    def test_plain_http_to_another_machine_needs_the_explicit_extra(self) -> None:
        with pytest.raises(TelnyxInvalidInputError, match=r"plain http:// to telnyx\.internal would send the API key"):
            TelnyxClientConfig.from_connection_fields(
                password=KEY, host="telnyx.internal", port=8080, schema="http", extra={}
            )
        config = TelnyxClientConfig.from_connection_fields(
            password=KEY, host="telnyx.internal", port=8080, schema="http", extra={"allow_insecure_http": "true"}
        )
        assert (config.base_url, config.insecure) == ("http://telnyx.internal:8080/v2", True)
        with pytest.raises(TelnyxInvalidInputError, match=r"extra\.allow_insecure_http: must be true or false"):
            TelnyxClientConfig.from_connection_fields(
                password=KEY, host="h.example", extra={"allow_insecure_http": "yes"}
            )

    @pytest.mark.parametrize(
        "host",
        [
            "https://api.telnyx.com/v2/../../evil",
            "https://api.telnyx.com/v2/%2e%2e/x",
            "https://api.telnyx.com/./v2",
            "https://api.telnyx.com/v2%2Fx",
            "https://api.telnyx.com/v2/%5C..",
        ],
    )
    def test_dot_segments_in_the_base_url_are_refused(self, host: str) -> None:
        with pytest.raises(TelnyxInvalidInputError, match=r"host: the base URL's path must not hold '\.'"):
            TelnyxClientConfig.from_connection_fields(password=KEY, host=host, extra={})

    def test_conflicting_ports_are_refused(self) -> None:
        with pytest.raises(TelnyxInvalidInputError, match="port: the host names port 9000, the port field 9001"):
            TelnyxClientConfig.from_connection_fields(password=KEY, host="h.example:9000", port=9001, extra={})

    def test_uri_form_with_port_and_path(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from airflow_provider_telnyx.hooks.telnyx import TelnyxHook

        monkeypatch.setenv("AIRFLOW_CONN_TELNYX_URI_PORT", f"telnyx://:{KEY}@127.0.0.1:8765/v2?timeout=5")
        config = TelnyxHook(telnyx_conn_id="telnyx_uri_port").get_config()
        assert (config.base_url, config.timeout) == ("http://127.0.0.1:8765/v2", 5.0)

    def test_connection_errors_name_the_url_tried(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from airflow_provider_telnyx.hooks.telnyx import TelnyxHook

        conn = {"conn_type": "telnyx", "password": KEY, "host": "127.0.0.1", "port": 9, "extra": {"max_retries": 0}}
        monkeypatch.setenv("AIRFLOW_CONN_TELNYX_CLOSED", json.dumps(conn))
        with pytest.raises(TelnyxConnectionError) as caught:
            TelnyxHook(telnyx_conn_id="telnyx_closed").get_scheduled_event("assistant-1", "evt-1")
        assert "(http://127.0.0.1:9/v2/ai/assistants/assistant-1/scheduled_events/evt-1)" in str(caught.value)
        assert KEY not in str(caught.value)


class TestDeploymentSafeKeys:
    def identity(self, store: DictStateStore | None, ti: FakeTI, namespace: str | None = None) -> TaskIdentity:
        return TaskIdentity.of(
            context(ti, store), clock=lambda: datetime(2031, 1, 1, tzinfo=timezone.utc), namespace=lambda: namespace
        )

    def test_same_ids_in_two_deployments_give_different_keys_and_tags(self) -> None:
        staging, production = DictStateStore(), DictStateStore()
        a = self.identity(staging, FakeTI(try_number=1))
        b = self.identity(production, FakeTI(try_number=1))
        assert a.idempotency_key() != b.idempotency_key()
        assert a.tags()["airflow_scope"] != b.tags()["airflow_scope"]
        again = self.identity(staging, FakeTI(try_number=3))  # a later try of the same task instance
        assert (again.idempotency_key(), again.tags(), again.anchor) == (a.idempotency_key(), a.tags(), a.anchor)

    def test_without_a_state_store_the_connections_namespace_scopes_keys(self) -> None:
        plain = self.identity(None, FakeTI())
        assert "airflow_scope" not in plain.tags()
        staging = self.identity(None, FakeTI(), namespace="staging")
        production = self.identity(None, FakeTI(), namespace="production")
        assert staging.idempotency_key() != production.idempotency_key() != plain.idempotency_key()
        assert staging.tags()["airflow_scope"] == "staging"
        assert self.identity(None, FakeTI(try_number=2), namespace="staging").idempotency_key() == (
            staging.idempotency_key()
        )

    def test_namespace_is_validated(self) -> None:
        with pytest.raises(TelnyxInvalidInputError, match=r"extra\.idempotency_namespace"):
            TelnyxClientConfig.from_connection_fields(
                password=KEY, host=None, extra={"idempotency_namespace": "has spaces"}
            )


def test_every_created_event_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_telnyx.exceptions import TelnyxInvalidResponseError

    body = {
        "telnyx_conversation_channel": "phone_call",
        "telnyx_end_user_target": "+13125550100",
        "telnyx_agent_target": "+13125550199",
        "scheduled_at_fixed_datetime": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat(),
    }
    for answer, message in (
        (event_json(scheduled_event_id=None), "without scheduled_event_id"),
        (event_json(scheduled_event_id=""), "without scheduled_event_id"),
        (event_json(telnyx_end_user_target="+13125550111"), "for another end-user target"),
    ):
        api = MockApi().script(httpx.Response(201, json=answer))
        with pytest.raises(TelnyxInvalidResponseError, match=message):
            run(api.hook(), "sync", "create_scheduled_event", "assistant-1", body, idempotency_key="k-1")
    replayed = MockApi().script(httpx.Response(201, json=event_json(), headers={"Idempotent-Replayed": "true"}))
    event: Any = run(replayed.hook(), "sync", "create_scheduled_event", "assistant-1", body, idempotency_key="k-1")
    assert event.replayed


@pytest.mark.parametrize("mode", MODES)
def test_a_delete_whose_retry_finds_nothing_was_done_by_the_first_attempt(mode: str) -> None:
    gone = httpx.Response(404, json={"errors": [{"code": "10005", "title": "Resource not found"}]})
    lost = httpx.Response(503, json={"errors": [{"code": "10007", "title": "Unexpected error"}]})
    api = MockApi().script(lost, gone)
    assert run(api.hook(max_retries=2), mode, "delete_scheduled_event", "assistant-1", "evt-1") is None
    assert [r.method for r in api.requests] == ["DELETE", "DELETE"]
    with pytest.raises(TelnyxNotFoundError):  # nothing ambiguous before: the event really was not there
        run(MockApi().script(gone).hook(max_retries=2), mode, "delete_scheduled_event", "assistant-1", "evt-1")
    with pytest.raises(TelnyxNotFoundError):  # only a delete reads a 404 that way
        run(MockApi().script(lost, gone).hook(max_retries=2), mode, "get_scheduled_event", "assistant-1", "evt-1")
