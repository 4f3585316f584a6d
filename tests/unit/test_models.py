from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from airflow_provider_telnyx.models import (
    EventStatus,
    ScheduledEvent,
    ScheduledEventPage,
    ScheduledEventRequest,
    ScheduledPhoneCallEvent,
    ScheduledSmsEvent,
    field_errors,
    is_valid_target,
)
from tests.unit.mock_api import event_json, sms_json

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)


def request(**overrides: Any) -> dict[str, Any]:
    return {
        "telnyx_conversation_channel": "phone_call",
        "telnyx_end_user_target": "+13125550100",
        "telnyx_agent_target": "+13125550199",
        "scheduled_at_fixed_datetime": "2030-01-01T13:30:00+01:00",
        **overrides,
    }


def problems(**overrides: Any) -> list[tuple[str, str]]:
    try:
        ScheduledEventRequest.model_validate(request(**overrides), context={"now": NOW})
    except ValidationError as error:
        return field_errors(error)
    return []


def test_status_terminality() -> None:
    assert [s.value for s in EventStatus if s.is_terminal] == ["completed", "failed"]


def test_valid_requests() -> None:
    assert problems(scheduled_at_fixed_datetime="2030-01-01T12:30:00Z") == []
    assert (
        problems(
            scheduled_at_fixed_datetime="2030-01-01T12:30:00Z",
            max_retries_client_errors=10,
            retry_interval_secs=60,
            call_settings={"sip_region": "Middle East"},
            conversation_metadata={"a": "x", "b": 1, "c": True},
            dynamic_variables={"name": "Ada"},
            telnyx_end_user_target="sip:ada@example.com",
        )
        == []
    )
    assert (
        problems(
            scheduled_at_fixed_datetime="2030-01-01T12:30:00Z",
            telnyx_conversation_channel="sms_chat",
            text="hello",
            max_retries_client_errors=0,
        )
        == []
    )


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"scheduled_at_fixed_datetime": "2030-01-01T12:30:00"}, "scheduled_at_fixed_datetime", "timezone"),
        ({"scheduled_at_fixed_datetime": datetime(2030, 1, 2)}, "scheduled_at_fixed_datetime", "timezone"),
        ({"scheduled_at_fixed_datetime": "2030-01-01T11:59:00Z"}, "scheduled_at_fixed_datetime", "future"),
        ({"scheduled_at_fixed_datetime": "tomorrow"}, "scheduled_at_fixed_datetime", "datetime"),
        ({"telnyx_end_user_target": "3125550100"}, "telnyx_end_user_target", "E.164"),
        ({"telnyx_end_user_target": "+1 312 555 0100"}, "telnyx_end_user_target", "E.164"),
        ({"telnyx_end_user_target": "+013125550100"}, "telnyx_end_user_target", "E.164"),
        ({"telnyx_agent_target": "sip:@example.com"}, "telnyx_agent_target", "SIP URI"),
        ({"telnyx_agent_target": "sip:bob@"}, "telnyx_agent_target", "SIP URI"),
        ({"telnyx_end_user_target": ""}, "telnyx_end_user_target", "E.164"),
        ({"telnyx_conversation_channel": "fax"}, "telnyx_conversation_channel", "phone_call"),
        ({"telnyx_conversation_channel": "sms_chat"}, "text", "required for sms_chat"),
        ({"telnyx_conversation_channel": "sms_chat", "text": "  "}, "text", "empty"),
        (
            {"telnyx_conversation_channel": "sms_chat", "text": "x", "max_retries_client_errors": 2},
            "max_retries_client_errors",
            "only allowed for phone_call",
        ),
        (
            {"telnyx_conversation_channel": "sms_chat", "text": "x", "retry_interval_secs": 60},
            "retry_interval_secs",
            "only allowed for phone_call",
        ),
        (
            {"telnyx_conversation_channel": "sms_chat", "text": "x", "call_settings": {"sip_region": "US"}},
            "call_settings",
            "only allowed for phone_call",
        ),
        ({"max_retries_client_errors": 11, "retry_interval_secs": 60}, "max_retries_client_errors", "10"),
        ({"max_retries_client_errors": -1}, "max_retries_client_errors", "0"),
        ({"max_retries_client_errors": 2}, "retry_interval_secs", "required when"),
        ({"max_retries_client_errors": 2, "retry_interval_secs": 59}, "retry_interval_secs", "60"),
        ({"max_retries_client_errors": 2, "retry_interval_secs": 86401}, "retry_interval_secs", "86400"),
        ({"max_retries_client_errors": "2", "retry_interval_secs": 60}, "max_retries_client_errors", "integer"),
        ({"dynamic_variables": {"n": 1}}, "dynamic_variables.n", "string"),
        ({"conversation_metadata": {"n": {"deep": 1}}}, "conversation_metadata.n", "no nesting"),
        ({"conversation_metadata": {"n": 1.5}}, "conversation_metadata.n", "string, integer or boolean"),
        ({"conversation_metadata": {"n": None}}, "conversation_metadata.n", "no null"),
        ({"call_settings": {"sip_region": "Mars"}}, "call_settings.sip_region", "Europe"),
        ({"call_settings": {"codec": "opus"}}, "call_settings.codec", "Extra"),
        ({"surprise": 1}, "surprise", "Extra"),
    ],
)
def test_invalid_requests_name_the_field(overrides: dict[str, Any], field: str, fragment: str) -> None:
    overrides.setdefault("scheduled_at_fixed_datetime", "2030-01-01T12:30:00Z")
    found = problems(**overrides)
    assert found, "expected a validation error"
    assert found[0][0] == field
    assert fragment.lower() in found[0][1].lower()


def test_text_on_a_phone_call_is_valid_but_not_sent() -> None:
    # The OpenAPI text allows it; the API ignores it on calls, and the official SDK would read an echoed call that
    # carries `text` as an SMS: accepted (a valid body is never refused), kept on the model, left out of the body.
    body = ScheduledEventRequest.model_validate(
        request(scheduled_at_fixed_datetime="2030-01-01T14:30:00Z", text="hello"), context={"now": NOW}
    )
    assert (body.text, body.text_ignored) == ("hello", True)
    assert "text" not in body.to_api()
    sms = ScheduledEventRequest.model_validate(
        request(scheduled_at_fixed_datetime="2030-01-01T14:30:00Z", telnyx_conversation_channel="sms_chat", text="hi"),
        context={"now": NOW},
    )
    assert (sms.to_api()["text"], sms.text_ignored) == ("hi", False)


def test_request_body_is_the_api_json() -> None:
    body = ScheduledEventRequest.model_validate(
        request(scheduled_at_fixed_datetime="2030-01-01T14:30:00+02:00", call_settings={"sip_region": "Europe"}),
        context={"now": NOW},
    ).to_api()
    assert body == {
        "telnyx_conversation_channel": "phone_call",
        "telnyx_end_user_target": "+13125550100",
        "telnyx_agent_target": "+13125550199",
        "scheduled_at_fixed_datetime": "2030-01-01T14:30:00+02:00",
        "call_settings": {"sip_region": "Europe"},
    }


def test_target_forms() -> None:
    assert is_valid_target("+442071838750")
    assert is_valid_target("sips:agent.1@sip.telnyx.com:5061;transport=tls")
    assert not is_valid_target("+44 20 7183 8750")
    assert not is_valid_target("mailto:bob@example.com")


def test_variants_are_chosen_by_channel_and_keep_unknown_fields() -> None:
    call = ScheduledEvent.parse(
        event_json(
            status="failed",
            future_field={"nested": True},
            call_attempts=[
                {"attempt_number": 1, "attempted_at": "2030-01-01T10:00:05Z", "call_status": "busy"},
                {
                    "attempt_number": 2,
                    "attempted_at": "2030-01-01T10:01:05Z",
                    "call_status": "no-answer",
                    "call_duration": None,
                    "telnyx_call_control_id": "v3:abc",
                    "sip_trunk": "x",
                },
            ],
            errors=["Client-error retry budget exhausted"],
        )
    )
    sms = ScheduledEvent.parse(sms_json())
    assert isinstance(call, ScheduledPhoneCallEvent)
    assert isinstance(sms, ScheduledSmsEvent)
    assert call.status is EventStatus.FAILED
    assert call.to_json_dict()["future_field"] == {"nested": True}
    assert call.attempts[1].model_extra == {"sip_trunk": "x"}
    assert call.attempts_summary() == ("#1 2030-01-01T10:00:05+00:00 busy; #2 2030-01-01T10:01:05+00:00 no-answer")
    assert sms.attempts == []
    assert sms.text == "Your order ships today"


def test_response_round_trip_is_lossless() -> None:
    raw = event_json(call_status="completed", call_duration=42, brand_new=[1, 2])
    parsed = ScheduledEvent.parse(raw)
    again = ScheduledEvent.parse(parsed.to_json_dict())
    assert again == parsed
    assert again.to_json_dict()["brand_new"] == [1, 2]


@pytest.mark.parametrize(
    "broken",
    [
        {k: v for k, v in event_json().items() if k != "assistant_id"},
        {k: v for k, v in sms_json().items() if k != "text"},
        event_json(scheduled_at_fixed_datetime="soon"),
        [event_json()],
    ],
    ids=["no-assistant", "sms-without-text", "bad-time", "not-an-object"],
)
def test_broken_responses_refused(broken: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ScheduledEvent.parse(broken)


def test_page_is_last() -> None:
    meta = {"page_number": 2, "page_size": 1, "total_pages": 2, "total_results": 2}
    assert ScheduledEventPage.model_validate({"data": [event_json()], "meta": meta}).is_last
    meta["page_number"] = 1
    assert not ScheduledEventPage.model_validate({"data": [sms_json()], "meta": meta}).is_last
    assert ScheduledEventPage.model_validate({"data": [], "meta": meta}).is_last
