from __future__ import annotations

import asyncio
import gc
import logging
import pickle
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from airflow_provider_telnyx.exceptions import (
    TelnyxApiError,
    TelnyxAuthError,
    TelnyxConflictError,
    TelnyxForbiddenError,
    TelnyxInvalidInputError,
    TelnyxInvalidResponseError,
    TelnyxNotFoundError,
    TelnyxRateLimitError,
    TelnyxServerError,
    TelnyxValidationError,
)
from airflow_provider_telnyx.hooks._retry import MAX_RETRY_AFTER
from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
from airflow_provider_telnyx.models import (
    EventStatus,
    ScheduledEventRequest,
    ScheduledPhoneCallEvent,
    ScheduledSmsEvent,
    TelnyxClientConfig,
)
from tests.environment import API_KEY
from tests.unit.mock_api import MockApi, event_json, run, sms_json

MODES = ["sync", "async"]
FUTURE = datetime.now(timezone.utc) + timedelta(days=30)


KEY = "KEYtest_valid_0123"


def create_body(**overrides: object) -> dict[str, object]:
    return {
        "telnyx_conversation_channel": "phone_call",
        "telnyx_end_user_target": "+13125550100",
        "telnyx_agent_target": "+13125550199",
        "scheduled_at_fixed_datetime": FUTURE.isoformat(),
        **overrides,
    }


def page_json(events: list[dict[str, object]], number: int, pages: int, size: int = 2) -> dict[str, object]:
    return {
        "data": events,
        "meta": {"page_number": number, "page_size": size, "total_pages": pages, "total_results": 5},
    }


@pytest.mark.parametrize("mode", MODES)
class TestRequests:
    def test_auth_header_and_user_agent(self, mode: str) -> None:
        api = MockApi().script(httpx.Response(200, json=event_json()))
        run(api.hook(), mode, "get_scheduled_event", "assistant-1", "evt-1")
        headers = api.requests[0].headers
        assert headers["authorization"] == f"Bearer {API_KEY}"
        assert headers["user-agent"].startswith("airflow-provider-telnyx/0.1.0 apache-airflow/3.")
        assert headers["accept"] == "application/json"

    def test_create_sends_body_key_and_path(self, mode: str) -> None:
        api = MockApi().script(httpx.Response(201, json=event_json()))
        event = run(
            api.hook(),
            mode,
            "create_scheduled_event",
            "assistant-1",
            create_body(dynamic_variables={"name": "Ada"}),
            idempotency_key="dag-run-task-0",
        )
        request = api.requests[0]
        assert request.method == "POST"
        assert request.url == "https://telnyx.test/v2/ai/assistants/assistant-1/scheduled_events"
        assert request.headers["idempotency-key"] == "dag-run-task-0"
        assert request.headers["content-type"] == "application/json"
        assert api.body() == {
            **create_body(dynamic_variables={"name": "Ada"}),
            "scheduled_at_fixed_datetime": (FUTURE.isoformat().replace("+00:00", "Z")),
        }
        assert isinstance(event, ScheduledPhoneCallEvent)
        assert event.event_id == "evt-1"

    def test_create_accepts_a_model(self, mode: str) -> None:
        api = MockApi().script(httpx.Response(201, json=sms_json()))
        request = ScheduledEventRequest.model_validate(create_body(telnyx_conversation_channel="sms_chat", text="hi"))
        event = run(api.hook(), mode, "create_scheduled_event", "assistant-1", request)
        assert "idempotency-key" not in api.requests[0].headers
        assert api.body()["text"] == "hi"
        assert isinstance(event, ScheduledSmsEvent)

    def test_get_and_delete_paths(self, mode: str) -> None:
        api = MockApi().script(httpx.Response(200, json=event_json()), httpx.Response(200))
        hook = api.hook()
        run(hook, mode, "get_scheduled_event", "assistant-1", "evt-1")
        assert run(hook, mode, "delete_scheduled_event", "assistant-1", "evt-1") is None
        assert [(r.method, r.url.path) for r in api.requests] == [
            ("GET", "/v2/ai/assistants/assistant-1/scheduled_events/evt-1"),
            ("DELETE", "/v2/ai/assistants/assistant-1/scheduled_events/evt-1"),
        ]
        assert api.requests[1].headers["accept"] == "*/*"

    def test_list_follows_pages_by_meta_and_encodes_query(self, mode: str) -> None:
        pages = [
            page_json([event_json(scheduled_event_id="e1"), sms_json(scheduled_event_id="e2")], 1, 3),
            page_json([event_json(scheduled_event_id="e3"), event_json(scheduled_event_id="e4")], 2, 3),
            page_json([sms_json(scheduled_event_id="e5")], 3, 3),
        ]
        api = MockApi().script(*(httpx.Response(200, json=page) for page in pages))
        since = datetime(2030, 1, 1, tzinfo=timezone.utc)
        events = run(
            api.hook(),
            mode,
            "list_scheduled_events",
            "assistant-1",
            conversation_channel="sms_chat",
            from_date=since,
            to_date=since + timedelta(days=1),
            page_size=2,
        )
        assert [e.event_id for e in events] == ["e1", "e2", "e3", "e4", "e5"]
        assert [type(e).__name__ for e in events][:2] == ["ScheduledPhoneCallEvent", "ScheduledSmsEvent"]
        raw_queries = [r.url.query.decode() for r in api.requests]
        assert "page%5Bnumber%5D=1" in raw_queries[0]
        assert "page%5Bsize%5D=2" in raw_queries[0]
        assert [dict(r.url.params)["page[number]"] for r in api.requests] == ["1", "2", "3"]
        params = dict(api.requests[0].url.params)
        assert params["conversation_channel"] == "sms_chat"
        assert params["from_date"] == "2030-01-01T00:00:00+00:00"
        assert params["to_date"] == "2030-01-02T00:00:00+00:00"

    def test_list_stops_on_zero_pages(self, mode: str) -> None:
        api = MockApi().script(httpx.Response(200, json=page_json([], 1, 0)))
        assert run(api.hook(), mode, "list_scheduled_events", "assistant-1") == []
        assert len(api.requests) == 1
        assert dict(api.requests[0].url.params)["page[size]"] == "100"

    def test_list_refuses_a_page_that_does_not_advance(self, mode: str) -> None:
        api = MockApi().script(httpx.Response(200, json=page_json([event_json()], 1, 3)))
        with pytest.raises(TelnyxInvalidResponseError, match="answered page 1 when page 2 was asked for"):
            run(api.hook(), mode, "list_scheduled_events", "assistant-1")
        assert len(api.requests) == 2

    def test_path_ids_are_url_encoded(self, mode: str) -> None:
        api = MockApi().script(httpx.Response(200, json=event_json(scheduled_event_id="evt=1")))
        run(api.hook(), mode, "get_scheduled_event", "assistant:1+x", "evt=1")
        assert api.requests[0].url.raw_path.decode() == ("/v2/ai/assistants/assistant%3A1%2Bx/scheduled_events/evt%3D1")


@pytest.mark.parametrize("mode", MODES)
class TestRetries:
    def test_429_waits_as_long_as_retry_after_says(self, mode: str) -> None:
        limited = httpx.Response(
            429,
            headers={"Retry-After": "2"},
            json={"errors": [{"code": "10011", "title": "Too many requests", "detail": "slow down"}]},
        )
        api = MockApi().script(limited, httpx.Response(200, json=event_json()))
        run(api.hook(), mode, "get_scheduled_event", "assistant-1", "evt-1")
        assert api.sleeps == [2.0]
        assert len(api.requests) == 2

    def test_429_uses_x_ratelimit_reset_and_caps_long_waits(self, mode: str) -> None:
        api = MockApi().script(
            httpx.Response(429, headers={"x-ratelimit-reset": "7"}),
            httpx.Response(429, headers={"Retry-After": "3600"}),
            httpx.Response(200, json=event_json()),
        )
        run(api.hook(), mode, "get_scheduled_event", "assistant-1", "evt-1")
        assert api.sleeps == [7.0, MAX_RETRY_AFTER]

    @pytest.mark.parametrize(
        "failure",
        [
            httpx.Response(503, text="unavailable"),
            httpx.Response(500, json={"errors": [{"code": "10007", "title": "Unexpected error"}]}),
            httpx.ConnectError("refused"),
            httpx.ReadTimeout("slow"),
            httpx.Response(408),
        ],
        ids=["503", "500", "connect-error", "read-timeout", "408"],
    )
    def test_transient_failures_retried_up_to_the_limit_then_raised(
        self, mode: str, failure: httpx.Response | Exception
    ) -> None:
        api = MockApi().script(failure)
        with pytest.raises(TelnyxApiError) as caught:
            run(api.hook(max_retries=2), mode, "get_scheduled_event", "assistant-1", "evt-1")
        assert len(api.requests) == 3
        assert len(api.sleeps) == 2
        # Full jitter: every wait lies between 0 and the exponential cap for its attempt.
        assert all(0 <= wait <= 0.5 * 2**n for n, wait in enumerate(api.sleeps, start=1))
        assert caught.value.retryable

    def test_transient_failure_then_success(self, mode: str) -> None:
        api = MockApi().script(httpx.Response(502), httpx.ConnectError("x"), httpx.Response(200, json=event_json()))
        event = run(api.hook(), mode, "get_scheduled_event", "assistant-1", "evt-1")
        assert event.status is EventStatus.PENDING
        assert len(api.requests) == 3

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
    def test_client_errors_not_retried(self, mode: str, status: int) -> None:
        api = MockApi().script(httpx.Response(status, json={"errors": [{"code": "1", "title": "no"}]}))
        with pytest.raises(TelnyxApiError) as caught:
            run(api.hook(), mode, "get_scheduled_event", "assistant-1", "evt-1")
        assert caught.value.http_status == status
        assert len(api.requests) == 1
        assert api.sleeps == []

    @pytest.mark.parametrize(
        "ambiguous",
        [httpx.Response(502), httpx.Response(500), httpx.ReadTimeout("lost"), httpx.RemoteProtocolError("drop")],
        ids=["502", "500", "read-timeout", "dropped"],
    )
    def test_create_without_key_never_retried_after_ambiguous_failure(
        self, mode: str, ambiguous: httpx.Response | Exception
    ) -> None:
        api = MockApi().script(ambiguous, httpx.Response(201, json=event_json()))
        with pytest.raises(TelnyxApiError):
            run(api.hook(), mode, "create_scheduled_event", "assistant-1", create_body())
        assert len(api.requests) == 1

    @pytest.mark.parametrize(
        "ambiguous",
        [httpx.Response(502), httpx.ReadTimeout("lost"), httpx.RemoteProtocolError("drop"), httpx.Response(409)],
        ids=["502", "read-timeout", "dropped", "409-in-progress"],
    )
    def test_create_with_key_retried_with_the_same_key_and_body(
        self, mode: str, ambiguous: httpx.Response | Exception
    ) -> None:
        api = MockApi().script(ambiguous, httpx.Response(201, json=event_json()))
        run(api.hook(), mode, "create_scheduled_event", "assistant-1", create_body(), idempotency_key="k-1")
        assert len(api.requests) == 2
        assert {r.headers["idempotency-key"] for r in api.requests} == {"k-1"}
        assert api.requests[0].content == api.requests[1].content

    @pytest.mark.parametrize(
        "not_processed",
        [httpx.ConnectError("refused"), httpx.Response(429, headers={"Retry-After": "1"})],
        ids=["connect-error", "429"],
    )
    def test_create_without_key_retried_when_nothing_was_processed(
        self, mode: str, not_processed: httpx.Response | Exception
    ) -> None:
        api = MockApi().script(not_processed, httpx.Response(201, json=event_json()))
        run(api.hook(), mode, "create_scheduled_event", "assistant-1", create_body())
        assert len(api.requests) == 2


TELNYX_SHAPE = {"errors": [{"code": "10009", "title": "Authentication failed", "detail": "Bad key"}]}
FASTAPI_SHAPE = {
    "detail": [{"loc": ["body", "retry_interval_secs"], "msg": "Input should be >= 60", "type": "greater_than_equal"}]
}
HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body><h1>502</h1></body></html>"


@pytest.mark.parametrize(
    ("status", "body", "cls", "code", "title", "detail", "text"),
    [
        (401, TELNYX_SHAPE, TelnyxAuthError, "10009", "Authentication failed", "Bad key", "Bad key"),
        (
            403,
            {"detail": {"code": "D13", "title": "Forbidden", "detail": "Country not whitelisted"}},
            TelnyxForbiddenError,
            "D13",
            "Forbidden",
            "Country not whitelisted",
            "Country not whitelisted",
        ),
        (
            404,
            {"errors": [{"code": "10005", "title": "Resource not found"}]},
            TelnyxNotFoundError,
            "10005",
            "Resource not found",
            None,
            "Resource not found",
        ),
        (
            422,
            FASTAPI_SHAPE,
            TelnyxValidationError,
            "greater_than_equal",
            None,
            "Input should be >= 60",
            "retry_interval_secs: Input should be >= 60",
        ),
        (
            400,
            {
                "errors": [
                    {
                        "code": "10015",
                        "title": "Invalid Idempotency-Key",
                        "detail": "too long",
                        "source": {"pointer": "/headers/Idempotency-Key"},
                    }
                ]
            },
            TelnyxValidationError,
            "10015",
            "Invalid Idempotency-Key",
            "too long",
            "headers.Idempotency-Key",
        ),
        (
            409,
            {"errors": [{"code": "10036", "title": "Idempotency conflict"}]},
            TelnyxConflictError,
            "10036",
            "Idempotency conflict",
            None,
            "Idempotency conflict",
        ),
        (
            429,
            {"errors": [{"code": "10011", "title": "Too many requests"}]},
            TelnyxRateLimitError,
            "10011",
            "Too many requests",
            None,
            "Too many requests",
        ),
        (502, HTML_502, TelnyxServerError, None, None, None, "non-JSON body (text/html) titled '502 Bad Gateway'"),
        (500, '{"errors": [{"code": "1", "tit', TelnyxServerError, None, None, None, "non-JSON body"),
        (
            404,
            {"detail": [{"code": "10005", "title": "Not found", "detail": "Conversation Not Found"}]},
            TelnyxNotFoundError,
            "10005",
            "Not found",
            "Conversation Not Found",
            "Not found: Conversation Not Found",
        ),
        (
            422,
            {"errors": [{"code": "10027", "title": "Idempotency key reused", "detail": "Different request."}]},
            TelnyxValidationError,
            "10027",
            "Idempotency key reused",
            "Different request.",
            "Idempotency key reused: Different request. (code 10027)",
        ),
    ],
    ids=[
        "401",
        "403-detail-object",
        "404",
        "422-fastapi",
        "400-idempotency",
        "409",
        "429",
        "502-html",
        "500-cut",
        "404-ai-detail-list",
        "422-reused-key",
    ],
)
def test_error_classes_carry_code_title_detail(
    status: int,
    body: object,
    cls: type[TelnyxApiError],
    code: str | None,
    title: str | None,
    detail: str | None,
    text: str,
) -> None:
    if isinstance(body, str):
        response = httpx.Response(status, text=body, headers={"content-type": "text/html"})
    else:
        response = httpx.Response(status, json=body)
    api = MockApi().script(response)
    with pytest.raises(cls) as caught:
        run(api.hook(max_retries=0), "sync", "get_scheduled_event", "assistant-1", "evt-1")
    error = caught.value
    assert (error.http_status, error.code, error.title, error.detail) == (status, code, title, detail)
    assert text in str(error)
    assert f"GET /ai/assistants/assistant-1/scheduled_events/evt-1 answered {status}" in str(error)
    clone = pickle.loads(pickle.dumps(error))
    assert (type(clone), str(clone), clone.code) == (cls, str(error), error.code)


@pytest.mark.parametrize(
    ("code", "detail", "reuse"),
    [("10027", "Different request.", True), ("10099", "idempotency record reused", True), ("10099", "Bad", False)],
)
def test_a_reused_key_is_recognised_by_its_code_and_the_text_as_a_fallback(code: str, detail: str, reuse: bool) -> None:
    api = MockApi().script(httpx.Response(422, json={"errors": [{"code": code, "title": "T", "detail": detail}]}))
    with pytest.raises(TelnyxValidationError) as caught:
        run(api.hook(max_retries=0), "sync", "get_scheduled_event", "assistant-1", "evt-1")
    assert caught.value.is_idempotency_reuse is reuse


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("event_id", ["../x", "..", "a/b", "x?y", " ", "x" * 300])
def test_a_created_event_id_no_request_could_name_is_not_adopted(mode: str, event_id: str) -> None:
    api = MockApi().script(httpx.Response(201, json=event_json(scheduled_event_id=event_id)))
    body = {
        "telnyx_conversation_channel": "phone_call",
        "telnyx_end_user_target": "+13125550100",
        "telnyx_agent_target": "+13125550199",
        "scheduled_at_fixed_datetime": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat(),
    }
    with pytest.raises(TelnyxInvalidResponseError, match="an event id no request could name"):
        run(api.hook(), mode, "create_scheduled_event", "assistant-1", body, idempotency_key="k-1")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"assistant_id": "a"}', b'{"data": 1}', b"[1, 2]"],
    ids=["not-json", "missing-fields", "wrong-shape", "array"],
)
def test_malformed_success_bodies_are_clear_errors(mode: str, body: bytes) -> None:
    api = MockApi().script(httpx.Response(200, content=body))
    with pytest.raises(TelnyxInvalidResponseError, match="answered"):
        run(api.hook(), mode, "get_scheduled_event", "assistant-1", "evt-1")


def test_unknown_status_is_kept_not_guessed() -> None:
    api = MockApi().script(httpx.Response(200, json=event_json(status="archived")))
    event = run(api.hook(), "sync", "get_scheduled_event", "assistant-1", "evt-1")
    assert (event.status, event.status_text, event.known_status, event.is_final) == (
        "archived",
        "archived",
        None,
        False,
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("assistant_id", "event_id", "field"),
    [
        ("", "evt", "assistant_id"),
        ("a/../b", "evt", "assistant_id"),
        ("assistant-1", "../evt", "event_id"),
        ("assistant-1", "evt?x=1", "event_id"),
        ("assistant 1", "evt", "assistant_id"),
        ("assistant-1", "evt\n", "event_id"),
        ("assistant-1", "evt#frag", "event_id"),
        ("assistant-1", "a%2Fb", "event_id"),
    ],
)
def test_bad_path_ids_rejected_without_a_request(mode: str, assistant_id: str, event_id: str, field: str) -> None:
    api = MockApi().script(httpx.Response(200, json=event_json()))
    with pytest.raises(TelnyxInvalidInputError) as caught:
        run(api.hook(), mode, "get_scheduled_event", assistant_id, event_id)
    assert caught.value.fields == (field,)
    assert api.requests == []


@pytest.mark.parametrize("mode", MODES)
def test_bad_create_rejected_without_a_request(mode: str) -> None:
    api = MockApi().script(httpx.Response(201, json=event_json()))
    with pytest.raises(TelnyxInvalidInputError) as caught:
        run(
            api.hook(),
            mode,
            "create_scheduled_event",
            "assistant-1",
            create_body(telnyx_end_user_target="555-0100", max_retries_client_errors=3),
            idempotency_key="bad key!",
        )
    assert caught.value.fields == ("telnyx_end_user_target",)
    with pytest.raises(TelnyxInvalidInputError, match="idempotency_key"):
        run(api.hook(), mode, "create_scheduled_event", "assistant-1", create_body(), idempotency_key="x" * 256)
    with pytest.raises(TelnyxInvalidInputError, match="page_size"):
        run(api.hook(), mode, "list_scheduled_events", "assistant-1", page_size=101)
    with pytest.raises(TelnyxInvalidInputError, match="from_date: Input should have timezone info"):
        run(api.hook(), mode, "list_scheduled_events", "assistant-1", from_date=datetime(2030, 1, 1))
    assert api.requests == []


class TestConnectionConfig:
    @pytest.mark.parametrize(
        ("password", "host", "extra", "fields"),
        [
            (None, None, {}, ("password",)),
            ("  ", None, {}, ("password",)),
            (KEY, "ftp://api.telnyx.com", {}, ("host",)),
            (KEY, "https://user:pw@api.telnyx.com/v2", {}, ("host",)),
            (KEY, None, {"timeout": "soon"}, ("extra.timeout",)),
            (KEY, None, {"timeout": -1}, ("extra.timeout",)),
            (KEY, None, {"max_retries": 1.5}, ("extra.max_retries",)),
            (KEY, None, {"proxy": "gopher://x"}, ("extra.proxy",)),
        ],
    )
    def test_bad_connections_name_the_field(
        self, password: str | None, host: str | None, extra: dict[str, object], fields: tuple[str, ...]
    ) -> None:
        with pytest.raises(TelnyxInvalidInputError) as caught:
            TelnyxClientConfig.from_connection_fields(password=password, host=host, extra=extra)
        assert caught.value.fields == fields

    @pytest.mark.parametrize(
        ("host", "base_url"),
        [
            (None, "https://api.telnyx.com/v2"),
            ("api.telnyx.com", "https://api.telnyx.com/v2"),
            ("http://127.0.0.1:8765/v2/", "http://127.0.0.1:8765/v2"),
            ("https://proxy.example.com/telnyx/v2", "https://proxy.example.com/telnyx/v2"),
        ],
    )
    def test_base_url(self, host: str | None, base_url: str) -> None:
        config = TelnyxClientConfig.from_connection_fields(
            password=KEY, host=host, extra={"extra__telnyx__timeout": "5", "max_retries": "1"}
        )
        assert (config.base_url, config.timeout, config.max_retries) == (base_url, 5.0, 1)

    def test_missing_key_fails_before_any_request(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AIRFLOW_CONN_TELNYX_NOKEY", '{"conn_type": "telnyx", "host": "https://telnyx.test/v2"}')
        api = MockApi().script(httpx.Response(200, json=event_json()))
        with pytest.raises(TelnyxInvalidInputError, match="password: the API key is missing"):
            run(api.hook(telnyx_conn_id="telnyx_nokey"), "async", "get_scheduled_event", "a", "e")
        assert api.requests == []


class TestSecrets:
    @pytest.mark.parametrize("mode", MODES)
    def test_key_absent_from_errors_logs_and_reprs(
        self, mode: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
    ) -> None:
        caplog.set_level(logging.DEBUG)
        echo = httpx.Response(401, json={"errors": [{"code": "10009", "title": "Authentication failed"}]})
        api = MockApi().script(httpx.Response(503), httpx.ReadTimeout("t"), echo)
        hook = api.hook()
        with pytest.raises(TelnyxAuthError) as caught:
            run(hook, mode, "get_scheduled_event", "assistant-1", "evt-1")
        logs = caplog.text + "".join(capsys.readouterr())
        produced = [
            str(caught.value),
            repr(caught.value),
            repr(hook),
            repr(hook.get_config()) if mode == "sync" else repr(asyncio.run(hook.aget_config())),
            logs,
        ]
        assert len(api.requests) == 3
        assert "attempt 1, next in" in logs
        for text in produced:
            assert API_KEY not in text

    def test_key_registered_with_the_secret_masker(self) -> None:
        from airflow_provider_telnyx._compat import redact  # Airflow's own masker, wherever this version has it

        api = MockApi().script(httpx.Response(200, json=event_json()))
        api.hook().get_config()
        assert API_KEY not in str(redact(f"oops {API_KEY}"))


def test_test_connection_is_read_only() -> None:
    api = MockApi().script(httpx.Response(200, json={"data": []}))
    assert api.hook().test_connection() == (True, "Connected to the Telnyx API at https://telnyx.test/v2")
    assert [(r.method, r.url.path) for r in api.requests] == [("GET", "/v2/ai/assistants")]


def test_test_connection_reports_a_bad_key() -> None:
    api = MockApi().script(httpx.Response(401, json={"errors": [{"code": "10009", "title": "Authentication failed"}]}))
    ok, message = api.hook().test_connection()
    assert not ok
    assert "401" in message
    assert "Authentication failed" in message
    assert API_KEY not in message


def test_clients_are_pooled_and_reused() -> None:
    api = MockApi().script(httpx.Response(200, json=event_json()))
    hook = api.hook()
    first = hook.get_client()
    hook.get_scheduled_event("assistant-1", "evt-1")
    hook.get_scheduled_event("assistant-1", "evt-1")
    assert hook.get_client() is first

    async def twice() -> bool:
        client = await hook.aget_client()
        await hook.aget_scheduled_event("assistant-1", "evt-1")
        same = (await hook.aget_client()) is client
        await hook.aclose()
        return same

    assert asyncio.run(twice())


def test_a_hook_nobody_closes_closes_its_pooled_connections_when_collected() -> None:
    """An operator or sensor never closes its hook: the sync client's pool goes with the hook, not with the process
    (an open socket left to the garbage collector is a ResourceWarning)."""
    api = MockApi().script(httpx.Response(200, json=event_json()))
    hook = api.hook()
    hook.get_scheduled_event("assistant-1", "evt-1")
    client = hook.get_client()
    assert not client.is_closed
    del hook
    gc.collect()
    assert client.is_closed


def test_constructing_the_hook_does_no_io() -> None:
    hook = TelnyxHook(telnyx_conn_id="does_not_exist")
    assert hook._config is None
    assert hook._http is None


def test_uri_form_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_TELNYX_URI", "telnyx://:KEY%2Fwith%3Dchars@api.telnyx.com?timeout=30&max_retries=5"
    )
    config = TelnyxHook(telnyx_conn_id="telnyx_uri").get_config()
    assert (config.api_key, config.base_url, config.timeout, config.max_retries) == (
        "KEY/with=chars",
        "https://api.telnyx.com/v2",
        30.0,
        5,
    )
