"""The AI conversations API's answers (a conversation, its messages, its insights), read tolerantly.

Every scheduled event that dispatched has a ``conversation_id``; these are what
``GET /ai/conversations/{conversation_id}[/messages | /conversations-insights]`` answer. As for events: unknown
fields are kept at every level, unknown enum values are kept as strings, ``null`` is accepted for every field the
official SDK types as optional, and timestamps are always timezone-aware.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from airflow_provider_telnyx.models._base import ListPage, UtcDatetime, _Response
from airflow_provider_telnyx.models.enums import InsightStatus, MessageRole

__all__ = [
    "Conversation",
    "ConversationInsight",
    "ConversationInsightList",
    "ConversationMessage",
    "ConversationMessagePage",
    "InsightResult",
    "ToolCall",
    "ToolCallFunction",
]


class Conversation(_Response):
    """One AI conversation (``Conversation``).

    :param id: the conversation id (a scheduled event's ``conversation_id``).
    :param metadata: string metadata Telnyx and the caller attached (``assistant_id``,
        ``telnyx_end_user_target``, the event's ``conversation_metadata``...).
    """

    id: str
    name: str | None = None
    created_at: UtcDatetime | None = None
    last_message_at: UtcDatetime | None = None
    metadata: dict[str, Any] | None = None


class ToolCallFunction(_Response):
    """The function a tool call invoked, with its ``arguments``.

    :param arguments: JSON text, as the spec types it; an API that sends the arguments as a JSON object (or any
        other JSON value, as OpenAI-style tool calls often are) is read too, and the value kept as sent.
    """

    name: str | None = None
    arguments: Any = None


class ToolCall(_Response):
    """A tool call the assistant made within a message."""

    id: str | None = None
    type: str | None = None
    function: ToolCallFunction | None = None


class ConversationMessage(_Response):
    """One message of a conversation: what the end user said (``user``), what the assistant said or did
    (``assistant``, with ``tool_calls``), or what a tool answered (``tool``).

    :param text: the message's text; may be empty or ``null`` for a pure tool call.
    :param sent_at: when the end user experienced it (the spec's advice over ``created_at``).
    """

    role: MessageRole | str | None = Field(default=None, union_mode="left_to_right")
    text: str | None = None
    created_at: UtcDatetime | None = None
    sent_at: UtcDatetime | None = None
    tool_calls: list[ToolCall] | None = None


class ConversationMessagePage(ListPage[ConversationMessage]):
    """One page of ``GET /ai/conversations/{conversation_id}/messages``."""


class InsightResult(_Response):
    """One insight's result; a JSON-schema insight's result is stringified JSON (as the API sends it)."""

    insight_id: str | None = None
    result: str | None = None


class ConversationInsight(_Response):
    """One run of the insights configured for the assistant over a conversation.

    :param status: ``pending``, ``in_progress``, ``completed`` or ``failed`` (an unknown value is kept).
    :param conversation_insights: the results, once ``completed``.
    """

    id: str | None = None
    status: InsightStatus | str | None = Field(default=None, union_mode="left_to_right")
    created_at: UtcDatetime | None = None
    conversation_insights: list[InsightResult] | None = None

    @property
    def is_final(self) -> bool:
        """Whether the run is ``completed`` or ``failed`` (an unknown or missing status is not final)."""
        return isinstance(self.status, InsightStatus) and self.status.is_terminal

    @property
    def status_text(self) -> str:
        """The status as the API sent it (``"missing"`` when it sent none)."""
        if self.status is None:
            return "missing"
        return self.status.value if isinstance(self.status, InsightStatus) else str(self.status)


class ConversationInsightList(ListPage[ConversationInsight]):
    """``GET /ai/conversations/{conversation_id}/conversations-insights`` (``ConversationInsightListData``); a run
    that does not read is kept in ``unreadable``, named by its ``id``."""

    id_field: ClassVar[str | None] = "id"
