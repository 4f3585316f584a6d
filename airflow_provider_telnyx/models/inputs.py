"""Our inputs, validated before any request: targets, ids, idempotency keys, durations, list filters.

Strict writer: every rule here is the API's own (OpenAPI text, guides) or a limit of ours, and a value that breaks
one fails naming the field, with :class:`~airflow_provider_telnyx.exceptions.TelnyxInvalidInputError`, before
anything is sent.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated, Any, TypedDict
from urllib.parse import quote

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, ValidationError

from airflow_provider_telnyx._common import parse_iso_datetime
from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError
from airflow_provider_telnyx.models.enums import ConversationChannel

__all__ = [
    "E164_PATTERN",
    "IDEMPOTENCY_KEY_PATTERN",
    "MAX_ID_LENGTH",
    "MAX_PAGE_SIZE",
    "SIP_URI_PATTERN",
    "EventFilters",
    "ListFilter",
    "check_aware_datetime",
    "check_duration",
    "check_event_id",
    "check_idempotency_key",
    "check_rate",
    "check_timestamp",
    "field_errors",
    "is_valid_target",
    "path_id",
]

#: E.164: a ``+``, a non-zero country code digit, at most 15 digits in all.
E164_PATTERN = re.compile(r"^\+[1-9][0-9]{1,14}$")  # ASCII digits only: \d would take full-width and Arabic-Indic ones
#: A SIP or SIPS URI as RFC 3261 (section 25.1) allows it: scheme in any case, an optional user part (with an
#: optional password), a host name, IPv4 address or bracketed IPv6 reference, an optional port, ``;`` parameters and
#: ``?`` headers. No whitespace anywhere.
SIP_URI_PATTERN = re.compile(
    r"^sips?:"
    r"(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/%]+(?::[A-Za-z0-9\-_.!~*'()&=+$,%]*)?@)?"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?"
    r"|\[[0-9A-Fa-f:.]+\])"
    r"(?::[0-9]{1,5})?"
    r"(?:;[A-Za-z0-9\-_.!~*'()\[\]/:&+$%=]+)*"
    r"(?:\?[A-Za-z0-9\-_.!~*'()\[\]/?:+$%=]+(?:&[A-Za-z0-9\-_.!~*'()\[\]/?:+$%=]+)*)?$",
    re.IGNORECASE,
)
#: The ``Idempotency-Key`` pattern of the scheduled-events endpoint's own reference (the OpenAPI text and the Node
#: SDK's docs: anything else is a 400, code 10015). The general idempotency guide also allows ``:``; the endpoint's
#: reference wins (docs/api-decisions.md).
IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,255}$")

MAX_RETRIES_CLIENT_ERRORS = 10
MIN_RETRY_INTERVAL_SECS = 60
MAX_RETRY_INTERVAL_SECS = 86_400
MAX_PAGE_SIZE = 100

#: Longest id (assistant, event, conversation) sent in a path.
MAX_ID_LENGTH = 256


def check_event_id(value: Any, name: str = "scheduled_event_id") -> str:
    """Refuse an event id that is missing, typically a mistyped ``xcom_pull`` rendered to ``None``.

    :param value: the rendered argument.
    :param name: the parameter name, for the error.
    :return: the id, unchanged.
    :raises TelnyxInvalidInputError: for ``None``, ``""``, ``"None"`` or ``"null"`` and non-strings.
    """
    if not isinstance(value, str) or value.strip().lower() in ("", "none", "null"):
        raise TelnyxInvalidInputError(
            [
                (
                    name,
                    f"rendered to {value!r}, which is no event id; if it comes from ti.xcom_pull, check the "
                    "upstream task_ids and key (the create operator pushes key='scheduled_event_id')",
                )
            ],
            subject="operator argument",
        )
    return value


def is_valid_target(value: str) -> bool:
    """Whether ``value`` is an E.164 phone number or a SIP URI, the two target forms the API accepts.

    :param value: the candidate ``telnyx_end_user_target`` or ``telnyx_agent_target``.
    :return: ``True`` when the value has one of the two accepted forms.
    """
    return bool(E164_PATTERN.fullmatch(value) or SIP_URI_PATTERN.fullmatch(value))


def _check_target(value: str) -> str:
    if not is_valid_target(value):
        raise ValueError("must be an E.164 phone number such as +13125550100, or a SIP URI such as sip:bob@example.com")
    return value


def path_id(name: str, value: object) -> str:
    """Validate one path parameter (an assistant, event or conversation id) and URL-encode it.

    :param name: the parameter, for the error.
    :param value: the id.
    :return: the encoded id.
    :raises TelnyxInvalidInputError: for an empty, overlong, ``.``/``..``, whitespace or separator-bearing id.
    """
    if not isinstance(value, str) or not value.strip():
        raise TelnyxInvalidInputError([(name, "must be a non-empty string")], subject="path parameter")
    problem = None
    if len(value) > MAX_ID_LENGTH:
        problem = f"must be at most {MAX_ID_LENGTH} characters"
    elif value in (".", ".."):
        problem = "must not be '.' or '..'"
    elif value != value.strip() or any(ch.isspace() for ch in value):
        problem = "must not contain whitespace"
    elif any(ch in value for ch in "/\\?#%") or ".." in value or not value.isprintable():
        problem = "must not contain '/', '\\', '?', '#', '%', '..' or control characters"
    if problem:
        raise TelnyxInvalidInputError([(name, problem)], subject="path parameter")
    return quote(value, safe="")


def _finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _refuse(name: str, what: str, allow_none: bool) -> TelnyxInvalidInputError:
    return TelnyxInvalidInputError([(name, what + (" or None" if allow_none else ""))], subject="operator argument")


def check_duration(name: str, value: Any, *, allow_none: bool = False, allow_zero: bool = False) -> None:
    """Check a duration in seconds (an interval, a timeout): a finite number, positive (or zero / ``None`` where
    allowed).

    :param name: the parameter, for the error.
    :param value: its value.
    :param allow_none: accept ``None``.
    :param allow_zero: accept ``0``.
    :raises TelnyxInvalidInputError: naming the parameter.
    """
    if value is None and allow_none:
        return
    if not _finite_number(value) or value < 0 or (value == 0 and not allow_zero):
        raise _refuse(name, "must be a finite, positive number of seconds", allow_none)


def check_rate(name: str, value: Any, *, allow_none: bool = False) -> None:
    """Check a rate: a finite, positive number of requests per second (or ``None`` where allowed).

    :param name: the parameter, for the error.
    :param value: its value.
    :param allow_none: accept ``None``.
    :raises TelnyxInvalidInputError: naming the parameter.
    """
    if value is None and allow_none:
        return
    if not _finite_number(value) or value <= 0:
        raise _refuse(name, "must be a finite, positive number of requests per second", allow_none)


def check_timestamp(name: str, value: Any, *, allow_none: bool = False) -> None:
    """Check a moment given as epoch seconds (``time.time()``): a finite, non-negative number.

    :param name: the parameter, for the error.
    :param value: its value.
    :param allow_none: accept ``None``.
    :raises TelnyxInvalidInputError: naming the parameter.
    """
    if value is None and allow_none:
        return
    if not _finite_number(value) or value < 0:
        raise _refuse(name, "must be a finite, non-negative epoch time in seconds", allow_none)


def check_aware_datetime(name: str, value: Any, *, subject: str = "operator argument") -> datetime:
    """Read a date-time argument: an aware ``datetime``, or an ISO 8601 string with an offset (what a template
    renders); a naive one is never assumed to be UTC.

    :param name: the parameter, for the error.
    :param value: its rendered value.
    :param subject: what is validated.
    :raises TelnyxInvalidInputError: naming the parameter.
    """
    if isinstance(value, str):
        try:
            value = parse_iso_datetime(value)
        except ValueError:
            raise TelnyxInvalidInputError(
                [(name, f"{value[:64]!r} is not an ISO 8601 date-time")], subject=subject
            ) from None
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise TelnyxInvalidInputError([(name, "must be a timezone-aware date-time")], subject=subject)
    return value


def check_idempotency_key(value: Any, *, field: str = "idempotency_key", subject: str = "idempotency key") -> str:
    """Check an ``Idempotency-Key`` against the endpoint's pattern.

    :param value: the key.
    :param field: the parameter name for the error (``events[3].idempotency_key``).
    :param subject: what is validated.
    :raises TelnyxInvalidInputError: when it does not match ``^[A-Za-z0-9_-]{1,255}$``.
    """
    if not isinstance(value, str) or not IDEMPOTENCY_KEY_PATTERN.fullmatch(value):
        raise TelnyxInvalidInputError(
            [(field, "must be 1 to 255 ASCII letters, digits, '-' or '_' (the API refuses anything else: 400 10015)")],
            subject=subject,
        )
    return value


class _FieldError(ValueError):
    """A model-level rule broken by one named field (see :func:`field_errors`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def field_errors(error: ValidationError) -> list[tuple[str, str]]:
    """Flatten a pydantic ``ValidationError`` into ``(field, message)`` pairs, input values left out.

    Model-level rules (``text`` required for SMS, ...) name their field too.

    :param error: the validation error raised by one of these models.
    :return: one pair per problem, ``field`` being a dotted path such as ``call_settings.sip_region``.
    """
    pairs: list[tuple[str, str]] = []
    for item in error.errors(include_url=False, include_input=False):
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, _FieldError):
            location = [*map(str, item["loc"]), cause.field]
            pairs.append((".".join(location), cause.message))
        else:
            location = [str(part) for part in item["loc"]]
            message = item["msg"].removeprefix("Value error, ")
            pairs.append((".".join(location) or "request", message))
    return pairs


class EventFilters(TypedDict, total=False):
    """The keyword arguments of the list methods, typed (each checked by :class:`ListFilter`)."""

    conversation_channel: ConversationChannel | str | None
    from_date: datetime | None
    to_date: datetime | None
    page_size: int


class ListFilter(BaseModel):
    """The query of ``GET .../scheduled_events``: channel, date range and page size.

    :param conversation_channel: only ``phone_call`` or only ``sms_chat`` events.
    :param from_date: start of the date range (inclusive, timezone-aware).
    :param to_date: end of the date range (inclusive, timezone-aware).
    :param page_size: events per request, 1 to 100.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    conversation_channel: ConversationChannel | None = None
    from_date: AwareDatetime | None = None
    to_date: AwareDatetime | None = None
    page_size: Annotated[StrictInt, Field(ge=1, le=MAX_PAGE_SIZE)] = MAX_PAGE_SIZE

    @classmethod
    def of(cls, **fields: Any) -> ListFilter:
        """Validate the filter's fields.

        :param fields: the keyword arguments of a list method.
        :raises TelnyxInvalidInputError: naming every bad field.
        """
        try:
            return cls.model_validate(fields)
        except ValidationError as error:
            raise TelnyxInvalidInputError(field_errors(error), subject="list filter") from None

    def params(self) -> dict[str, str]:
        """The query parameters, as the SDKs send them (``page[size]``, ISO 8601 dates)."""
        params = {"page[size]": str(self.page_size)}
        if self.conversation_channel is not None:
            params["conversation_channel"] = self.conversation_channel.value
        for name in ("from_date", "to_date"):
            value = getattr(self, name)
            if value is not None:
                params[name] = value.isoformat()
        return params
