"""The pages of one listing, bounded in pages and in time, without I/O: the sync and async iterators (and the
waiters' steps) share it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from airflow_provider_telnyx.exceptions import TelnyxApiError, TelnyxInvalidResponseError
from airflow_provider_telnyx.hooks._http import ApiRequest

__all__ = ["LISTING_SECONDS", "MAX_PAGES", "Page", "Pager"]

#: Most pages one listing follows: a server that keeps announcing one more page is stopped here.
MAX_PAGES = 10_000
#: Longest one listing may take, from its first request to its last page (a server that keeps announcing one more
#: page quickly is stopped by :data:`MAX_PAGES`, a slow one by this).
LISTING_SECONDS = 600.0

_Item = TypeVar("_Item")


class Page(Protocol[_Item]):
    """One page of a listing, whatever its model: its items, its number, whether it is the last."""

    @property
    def items(self) -> list[_Item]: ...  # pragma: no cover - protocol

    @property
    def page_number(self) -> int | None: ...  # pragma: no cover - protocol

    @property
    def is_last(self) -> bool: ...  # pragma: no cover - protocol


class Pager:
    """The pages of one listing, bounded, without I/O (the sync and async iterators share it).

    It stops after the last page (``page_number >= total_pages``) or an empty one, and raises
    :class:`~airflow_provider_telnyx.exceptions.TelnyxInvalidResponseError` when the server misbehaves: it answers
    another page than asked, repeats the previous page, or announces more than ``max_pages`` pages; and
    :class:`~airflow_provider_telnyx.exceptions.TelnyxApiError` when the listing outlasts ``max_seconds``.

    :param request_for: the request for a page number.
    :param parse: reads a page's JSON.
    :param identity: what tells two items apart (a repeated page is recognised by it).
    :param max_pages: the ceiling on pages.
    :param max_seconds: the ceiling on time, from the first request (``None``: pages only).
    :param clock: a monotonic clock (tests pass their own).
    """

    def __init__(
        self,
        request_for: Callable[[int], ApiRequest],
        parse: Callable[[ApiRequest, Any], Page[Any]],
        identity: Callable[[Any], object],
        max_pages: int = MAX_PAGES,
        max_seconds: float | None = LISTING_SECONDS,
        clock: Callable[[], float] = time.monotonic,
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

    def request(self) -> ApiRequest:
        """The request for the next page."""
        if self._started is None:
            self._started = self._clock()
        return self._request_for(self.number)

    def read(self, request: ApiRequest, payload: Any) -> tuple[list[Any], bool]:
        """Read one page's answer.

        :param request: the request that was sent.
        :param payload: its JSON.
        :return: the page's items, and whether the listing is over.
        :raises TelnyxInvalidResponseError: when the server misbehaves.
        """
        page = self._parse(request, payload)

        def invalid(what: str) -> TelnyxInvalidResponseError:
            return TelnyxInvalidResponseError(
                f"Telnyx API {request.method} {request.path} {what}", method=request.method, path=request.path
            )

        if page.items and page.page_number is not None and page.page_number != self.number:
            raise invalid(f"answered page {page.page_number} when page {self.number} was asked for")
        identities = [self._identity(item) for item in page.items]
        if identities and identities == self._previous:
            raise invalid(f"answered page {self.number} with the same items as page {self.number - 1}")
        self._previous = identities
        if page.is_last:
            return page.items, True
        if self.number >= self.max_pages:
            raise invalid(f"announced more than {self.max_pages} pages; stopped there")
        elapsed = self._clock() - (self._started if self._started is not None else self._clock())
        if self.max_seconds is not None and elapsed > self.max_seconds:
            raise TelnyxApiError(
                f"Telnyx API {request.method} {request.path}: the listing was not over after {self.number} pages "
                f"in {elapsed:.0f} s (budget {self.max_seconds:g} s); stopped there",
                method=request.method,
                path=request.path,
            )
        self.number += 1
        return page.items, False
