"""Waiting for many scheduled events at once with as few requests as the API allows."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypedDict

from airflow_provider_telnyx.exceptions import TelnyxApiError, TelnyxScheduledEventFailedError
from airflow_provider_telnyx.hooks._endpoints import event_request, read_event
from airflow_provider_telnyx.hooks._steps import Steps
from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
from airflow_provider_telnyx.models import EventStatus, ScheduledEvent
from airflow_provider_telnyx.utils.waiting import (
    DEFAULT_MAX_TRANSIENT_ERRORS,
    PollingWaiter,
    failure_summary,
    next_sleep,
    settled,
    warn_unknown_status,
)

__all__ = ["ManyEventsWaiter", "ManyPayload", "apoll_many", "poll_many", "resolve_many"]


class ManyPayload(TypedDict, total=False):
    """What a finished wait for many events reports (and what the many-events trigger yields)."""

    status: Literal["final", "error", "timeout"]
    message: str
    completed: list[str]
    failed: list[dict[str, Any]]
    pending: list[str]
    requests: int


@dataclass
class ManyEventsWaiter(PollingWaiter[ManyPayload]):
    """Wait for many events with as few requests as the API allows, without I/O.

    Each cycle it chooses between listing the assistant's events (100 per request, from the earliest pending
    event's scheduled time on) and fetching the pending events one by one, whichever needs fewer requests by
    what the last listing showed. Events the listing did not show are fetched individually.

    :param event_ids: the events to wait for.
    :param poll_interval: seconds between cycles.
    :param deadline: wall-clock deadline (epoch seconds), or ``None``.
    :param max_transient_errors: consecutive failed cycles tolerated.
    :param clock: the wall clock (epoch seconds).
    """

    event_ids: list[str]
    poll_interval: float
    deadline: float | None = None
    max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS
    clock: Callable[[], float] = time.time
    pending: dict[str, datetime | None] = field(init=False)
    completed: list[str] = field(default_factory=list, init=False)
    failed: list[dict[str, Any]] = field(default_factory=list, init=False)
    listed_total: int | None = field(default=None, init=False)
    transient_errors: int = field(default=0, init=False)
    requests: int = field(default=0, init=False)
    cycles: int = field(default=0, init=False)
    _warned: set[str] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        self.pending = dict.fromkeys(dict.fromkeys(self.event_ids))

    def use_list(self) -> bool:
        """Whether this cycle should list rather than fetch each pending event.

        :return: ``True`` to list.
        """
        if len(self.pending) <= 2:
            return False
        if self.listed_total is None:
            return True
        return max(1, -(-self.listed_total // 100)) < len(self.pending)

    def list_from(self) -> datetime | None:
        """The earliest scheduled time among pending events (the listing's ``from_date``), if known.

        :return: the time, or ``None`` when some pending event's time is unknown.
        """
        times = list(self.pending.values())
        if not times or any(t is None for t in times):
            return None
        return min(t for t in times if t is not None)

    def listing_budget(self) -> int:
        """How many events a listing may go through before it costs more than fetching every pending event
        would (it then stops early). Taken at the start of the cycle, before events are ticked off.

        :return: the number of events.
        """
        return 100 * max(len(self.pending), 1) + 100

    def end_listing(self, count: int) -> None:
        """Record how many events a listing returned (its cost, and the estimate for the next cycle).

        :param count: events listed.
        """
        self.listed_total = count
        self.requests += max(1, -(-count // 100))

    def to_fetch(self, listed: set[str]) -> list[str]:
        """Pending events to fetch one by one this cycle: those the listing (if any) did not show.

        :param listed: ids the listing showed.
        """
        return [event_id for event_id in self.pending if event_id not in listed]

    def observe_event(self, event: ScheduledEvent) -> None:
        """Record one event seen in a listing or a fetch (events we do not wait for are ignored)."""
        if event.event_id not in self.pending:
            return
        warn_unknown_status(event, self._warned)
        if not event.is_final:
            self.pending[event.event_id] = event.scheduled_at_fixed_datetime
            return
        del self.pending[event.event_id]
        if event.status is EventStatus.COMPLETED:
            self.completed.append(event.event_id)
        else:
            self.failed.append(
                {"scheduled_event_id": event.event_id, "summary": failure_summary(event), "errors": event.errors or []}
            )

    def end_cycle(self, error: TelnyxApiError | None) -> ManyPayload | None:
        """Close a polling cycle.

        :param error: the API error that cut the cycle short, if any.
        :return: the payload when the wait is over, ``None`` to keep waiting.
        """
        self.cycles += 1
        if error is not None:
            fatal = error.http_status in (401, 403) or not error.retryable
            self.transient_errors += 1
            if fatal or self.transient_errors > self.max_transient_errors:
                return self._payload("error", f"Waiting for {len(self.pending)} scheduled events failed: {error}")
        else:
            self.transient_errors = 0
        if not self.pending:
            return self._payload(
                "final", f"{len(self.completed)} scheduled events completed, {len(self.failed)} failed"
            )
        if self.deadline is not None and self.clock() >= self.deadline:
            return self._payload("timeout", f"{len(self.pending)} scheduled events were not final before the deadline")
        return None

    def expire(self) -> ManyPayload:
        """The deadline passed while a cycle was still waiting for answers: the wait is over.

        :return: the timeout payload.
        """
        return self._payload("timeout", f"{len(self.pending)} scheduled events were not final before the deadline")

    def missing(self, error: TelnyxApiError, event_id: str) -> ManyPayload:
        """A pending event no longer exists (404): the wait cannot go on.

        :param error: the 404.
        :return: the error payload.
        """
        return self._payload("error", f"Scheduled event {event_id} no longer exists (it was deleted): {error}")

    def _payload(self, status: Literal["final", "error", "timeout"], message: str) -> ManyPayload:
        return {
            "status": status,
            "message": message,
            "completed": list(self.completed),
            "failed": list(self.failed),
            "pending": list(self.pending),
            "requests": self.requests,
        }

    def next_sleep(self) -> float:
        """Seconds to wait before the next cycle (never past the deadline)."""
        return next_sleep(self.poll_interval, self.deadline, self.clock)

    def cycle(self, assistant_id: str) -> Steps[ManyPayload | None]:
        """One polling cycle, as steps: a listing (bounded by :meth:`listing_budget`) when it is cheaper, then the
        pending events the listing did not show, fetched together (concurrently on the async side).

        :param assistant_id: the assistant that owns the events.
        :return: the steps, returning the payload when the wait is over, else ``None``.
        """
        try:
            seen: set[str] = set()
            if self.use_list():
                count, budget = 0, self.listing_budget()
                pager = TelnyxHook.events_pager(assistant_id, from_date=self.list_from())
                done = False
                while not done and count <= budget:
                    request = pager.request()
                    events, done = pager.read(request, (yield request))
                    for event in events[: max(budget - count, 0)]:
                        seen.add(event.event_id)
                        self.observe_event(event)
                    count += len(events)
                self.end_listing(count)
            fetch = self.to_fetch(seen)
            self.requests += len(fetch)
            requests = [event_request(assistant_id, event_id) for event_id in fetch]
            results = yield requests
            for event_id, request, result in zip(fetch, requests, results, strict=True):
                if isinstance(result, TelnyxApiError):
                    if result.http_status == 404:
                        return self.missing(result, event_id)
                    raise result
                self.observe_event(read_event(request, result, event_id))
        except TelnyxApiError as error:
            return self.end_cycle(error)
        return self.end_cycle(None)


def resolve_many(payload: Any, *, fail_on_failure: bool = True) -> dict[str, Any]:
    """Decide the outcome of a wait for many events: the same rule as :func:`resolve`, over a set.

    :param payload: a :class:`ManyPayload`.
    :param fail_on_failure: raise when any event ``failed``; otherwise return the split.
    :return: ``{"completed": [ids], "failed": [{"scheduled_event_id", "summary", "errors"}], "counts": {...}}``.
    :raises TelnyxScheduledEventFailedError: some events failed and ``fail_on_failure`` is set.
    :raises TelnyxScheduledEventWaitError: the wait ended in an error, or the payload is unreadable.
    :raises TelnyxWaitTimeoutError: the deadline passed first.
    """
    settled(payload)
    completed = list(payload.get("completed") or [])
    failed = list(payload.get("failed") or [])
    result = {
        "completed": completed,
        "failed": failed,
        "counts": {"completed": len(completed), "failed": len(failed), "total": len(completed) + len(failed)},
    }
    if failed and fail_on_failure:
        first = "; ".join(item.get("summary", "") for item in failed[:3])
        raise TelnyxScheduledEventFailedError(
            f"{len(failed)} of {len(completed) + len(failed)} scheduled events failed. First: {first}",
            event=result,
        )
    return result


def poll_many(hook: TelnyxHook, assistant_id: str, waiter: ManyEventsWaiter) -> ManyPayload | None:
    """One polling cycle with the sync hook.

    :param waiter: the wait's state.
    :return: the payload when the wait is over, else ``None``.
    """
    return waiter.poll(hook, assistant_id)


async def apoll_many(hook: TelnyxHook, assistant_id: str, waiter: ManyEventsWaiter) -> ManyPayload | None:
    """Async twin of :func:`poll_many` (the per-event fetches run concurrently).

    :param waiter: the wait's state.
    :return: the payload when the wait is over, else ``None``.
    """
    return await waiter.apoll(hook, assistant_id)
