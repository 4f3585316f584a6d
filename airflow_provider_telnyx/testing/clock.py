"""A manual clock for deterministic tests of time-dependent behaviour (simulator lifecycle, deadlines)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

__all__ = ["ManualClock"]


class ManualClock:
    """A wall clock that only moves when told to; call it to read the time.

    :param start: the initial time (timezone-aware); default: now.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(timezone.utc)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward.

        :param seconds: how far.
        :return: the new time.
        """
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now
