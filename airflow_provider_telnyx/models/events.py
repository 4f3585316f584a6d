"""The scheduled-events API's bodies: the create request (strict) and the answers (tolerant)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Annotated, Any, ClassVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from airflow_provider_telnyx._common import (
    MAX_RETRIES_CLIENT_ERRORS,
    MAX_RETRY_INTERVAL_SECS,
    MIN_RETRY_INTERVAL_SECS,
    StrEnum,
)
from airflow_provider_telnyx.models._base import ListPage, PageMeta, UtcDatetime, _Response
from airflow_provider_telnyx.models.enums import ConversationChannel, EventStatus, SipRegion
from airflow_provider_telnyx.models.inputs import (
    _check_target,
    _FieldError,
)

__all__ = [
    "AnyScheduledEvent",
    "CallAttempt",
    "CallSettings",
    "PageMeta",
    "ResponseCallSettings",
    "ScheduledEvent",
    "ScheduledEventPage",
    "ScheduledEventRequest",
    "ScheduledPhoneCallEvent",
    "ScheduledSmsEvent",
    "UtcDatetime",
    "metadata_matches",
    "parse_scheduled_event",
]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


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
    the future; ``text`` is required for ``sms_chat`` (and ignored on ``phone_call``: accepted, as the OpenAPI text
    allows it, but not sent, see :attr:`text_ignored`); retry fields are for ``phone_call`` only, with
    ``max_retries_client_errors`` in 0..10 and ``retry_interval_secs`` in 60..86400, required when retries
    are asked for and refused without them (the guide: 400). Pass ``context={"now": <aware datetime>}`` to
    ``model_validate`` to check "in the future" against another clock, or ``context={"check_future": False}`` to
    leave that rule to the caller (the operators apply their ``late_policy`` at the moment of sending instead).

    :param telnyx_conversation_channel: ``phone_call`` or ``sms_chat``.
    :param telnyx_end_user_target: who is called or texted: E.164 number or SIP URI.
    :param telnyx_agent_target: the Telnyx number or SIP URI the call or text comes from.
    :param scheduled_at_fixed_datetime: when to dispatch; timezone-aware and in the future.
    :param text: the SMS text; required for ``sms_chat``; on a ``phone_call`` it is kept here but not sent (the API
        ignores it, and the official SDK would read an echoed call with ``text`` as an SMS).
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
        now = context.get("now") or datetime.now(timezone.utc)
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
        if (self.max_retries_client_errors or 0) > 0 and self.retry_interval_secs is None:
            raise _FieldError("retry_interval_secs", "is required when max_retries_client_errors > 0")
        if self.retry_interval_secs is not None and not self.max_retries_client_errors:
            raise _FieldError(
                "retry_interval_secs", "is only allowed when max_retries_client_errors > 0 (the API answers 400)"
            )
        return self

    def sent_for(self, at: datetime) -> ScheduledEventRequest:
        """This request scheduled for ``at`` (itself when that is its time): what a late send sends.

        :param at: the time to send for.
        """
        if at == self.scheduled_at_fixed_datetime:
            return self
        return self.model_copy(update={"scheduled_at_fixed_datetime": at})

    @property
    def text_ignored(self) -> bool:
        """Whether ``text`` was given on a ``phone_call`` (valid, but not sent: a call has no text)."""
        return self.text is not None and self.telnyx_conversation_channel is not ConversationChannel.SMS_CHAT

    def to_api(self) -> dict[str, Any]:
        """Return the JSON body the API expects (unset optional fields omitted; ``text`` only on ``sms_chat``).

        :return: a JSON-safe dictionary.
        """
        return self.model_dump(mode="json", exclude_none=True, exclude={"text"} if self.text_ignored else None)


def _known(enum: type[StrEnum]) -> Any:
    """A field that reads a known value as ``enum`` and keeps any other string as it is (tolerant reader); the
    schema says which values are known."""
    known = ", ".join(member.value for member in enum)
    return Field(default=None, union_mode="left_to_right", description=f"one of {known}, or any other string, kept")


class ResponseCallSettings(_Response):
    """``call_settings`` as the API answers it: unknown fields kept, an unknown ``sip_region`` kept as a string."""

    sip_region: SipRegion | str | None = _known(SipRegion)


class CallAttempt(_Response):
    """One terminal dispatch of a phone-call event (``AssistantScheduledCallAttempt``)."""

    attempt_number: int
    attempted_at: UtcDatetime
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
    """Fields shared by both variants of ``ScheduledEventResponse``, read tolerantly.

    A newer API may add fields (kept, at every level), send values we do not know (``status``,
    ``telnyx_conversation_channel``, ``sip_region``: kept as strings) or ``null`` where the official SDK types a
    field as optional. Only what the SDK requires is required. An event whose channel is neither ``phone_call``
    nor ``sms_chat`` parses as this base class.

    Use :func:`parse_scheduled_event` (or :meth:`parse`) to get the right variant from a response body.
    """

    channel: ClassVar[ConversationChannel | None] = None

    assistant_id: str
    scheduled_at_fixed_datetime: UtcDatetime
    telnyx_agent_target: str
    telnyx_conversation_channel: ConversationChannel | str = Field(union_mode="left_to_right")
    telnyx_end_user_target: str
    scheduled_event_id: str | None = None
    status: EventStatus | str | None = _known(EventStatus)
    created_at: UtcDatetime | None = None
    conversation_id: str | None = None
    conversation_metadata: dict[str, Any] | None = None
    dynamic_variables: dict[str, Any] | None = None
    errors: list[Any] | None = None
    retry_count: int | None = None
    _replayed: bool = PrivateAttr(default=False)

    @classmethod
    def parse(cls, data: Any) -> ScheduledEvent:
        """Parse a response body into the variant its ``telnyx_conversation_channel`` names.

        :param data: the decoded JSON object.
        :return: a :class:`ScheduledPhoneCallEvent`, a :class:`ScheduledSmsEvent`, or this base class for a
            channel we do not know.
        :raises pydantic.ValidationError: when required fields are missing or a known field is malformed.
        """
        return parse_scheduled_event(data)

    @property
    def event_id(self) -> str:
        """The event's id (``scheduled_event_id``); empty if the API did not return one."""
        return self.scheduled_event_id or ""

    @property
    def replayed(self) -> bool:
        """Whether a create was answered from the API's idempotency record (``Idempotent-Replayed: true``): the
        event was created by an earlier request with the same key."""
        return self._replayed

    @property
    def known_status(self) -> EventStatus | None:
        """The status when it is one we know; ``None`` when it is missing or new to us."""
        return self.status if isinstance(self.status, EventStatus) else None

    @property
    def status_text(self) -> str:
        """The status as the API sent it (``"missing"`` when it sent none), for messages."""
        if self.status is None:
            return "missing"
        return self.status.value if isinstance(self.status, EventStatus) else str(self.status)

    @property
    def is_final(self) -> bool:
        """Whether the event is ``completed`` or ``failed``. An unknown or missing status is not final: waiting
        goes on (bounded by its deadline) rather than guessing an outcome."""
        status = self.known_status
        return status is not None and status.is_terminal

    @property
    def attempts(self) -> list[CallAttempt]:
        """Call attempts so far (always empty for SMS events)."""
        return []

    def attempts_summary(self) -> str:
        """One line per call attempt, joined with semicolons (empty when there were none)."""
        return "; ".join(attempt.summary() for attempt in self.attempts)

    def to_json_dict(self) -> dict[str, Any]:
        """Return the event as a JSON-safe dictionary (for XCom and trigger events), unknown fields included."""
        return self.model_dump(mode="json", exclude_unset=True)


class ScheduledPhoneCallEvent(ScheduledEvent):
    """A ``phone_call`` event (``ScheduledPhoneCallEventResponse``), with its retry and call history."""

    channel: ClassVar[ConversationChannel | None] = ConversationChannel.PHONE_CALL

    retry_attempts: int | None = None
    max_retries_client_errors: int | None = None
    retry_interval_secs: int | None = None
    call_status: str | None = None
    call_duration: int | None = None
    dispatched_at: UtcDatetime | None = None
    call_settings: ResponseCallSettings | None = None
    call_attempts: list[CallAttempt] | None = None

    @property
    def attempts(self) -> list[CallAttempt]:
        """Call attempts so far, in order."""
        return list(self.call_attempts or [])


class ScheduledSmsEvent(ScheduledEvent):
    """An ``sms_chat`` event (``ScheduledSmsEventResponse``)."""

    channel: ClassVar[ConversationChannel | None] = ConversationChannel.SMS_CHAT

    text: str


_VARIANTS: dict[str, type[ScheduledEvent]] = {
    ConversationChannel.PHONE_CALL.value: ScheduledPhoneCallEvent,
    ConversationChannel.SMS_CHAT.value: ScheduledSmsEvent,
}


def metadata_matches(metadata: Mapping[str, Any] | None, wanted: Mapping[str, str | int | bool]) -> bool:
    """Whether an event's ``conversation_metadata`` holds every key of ``wanted`` with the same JSON value.

    JSON equality: ``1``, ``"1"`` and ``true`` are three different values (Python alone takes ``True == 1``, which
    would let a selection of one campaign's wave match another's).

    :param metadata: the event's ``conversation_metadata`` (``None`` matches only an empty ``wanted``).
    :param wanted: the keys and values looked for.
    """
    held = metadata or {}
    return all(
        key in held and held[key] == value and isinstance(held[key], bool) == isinstance(value, bool)
        for key, value in wanted.items()
    )


def parse_scheduled_event(data: Any) -> ScheduledEvent:
    """Parse a create/retrieve response body (the bare event object) into its variant.

    :param data: the decoded JSON object.
    :return: a :class:`ScheduledPhoneCallEvent` or :class:`ScheduledSmsEvent` by ``telnyx_conversation_channel``,
        or a plain :class:`ScheduledEvent` for a channel this version does not know.
    :raises pydantic.ValidationError: when the body is not an event (not an object, required fields missing).
    """
    channel = data.get("telnyx_conversation_channel") if isinstance(data, dict) else None
    variant = _VARIANTS.get(channel, ScheduledEvent) if isinstance(channel, str) else ScheduledEvent
    return variant.model_validate(data)


def _event_variant(data: Any) -> Any:
    return parse_scheduled_event(data) if isinstance(data, dict) else data


#: An event in a list answer, parsed into its variant.
AnyScheduledEvent = Annotated[ScheduledEvent, BeforeValidator(_event_variant)]


class ScheduledEventPage(ListPage[AnyScheduledEvent]):
    """One page of ``GET /ai/assistants/{assistant_id}/scheduled_events`` (``PaginatedScheduledEventList``); an
    event that does not read is kept in ``unreadable``, named by its ``scheduled_event_id``."""

    id_field: ClassVar[str | None] = "scheduled_event_id"
