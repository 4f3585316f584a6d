"""Constants, small helpers and Python-version shims shared by every layer (the bottom of the import graph: it imports
nothing of ours)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from enum import Enum

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # pragma: no cover - Python 3.10

    class StrEnum(str, Enum):
        """Python 3.11's ``enum.StrEnum`` on 3.10: members are strings, ``str()`` and ``format()`` give the value."""

        def __str__(self) -> str:
            return str(self.value)


if sys.version_info >= (3, 11):
    async_timeout = asyncio.timeout
else:  # pragma: no cover - Python 3.10

    @asynccontextmanager
    async def async_timeout(seconds: float) -> AsyncIterator[None]:
        """``asyncio.timeout`` for Python 3.10: cancel the current task at the deadline, and tell that cancel apart
        from one that comes from outside (which must propagate, not turn into a timeout)."""
        task = asyncio.current_task()
        assert task is not None
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        handle = asyncio.get_running_loop().call_later(seconds, expire)
        try:
            yield
        except asyncio.CancelledError:
            if expired:
                raise TimeoutError from None
            raise
        finally:
            handle.cancel()


__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_CONN_ID",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_MAX_TRANSIENT_ERRORS",
    "DEFAULT_TIMEOUT",
    "MAX_PAGE_SIZE",
    "MAX_RETRIES_CLIENT_ERRORS",
    "MAX_RETRY_INTERVAL_SECS",
    "MIN_RETRY_INTERVAL_SECS",
    "TELNYX_UI_COLOR",
    "StrEnum",
    "async_timeout",
    "default_deferrable",
    "parse_iso_datetime",
    "utcnow",
]

#: The Airflow connection every hook, operator, sensor and trigger uses unless told otherwise.
DEFAULT_CONN_ID = "telnyx_default"
#: The public API's root (``servers`` in the OpenAPI text).
DEFAULT_BASE_URL = "https://api.telnyx.com/v2"
#: Seconds one request may take in all (connect, send, and read of the whole answer); connection extra ``timeout``.
DEFAULT_TIMEOUT = 60.0
#: Retries of a retryable failure within one hook call; connection extra ``max_retries``.
DEFAULT_MAX_RETRIES = 3
#: The API's limits (its OpenAPI text): retries after busy or no-answer outcomes, seconds between attempts, and
#: items per list page.
MAX_RETRIES_CLIENT_ERRORS = 10
MIN_RETRY_INTERVAL_SECS = 60
MAX_RETRY_INTERVAL_SECS = 86_400
MAX_PAGE_SIZE = 100
#: Consecutive failed status checks a wait tolerates before it gives up (timeouts, 429, 5xx).
DEFAULT_MAX_TRANSIENT_ERRORS = 5
#: Colour of our tasks in the Airflow UI (Telnyx green).
TELNYX_UI_COLOR = "#00E3AA"


def default_deferrable() -> bool:
    """``[operators] default_deferrable`` from Airflow's configuration (``False`` when unset).

    :return: the configured default.
    """
    from airflow_provider_telnyx._compat import conf

    return conf.getboolean("operators", "default_deferrable", fallback=False)


def utcnow() -> datetime:
    """The wall clock, timezone-aware (operators read it through a replaceable ``clock`` attribute)."""
    return datetime.now(timezone.utc)


def parse_iso_datetime(text: str) -> datetime:
    """``datetime.fromisoformat`` that also takes a trailing ``Z`` on Python 3.10 (3.11 reads it natively).

    :param text: an ISO 8601 date-time.
    :raises ValueError: when it is not one.
    """
    text = text.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(text)
