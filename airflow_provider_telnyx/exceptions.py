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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from airflow_provider_telnyx._compat import AirflowException, AirflowFailException, AirflowSensorTimeout

__all__ = [
    "IDEMPOTENCY_REUSED",
    "ApiErrorItem",
    "TelnyxApiError",
    "TelnyxAuthError",
    "TelnyxBatchError",
    "TelnyxBatchRejectedError",
    "TelnyxConflictError",
    "TelnyxConnectionError",
    "TelnyxForbiddenError",
    "TelnyxInvalidInputError",
    "TelnyxInvalidResponseError",
    "TelnyxLateEventError",
    "TelnyxListingTooLongError",
    "TelnyxNotFoundError",
    "TelnyxRateLimitError",
    "TelnyxRequestTimeoutError",
    "TelnyxScheduledEventFailedError",
    "TelnyxScheduledEventWaitError",
    "TelnyxServerError",
    "TelnyxValidationError",
    "TelnyxWaitTimeoutError",
]


#: The Telnyx error code of an ``Idempotency-Key`` reused with another body (422): the provider acts on it.
IDEMPOTENCY_REUSED = "10027"


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
    :param should_retry: the API's ``x-should-retry`` hint, when it sent one.
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
        should_retry: bool | None = None,
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
        self.should_retry = should_retry

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
        """A 422 saying the ``Idempotency-Key`` was already used with a different body (code ``10027``; the text
        as a fallback): an earlier try created the event; it must be found, not created again under a new key."""
        return self.http_status == 422 and (self.has_code(IDEMPOTENCY_REUSED) or self.mentions("idempotency"))

    def has_code(self, code: str) -> bool:
        """Whether any error item carries the Telnyx error ``code``.

        :param code: e.g. ``"10027"``.
        """
        return any(item.code == code for item in self.errors)

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


class TelnyxForbiddenError(TelnyxAuthError):
    """403: the key is valid but this request is not allowed, e.g. a destination country that is not whitelisted
    (Telnyx code ``D13``); ``title`` and ``detail`` carry the API's words. A subclass of
    :class:`TelnyxAuthError`, so handlers of that still catch it."""


class TelnyxNotFoundError(TelnyxApiError, AirflowFailException):
    """404: the assistant or the event does not exist (an event may have been deleted)."""


class TelnyxValidationError(TelnyxApiError, AirflowFailException):
    """400 or 422: the API refused the request's content; ``errors`` names the fields."""


class TelnyxConflictError(TelnyxApiError):
    """409: a request with the same ``Idempotency-Key`` is still being processed."""

    retryable = True


class TelnyxRateLimitError(TelnyxApiError):
    """429: too many requests (Telnyx code ``10011``); ``retry_after`` says how long to wait."""

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


class TelnyxListingTooLongError(TelnyxInvalidResponseError):
    """A listing announced (or kept announcing) more pages than the caller allows: narrow it (a shorter date range)
    or raise ``max_pages``."""


class TelnyxInvalidInputError(AirflowFailException, ValueError):
    """A bad argument, refused before any request; no retry can fix it, so the task fails at once.

    The message stays bounded whatever the input: it lists the first :attr:`MAX_LISTED` problems (each at most
    :attr:`MAX_PROBLEM_TEXT` characters), then "and N more" with their counts by field and reason (row indices
    folded: ``events[*].end_user_target``; the :attr:`MAX_GROUPS` most frequent). ``problems`` keeps them all.

    :param problems: ``(field, message)`` pairs, one per bad field.
    :param subject: what was being validated, e.g. ``"scheduled event request"``.
    """

    #: Problems the message lists one by one.
    MAX_LISTED: ClassVar[int] = 20
    #: Longest text of one listed problem (or counted reason) in the message.
    MAX_PROBLEM_TEXT: ClassVar[int] = 200
    #: Most (field, reason) groups the message counts.
    MAX_GROUPS: ClassVar[int] = 10

    def __init__(self, problems: Iterable[tuple[str, str]], *, subject: str = "input") -> None:
        self.problems = tuple(problems)
        self.subject = subject
        super().__init__(f"Invalid {subject}: {self.describe(self.problems)}")

    @property
    def fields(self) -> tuple[str, ...]:
        """The names of the offending fields, in order."""
        return tuple(field for field, _ in self.problems)

    @classmethod
    def describe(cls, problems: Sequence[tuple[str, str]]) -> str:
        """The problems in a bounded text: the first :attr:`MAX_LISTED`, then the rest counted by field and reason.

        :param problems: ``(field, message)`` pairs.
        :return: e.g. ``events[1].end_user_target: ...; ...; and 2980 more: events[*].end_user_target: ... (2980)``.
        """
        listed = "; ".join(cls._short(f"{field}: {message}") for field, message in problems[: cls.MAX_LISTED])
        rest = problems[cls.MAX_LISTED :]
        if not rest:
            return listed
        groups: dict[tuple[str, str], int] = {}
        for field, message in rest:
            key = (cls.field_pattern(field), message)
            groups[key] = groups.get(key, 0) + 1
        ranked = sorted(groups.items(), key=lambda group: -group[1])
        counted = "; ".join(
            cls._short(f"{field}: {message}") + f" ({n})" for (field, message), n in ranked[: cls.MAX_GROUPS]
        )
        others = ranked[cls.MAX_GROUPS :]
        if others:
            counted += f"; {sum(n for _, n in others)} more of {len(others)} other kind(s)"
        return f"{listed}; and {len(rest)} more: {counted}"

    @staticmethod
    def field_pattern(field: str) -> str:
        """A field name with its indices folded: ``events[17].end_user_target`` -> ``events[*].end_user_target``.

        :param field: the field as a problem names it.
        """
        head, *parts = field.split("[")
        for part in parts:
            inner, bracket, tail = part.partition("]")
            head += "[" + ("*" if inner.isdigit() else inner) + bracket + tail
        return head

    @classmethod
    def _short(cls, text: str) -> str:
        return text if len(text) <= cls.MAX_PROBLEM_TEXT else text[: cls.MAX_PROBLEM_TEXT - 3] + "..."

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
