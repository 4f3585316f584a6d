"""An AI assistant as ``GET /ai/assistants/{assistant_id}`` answers it (read for the create operators' pre-flight)."""

from __future__ import annotations

from pydantic import Field

from airflow_provider_telnyx.models._base import UtcDatetime, _Response

__all__ = ["Assistant", "TelephonySettings"]


class TelephonySettings(_Response):
    """The assistant's telephony settings (only what the pre-flight reads; every other field is kept).

    :param default_texml_app_id: the TeXML application its calls go through; without it the API refuses phone-call
        events with "Assistant does not have telephony settings configured".
    """

    default_texml_app_id: str | None = None


class Assistant(_Response):
    """An AI assistant (the SDK's ``InferenceEmbedding``), read tolerantly.

    :param id: the assistant id.
    :param name: its name.
    :param created_at: when it was created.
    :param enabled_features: ``telephony`` and/or ``messaging``.
    :param telephony_settings: how its calls are placed.
    """

    id: str
    name: str | None = None
    created_at: UtcDatetime | None = None
    enabled_features: list[str] | None = Field(default=None)
    telephony_settings: TelephonySettings | None = None

    @property
    def can_call(self) -> bool:
        """Whether it has what a phone-call event needs (a TeXML application in its telephony settings)."""
        return bool(self.telephony_settings and self.telephony_settings.default_texml_app_id)
