"""What an answer means: the JSON of a success, or the exception of a failure, in bounded linear time.

Error bodies come in the API's shapes (Telnyx's ``{"errors": [...]}``, FastAPI's ``{"detail": [...]}`` and the
``/ai`` services' ``{"detail": [{"code", "title", "detail"}]}`` or ``{"detail": {...}}``) or none at all (a
gateway's HTML page); only the first :data:`ERROR_EXCERPT_BYTES` are looked at. Every text taken from an answer
passes the answer's :class:`~._redact.Redactor` before it is cut to length or put in a message.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from airflow_provider_telnyx.exceptions import (
    ApiErrorItem,
    TelnyxApiError,
    TelnyxAuthError,
    TelnyxConflictError,
    TelnyxForbiddenError,
    TelnyxInvalidResponseError,
    TelnyxNotFoundError,
    TelnyxRateLimitError,
    TelnyxRequestTimeoutError,
    TelnyxServerError,
    TelnyxValidationError,
)
from airflow_provider_telnyx.hooks._http import ApiAnswer, ApiRequest
from airflow_provider_telnyx.hooks._redact import Redactor
from airflow_provider_telnyx.hooks._retry import retry_after_seconds, should_retry_hint

__all__ = ["ERROR_EXCERPT_BYTES", "adecode", "decode", "error_for_status", "invalid_body", "parse_error_body"]

#: How much of an error body is looked at to summarise it.
ERROR_EXCERPT_BYTES = 4096
#: Answers larger than this are decoded off the event loop.
_THREADED_JSON_BYTES = 256 * 1024
_MAX_EXCERPT_CHARS = 200

_NO_SECRETS = Redactor(())

_STATUS_CLASSES: dict[int, type[TelnyxApiError]] = {
    400: TelnyxValidationError,
    401: TelnyxAuthError,
    403: TelnyxForbiddenError,
    404: TelnyxNotFoundError,
    408: TelnyxRequestTimeoutError,
    409: TelnyxConflictError,
    422: TelnyxValidationError,
    429: TelnyxRateLimitError,
}


def error_for_status(
    status_code: int,
    *,
    reason: str,
    body: bytes,
    content_type: str,
    method: str,
    path: str,
    retry_after: float | None = None,
    conn_id: str | None = None,
    should_retry: bool | None = None,
    redactor: Redactor | None = None,
) -> TelnyxApiError:
    """Build the exception for an unsuccessful answer.

    :param status_code: the HTTP status (>= 400).
    :param reason: the HTTP reason phrase (``"Bad Gateway"``).
    :param body: the raw response body (only its first :data:`ERROR_EXCERPT_BYTES` are read).
    :param content_type: the response's ``Content-Type``.
    :param method: the request's method.
    :param path: the request's path relative to the base URL.
    :param retry_after: seconds the server asked us to wait.
    :param conn_id: the Airflow connection used.
    :param should_retry: the ``x-should-retry`` hint.
    :param redactor: what every text taken from the answer passes (the transport's).
    :return: the subclass that matches the status, with parsed error items.
    """
    redact = redactor or _NO_SECRETS
    cls = _STATUS_CLASSES.get(status_code) or (TelnyxServerError if status_code >= 500 else TelnyxApiError)
    items, summary = parse_error_body(body, content_type, redactor=redact)
    head = f"Telnyx API {method} {path} answered {status_code}"
    reason = redact.text(reason)
    if reason:
        head += f" {' '.join(reason.split())[:64]}"
    message = redact.text(f"{head}: {summary}" if summary else head)
    if retry_after is not None:
        message += f" (retry after {retry_after:g}s)"
    return cls(
        message,
        http_status=status_code,
        errors=items,
        method=method,
        path=path,
        retry_after=retry_after,
        conn_id=conn_id,
        should_retry=should_retry,
    )


def parse_error_body(
    body: bytes, content_type: str, *, redactor: Redactor | None = None
) -> tuple[list[ApiErrorItem], str]:
    """Parse an error body in any of the API's shapes, or summarise another one, in linear time.

    Only the first :data:`ERROR_EXCERPT_BYTES` are looked at: an error body larger than that is not one of the
    API's documented shapes.

    :param body: the raw body.
    :param content_type: the response's ``Content-Type``.
    :param redactor: what every text passes before it is cut to length.
    :return: the error items (at most 10) and a one-line summary.
    """
    redact = redactor or _NO_SECRETS
    excerpt = body[:ERROR_EXCERPT_BYTES]
    text = redact.text(excerpt.decode("utf-8", errors="replace"))
    payload: Any = None
    if excerpt.strip() and len(body) <= ERROR_EXCERPT_BYTES:
        try:
            payload = redact.value(json.loads(excerpt))
        except (ValueError, RecursionError):
            return [], _non_json_summary(text, redact.text(content_type))
    elif excerpt.strip():
        return [], _non_json_summary(text, redact.text(content_type))
    items = _items_from_payload(payload)[:10]
    if items:
        return items, "; ".join(_describe(item) for item in items)
    if payload is None:
        return [], "empty body"
    return [], f"unrecognised error body {_excerpt(text)}"


def _describe(item: ApiErrorItem) -> str:
    text = str(item)
    return f"{text} (code {item.code})" if item.code and item.code not in text else text


def _items_from_payload(payload: Any) -> list[ApiErrorItem]:
    if not isinstance(payload, dict):
        return []
    errors = payload.get("errors")
    if isinstance(errors, list) and errors:
        # Telnyx gateway shape: {"errors": [{"code", "title", "detail", "source": {"pointer"|"parameter"}}]}
        return [_from_telnyx_error(error) for error in errors]
    detail = payload.get("detail")
    if isinstance(detail, list):
        # FastAPI shape {"detail": [{"loc": [...], "msg": ..., "type": ...}]}, or the /ai services' Telnyx items
        # under "detail" ({"detail": [{"code", "title", "detail"}]}): each item read by the keys it has.
        return [_from_fastapi_error(error) if _is_fastapi(error) else _from_telnyx_error(error) for error in detail]
    if isinstance(detail, dict):
        return [_from_telnyx_error(detail)]
    if isinstance(detail, str):
        return [ApiErrorItem(code=None, title=None, detail=_text(detail))]
    return []


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= _MAX_EXCERPT_CHARS else text[:_MAX_EXCERPT_CHARS] + "..."


def _from_telnyx_error(error: Any) -> ApiErrorItem:
    if not isinstance(error, dict):
        return ApiErrorItem(code=None, title=None, detail=_text(error))
    source = error.get("source")
    if not isinstance(source, dict):
        source = {}
    pointer = source.get("pointer") or source.get("parameter")
    where = pointer.lstrip("/").replace("/", ".") or None if isinstance(pointer, str) else None
    return ApiErrorItem(
        code=_text(error.get("code")),
        title=_text(error.get("title")),
        detail=_text(error.get("detail") or error.get("description")),
        field=_text(where),
    )


def _is_fastapi(error: Any) -> bool:
    return not isinstance(error, dict) or "msg" in error or "loc" in error or not {"title", "detail"} & set(error)


def _from_fastapi_error(error: Any) -> ApiErrorItem:
    if not isinstance(error, dict):
        return ApiErrorItem(code=None, title=None, detail=_text(error))
    loc = error.get("loc")
    parts = [str(part) for part in loc if part != "body"] if isinstance(loc, list) else []
    return ApiErrorItem(
        code=_text(error.get("type")),
        title=None,
        detail=_text(error.get("msg")),
        field=_text(".".join(parts) or None),
    )


def _non_json_summary(text: str, content_type: str) -> str:
    kind = content_type.split(";", maxsplit=1)[0].strip()[:64] or "unknown content type"
    lower = text.lower()
    start = lower.find("<title>")
    end = lower.find("</title>", start + 7) if start >= 0 else -1
    if start >= 0 and end >= 0:
        return f"non-JSON body ({kind}) titled {_excerpt(text[start + 7 : end])}"
    return f"non-JSON body ({kind}) {_excerpt(_strip_tags(text))}"


def _strip_tags(text: str) -> str:
    """Drop ``<...>`` markup in one pass (no regex backtracking)."""
    out: list[str] = []
    inside = False
    for char in text:
        if char == "<":
            inside = True
            out.append(" ")
        elif char == ">" and inside:
            inside = False
        elif not inside:
            out.append(char)
    return "".join(out)


def _excerpt(text: str, limit: int = _MAX_EXCERPT_CHARS) -> str:
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[:limit] + "..."
    return repr(flat)


# -- decoding an answer ------------------------------------------------------------------------------------------


def decode(request: ApiRequest, answer: ApiAnswer, *, conn_id: str, now: float) -> Any:
    """The JSON of a successful answer, or the mapped error (in every case bounded in time and size).

    :param request: what was sent.
    :param answer: what came back.
    :param conn_id: the Airflow connection, for messages.
    :param now: the wall clock, for an HTTP-date ``Retry-After``.
    :return: the decoded JSON body (``None`` for an empty one).
    :raises TelnyxApiError: the mapped error.
    """
    if answer.status in request.ok:
        if not answer.body.strip():
            return None
        try:
            payload = json.loads(answer.body)
        except (ValueError, RecursionError):
            raise invalid_body(request, answer, conn_id, "that is not JSON") from None
        # Every decoded string passes the redactor (the body may be UTF-16 or UTF-32, which json.loads reads and the
        # byte-level scrub cannot see into); strings shorter than a run of the key cost one length test.
        return answer.redactor.value(payload) if answer.redactor else payload
    if answer.status < 400:
        raise TelnyxInvalidResponseError(
            f"Telnyx API {request.method} {request.path} answered an unexpected {answer.status}",
            http_status=answer.status,
            method=request.method,
            path=request.path,
            conn_id=conn_id,
        )
    raise error_for_status(
        answer.status,
        reason=answer.reason,
        body=answer.body,
        content_type=answer.headers.get("content-type", ""),
        method=request.method,
        path=request.path,
        retry_after=retry_after_seconds(answer.status, answer.headers, now),
        conn_id=conn_id,
        should_retry=should_retry_hint(answer.headers),
        redactor=answer.redactor,
    )


async def adecode(request: ApiRequest, answer: ApiAnswer, *, conn_id: str, now: float) -> Any:
    """:func:`decode` for the event loop: a large answer is decoded in a thread, never on the loop.

    :param request: what was sent.
    :param answer: what came back.
    :param conn_id: the Airflow connection, for messages.
    :param now: the wall clock.
    :return: the decoded JSON body.
    """
    if len(answer.body) > _THREADED_JSON_BYTES:
        return await asyncio.to_thread(decode, request, answer, conn_id=conn_id, now=now)
    return decode(request, answer, conn_id=conn_id, now=now)


def invalid_body(request: ApiRequest, answer: ApiAnswer, conn_id: str, what: str) -> TelnyxInvalidResponseError:
    """The error for a successful status whose body cannot be used.

    :param request: what was sent.
    :param answer: what came back.
    :param conn_id: the Airflow connection.
    :param what: what is wrong with the body.
    """
    content_type = answer.headers.get("content-type", "no content type")[:64]
    return TelnyxInvalidResponseError(
        f"Telnyx API {request.method} {request.path} answered {answer.status} with a body {what} ({content_type})",
        http_status=answer.status,
        method=request.method,
        path=request.path,
        conn_id=conn_id,
    )
