"""What every answer model shares: unknown fields kept, timestamps always timezone-aware."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = ["ListPage", "PageMeta", "UtcDatetime"]

_Item = TypeVar("_Item")


class _Response(BaseModel):
    # Tolerant reader: a newer API must not break parsing; unknown fields are kept, at every level.
    model_config = ConfigDict(extra="allow")


def _as_utc(value: datetime) -> datetime:
    # A timestamp without an offset is read as UTC (the API's own convention), never as local time.
    return value if value.tzinfo is not None and value.utcoffset() is not None else value.replace(tzinfo=timezone.utc)


#: A response timestamp: always timezone-aware (UTC when the API left the offset out).
UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


class PageMeta(_Response):
    """Pagination facts of a list response (``Meta``); the SDK pages on ``page_number`` and ``total_pages``."""

    total_pages: int | None = None
    total_results: int | None = None
    page_number: int | None = None
    page_size: int | None = None


class ListPage(_Response, Generic[_Item]):
    """One page of a ``{data, meta}`` list answer; it is what the hook's pager reads (``items``, ``page_number``,
    ``is_last``)."""

    data: list[_Item] = Field(default_factory=list)
    meta: PageMeta = Field(default_factory=PageMeta)

    @property
    def items(self) -> list[_Item]:
        """The page's items."""
        return self.data

    @property
    def page_number(self) -> int | None:
        """The page's number as the server reports it."""
        return self.meta.page_number

    @property
    def is_last(self) -> bool:
        """Whether no page follows this one (the SDKs' rule: stop on an empty page, or when
        ``page_number >= total_pages``)."""
        meta = self.meta
        if not self.data:
            return True
        return meta.total_pages is not None and meta.page_number is not None and meta.page_number >= meta.total_pages
