"""What a failed answer says: each shape of error body the API (or a proxy in front of it) sends, as the user sees it.

Through the hook on an ``httpx.MockTransport``; ``max_retries=0`` so a retryable status is raised at once.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from airflow_provider_telnyx.exceptions import (
    ApiErrorItem,
    TelnyxApiError,
    TelnyxForbiddenError,
    TelnyxInvalidResponseError,
    TelnyxNotFoundError,
    TelnyxServerError,
    TelnyxValidationError,
)
from airflow_provider_telnyx.hooks._errors import ERROR_EXCERPT_BYTES, parse_error_body
from tests.unit.mock_api import MockApi

HEAD = "Telnyx API GET /ai/assistants/assistant-1/scheduled_events/evt-1 answered"
CONN = "[connection 'telnyx_default']"


def raised(response: httpx.Response) -> tuple[TelnyxApiError, MockApi]:
    api = MockApi().script(response)
    with pytest.raises(TelnyxApiError) as caught:
        api.hook(max_retries=0).get_scheduled_event("assistant-1", "evt-1")
    return caught.value, api


def answered(status: int, payload: Any) -> TelnyxApiError:
    body = json.dumps(payload).encode()
    return raised(httpx.Response(status, content=body, headers={"content-type": "application/json"}))[0]


def test_a_plain_string_detail_is_the_error() -> None:
    # FastAPI's HTTPException, and the /ai services' 404s: {"detail": "Not Found"}.
    error = answered(404, {"detail": "Assistant not found"})
    assert isinstance(error, TelnyxNotFoundError)
    assert error.errors == (ApiErrorItem(code=None, title=None, detail="Assistant not found"),)
    assert str(error) == f"{HEAD} 404 Not Found: Assistant not found {CONN}"


def test_a_long_string_detail_is_cut() -> None:
    error = answered(400, {"detail": "y" * 1000})
    assert error.detail == "y" * 200 + "..."


@pytest.mark.parametrize("payload", [{"detail": 42}, {"detail": None}, {"message": "nope", "status": 400}, [1, 2]])
def test_json_in_no_known_shape_is_quoted(payload: Any) -> None:
    error = answered(400, payload)
    assert isinstance(error, TelnyxValidationError)
    assert error.errors == ()
    assert str(error) == f"{HEAD} 400 Bad Request: unrecognised error body {json.dumps(payload)!r} {CONN}"


def test_plain_strings_among_telnyx_errors_are_kept_as_items() -> None:
    error = answered(403, {"errors": ["quota exceeded", {"code": "10010", "title": "Forbidden"}, 7]})
    assert isinstance(error, TelnyxForbiddenError)
    assert error.errors == (
        ApiErrorItem(code=None, title=None, detail="quota exceeded"),
        ApiErrorItem(code="10010", title="Forbidden", detail=None),
        ApiErrorItem(code=None, title=None, detail="7"),
    )
    assert str(error) == f"{HEAD} 403 Forbidden: quota exceeded; Forbidden (code 10010); 7 {CONN}"


def test_plain_strings_among_fastapi_details_are_kept_as_items() -> None:
    detail = ["body is not valid JSON", {"loc": ["body", "text"], "msg": "field required", "type": "missing"}]
    error = answered(422, {"detail": detail})
    assert error.errors == (
        ApiErrorItem(code=None, title=None, detail="body is not valid JSON"),
        ApiErrorItem(code="missing", title=None, detail="field required", field="text"),
    )
    assert str(error) == (
        f"{HEAD} 422 Unprocessable Entity: body is not valid JSON; text: field required (code missing) {CONN}"
    )


def test_an_html_page_without_a_title_is_read_as_its_text() -> None:
    page = "<html><body><h1>Bad gateway</h1><p>upstream <b>down</b> since 1 > 0</p></body></html>"
    error, api = raised(httpx.Response(502, text=page, headers={"content-type": "text/html; charset=utf-8"}))
    assert isinstance(error, TelnyxServerError)
    assert error.errors == ()
    # Tags dropped (each one a space), a '>' outside any tag kept, whitespace folded.
    assert (
        str(error)
        == f"{HEAD} 502 Bad Gateway: non-JSON body (text/html) 'Bad gateway upstream down since 1 > 0' {CONN}"
    )
    assert len(api.requests) == 1


def test_an_unclosed_tag_hides_the_rest() -> None:
    _, summary = parse_error_body(b"Gateway timeout <script src=x alert(1)", "text/plain")
    assert summary == "non-JSON body (text/plain) 'Gateway timeout'"


def test_a_long_text_body_is_cut_to_an_excerpt() -> None:
    words = " ".join(f"word{i}" for i in range(400))
    error, _ = raised(httpx.Response(503, text=words, headers={"content-type": "text/plain"}))
    shown = str(error).split("non-JSON body (text/plain) ", 1)[1]
    assert shown == repr(words[:200] + "...") + f" {CONN}"


def test_an_error_body_larger_than_the_excerpt_is_not_parsed() -> None:
    items = [{"code": "10015", "title": "Bad field", "detail": "d" * 100} for _ in range(60)]
    body = json.dumps({"errors": items})
    assert len(body) > ERROR_EXCERPT_BYTES  # not one of the API's shapes: summarised as text, never parsed
    error = answered(422, {"errors": items})
    assert error.errors == ()
    assert str(error) == (
        f"{HEAD} 422 Unprocessable Entity: non-JSON body (application/json) {(body[:200] + '...')!r} {CONN}"
    )
    # The same shape within the excerpt is parsed.
    assert answered(422, {"errors": items[:10]}).code == "10015"


@pytest.mark.parametrize(("status", "headers"), [(302, {"location": "https://elsewhere.example/"}), (204, {})])
def test_an_unexpected_non_error_status_is_a_clear_error(status: int, headers: dict[str, str]) -> None:
    error, api = raised(httpx.Response(status, headers=headers))
    assert type(error) is TelnyxInvalidResponseError
    assert error.http_status == status
    assert str(error) == f"{HEAD} an unexpected {status} {CONN}"
    assert len(api.requests) == 1  # a redirect is not followed (the key would go with it)
