"""The pages of one listing, bounded in pages and in time, without I/O: the sync and async iterators (and the
waiters' steps) share it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from airflow_provider_telnyx.exceptions import TelnyxApiError, TelnyxInvalidResponseError, TelnyxListingTooLongError
from airflow_provider_telnyx.hooks._http import ApiRequest
from airflow_provider_telnyx.models import UnreadableItem, in_page_order

__all__ = [
    "LISTING_SECONDS",
    "MAX_NAMED_UNREADABLE",
    "MAX_PAGES",
    "MAX_STALE_PAGES",
    "Page",
    "Pager",
    "UnreadableItem",
]

log = logging.getLogger(__name__)

#: Most pages one listing follows: a server that keeps announcing one more page is stopped here.
MAX_PAGES = 10_000
#: Longest one listing may take, from its first request to its last page (a server that keeps announcing one more
#: page quickly is stopped by :data:`MAX_PAGES`, a slow one by this).
LISTING_SECONDS = 600.0
#: Consecutive non-empty pages bringing only items listed before, after which the pages are taken to cycle (a
#: listing that shifts while it is read repeats a few items on a page, not whole pages twice in a row).
MAX_STALE_PAGES = 2
#: Most unreadable items one listing names in a warning each; past it, one warning at the end gives the count.
MAX_NAMED_UNREADABLE = 20

_Item = TypeVar("_Item")


class Page(Protocol[_Item]):
    """One page of a listing, whatever its model: its items, those that do not read, its number, whether it is the
    last."""

    @property
    def items(self) -> list[_Item]: ...  # pragma: no cover - protocol

    @property
    def unreadable(self) -> list[UnreadableItem]: ...  # pragma: no cover - protocol

    @property
    def page_number(self) -> int | None: ...  # pragma: no cover - protocol

    @property
    def is_last(self) -> bool: ...  # pragma: no cover - protocol

    @property
    def total_pages(self) -> int | None: ...  # pragma: no cover - protocol


class Pager:
    """The pages of one listing, bounded, without I/O (the sync and async iterators share it).

    It stops after the last page (``page_number >= total_pages``) or an empty one, and raises
    :class:`~airflow_provider_telnyx.exceptions.TelnyxInvalidResponseError` when the server misbehaves: it answers
    another page than asked, repeats the previous page, answers ``MAX_STALE_PAGES`` (2) pages in a row with only
    items listed before (pages that cycle); :class:`~airflow_provider_telnyx.exceptions.TelnyxListingTooLongError`
    when it announces more than ``max_pages`` pages (on the first page when ``total_pages`` says so); and
    :class:`~airflow_provider_telnyx.exceptions.TelnyxApiError` when the listing outlasts ``max_seconds``.

    Items are read one by one (:class:`~airflow_provider_telnyx.models.ListPage`): an item that does not read as its
    model never fails the page. By default it is skipped, with a WARNING naming it (its id, else its position) and
    why, and counted in :attr:`unreadable`; with ``keep_unreadable`` it is handed over in its place as an
    :class:`~airflow_provider_telnyx.models.UnreadableItem`, for the caller to report (the export writes it). With
    ``unique``, an item listed a second time (offset paging while items are created shifts the pages) is dropped
    and counted in :attr:`duplicates`: the listing keeps the keys it has seen (one short string per item).

    :param request_for: the request for a page number.
    :param parse: reads a page's JSON.
    :param identity: what tells two items apart (a repeated page is recognised by it).
    :param max_pages: the ceiling on pages.
    :param max_seconds: the ceiling on time, from the first request (``None``: pages only).
    :param clock: a monotonic clock (tests pass their own).
    :param unique: an item's key (``None``: no key): an item whose key was listed before is dropped.
    :param keep_unreadable: hand unreadable items over instead of skipping them.
    """

    def __init__(
        self,
        request_for: Callable[[int], ApiRequest],
        parse: Callable[[ApiRequest, Any], Page[Any]],
        identity: Callable[[Any], object],
        max_pages: int = MAX_PAGES,
        max_seconds: float | None = LISTING_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        unique: Callable[[Any], str | None] | None = None,
        keep_unreadable: bool = False,
    ) -> None:
        self._request_for = request_for
        self._parse = parse
        self._identity = identity
        self.max_pages = max_pages
        self.max_seconds = max_seconds
        self._clock = clock
        self._started: float | None = None
        self.number = 1
        self._previous: list[object] | None = None
        #: Hashes of every identity listed so far (one int per item), and the pages in a row that added none.
        self._listed: set[int] = set()
        self._stale = 0
        self._unique = unique
        self._seen: set[str] = set()
        self.keep_unreadable = keep_unreadable
        #: Items that did not read as their model, so far (skipped, or handed over with ``keep_unreadable``).
        self.unreadable = 0
        #: Items dropped because their key was listed before.
        self.duplicates = 0

    def request(self) -> ApiRequest:
        """The request for the next page."""
        if self._started is None:
            self._started = self._clock()
        return self._request_for(self.number)

    def read(self, request: ApiRequest, payload: Any) -> tuple[list[Any], bool]:
        """Read one page's answer.

        :param request: the request that was sent.
        :param payload: its JSON.
        :return: the page's items (in the page's order; with ``keep_unreadable``, an unreadable one as an
            :class:`~airflow_provider_telnyx.models.UnreadableItem`), and whether the listing is over.
        :raises TelnyxInvalidResponseError: when the server misbehaves.
        """
        page = self._parse(request, payload)

        def invalid(what: str) -> TelnyxInvalidResponseError:
            return TelnyxInvalidResponseError(
                f"Telnyx API {request.method} {request.path} {what}", method=request.method, path=request.path
            )

        if (page.items or page.unreadable) and page.page_number is not None and page.page_number != self.number:
            raise invalid(f"answered page {page.page_number} when page {self.number} was asked for")
        identities = [self._identity(item) for item in page.items]
        if identities and identities == self._previous:
            raise invalid(f"answered page {self.number} with the same items as page {self.number - 1}")
        self._previous = identities
        hashes = {hash(identity) for identity in identities}
        self._stale = self._stale + 1 if hashes and hashes <= self._listed else 0
        if self._stale >= MAX_STALE_PAGES:
            raise invalid(
                f"answered pages {self.number - self._stale + 1} to {self.number} with only items listed before "
                "(the pages cycle)"
            )
        self._listed |= hashes
        items = self._fresh(request, page)
        if page.is_last:
            self._summarize(request)
            return items, True
        announced = page.total_pages
        if self.number >= self.max_pages or (announced is not None and announced > self.max_pages):
            raise TelnyxListingTooLongError(
                f"Telnyx API {request.method} {request.path} announced more than {self.max_pages} pages; stopped at "
                f"page {self.number}",
                method=request.method,
                path=request.path,
            )
        elapsed = self._clock() - (self._started if self._started is not None else self._clock())
        if self.max_seconds is not None and elapsed > self.max_seconds:
            raise TelnyxApiError(
                f"Telnyx API {request.method} {request.path}: the listing was not over after {self.number} pages "
                f"in {elapsed:.0f} s (budget {self.max_seconds:g} s); stopped there",
                method=request.method,
                path=request.path,
            )
        self.number += 1
        return items, False

    def _fresh(self, request: ApiRequest, page: Page[Any]) -> list[Any]:
        """The page's items in order, unreadable ones reported (or kept in place), those listed before dropped."""
        items: list[Any] = []
        for item in in_page_order(page.items, page.unreadable):
            odd = item if isinstance(item, UnreadableItem) else None
            key = odd.item_id if odd is not None else self._unique(item) if self._unique else None
            if self._unique is not None and key:
                if key in self._seen:
                    self.duplicates += 1
                    continue
                self._seen.add(key)
            if odd is not None:
                self.unreadable += 1
                if not self.keep_unreadable:
                    if self.unreadable <= MAX_NAMED_UNREADABLE:
                        log.warning(
                            "Telnyx API %s %s page %d: %s does not match the documented schema and is skipped: %s",
                            request.method,
                            request.path,
                            self.number,
                            odd.name(),
                            odd.reason,
                        )
                    continue
            items.append(item)
        return items

    def _summarize(self, request: ApiRequest) -> None:
        if self.unreadable > MAX_NAMED_UNREADABLE and not self.keep_unreadable:
            log.warning(
                "Telnyx API %s %s: %d items did not match the documented schema and were skipped (the first %d "
                "named above)",
                request.method,
                request.path,
                self.unreadable,
                MAX_NAMED_UNREADABLE,
            )
        if self.duplicates:
            log.info(
                "Telnyx API %s %s: %d items were listed twice (the listing shifted while it was read); kept once",
                request.method,
                request.path,
                self.duplicates,
            )
