"""The record ``TelnyxExportScheduledEventsOperator`` writes: one per scheduled event, with its call attempts and,
when asked, its conversation's messages and insights. One model for both formats: JSON Lines writes
:meth:`ExportRecord.to_json`, Parquet :meth:`ExportRecord.to_row` (the free-form maps as JSON text).

The record is what we write (strict writer): its fields are fixed and documented (``docs/howto/export.md`` shows
the JSON Schema :func:`export_json_schema` produces); what a newer API adds to an event is kept in ``event``, the
event exactly as the API answered it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from airflow_provider_telnyx.models.conversations import ConversationInsight, ConversationMessage
from airflow_provider_telnyx.models.events import ScheduledEvent

__all__ = [
    "EXPORT_SCHEMA_VERSION",
    "ExportAttempt",
    "ExportInsight",
    "ExportInsightResult",
    "ExportMessage",
    "ExportRecord",
    "ExportToolCall",
    "TranscriptStatus",
    "export_json_schema",
]

#: Bumped when a field changes meaning or is removed (adding a field does not bump it).
EXPORT_SCHEMA_VERSION = 1

#: ``exported``: the conversation was read; ``no_conversation``: the event has none yet (not dispatched, or the
#: API does not know it yet); ``not_requested``: neither transcript nor insights were asked for.
TranscriptStatus = Literal["exported", "no_conversation", "not_requested"]


class _Written(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExportAttempt(_Written):
    """One call attempt (phone calls only)."""

    attempt_number: int
    attempted_at: datetime
    call_status: str
    call_duration: int | None = None
    telnyx_call_control_id: str | None = None


class ExportToolCall(_Written):
    """A tool call the assistant made; ``arguments`` is JSON text, as the API sends it."""

    id: str | None = None
    type: str | None = None
    name: str | None = None
    arguments: str | None = None


class ExportMessage(_Written):
    """One message of the transcript, oldest first."""

    role: str | None = None
    text: str | None = None
    created_at: datetime | None = None
    sent_at: datetime | None = None
    tool_calls: list[ExportToolCall] = []

    @classmethod
    def of(cls, message: ConversationMessage) -> ExportMessage:
        """The written form of a message read from the API."""
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
                    arguments=call.function.arguments if call.function else None,
                )
                for call in message.tool_calls or []
            ],
        )


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
    :param scheduled_at: ``scheduled_at_fixed_datetime`` (after retries, the last attempt's dispatch time).
    :param errors: the event's errors, as text.
    :param conversation_metadata: the event's metadata, including the ``airflow_*`` tags our operators add.
    :param messages: the transcript, oldest first; ``null`` when not requested or there is no conversation yet.
    :param insights: the insights runs; ``null`` when not requested or there is no conversation yet.
    :param transcript_status: whether the conversation was read (:data:`TranscriptStatus`).
    :param exported_at: when the export ran (the same for every record of a file).
    :param event: the event exactly as the API answered it (fields a newer API adds included).
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
    exported_at: datetime
    event: dict[str, Any]

    @classmethod
    def of(
        cls,
        event: ScheduledEvent,
        *,
        messages: list[ConversationMessage] | None,
        insights: list[ConversationInsight] | None,
        transcript_status: TranscriptStatus,
        exported_at: datetime,
    ) -> ExportRecord:
        """The record of an event and what was read of its conversation."""
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
            errors=[error if isinstance(error, str) else json.dumps(error) for error in event.errors or []],
            conversation_metadata=event.conversation_metadata,
            dynamic_variables=event.dynamic_variables,
            attempts=[ExportAttempt.model_validate(attempt.model_dump(include=_ATTEMPT)) for attempt in event.attempts],
            messages=None if messages is None else [ExportMessage.of(m) for m in messages],
            insights=None if insights is None else [ExportInsight.of(i) for i in insights],
            transcript_status=transcript_status,
            exported_at=exported_at,
            event=event.to_json_dict(),
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON Lines form: JSON-safe, timestamps as ISO 8601 text."""
        return self.model_dump(mode="json")

    def to_row(self) -> dict[str, Any]:
        """The Parquet form: timestamps as datetimes, the free-form maps (``conversation_metadata``,
        ``dynamic_variables``, ``event``) as JSON text."""
        row = self.model_dump()
        for name in _JSON_TEXT:
            row[name] = None if row[name] is None else json.dumps(self.to_json()[name], sort_keys=True)
        return row


_ATTEMPT = set(ExportAttempt.model_fields)
#: Columns written as JSON text in Parquet (free-form maps have no fixed columnar type).
_JSON_TEXT = ("conversation_metadata", "dynamic_variables", "event")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def export_json_schema() -> dict[str, Any]:
    """The JSON Schema of one JSON Lines record (the docs show it; a test keeps the two equal)."""
    return ExportRecord.model_json_schema(mode="serialization")
