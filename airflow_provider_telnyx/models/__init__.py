"""Pydantic shapes of the Telnyx scheduled-events API and of our inputs: the one source of truth for both.

Tolerant reader, strict writer. Requests (:class:`ScheduledEventRequest`) and inputs (the connection, ids, keys)
are strict: they reproduce the API's own rules (OpenAPI schema plus the business rules from Telnyx's guides) so
that bad input fails here, naming the field, before any network call. Responses (:class:`ScheduledEvent` and its
variants) accept what a newer API may answer: unknown fields are kept at every level, unknown enum values are kept
as strings, ``null`` is accepted wherever the official SDK types a field as optional, and a timestamp without an
offset is read as UTC.
"""

from __future__ import annotations

from airflow_provider_telnyx.models._base import ListPage, UnreadableItem, in_page_order
from airflow_provider_telnyx.models.assistants import Assistant, TelephonySettings
from airflow_provider_telnyx.models.connection import TelnyxClientConfig, is_loopback
from airflow_provider_telnyx.models.conversations import (
    Conversation,
    ConversationInsight,
    ConversationInsightList,
    ConversationMessage,
    ConversationMessagePage,
    InsightResult,
    ToolCall,
    ToolCallFunction,
)
from airflow_provider_telnyx.models.enums import ConversationChannel, EventStatus, InsightStatus, MessageRole, SipRegion
from airflow_provider_telnyx.models.events import (
    AnyScheduledEvent,
    CallAttempt,
    CallSettings,
    PageMeta,
    ResponseCallSettings,
    ScheduledEvent,
    ScheduledEventPage,
    ScheduledEventRequest,
    ScheduledPhoneCallEvent,
    ScheduledSmsEvent,
    UtcDatetime,
    metadata_matches,
    parse_scheduled_event,
)
from airflow_provider_telnyx.models.inputs import (
    E164_PATTERN,
    MAX_ID_LENGTH,
    SIP_URI_PATTERN,
    EventFilters,
    ListFilter,
    field_errors,
    is_valid_target,
    path_id,
)
from airflow_provider_telnyx.models.phones import PHONE_SEPARATORS, normalize_target

__all__ = [
    "E164_PATTERN",
    "MAX_ID_LENGTH",
    "PHONE_SEPARATORS",
    "SIP_URI_PATTERN",
    "AnyScheduledEvent",
    "Assistant",
    "CallAttempt",
    "CallSettings",
    "Conversation",
    "ConversationChannel",
    "ConversationInsight",
    "ConversationInsightList",
    "ConversationMessage",
    "ConversationMessagePage",
    "EventFilters",
    "EventStatus",
    "InsightResult",
    "InsightStatus",
    "ListFilter",
    "ListPage",
    "MessageRole",
    "PageMeta",
    "ResponseCallSettings",
    "ScheduledEvent",
    "ScheduledEventPage",
    "ScheduledEventRequest",
    "ScheduledPhoneCallEvent",
    "ScheduledSmsEvent",
    "SipRegion",
    "TelephonySettings",
    "TelnyxClientConfig",
    "ToolCall",
    "ToolCallFunction",
    "UnreadableItem",
    "UtcDatetime",
    "field_errors",
    "in_page_order",
    "is_loopback",
    "is_valid_target",
    "metadata_matches",
    "normalize_target",
    "parse_scheduled_event",
    "path_id",
]
