"""The record ``TelnyxExportScheduledEventsOperator`` writes: one per scheduled event, with its call attempts and,
when asked, its conversation's messages and insights. One model for both formats: JSON Lines writes
:meth:`ExportRecord.to_json`, Parquet :meth:`ExportRecord.to_row` (the free-form maps as JSON text).

The record is what we write (strict writer): its fields are fixed and documented (``docs/howto/export.md`` shows
the JSON Schema :func:`export_json_schema` produces); what a newer API adds to an event is kept in ``event``, the
event exactly as the API answered it.

A record holds what the API sent, which may not be encodable as it is: a lone surrogate (``"\\ud83d"`` is valid
JSON, but no UTF-8), a value nested deeper than the encoder goes, a non-finite number (``NaN`` is no JSON).
The writers try the record as it is and, when it is refused, write :meth:`ExportRecord.made_safe` instead, which
says what it changed (:data:`REPAIRS`): one odd record never fails an export. What the API sends in a shape its
schema does not allow (an event whose ``conversation_metadata`` is text, a message whose ``text`` is a number) is
read without the odd fields (:func:`salvage`) and counted the same way.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import date, datetime
from enum import Enum
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from airflow_provider_telnyx.models.conversations import ConversationInsight, ConversationMessage
from airflow_provider_telnyx.models.events import ScheduledEvent

__all__ = [
    "EXPORT_SCHEMA_VERSION",
    "MAX_NESTING",
    "REPAIRS",
    "ExportAttempt",
    "ExportInsight",
    "ExportInsightResult",
    "ExportMessage",
    "ExportRecord",
    "ExportToolCall",
    "TranscriptStatus",
    "export_json_schema",
    "first_due_at",
    "salvage",
    "sort_by_time",
]

_T = TypeVar("_T")

#: Bumped when a field changes meaning or is removed (adding a field does not bump it).
EXPORT_SCHEMA_VERSION = 1

#: ``exported``: the conversation was read; ``no_conversation``: the event has none yet (not dispatched, or the
#: API does not know it yet); ``not_requested``: neither transcript nor insights were asked for.
TranscriptStatus = Literal["exported", "no_conversation", "not_requested"]


#: In a repaired record, containers nested deeper than this (counted from the record) are written as their JSON
#: text, one string (the encoder refuses nesting past 255 levels; a real event is a handful deep).
MAX_NESTING = 100

#: The range of the record's integer columns (Parquet ``int64``, a warehouse's ``BIGINT``).
INT64_RANGE = (-(2**63), 2**63 - 1)

#: What :meth:`ExportRecord.made_safe` may change, and what reading the API's odd shapes may leave out, as it is
#: reported.
REPAIRS = {
    "surrogates": "lone surrogates replaced by U+FFFD",
    "nesting": f"values nested deeper than {MAX_NESTING} levels written as JSON text",
    "non_finite": "non-finite numbers (NaN, Infinity) written as null",
    "unencodable": "values of no JSON type written as text",
    "integer_range": "integers beyond the 64-bit range in an integer column written as null (event keeps them)",
    "odd_fields": "fields of a shape the API's schema does not allow left out of the columns (event keeps an "
    "event's as sent)",
    "unreadable": "messages or insights runs that could not be read at all left out",
}


class _Written(BaseModel):
    # Non-finite numbers stay floats in the JSON form, so that the writer refuses them (and the record is repaired
    # and counted) instead of pydantic turning them into null unnoticed.
    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="constants")


class ExportAttempt(_Written):
    """One call attempt (phone calls only)."""

    attempt_number: int
    attempted_at: datetime
    call_status: str
    call_duration: int | None = None
    telnyx_call_control_id: str | None = None


class ExportToolCall(_Written):
    """A tool call the assistant made; ``arguments`` is JSON text, as the API sends it (arguments the API sent as a
    JSON object or another JSON value are written as their compact JSON text)."""

    id: str | None = None
    type: str | None = None
    name: str | None = None
    arguments: str | None = None


class ExportMessage(_Written):
    """One message of the transcript.

    :param metadata: the message's ``metadata`` as the API sent it (a value that is not an object is kept as
        ``{"value": ...}``).
    """

    role: str | None = None
    text: str | None = None
    created_at: datetime | None = None
    sent_at: datetime | None = None
    tool_calls: list[ExportToolCall] = []
    metadata: dict[str, Any] | None = None

    @classmethod
    def of(cls, message: ConversationMessage) -> ExportMessage:
        """The written form of a message read from the API."""
        metadata = (message.model_extra or {}).get("metadata")
        return cls(
            role=_text(message.role),
            text=message.text,
            created_at=message.created_at,
            sent_at=message.sent_at,
            tool_calls=[
                ExportToolCall(
                    id=call.id,
                    type=call.type,
                    name=call.function.name if call.function else None,
                    arguments=_arguments_text(call.function.arguments) if call.function else None,
                )
                for call in message.tool_calls or []
            ],
            metadata=metadata if metadata is None or isinstance(metadata, dict) else {"value": metadata},
        )

    @property
    def time(self) -> datetime | None:
        """When the end user experienced it: ``sent_at`` (the API's advice), else ``created_at``."""
        return self.sent_at or self.created_at

    def approx_bytes(self) -> int:
        """About how many bytes the message takes in a JSON Lines record (what the transcript cap counts): the
        UTF-8 length of its texts plus a fixed allowance for its keys and timestamps. Never raises."""
        strings: list[Any] = [self.role, self.text]
        for call in self.tool_calls:
            strings += [call.id, call.type, call.name, call.arguments]
        return 120 + sum(_utf8_len(text) for text in strings if text) + _approx_bytes(self.metadata)


def sort_by_time(messages: list[ExportMessage]) -> list[ExportMessage]:
    """The messages oldest first by :attr:`ExportMessage.time`; stable (equal times keep the API's order), those
    without a time last."""
    return sorted(messages, key=lambda m: (0, m.time) if m.time is not None else (1, _EPOCH))


class ExportInsightResult(_Written):
    """One insight's result (a JSON-schema insight's result is JSON text)."""

    insight_id: str | None = None
    result: str | None = None


class ExportInsight(_Written):
    """One insights run over the conversation."""

    id: str | None = None
    status: str | None = None
    created_at: datetime | None = None
    results: list[ExportInsightResult] = []

    @classmethod
    def of(cls, insight: ConversationInsight) -> ExportInsight:
        """The written form of an insights run read from the API."""
        return cls(
            id=insight.id,
            status=_text(insight.status),
            created_at=insight.created_at,
            results=[
                ExportInsightResult(insight_id=result.insight_id, result=result.result)
                for result in insight.conversation_insights or []
            ],
        )


class ExportRecord(_Written):
    """One exported scheduled event.

    :param schema_version: :data:`EXPORT_SCHEMA_VERSION`.
    :param status: the event's status when exported (``pending``, ``in_progress``, ``completed``, ``failed`` or a
        newer value).
    :param scheduled_at: ``scheduled_at_fixed_datetime`` (after retries, the last attempt's dispatch time; a range
        export selects by :func:`first_due_at`, which does not move).
    :param errors: the event's errors, as text.
    :param conversation_metadata: the event's metadata, including the ``airflow_*`` tags our operators add.
    :param messages: the transcript, oldest first (:func:`sort_by_time`); ``null`` when not requested or there is
        no conversation yet.
    :param insights: the insights runs; ``null`` when not requested or there is no conversation yet.
    :param transcript_status: whether the conversation was read (:data:`TranscriptStatus`).
    :param transcript_truncated: whether ``messages`` stops at the export's cap: the conversation had more (the
        first messages the API listed are kept).
    :param exported_at: when the export ran (the same for every record of a file).
    :param event: the event exactly as the API answered it (fields a newer API adds, and fields of a shape the
        schema does not allow, included).
    """

    schema_version: int = EXPORT_SCHEMA_VERSION
    scheduled_event_id: str
    assistant_id: str
    conversation_channel: str
    end_user_target: str
    agent_target: str
    status: str | None = None
    scheduled_at: datetime
    created_at: datetime | None = None
    conversation_id: str | None = None
    call_status: str | None = None
    call_duration: int | None = None
    retry_count: int | None = None
    text: str | None = None
    errors: list[str] = []
    conversation_metadata: dict[str, Any] | None = None
    dynamic_variables: dict[str, Any] | None = None
    attempts: list[ExportAttempt] = []
    messages: list[ExportMessage] | None = None
    insights: list[ExportInsight] | None = None
    transcript_status: TranscriptStatus
    transcript_truncated: bool = False
    exported_at: datetime
    event: dict[str, Any]

    @classmethod
    def of(
        cls,
        event: ScheduledEvent,
        *,
        messages: list[ExportMessage] | None,
        insights: list[ConversationInsight] | None,
        transcript_status: TranscriptStatus,
        exported_at: datetime,
        transcript_truncated: bool = False,
        document: dict[str, Any] | None = None,
    ) -> ExportRecord:
        """The record of an event and what was read of its conversation.

        :param messages: the transcript as read (sorted here by :func:`sort_by_time`).
        :param document: the event's JSON as the API answered it, when ``event`` was read without some of it
            (:func:`salvage`); by default the event as read.
        """
        return cls(
            scheduled_event_id=event.event_id,
            assistant_id=event.assistant_id,
            conversation_channel=_text(event.telnyx_conversation_channel) or "",
            end_user_target=event.telnyx_end_user_target,
            agent_target=event.telnyx_agent_target,
            status=None if event.status is None else event.status_text,
            scheduled_at=event.scheduled_at_fixed_datetime,
            created_at=event.created_at,
            conversation_id=event.conversation_id,
            call_status=getattr(event, "call_status", None),
            call_duration=getattr(event, "call_duration", None),
            retry_count=event.retry_count,
            text=getattr(event, "text", None),
            errors=[error if isinstance(error, str) else _error_text(error) for error in event.errors or []],
            conversation_metadata=event.conversation_metadata,
            dynamic_variables=event.dynamic_variables,
            attempts=[ExportAttempt.model_validate(attempt.model_dump(include=_ATTEMPT)) for attempt in event.attempts],
            messages=None if messages is None else sort_by_time(messages),
            insights=None if insights is None else [ExportInsight.of(i) for i in insights],
            transcript_status=transcript_status,
            transcript_truncated=transcript_truncated,
            exported_at=exported_at,
            event=_document(event) if document is None else document,
        )

    def to_json(self, *, exclude: set[str] | None = None) -> dict[str, Any]:
        """The JSON Lines form, timestamps as ISO 8601 text. Non-finite numbers stay floats (``json.dumps(...,
        allow_nan=False)`` refuses them).

        :param exclude: fields left out.
        :raises ValueError: when the record cannot be serialized as it is (nesting too deep).
        """
        return self.model_dump(mode="json", exclude=exclude)

    def to_row(self) -> dict[str, Any]:
        """The Parquet form: timestamps as datetimes, the free-form maps (``conversation_metadata``,
        ``dynamic_variables``, ``event``, each message's ``metadata``) as JSON text.

        :raises ValueError: when the record cannot be encoded as it is (see :meth:`made_safe`).
        """
        row = self.model_dump()
        free = self.model_dump(mode="json", include=set(_JSON_TEXT))
        for name in _JSON_TEXT:
            row[name] = None if free[name] is None else _strict_json(free[name])
        for message, written in zip(row["messages"] or [], self.messages or [], strict=True):
            if written.metadata is not None:
                message["metadata"] = _strict_json(written.model_dump(mode="json", include={"metadata"})["metadata"])
        return row

    def made_safe(self) -> tuple[ExportRecord, list[str]]:
        """This record with every value no encoder refuses: lone surrogates replaced by U+FFFD, containers nested
        deeper than :data:`MAX_NESTING` levels as their JSON text, non-finite numbers as ``null``, values of no
        JSON type as text, an integer column's value beyond int64 as ``null`` (the free-form maps,
        written as JSON text, keep any integer). Never raises for what the API can send.

        :return: the safe record, and which :data:`REPAIRS` were made (sorted keys; empty when none was needed).
        """
        found: set[str] = set()
        safe = _safe(self, 0, found)
        return safe, sorted(found)


_ATTEMPT = set(ExportAttempt.model_fields)
#: Columns written as JSON text in Parquet (free-form maps have no fixed columnar type).
_JSON_TEXT = ("conversation_metadata", "dynamic_variables", "event")
_EPOCH = datetime.min
_SURROGATE = re.compile("[\ud800-\udfff]")
_DATETIME: TypeAdapter[datetime] = TypeAdapter(datetime)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _error_text(error: Any) -> str:
    try:
        return json.dumps(error)
    except (ValueError, TypeError, RecursionError):  # deeper than the encoder goes: its safe JSON text
        return _json_text(error, set())


def _strict_json(value: Any) -> str:
    # The free-form maps' JSON text in Parquet: refuses what JSON Lines refuses.
    return json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=False)


def _utf8_len(text: Any) -> int:
    return len(str(text).encode("utf-8", "surrogatepass"))


def _approx_bytes(value: Any) -> int:
    """About the JSON size of a free-form value, walked without recursion (any depth)."""
    size, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            size += _utf8_len(item) + 3
        elif isinstance(item, dict):
            size += 2 + len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            size += 2 + len(item)
            stack.extend(item)
        else:
            size += 8
    return size


def _document(event: ScheduledEvent) -> dict[str, Any]:
    """The event as the API answered it (set fields and unknown ones), in Python form: the record's JSON form
    serializes it, so that what cannot be encoded is found (and repaired) when the record is written."""
    try:
        return event.model_dump(exclude_unset=True)
    except (ValueError, RecursionError):  # nested deeper than pydantic serializes: the values as read
        return _members(event)


def _scalar(value: Any, found: set[str]) -> Any:
    """A JSON-safe leaf (or ``value`` unchanged)."""
    if isinstance(value, str):
        if _SURROGATE.search(value):
            found.add("surrogates")
            return _SURROGATE.sub("\ufffd", value)
        return value
    if isinstance(value, float) and not math.isfinite(value):
        found.add("non_finite")
        return None
    if value is None or isinstance(value, bool | int | float | datetime | date):
        return value
    if isinstance(value, Enum):
        return _scalar(value.value, found)
    found.add("unencodable")
    return _scalar(str(value), found)


def _members(value: BaseModel) -> dict[str, Any]:
    # A model read from the API (not one of ours): the fields it was given, in model_dump's order, unknown ones last.
    names = [name for name in type(value).model_fields if name in value.model_fields_set]
    return {name: getattr(value, name) for name in [*names, *(value.model_extra or {})]}


def _safe(value: Any, depth: int, found: set[str]) -> Any:
    """``value`` with every leaf safe; containers deeper than :data:`MAX_NESTING` as JSON text."""
    if isinstance(value, _Written):
        update: dict[str, Any] = {}
        for name in type(value).model_fields:
            member = getattr(value, name)
            if type(member) is int and not INT64_RANGE[0] <= member <= INT64_RANGE[1]:  # an integer column's
                found.add("integer_range")
                update[name] = None
            else:
                update[name] = _safe(member, depth + 1, found)
        return value.model_copy(update=update)
    if isinstance(value, BaseModel):
        value = _members(value)
    if isinstance(value, dict | list | tuple):
        if depth > MAX_NESTING:
            found.add("nesting")
            return _json_text(value, found)
        if isinstance(value, dict):
            return {_scalar(str(key), found): _safe(item, depth + 1, found) for key, item in value.items()}
        return [_safe(item, depth + 1, found) for item in value]
    return _scalar(value, found)


def _plain(value: Any, found: set[str]) -> Any:
    """``value`` as plain JSON values with every leaf safe, walked without recursion (any depth)."""
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(value, root, 0)]
    while stack:
        item, into, key = stack.pop()
        if isinstance(item, BaseModel):
            item = _members(item)
        if isinstance(item, dict):
            copy: dict[str, Any] = {}
            for name, member in item.items():
                safe_name = _scalar(str(name), found)
                copy[safe_name] = None  # the keys' order is kept; the values are filled in as the walk reaches them
                stack.append((member, copy, safe_name))
            into[key] = copy
        elif isinstance(item, list | tuple):
            items: list[Any] = [None] * len(item)
            stack.extend((member, items, index) for index, member in enumerate(item))
            into[key] = items
        elif isinstance(item, datetime):
            into[key] = _DATETIME.dump_python(item, mode="json")
        else:
            leaf = _scalar(item, found)
            into[key] = leaf.isoformat() if isinstance(leaf, date) else leaf
    return root[0]


def _json_text(value: Any, found: set[str]) -> str:
    """``value`` as compact JSON text, made safe first (any depth the JSON decoder accepted)."""
    try:
        return json.dumps(_plain(value, found), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except RecursionError:  # deeper than even the C encoder goes: say so rather than fail
        found.add("nesting")
        return "(value nested too deeply to encode)"


def _arguments_text(arguments: Any) -> str | None:
    """A tool call's arguments as JSON text: text as sent; any other JSON value (an object, as OpenAI-style tool
    calls often send) as its compact JSON text, made safe if it cannot be encoded as it is."""
    if arguments is None or isinstance(arguments, str):
        return arguments
    try:
        return json.dumps(arguments, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (ValueError, TypeError, RecursionError):
        return _json_text(arguments, set())


def salvage(parse: Callable[[Any], _T], raw: Any) -> _T | None:
    """``raw`` read by ``parse`` without the fields that do not read (tolerant reader: one odd field does not lose
    the event or message it is in).

    :param parse: the model's reader (``parse_scheduled_event``, ``ConversationMessage.model_validate``...).
    :param raw: the item's JSON as the API sent it.
    :return: what is left, read; ``None`` when it still does not read (not an object, or a required field is
        missing or odd).
    """
    if not isinstance(raw, dict):
        return None
    try:
        return parse(raw)
    except ValidationError as error:
        odd = {str(item["loc"][0]) for item in error.errors(include_url=False, include_input=False) if item["loc"]}
    try:
        return parse({name: value for name, value in raw.items() if name not in odd})
    except ValidationError:
        return None


def first_due_at(event: ScheduledEvent) -> datetime:
    """When the event was first due: the earliest call attempt's ``attempted_at`` once an attempt is recorded, else
    ``scheduled_at_fixed_datetime``. The API moves ``scheduled_at_fixed_datetime`` to each retry's time (now +
    ``retry_interval_secs``), so it cannot place an event in one range for good; this time does not move (before the
    first attempt is recorded ``scheduled_at_fixed_datetime`` has not moved, and that attempt was made at it).

    :param event: the event as read.
    """
    attempts = event.attempts
    if attempts:
        return min(attempt.attempted_at for attempt in attempts)
    return event.scheduled_at_fixed_datetime


def export_json_schema() -> dict[str, Any]:
    """The JSON Schema of one JSON Lines record (the docs show it; a test keeps the two equal)."""
    return ExportRecord.model_json_schema(mode="serialization")
