"""The API's enumerations, shared by requests, responses and every way of waiting."""

from __future__ import annotations

from airflow_provider_telnyx._common import StrEnum

__all__ = ["ConversationChannel", "EventStatus", "InsightStatus", "MessageRole", "SipRegion"]

_TERMINAL = frozenset({"completed", "failed"})


class _Lifecycle:
    """What the API's two lifecycles (events, insights: ``pending`` → ``in_progress`` → ``completed`` |
    ``failed``) share."""

    @property
    def is_terminal(self) -> bool:
        """Whether no further change will happen (``completed`` or ``failed``)."""
        return str(self) in _TERMINAL


class ConversationChannel(StrEnum):
    """How the assistant reaches the end user (``ConversationChannelType`` in the spec)."""

    PHONE_CALL = "phone_call"
    SMS_CHAT = "sms_chat"


class EventStatus(_Lifecycle, StrEnum):
    """Lifecycle of a scheduled event: ``pending`` → ``in_progress`` → ``completed`` | ``failed``.

    The one status enum shared by the hook, operators, sensors and triggers.
    """

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"


class SipRegion(StrEnum):
    """SIP region used when a phone-call event dispatches (Telnyx defaults to ``US``)."""

    US = "US"
    EUROPE = "Europe"
    CANADA = "Canada"
    AUSTRALIA = "Australia"
    MIDDLE_EAST = "Middle East"


class MessageRole(StrEnum):
    """Who wrote a conversation message."""

    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class InsightStatus(_Lifecycle, StrEnum):
    """Progress of the insights Telnyx computes for a conversation: ``pending`` → ``in_progress`` →
    ``completed`` | ``failed``."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
