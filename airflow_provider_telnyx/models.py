"""Pydantic shapes of the Telnyx scheduled-events API: the one source of truth for requests and responses.

Requests (:class:`ScheduledEventRequest`) are strict: they reproduce the API's own rules (OpenAPI schema plus
the business rules from Telnyx's guide) so that a bad request fails here, naming the field, before any
network call. Responses (:class:`ScheduledEvent` and its two variants) are lenient about *new* fields (a newer
API must not break parsing) but strict about the ones we act on (``status``, channel, timestamps).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError

__all__ = [
    "CallAttempt",
    "CallSettings",
    "ConversationChannel",
    "EventStatus",
    "PageMeta",
    "ScheduledEvent",
    "ScheduledEventPage",
    "ScheduledEventRequest",
    "ScheduledPhoneCallEvent",
    "ScheduledSmsEvent",
    "SipRegion",
    "check_event_id",
    "field_errors",
    "is_valid_target",
    "parse_scheduled_event",
]

#: E.164: a ``+``, a non-zero country code digit, at most 15 digits in all.
E164_PATTERN = re.compile(r"^\+[1-9]\d{1,14}$")
#: A SIP or SIPS URI with a user part and a host, optional port and parameters.
SIP_URI_PATTERN = re.compile(
    r"^sips?:[A-Za-z0-9._~!$&'()*+,=%-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d{1,5})?(?:;[^\s;]+)*$"
)
#: The ``Idempotency-Key`` pattern of the idempotency guide (the OpenAPI text says ``^[A-Za-z0-9_-]``; the guide also
#: allows colons, and the API follows the guide: see docs/api-decisions.md).
IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_:-]{1,255}$")

MAX_RETRIES_CLIENT_ERRORS = 10
MIN_RETRY_INTERVAL_SECS = 60
MAX_RETRY_INTERVAL_SECS = 86_400
MAX_PAGE_SIZE = 100


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


class ConversationChannel(StrEnum):
    """How the assistant reaches the end user (``ConversationChannelType`` in the spec)."""

    PHONE_CALL = "phone_call"
    SMS_CHAT = "sms_chat"


class EventStatus(StrEnum):
    """Lifecycle of a scheduled event: ``pending`` → ``in_progress`` → ``completed`` | ``failed``.

    The one status enum shared by the hook, operators, sensors and triggers.
    """

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        """Whether no further change will happen (``completed`` or ``failed``)."""
        return self in (EventStatus.COMPLETED, EventStatus.FAILED)


class SipRegion(StrEnum):
    """SIP region used when a phone-call event dispatches (Telnyx defaults to ``US``)."""

    US = "US"
    EUROPE = "Europe"
    CANADA = "Canada"
    AUSTRALIA = "Australia"
    MIDDLE_EAST = "Middle East"


def is_valid_target(value: str) -> bool:
    """Whether ``value`` is an E.164 phone number or a SIP URI, the two target forms the API accepts.

    :param value: the candidate ``telnyx_end_user_target`` or ``telnyx_agent_target``.
    :return: ``True`` when the value has one of the two accepted forms.
    """
    return bool(E164_PATTERN.match(value) or SIP_URI_PATTERN.match(value))


def _check_target(value: str) -> str:
    if not is_valid_target(value):
        raise ValueError("must be an E.164 phone number such as +13125550100, or a SIP URI such as sip:bob@example.com")
    return value


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class _Response(BaseModel):
    # A newer API must not break parsing: unknown fields are kept, not rejected.
    model_config = ConfigDict(extra="allow")


class CallSettings(BaseModel):
    """Per-call telephony overrides (``ScheduledCallSettings``); phone-call events only.

    :param sip_region: region the call is placed from; Telnyx uses ``US`` when omitted.
    """

    model_config = ConfigDict(extra="forbid")

    sip_region: SipRegion | None = None


ConversationMetadataValue = StrictStr | StrictInt | StrictBool


class ScheduledEventRequest(_Request):
    """The body of ``POST /ai/assistants/{assistant_id}/scheduled_events`` (``CreateScheduledEventRequest``).

    Field names are the API's own. Validation follows the OpenAPI schema and the rules in Telnyx's guide:
    ``scheduled_at_fixed_datetime`` must carry a UTC offset (a naive value is never read as UTC) and lie in
    the future; ``text`` is required for ``sms_chat``; retry fields are for ``phone_call`` only, with
    ``max_retries_client_errors`` in 0..10 and ``retry_interval_secs`` in 60..86400 and required when retries
    are asked for. Pass ``context={"now": <aware datetime>}`` to ``model_validate`` to check "in the future"
    against another clock, or ``context={"check_future": False}`` to leave that rule to the caller (the
    operators apply their ``late_policy`` at the moment of sending instead).

    :param telnyx_conversation_channel: ``phone_call`` or ``sms_chat``.
    :param telnyx_end_user_target: who is called or texted: E.164 number or SIP URI.
    :param telnyx_agent_target: the Telnyx number or SIP URI the call or text comes from.
    :param scheduled_at_fixed_datetime: when to dispatch; timezone-aware and in the future.
    :param text: the SMS text; required for ``sms_chat``.
    :param conversation_metadata: flat metadata (str, int or bool values) attached to the conversation.
    :param dynamic_variables: string values for ``{{variable}}`` placeholders in the assistant's instructions.
    :param max_retries_client_errors: retries after busy, no-answer, failed or canceled outcomes (0..10).
    :param retry_interval_secs: seconds between attempts (60..86400).
    :param call_settings: per-call telephony overrides.
    """

    telnyx_conversation_channel: ConversationChannel
    telnyx_end_user_target: StrictStr
    telnyx_agent_target: StrictStr
    scheduled_at_fixed_datetime: AwareDatetime
    text: StrictStr | None = None
    conversation_metadata: dict[StrictStr, ConversationMetadataValue] | None = None
    dynamic_variables: dict[StrictStr, StrictStr] | None = None
    max_retries_client_errors: Annotated[StrictInt, Field(ge=0, le=MAX_RETRIES_CLIENT_ERRORS)] | None = None
    retry_interval_secs: Annotated[StrictInt, Field(ge=MIN_RETRY_INTERVAL_SECS, le=MAX_RETRY_INTERVAL_SECS)] | None = (
        None
    )
    call_settings: CallSettings | None = None

    @field_validator("telnyx_end_user_target", "telnyx_agent_target")
    @classmethod
    def _target_format(cls, value: str) -> str:
        return _check_target(value)

    @field_validator("scheduled_at_fixed_datetime")
    @classmethod
    def _in_the_future(cls, value: datetime, info: ValidationInfo) -> datetime:
        context = info.context or {}
        if context.get("check_future") is False:  # the operators decide lateness at send time (late_policy)
            return value
        now = context.get("now") or datetime.now(UTC)
        if value <= now:
            raise ValueError(f"must be in the future (it is {value.isoformat()}, now is {now.isoformat()})")
        return value

    @field_validator("conversation_metadata", mode="before")
    @classmethod
    def _flat_metadata(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(item, str | int | bool):
                    raise _FieldError(str(key), "must be a string, integer or boolean (no nesting, no null)")
        return value

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        return value

    @model_validator(mode="after")
    def _channel_rules(self) -> ScheduledEventRequest:
        sms = self.telnyx_conversation_channel is ConversationChannel.SMS_CHAT
        if sms:
            if self.text is None:
                raise _FieldError("text", "is required for sms_chat events")
            for name in ("max_retries_client_errors", "retry_interval_secs"):
                if getattr(self, name):
                    raise _FieldError(name, "is only allowed for phone_call events (omit it or use 0)")
            if self.call_settings is not None:
                raise _FieldError("call_settings", "is only allowed for phone_call events")
        elif self.text is not None:
            # The official SDK picks the response variant by the presence of `text`; never send it on calls.
            raise _FieldError("text", "is only allowed for sms_chat events")
        if (self.max_retries_client_errors or 0) > 0 and self.retry_interval_secs is None:
            raise _FieldError("retry_interval_secs", "is required when max_retries_client_errors > 0")
        return self

    def to_api(self) -> dict[str, Any]:
        """Return the JSON body the API expects (unset optional fields omitted).

        :return: a JSON-safe dictionary.
        """
        return self.model_dump(mode="json", exclude_none=True)


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


class CallAttempt(_Response):
    """One terminal dispatch of a phone-call event (``AssistantScheduledCallAttempt``)."""

    attempt_number: int
    attempted_at: datetime
    call_status: str
    call_duration: int | None = None
    telnyx_call_control_id: str | None = None

    def summary(self) -> str:
        """One line describing the attempt, e.g. ``#2 2026-01-01T10:02:00+00:00 completed 41s``.

        :return: the summary line.
        """
        duration = f" {self.call_duration}s" if self.call_duration is not None else ""
        return f"#{self.attempt_number} {self.attempted_at.isoformat()} {self.call_status}{duration}"


class ScheduledEvent(_Response):
    """Fields shared by both variants of ``ScheduledEventResponse``.

    Use :func:`parse_scheduled_event` (or :meth:`parse`) to get the right variant from a response body.
    """

    channel: ClassVar[ConversationChannel]

    assistant_id: str
    scheduled_at_fixed_datetime: datetime
    telnyx_agent_target: str
    telnyx_conversation_channel: ConversationChannel
    telnyx_end_user_target: str
    scheduled_event_id: str | None = None
    status: EventStatus = EventStatus.PENDING
    created_at: datetime | None = None
    conversation_id: str | None = None
    conversation_metadata: dict[str, ConversationMetadataValue] | None = None
    dynamic_variables: dict[str, str] | None = None
    errors: list[str] | None = None
    retry_count: int = 0

    @classmethod
    def parse(cls, data: Any) -> ScheduledPhoneCallEvent | ScheduledSmsEvent:
        """Parse a response body into the variant its ``telnyx_conversation_channel`` names.

        :param data: the decoded JSON object.
        :return: a :class:`ScheduledPhoneCallEvent` or :class:`ScheduledSmsEvent`.
        :raises pydantic.ValidationError: when required fields are missing or a known field is malformed.
        """
        return parse_scheduled_event(data)

    @property
    def event_id(self) -> str:
        """The event's id (``scheduled_event_id``); empty if the API did not return one."""
        return self.scheduled_event_id or ""

    @property
    def attempts(self) -> list[CallAttempt]:
        """Call attempts so far (always empty for SMS events)."""
        return []

    def attempts_summary(self) -> str:
        """One line per call attempt, joined with semicolons (empty when there were none).

        :return: the summary.
        """
        return "; ".join(attempt.summary() for attempt in self.attempts)

    def to_json_dict(self) -> dict[str, Any]:
        """Return the event as a JSON-safe dictionary (for XCom and trigger events), unknown fields included.

        :return: the dictionary.
        """
        return self.model_dump(mode="json", exclude_unset=True)


class ScheduledPhoneCallEvent(ScheduledEvent):
    """A ``phone_call`` event (``ScheduledPhoneCallEventResponse``), with its retry and call history."""

    channel: ClassVar[ConversationChannel] = ConversationChannel.PHONE_CALL

    telnyx_conversation_channel: Literal[ConversationChannel.PHONE_CALL]
    retry_attempts: int | None = None
    max_retries_client_errors: int = 0
    retry_interval_secs: int | None = None
    call_status: str | None = None
    call_duration: int | None = None
    dispatched_at: datetime | None = None
    call_settings: CallSettings | None = None
    call_attempts: list[CallAttempt] | None = None

    @property
    def attempts(self) -> list[CallAttempt]:
        """Call attempts so far, in order."""
        return list(self.call_attempts or [])


class ScheduledSmsEvent(ScheduledEvent):
    """An ``sms_chat`` event (``ScheduledSmsEventResponse``)."""

    channel: ClassVar[ConversationChannel] = ConversationChannel.SMS_CHAT

    telnyx_conversation_channel: Literal[ConversationChannel.SMS_CHAT]
    text: str


AnyScheduledEvent = Annotated[
    ScheduledPhoneCallEvent | ScheduledSmsEvent, Field(discriminator="telnyx_conversation_channel")
]
_EVENT_ADAPTER: TypeAdapter[ScheduledPhoneCallEvent | ScheduledSmsEvent] = TypeAdapter(AnyScheduledEvent)


def parse_scheduled_event(data: Any) -> ScheduledPhoneCallEvent | ScheduledSmsEvent:
    """Parse a create/retrieve response body (the bare event object) into its variant.

    :param data: the decoded JSON object.
    :return: the parsed event.
    :raises pydantic.ValidationError: when the body is not a valid event.
    """
    return _EVENT_ADAPTER.validate_python(data)


class PageMeta(_Response):
    """Pagination facts of a list response (``Meta``)."""

    total_pages: int
    total_results: int
    page_number: int
    page_size: int


class ScheduledEventPage(_Response):
    """One page of ``GET /ai/assistants/{assistant_id}/scheduled_events`` (``PaginatedScheduledEventList``)."""

    data: list[AnyScheduledEvent]
    meta: PageMeta

    @property
    def is_last(self) -> bool:
        """Whether no page follows this one (the SDKs' rule: stop when ``page_number >= total_pages``)."""
        return not self.data or self.meta.page_number >= self.meta.total_pages
