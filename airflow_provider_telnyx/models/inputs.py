"""Our inputs, validated before any request: targets, ids, idempotency keys, durations, list filters.

Strict writer: every rule here is the API's own (OpenAPI text, guides) or a limit of ours, and a value that breaks
one fails naming the field, with :class:`~airflow_provider_telnyx.exceptions.TelnyxInvalidInputError`, before
anything is sent.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, TypedDict
from urllib.parse import quote

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, ValidationError

from airflow_provider_telnyx._common import MAX_PAGE_SIZE
from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError
from airflow_provider_telnyx.models.enums import ConversationChannel

__all__ = [
    "E164_PATTERN",
    "MAX_ID_LENGTH",
    "SIP_URI_PATTERN",
    "EventFilters",
    "ListFilter",
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


#: Longest id (assistant, event, conversation) sent in a path.
MAX_ID_LENGTH = 256


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


_PLAIN_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_ID_LENGTH}}}")


def path_id(name: str, value: object) -> str:
    """Validate one path parameter (an assistant, event or conversation id) and URL-encode it.

    :param name: the parameter, for the error.
    :param value: the id.
    :return: the encoded id.
    :raises TelnyxInvalidInputError: for an empty, overlong, ``.``/``..``, whitespace or separator-bearing id.
    """
    if isinstance(value, str) and _PLAIN_ID.fullmatch(value):
        return value  # the common shape (a UUID, a slug): nothing to refuse, nothing to encode
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
