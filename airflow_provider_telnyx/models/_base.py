"""What every answer model shares: unknown fields kept, timestamps always timezone-aware."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

__all__ = ["UtcDatetime"]


class _Response(BaseModel):
    # Tolerant reader: a newer API must not break parsing; unknown fields are kept, at every level.
    model_config = ConfigDict(extra="allow")


def _as_utc(value: datetime) -> datetime:
    # A timestamp without an offset is read as UTC (the API's own convention), never as local time.
    return value if value.tzinfo is not None and value.utcoffset() is not None else value.replace(tzinfo=timezone.utc)


#: A response timestamp: always timezone-aware (UTC when the API left the offset out).
UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]
