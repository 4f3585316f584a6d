"""The API's rules as the simulator applies them: the OpenAPI schema (422), the guides' business rules (400),
the query parameters of the list, and the two error shapes the API answers with."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from starlette.responses import JSONResponse, Response

from airflow_provider_telnyx.testing.lifecycle import outcome_for

__all__ = [
    "CHANNELS",
    "IDEMPOTENCY_KEY",
    "NO_TELEPHONY_ASSISTANT",
    "SIP_REGIONS",
    "Problem",
    "check_business_rules",
    "check_schema",
    "iso",
    "jsonable",
    "matches",
    "query_datetime",
    "query_int",
    "telnyx_error",
    "validation_error",
]

NO_TELEPHONY_ASSISTANT = "assistant-no-telephony"
#: The endpoint's ``Idempotency-Key`` pattern (its OpenAPI parameter; the general guide's ``:`` is refused here).
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
SIP_REGIONS = ("US", "Europe", "Canada", "Australia", "Middle East")
CHANNELS = ("phone_call", "sms_chat")


class Problem(Exception):
    """An answer that ends a request early (raised anywhere in the pipeline, answered as it is)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def telnyx_error(
    status: int,
    code: str,
    title: str,
    detail: str,
    pointer: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "title": title, "detail": detail}
    if pointer:
        error["source"] = {"pointer": pointer}
    return JSONResponse({"errors": [error]}, status_code=status, headers=dict(headers or {}))


def validation_error(problems: list[tuple[list[str | int], str, str]]) -> JSONResponse:
    detail = [{"loc": loc, "msg": msg, "type": kind} for loc, msg, kind in problems]
    return JSONResponse({"detail": detail}, status_code=422)


def iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [jsonable(item) for item in value]
    return value


def parse_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        # Python 3.10 reads no trailing "Z"; the API (and 3.11) do.
        parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        return None
    # FastAPI/pydantic reads a naive date-time as UTC; so does the simulator.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def matches(item: Mapping[str, Any], channel: str | None, start: datetime | None, end: datetime | None) -> bool:
    if channel and item["telnyx_conversation_channel"] != channel:
        return False
    raw = item["scheduled_at_fixed_datetime"]
    when = raw if isinstance(raw, datetime) else parse_datetime(raw)
    assert when is not None
    return (start is None or when >= start) and (end is None or when <= end)


def query_int(raw: str | None, name: str, default: int, minimum: int, maximum: int | None) -> int:
    if raw is None:
        return default
    loc: list[str | int] = ["query", "page", name]
    try:
        value = int(raw)
    except ValueError:
        raise Problem(validation_error([(loc, "Input should be a valid integer", "int_parsing")])) from None
    if value < minimum:
        raise Problem(
            validation_error([(loc, f"Input should be greater than or equal to {minimum}", "greater_than_equal")])
        )
    if maximum is not None and value > maximum:
        raise Problem(validation_error([(loc, f"Input should be less than or equal to {maximum}", "less_than_equal")]))
    return value


def query_datetime(raw: str | None, name: str) -> datetime | None:
    if raw is None:
        return None
    parsed = parse_datetime(raw)
    if parsed is None:
        raise Problem(
            validation_error([(["query", name], "Input should be a valid datetime", "datetime_from_date_parsing")])
        )
    return parsed


def check_schema(body: Any) -> datetime:  # noqa: PLR0912 - one branch per rule of the schema
    """The OpenAPI schema of ``CreateScheduledEventRequest``; violations answer 422 like FastAPI."""
    if not isinstance(body, dict):
        raise Problem(validation_error([(["body"], "Input should be a valid dictionary", "dict_type")]))
    problems: list[tuple[list[str | int], str, str]] = []
    for name in (
        "telnyx_conversation_channel",
        "telnyx_end_user_target",
        "telnyx_agent_target",
        "scheduled_at_fixed_datetime",
    ):
        if name not in body:
            problems.append((["body", name], "Field required", "missing"))
    for name in ("telnyx_end_user_target", "telnyx_agent_target", "text"):
        if name in body and not isinstance(body[name], str):
            problems.append((["body", name], "Input should be a valid string", "string_type"))
    if "telnyx_conversation_channel" in body and body["telnyx_conversation_channel"] not in CHANNELS:
        problems.append((["body", "telnyx_conversation_channel"], "Input should be 'phone_call' or 'sms_chat'", "enum"))
    scheduled_at = parse_datetime(body.get("scheduled_at_fixed_datetime"))
    if "scheduled_at_fixed_datetime" in body and scheduled_at is None:
        problems.append(
            (["body", "scheduled_at_fixed_datetime"], "Input should be a valid datetime", "datetime_from_date_parsing")
        )
    for name, low, high in (("max_retries_client_errors", 0, 10), ("retry_interval_secs", 60, 86_400)):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append((["body", name], "Input should be a valid integer", "int_type"))
        elif value < low:
            problems.append((["body", name], f"Input should be greater than or equal to {low}", "greater_than_equal"))
        elif value > high:
            problems.append((["body", name], f"Input should be less than or equal to {high}", "less_than_equal"))
    problems.extend(_check_map(body, "dynamic_variables", (str,)))
    problems.extend(_check_map(body, "conversation_metadata", (str, int, bool)))
    settings = body.get("call_settings")
    if settings is not None:
        if not isinstance(settings, dict):
            problems.append((["body", "call_settings"], "Input should be a valid dictionary", "dict_type"))
        elif settings.get("sip_region") is not None and settings["sip_region"] not in SIP_REGIONS:
            problems.append(
                (["body", "call_settings", "sip_region"], f"Input should be one of {', '.join(SIP_REGIONS)}", "enum")
            )
    if problems:
        raise Problem(validation_error(problems))
    assert scheduled_at is not None
    return scheduled_at


def _check_map(body: Mapping[str, Any], name: str, kinds: tuple[type, ...]) -> list[tuple[list[str | int], str, str]]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, dict):
        return [(["body", name], "Input should be a valid dictionary", "dict_type")]
    expected = "a valid string" if kinds == (str,) else "a valid string, integer or boolean"
    return [
        (["body", name, key], f"Input should be {expected}", "string_type" if kinds == (str,) else "type_error")
        for key, item in value.items()
        if not isinstance(item, kinds)
    ]


def check_business_rules(assistant_id: str, body: Mapping[str, Any], scheduled_at: datetime, now: datetime) -> None:
    """The guide's rules, answered 400 with a Telnyx error (the simulator's choice of code: ``10032``)."""

    def refuse(detail: str, pointer: str) -> Problem:
        return Problem(telnyx_error(400, "10032", "Invalid scheduled event", detail, pointer))

    sms = body["telnyx_conversation_channel"] == "sms_chat"
    if sms and not body.get("text"):
        raise refuse("text is required for sms_chat events.", "/text")
    if sms and (body.get("max_retries_client_errors") or body.get("retry_interval_secs")):
        raise refuse("Retry settings are only supported for phone_call events.", "/max_retries_client_errors")
    if (body.get("max_retries_client_errors") or 0) > 0 and body.get("retry_interval_secs") is None:
        raise refuse("retry_interval_secs is required when max_retries_client_errors > 0.", "/retry_interval_secs")
    if body.get("retry_interval_secs") is not None and not body.get("max_retries_client_errors"):
        raise refuse("retry_interval_secs is only allowed when max_retries_client_errors > 0.", "/retry_interval_secs")
    if scheduled_at <= now:
        raise refuse("scheduled_at_fixed_datetime must be in the future.", "/scheduled_at_fixed_datetime")
    refusal = outcome_for(body["telnyx_end_user_target"]).create_refusal
    if refusal is not None:
        status, code, title, detail = refusal
        raise Problem(telnyx_error(status, code, title, detail, "/telnyx_end_user_target"))
