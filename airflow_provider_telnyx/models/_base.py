"""What every answer model shares: unknown fields kept, timestamps always timezone-aware, list pages read item by
item."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from typing import Annotated, Any, ClassVar, Generic, TypeVar, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from airflow_provider_telnyx.models.inputs import field_errors

__all__ = ["MAX_REASON_LENGTH", "ListPage", "PageMeta", "UnreadableItem", "UtcDatetime", "in_page_order"]

_Item = TypeVar("_Item")

#: Longest reason an :class:`UnreadableItem` carries (it goes to logs and summaries).
MAX_REASON_LENGTH = 300


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


@dataclass(frozen=True)
class UnreadableItem:
    """An item of a list page that does not read as its model, kept as the API sent it: the page's other items are
    read all the same (tolerant reader), and whoever lists says what became of this one.

    :param index: its position in the page's ``data``.
    :param item_id: its id, when it carries one as text (the page's :attr:`ListPage.id_field`), else ``None``.
    :param reason: what does not match, field by field, values left out (they may be personal data); at most
        ``MAX_REASON_LENGTH`` characters.
    :param raw: the item's JSON, as decoded.
    """

    index: int
    item_id: str | None
    reason: str
    raw: Any

    def name(self) -> str:
        """How a log line names it: its id (cut at 100 characters), else its position in the page."""
        if self.item_id is None:
            return f"item {self.index}"
        return self.item_id if len(self.item_id) <= 100 else self.item_id[:97] + "..."


def in_page_order(items: list[_Item], unreadable: list[UnreadableItem]) -> list[_Item | UnreadableItem]:
    """A page's items as the page listed them: those that read, with the unreadable ones back in their places.

    :param items: the items that read, in order.
    :param unreadable: the others (each knows its ``index``).
    """
    odd = {item.index: item for item in unreadable}
    readable = iter(items)
    return [odd[index] if index in odd else next(readable) for index in range(len(items) + len(odd))]


def _reason(error: ValidationError) -> str:
    text = "; ".join(f"{name}: {message}" for name, message in field_errors(error)[:5])
    return text if len(text) <= MAX_REASON_LENGTH else text[: MAX_REASON_LENGTH - 3] + "..."


@cache
def _item_reader(page: type[ListPage[Any]]) -> TypeAdapter[Any]:
    (item,) = get_args(page.model_fields["data"].annotation) or (Any,)
    return TypeAdapter(item)


class ListPage(_Response, Generic[_Item]):
    """One page of a ``{data, meta}`` list answer; it is what the hook's pager reads (``items``, ``page_number``,
    ``is_last``, ``unreadable``).

    The envelope is read as a whole (``data`` must be a list, ``meta`` an object), its items one by one: an item
    that does not read as its model is left out of ``items`` and kept in :attr:`unreadable`, and never fails the
    page (one odd event or message must not hide the others).
    """

    #: The field that names an item (how an unreadable one is reported), when the items have one.
    id_field: ClassVar[str | None] = None

    data: list[_Item] = Field(default_factory=list)
    meta: PageMeta = Field(default_factory=PageMeta)
    _unreadable: list[UnreadableItem] = PrivateAttr(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _item_by_item(cls, value: Any, handler: ModelWrapValidatorHandler[ListPage[Any]]) -> ListPage[Any]:
        items = value.get("data") if isinstance(value, dict) else None
        if not isinstance(items, list):
            return handler(value)  # not a page, or a page already read: the envelope's own rules
        reader = _item_reader(cls)
        read: list[Any] = []
        unreadable: list[UnreadableItem] = []
        for index, item in enumerate(items):
            try:
                read.append(reader.validate_python(item))
            except ValidationError as error:
                found = item.get(cls.id_field) if cls.id_field and isinstance(item, dict) else None
                item_id = found if isinstance(found, str) and found else None
                unreadable.append(UnreadableItem(index, item_id, _reason(error), item))
        page = handler({**value, "data": read})
        page._unreadable = unreadable
        return page

    @property
    def items(self) -> list[_Item]:
        """The page's items that read as their model."""
        return self.data

    @property
    def unreadable(self) -> list[UnreadableItem]:
        """The page's items that do not read as their model, in order."""
        return self._unreadable

    @property
    def page_number(self) -> int | None:
        """The page's number as the server reports it."""
        return self.meta.page_number

    @property
    def total_pages(self) -> int | None:
        """How many pages the server says the listing has (``None`` when it does not say)."""
        return self.meta.total_pages

    @property
    def is_last(self) -> bool:
        """Whether no page follows this one (the SDKs' rule: stop on an empty page, or when
        ``page_number >= total_pages``; a page of unreadable items only is not empty)."""
        meta = self.meta
        if not self.data and not self._unreadable:
            return True
        return meta.total_pages is not None and meta.page_number is not None and meta.page_number >= meta.total_pages
