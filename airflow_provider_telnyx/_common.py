"""Constants and small helpers shared by every layer (the bottom of the import graph: it imports nothing of ours)."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "TELNYX_UI_COLOR",
    "default_deferrable",
    "utcnow",
]

#: The public API's root (``servers`` in the OpenAPI text).
DEFAULT_BASE_URL = "https://api.telnyx.com/v2"
#: Seconds one request may take in all (connect, send, and read of the whole answer); connection extra ``timeout``.
DEFAULT_TIMEOUT = 60.0
#: Retries of a retryable failure within one hook call; connection extra ``max_retries``.
DEFAULT_MAX_RETRIES = 3
#: Colour of our tasks in the Airflow UI (Telnyx green).
TELNYX_UI_COLOR = "#00E3AA"


def default_deferrable() -> bool:
    """``[operators] default_deferrable`` from Airflow's configuration (``False`` when unset).

    :return: the configured default.
    """
    from airflow.sdk import conf

    return conf.getboolean("operators", "default_deferrable", fallback=False)


def utcnow() -> datetime:
    """The wall clock, timezone-aware (operators read it through a replaceable ``clock`` attribute)."""
    return datetime.now(UTC)
