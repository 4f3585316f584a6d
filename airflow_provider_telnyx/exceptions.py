"""Errors raised by the Telnyx provider.

Two families:

* :class:`TelnyxApiError` and its subclasses: the API (or the network on the way to it) answered with a
  failure. Each carries the HTTP status, Telnyx's error code, title and detail, parsed from either error
  shape the API uses (``{"errors": [...]}`` and FastAPI's ``{"detail": [...]}``), or a clear summary of a
  non-JSON body.
* :class:`TelnyxInvalidInputError`: a bad argument caught before any request.

Errors no retry can fix (a bad argument; 400, 401, 403, 404 and 422 answers; an event whose time has passed under
``late_policy="fail"``) subclass ``AirflowFailException``, so a task fails at once instead of burning its retries.
Everything else (408, 409, 429, 5xx, connection errors, timeouts) stays a plain ``AirflowException`` that
Airflow retries.

No message built here ever includes request headers, so the API key cannot leak through an exception.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout

__all__ = [
    "ApiErrorItem",
    "TelnyxApiError",
    "TelnyxAuthError",
    "TelnyxBatchError",
    "TelnyxBatchRejectedError",
    "TelnyxConflictError",
    "TelnyxConnectionError",
    "TelnyxInvalidInputError",
    "TelnyxInvalidResponseError",
    "TelnyxLateEventError",
    "TelnyxNotFoundError",
    "TelnyxRateLimitError",
    "TelnyxRequestTimeoutError",
    "TelnyxScheduledEventFailedError",
    "TelnyxScheduledEventWaitError",
    "TelnyxServerError",
    "TelnyxValidationError",
    "TelnyxWaitTimeoutError",
    "error_for_status",
]

_MAX_BODY_EXCERPT = 200


@dataclass(frozen=True)
class ApiErrorItem:
    """One error reported by the API.

    :param code: Telnyx error code (``"10015"``) or FastAPI error type (``"value_error"``).
    :param title: short title.
    :param detail: human-readable detail.
    :param field: the offending field or parameter, when the API names one.
    """

    code: str | None
    title: str | None
    detail: str | None
    field: str | None = None

    def __str__(self) -> str:
        text = ": ".join(part for part in (self.title, self.detail) if part) or (self.code or "error")
        return f"{self.field}: {text}" if self.field else text


class TelnyxApiError(AirflowException):
    """The Telnyx API, or the network on the way to it, answered a request with a failure.

    :param message: the human summary (never includes headers or the API key).
    :param http_status: HTTP status, or ``None`` when no response arrived.
    :param errors: every error the body listed.
    :param method: HTTP method of the failed request.
    :param path: path of the failed request, relative to the base URL.
    :param retry_after: seconds the API asked us to wait before trying again (``Retry-After``), if any.
    :param conn_id: the Airflow connection the request used (named in the message).
    """

    #: Whether the hook's retry policy retries this error (subject to the idempotency rule for creates).
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        errors: Sequence[ApiErrorItem] = (),
        method: str | None = None,
        path: str | None = None,
        retry_after: float | None = None,
        conn_id: str | None = None,
    ) -> None:
        if conn_id and f"connection {conn_id!r}" not in message:
            message = f"{message} [connection {conn_id!r}]"
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.errors = tuple(errors)
        self.method = method
        self.path = path
        self.retry_after = retry_after
        self.conn_id = conn_id

    @property
    def code(self) -> str | None:
        """Telnyx error code of the first error (``"10011"`` for a rate limit), if any."""
        return self.errors[0].code if self.errors else None

    @property
    def title(self) -> str | None:
        """Title of the first error, if any."""
        return self.errors[0].title if self.errors else None

    @property
    def detail(self) -> str | None:
        """Detail of the first error, if any."""
        return self.errors[0].detail if self.errors else None

    def mentions(self, word: str) -> bool:
        """Whether any error item names ``word`` in its field, code, title or detail (case-insensitive).

        :param word: e.g. ``"idempotency"`` or ``"scheduled_at_fixed_datetime"``.
        :return: ``True`` when one of the items mentions it.
        """
        word = word.lower()
        return any(
            word in (part or "").lower()
            for item in self.errors
            for part in (item.field, item.code, item.title, item.detail)
        )

    @property
    def is_idempotency_reuse(self) -> bool:
        """A 422 saying the ``Idempotency-Key`` was already used with a different body (the API's guide): an
        earlier try created the event; it must be found, not created again under a new key."""
        return self.http_status == 422 and self.mentions("idempotency")

    @property
    def is_time_in_past(self) -> bool:
        """A 400/422 refusing ``scheduled_at_fixed_datetime`` (it has passed by the API's clock)."""
        return self.http_status in (400, 422) and self.mentions("scheduled_at_fixed_datetime")

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the keyword-only state when pickled (Airflow ships exceptions between processes).
        return (_rebuild_with_state, (type(self), self.message, self.__dict__))


def _rebuild_with_state(cls: type[Exception], message: str, state: dict[str, Any]) -> Exception:
    """Unpickle an exception whose constructor takes keyword-only state: the one helper every class here uses."""
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class TelnyxAuthError(TelnyxApiError, AirflowFailException):
    """401 or 403: the API key is wrong, revoked, or not allowed to do this (no task retry can fix it)."""


class TelnyxNotFoundError(TelnyxApiError, AirflowFailException):
    """404: the assistant or the event does not exist (an event may have been deleted)."""


class TelnyxValidationError(TelnyxApiError, AirflowFailException):
    """400 or 422: the API refused the request's content; :attr:`errors` names the fields."""


class TelnyxConflictError(TelnyxApiError):
    """409: a request with the same ``Idempotency-Key`` is still being processed."""

    retryable = True


class TelnyxRateLimitError(TelnyxApiError):
    """429: too many requests (Telnyx code ``10011``); :attr:`retry_after` says how long to wait."""

    retryable = True


class TelnyxServerError(TelnyxApiError):
    """5xx: the API or a gateway in front of it failed; the request may or may not have been processed."""

    retryable = True


class TelnyxRequestTimeoutError(TelnyxApiError):
    """408: the server gave up waiting for the request."""

    retryable = True


class TelnyxConnectionError(TelnyxApiError):
    """No usable response: connection refused or dropped, or a timeout.

    :param request_sent: ``False`` when the failure happened before the request could reach the API
        (connection refused, connect timeout), so a retry cannot duplicate anything.
    """

    retryable = True

    def __init__(self, message: str, *, request_sent: bool = True, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.request_sent = request_sent


class TelnyxInvalidResponseError(TelnyxApiError):
    """The API answered with success but the body is not what the API documents (not JSON, wrong shape)."""


class TelnyxInvalidInputError(AirflowFailException, ValueError):
    """A bad argument, refused before any request; no retry can fix it, so the task fails at once.

    :param problems: ``(field, message)`` pairs, one per bad field.
    :param subject: what was being validated, e.g. ``"scheduled event request"``.
    """

    def __init__(self, problems: Iterable[tuple[str, str]], *, subject: str = "input") -> None:
        self.problems = tuple(problems)
        self.subject = subject
        listed = "; ".join(f"{field}: {message}" for field, message in self.problems)
        super().__init__(f"Invalid {subject}: {listed}")

    @property
    def fields(self) -> tuple[str, ...]:
        """The names of the offending fields, in order."""
        return tuple(field for field, _ in self.problems)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_with_state, (type(self), str(self), self.__dict__))


class TelnyxScheduledEventFailedError(AirflowFailException):
    """A scheduled event ended ``failed``.

    Subclasses ``AirflowFailException``: a task retry cannot change an event's outcome (and must not call
    the person again), and ``soft_fail`` applies the same way in poke, reschedule and deferrable modes.

    :param message: one-line summary including every call attempt.
    :param event: the final event as a JSON-safe dictionary.
    """

    def __init__(self, message: str, *, event: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.event = dict(event or {})

    @property
    def errors(self) -> list[str]:
        """The ``errors`` the API reported for the event."""
        return list(self.event.get("errors") or [])

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_with_state, (type(self), str(self), self.__dict__))


class TelnyxScheduledEventWaitError(AirflowFailException):
    """Waiting for an event cannot go on: it was deleted (404), the key was refused (401/403), the API kept
    failing for longer than the wait tolerates, or the trigger sent an event that cannot be read."""


class TelnyxWaitTimeoutError(AirflowSensorTimeout):
    """The event was not final before the wait's deadline (``timeout`` / ``wait_timeout``)."""


class TelnyxLateEventError(AirflowFailException):
    """An event not yet created whose time has passed, refused by ``late_policy="fail"`` or because it is later
    than ``max_lateness``: nobody is called late, and no task retry can make it on time."""


class TelnyxBatchError(AirflowException):
    """Some events of a batch could not be created; the summary (one entry per input row) is in XCom.

    Every failure was retryable: a task retry sends only the items that are still missing (the others are found
    again, nothing is duplicated). When some failures cannot be fixed by a retry, :class:`TelnyxBatchRejectedError`
    is raised instead.

    :param message: what failed, in one line.
    :param summary: the batch summary.
    """

    def __init__(self, message: str, *, summary: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.summary = dict(summary)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_with_state, (type(self), str(self), self.__dict__))


class TelnyxBatchRejectedError(TelnyxBatchError, AirflowFailException):
    """Every failed item of a batch failed for a reason no retry can fix (400, 401, 403, 404, 422, late)."""


_STATUS_CLASSES: dict[int, type[TelnyxApiError]] = {
    400: TelnyxValidationError,
    401: TelnyxAuthError,
    403: TelnyxAuthError,
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
) -> TelnyxApiError:
    """Build the exception for an unsuccessful response.

    :param status_code: the HTTP status (>= 400).
    :param reason: the HTTP reason phrase (``"Bad Gateway"``).
    :param body: the raw response body.
    :param content_type: the response's ``Content-Type``.
    :param method: the request's method.
    :param path: the request's path relative to the base URL.
    :param retry_after: seconds the server asked us to wait (``Retry-After`` or ``x-ratelimit-reset``).
    :param conn_id: the Airflow connection used.
    :return: the subclass that matches the status, with parsed error items.
    """
    cls = _STATUS_CLASSES.get(status_code) or (TelnyxServerError if status_code >= 500 else TelnyxApiError)
    items, summary = parse_error_body(body, content_type)
    head = f"Telnyx API {method} {path} answered {status_code}"
    if reason:
        head += f" {reason}"
    message = f"{head}: {summary}" if summary else head
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
    )


def parse_error_body(body: bytes, content_type: str) -> tuple[list[ApiErrorItem], str]:
    """Parse an error body in either of the API's two shapes, or summarise a non-JSON one.

    :param body: the raw body.
    :param content_type: the response's ``Content-Type``.
    :return: the error items and a one-line summary.
    """
    try:
        payload = json.loads(body) if body.strip() else None
    except ValueError:
        return [], _non_json_summary(body, content_type)
    items = _items_from_payload(payload)
    if items:
        return items, "; ".join(_describe(item) for item in items)
    if payload is None:
        return [], "empty body"
    return [], f"unrecognised error body {_excerpt(json.dumps(payload))}"


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
        # FastAPI shape: {"detail": [{"loc": [...], "msg": ..., "type": ...}]}
        return [_from_fastapi_error(error) for error in detail]
    if isinstance(detail, dict):
        return [_from_telnyx_error(detail)]
    if isinstance(detail, str):
        return [ApiErrorItem(code=None, title=None, detail=detail)]
    return []


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _from_telnyx_error(error: Any) -> ApiErrorItem:
    if not isinstance(error, dict):
        return ApiErrorItem(code=None, title=None, detail=_text(error))
    source = error.get("source")
    if not isinstance(source, dict):
        source = {}
    field = source.get("pointer") or source.get("parameter")
    if isinstance(field, str):
        field = field.lstrip("/").replace("/", ".") or None
    return ApiErrorItem(
        code=_text(error.get("code")),
        title=_text(error.get("title")),
        detail=_text(error.get("detail") or error.get("description")),
        field=field if isinstance(field, str) else None,
    )


def _from_fastapi_error(error: Any) -> ApiErrorItem:
    if not isinstance(error, dict):
        return ApiErrorItem(code=None, title=None, detail=_text(error))
    loc = error.get("loc")
    parts = [str(part) for part in loc if part != "body"] if isinstance(loc, list) else []
    return ApiErrorItem(
        code=_text(error.get("type")),
        title=None,
        detail=_text(error.get("msg")),
        field=".".join(parts) or None,
    )


_TITLE = re.compile(r"<title>\s*(.*?)\s*</title>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")


def _non_json_summary(body: bytes, content_type: str) -> str:
    text = body.decode("utf-8", errors="replace")
    kind = content_type.split(";", maxsplit=1)[0].strip() or "unknown content type"
    title = _TITLE.search(text)
    if title:
        return f"non-JSON body ({kind}) titled {title.group(1)!r}"
    return f"non-JSON body ({kind}) {_excerpt(_TAGS.sub(' ', text))}"


def _excerpt(text: str) -> str:
    flat = _SPACES.sub(" ", text).strip()
    if len(flat) > _MAX_BODY_EXCERPT:
        flat = flat[:_MAX_BODY_EXCERPT] + "..."
    return repr(flat)
