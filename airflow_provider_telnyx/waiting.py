"""Waiting for a scheduled event: the one status rule, shared by every way of waiting.

* :func:`resolve` is the single function that turns what a wait observed into an outcome: it returns the
  final event, or raises :class:`~airflow_provider_telnyx.exceptions.TelnyxScheduledEventFailedError`,
  :class:`~airflow_provider_telnyx.exceptions.TelnyxScheduledEventWaitError` or
  :class:`~airflow_provider_telnyx.exceptions.TelnyxWaitTimeoutError`. The sensor's ``poke``, the operator's
  blocking wait and every ``execute_complete`` call it, so poke, reschedule and deferrable modes agree.
* :class:`EventWaiter` is the wait loop without I/O: feed it each poll's result and it says when waiting is
  over, with the payload :func:`resolve` reads (the same payload a trigger yields). The trigger drives it
  with the async hook, the operator with the sync hook.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from pydantic import ValidationError

from airflow_provider_telnyx.exceptions import (
    TelnyxApiError,
    TelnyxScheduledEventFailedError,
    TelnyxScheduledEventWaitError,
    TelnyxWaitTimeoutError,
)
from airflow_provider_telnyx.models import EventStatus, ScheduledEvent, parse_scheduled_event

if TYPE_CHECKING:
    from airflow_provider_telnyx.hooks.telnyx import TelnyxHook

__all__ = [
    "DEFAULT_MAX_TRANSIENT_ERRORS",
    "EventWaiter",
    "ManyEventsWaiter",
    "ManyPayload",
    "WaitPayload",
    "apoll",
    "apoll_many",
    "failure_summary",
    "poll",
    "poll_many",
    "resolve",
    "resolve_many",
    "wait_blocking",
]

log = logging.getLogger(__name__)

#: Consecutive failed polls (each after the hook's own retries) tolerated before the wait gives up.
DEFAULT_MAX_TRANSIENT_ERRORS = 5


class WaitPayload(TypedDict, total=False):
    """What a finished wait reports (and what the trigger yields).

    ``status`` is ``final`` (the event reached ``completed`` or ``failed``), ``error`` or ``timeout``.
    """

    status: Literal["final", "error", "timeout"]
    message: str
    event_id: str
    event: dict[str, Any]


def warn_unknown_status(event: ScheduledEvent, warned: set[str]) -> None:
    """Log one WARNING per event whose status is missing or new to us (waiting goes on; nothing is guessed).

    :param event: the event just read.
    :param warned: ids already warned about (updated).
    """
    if event.known_status is None and event.event_id not in warned:
        warned.add(event.event_id)
        log.warning(
            "Scheduled event %s has status %r, which this provider does not know: it is not treated as final; "
            "waiting goes on until the event is completed or failed, or the wait's deadline",
            event.event_id,
            event.status_text,
        )


def failure_summary(event: ScheduledEvent) -> str:
    """One line saying how an event failed: its errors and every call attempt.

    :param event: the failed event.
    :return: the summary.
    """
    parts = [f"Scheduled event {event.event_id} to {event.telnyx_end_user_target} failed"]
    if event.errors:
        parts.append("errors: " + " | ".join(event.errors))
    attempts = event.attempts_summary()
    parts.append(f"attempts: {attempts}" if attempts else "no call attempts")
    return "; ".join(parts)


def resolve(payload: Any, *, fail_on_failure: bool = True) -> dict[str, Any]:
    """Decide a wait's outcome: the one status rule.

    :param payload: what the wait observed, as a :class:`WaitPayload` (from :class:`EventWaiter` or a trigger).
    :param fail_on_failure: raise when the event ``failed``; otherwise return the failed event.
    :return: the final event as a JSON-safe dictionary.
    :raises TelnyxScheduledEventFailedError: the event failed and ``fail_on_failure`` is set.
    :raises TelnyxScheduledEventWaitError: the wait ended in an error, or the payload is unreadable.
    :raises TelnyxWaitTimeoutError: the deadline passed first.
    """
    if not isinstance(payload, dict) or payload.get("status") not in ("final", "error", "timeout"):
        raise TelnyxScheduledEventWaitError(f"Unreadable wait result from the trigger: {payload!r:.300}")
    message = str(payload.get("message") or "")
    if payload["status"] == "timeout":
        raise TelnyxWaitTimeoutError(message or "Timed out waiting for the scheduled event")
    if payload["status"] == "error":
        raise TelnyxScheduledEventWaitError(message or "Waiting for the scheduled event failed")
    try:
        event = parse_scheduled_event(payload.get("event"))
    except ValidationError as error:
        raise TelnyxScheduledEventWaitError(f"The trigger sent an event that cannot be read: {error}") from None
    if not event.is_final:
        raise TelnyxScheduledEventWaitError(f"Scheduled event {event.event_id} is not final ({event.status_text})")
    if event.status is EventStatus.FAILED and fail_on_failure:
        raise TelnyxScheduledEventFailedError(failure_summary(event), event=event.to_json_dict())
    return event.to_json_dict()


@dataclass
class EventWaiter:
    """The wait loop as a state machine without I/O.

    :param event_id: the event waited for (for messages).
    :param poll_interval: seconds between polls.
    :param deadline: wall-clock time (epoch seconds) after which the wait times out; ``None``: no deadline.
    :param max_transient_errors: consecutive retryable API failures tolerated.
    :param clock: the wall clock (epoch seconds).
    """

    event_id: str
    poll_interval: float
    deadline: float | None = None
    max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS
    clock: Callable[[], float] = time.time
    transient_errors: int = field(default=0, init=False)
    polls: int = field(default=0, init=False)
    _warned: set[str] = field(default_factory=set, init=False, repr=False)

    def observe(self, result: ScheduledEvent | TelnyxApiError) -> WaitPayload | None:
        """Feed one poll's result.

        :param result: the event fetched, or the API error the fetch raised.
        :return: the payload when the wait is over, ``None`` to keep waiting.
        """
        self.polls += 1
        if isinstance(result, TelnyxApiError):
            payload = self._observe_error(result)
            if payload is not None:
                return payload
        else:
            self.transient_errors = 0
            warn_unknown_status(result, self._warned)
            if result.is_final:
                return {
                    "status": "final",
                    "event_id": self.event_id,
                    "message": f"Scheduled event {self.event_id} is {result.status_text}",
                    "event": result.to_json_dict(),
                }
        if self.deadline is not None and self.clock() >= self.deadline:
            return {
                "status": "timeout",
                "event_id": self.event_id,
                "message": f"Scheduled event {self.event_id} was not final after {self.polls} poll(s) "
                f"before the deadline",
            }
        return None

    def expire(self) -> WaitPayload:
        """The deadline passed while a check was still waiting for its answer: the wait is over.

        :return: the timeout payload.
        """
        return {
            "status": "timeout",
            "event_id": self.event_id,
            "message": f"Scheduled event {self.event_id} was not final after {self.polls} poll(s) before the deadline "
            "(the last check had no answer by then)",
        }

    def _observe_error(self, error: TelnyxApiError) -> WaitPayload | None:
        if error.http_status == 404:
            message = f"Scheduled event {self.event_id} no longer exists (it was deleted): {error}"
        elif error.http_status in (401, 403):
            message = f"The Telnyx API refused the key while waiting for {self.event_id}: {error}"
        elif not error.retryable:
            message = f"Waiting for scheduled event {self.event_id} failed: {error}"
        else:
            self.transient_errors += 1
            if self.transient_errors <= self.max_transient_errors:
                return None
            message = (
                f"Waiting for scheduled event {self.event_id} gave up after {self.transient_errors} "
                f"consecutive failed polls: {error}"
            )
        return {"status": "error", "event_id": self.event_id, "message": message}

    def next_sleep(self) -> float:
        """Seconds to wait before the next poll (never past the deadline).

        :return: the delay.
        """
        if self.deadline is None:
            return self.poll_interval
        return max(min(self.poll_interval, self.deadline - self.clock()), 0.0)


def poll(hook: TelnyxHook, assistant_id: str, event_id: str) -> ScheduledEvent | TelnyxApiError:
    """Fetch the event once, returning an API error instead of raising it (for :meth:`EventWaiter.observe`).

    :param hook: the hook.
    :param assistant_id: the assistant.
    :param event_id: the event.
    :return: the event or the error.
    """
    try:
        return hook.get_scheduled_event(assistant_id, event_id)
    except TelnyxApiError as error:
        return error


async def apoll(hook: TelnyxHook, assistant_id: str, event_id: str) -> ScheduledEvent | TelnyxApiError:
    """Async twin of :func:`poll`.

    :param hook: the hook.
    :param assistant_id: the assistant.
    :param event_id: the event.
    :return: the event or the error.
    """
    try:
        return await hook.aget_scheduled_event(assistant_id, event_id)
    except TelnyxApiError as error:
        return error


def wait_blocking(
    hook: TelnyxHook, assistant_id: str, waiter: EventWaiter, sleep: Callable[[float], None] = time.sleep
) -> WaitPayload:
    """Poll with the sync hook until ``waiter`` says the wait is over (holds the worker slot).

    :param hook: the hook.
    :param assistant_id: the assistant.
    :param waiter: the wait's state.
    :param sleep: how to wait between polls.
    :return: the payload to pass to :func:`resolve`.
    """
    while (payload := waiter.observe(poll(hook, assistant_id, waiter.event_id))) is None:
        sleep(waiter.next_sleep())
    return payload


# -- many events at once -------------------------------------------------------------------------------------


class ManyPayload(TypedDict, total=False):
    """What a finished wait for many events reports (and what the many-events trigger yields)."""

    status: Literal["final", "error", "timeout"]
    message: str
    completed: list[str]
    failed: list[dict[str, Any]]
    pending: list[str]
    requests: int


@dataclass
class ManyEventsWaiter:
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
        :return: the ids.
        """
        return [event_id for event_id in self.pending if event_id not in listed]

    def observe_event(self, event: ScheduledEvent) -> None:
        """Record one event seen in a listing or a fetch (events we do not wait for are ignored).

        :param event: the event.
        """
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
        :param event_id: the event.
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
        """Seconds to wait before the next cycle (never past the deadline).

        :return: the delay.
        """
        if self.deadline is None:
            return self.poll_interval
        return max(min(self.poll_interval, self.deadline - self.clock()), 0.0)


def resolve_many(payload: Any, *, fail_on_failure: bool = True) -> dict[str, Any]:
    """Decide the outcome of a wait for many events: the same rule as :func:`resolve`, over a set.

    :param payload: a :class:`ManyPayload`.
    :param fail_on_failure: raise when any event ``failed``; otherwise return the split.
    :return: ``{"completed": [ids], "failed": [{"scheduled_event_id", "summary", "errors"}], "counts": {...}}``.
    :raises TelnyxScheduledEventFailedError: some events failed and ``fail_on_failure`` is set.
    :raises TelnyxScheduledEventWaitError: the wait ended in an error, or the payload is unreadable.
    :raises TelnyxWaitTimeoutError: the deadline passed first.
    """
    if not isinstance(payload, dict) or payload.get("status") not in ("final", "error", "timeout"):
        raise TelnyxScheduledEventWaitError(f"Unreadable wait result from the trigger: {payload!r:.300}")
    message = str(payload.get("message") or "")
    if payload["status"] == "timeout":
        raise TelnyxWaitTimeoutError(message)
    if payload["status"] == "error":
        raise TelnyxScheduledEventWaitError(message)
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

    :param hook: the hook.
    :param assistant_id: the assistant.
    :param waiter: the wait's state.
    :return: the payload when the wait is over, else ``None``.
    """
    try:
        seen: set[str] = set()
        count = 0
        if waiter.use_list():
            budget = waiter.listing_budget()
            for event in hook.list_scheduled_events(assistant_id, from_date=waiter.list_from()):
                count += 1
                if count > budget:
                    break
                seen.add(event.event_id)
                waiter.observe_event(event)
            waiter.end_listing(count)
        for event_id in waiter.to_fetch(seen):
            waiter.requests += 1
            result = poll(hook, assistant_id, event_id)
            if isinstance(result, TelnyxApiError) and result.http_status == 404:
                return waiter.missing(result, event_id)
            if isinstance(result, TelnyxApiError):
                raise result
            waiter.observe_event(result)
    except TelnyxApiError as error:
        return waiter.end_cycle(error)
    return waiter.end_cycle(None)


async def apoll_many(hook: TelnyxHook, assistant_id: str, waiter: ManyEventsWaiter) -> ManyPayload | None:
    """Async twin of :func:`poll_many`; the per-event fetches run concurrently.

    :param hook: the hook.
    :param assistant_id: the assistant.
    :param waiter: the wait's state.
    :return: the payload when the wait is over, else ``None``.
    """
    try:
        seen: set[str] = set()
        count = 0
        if waiter.use_list():
            budget = waiter.listing_budget()
            async for event in hook.alist_scheduled_events(assistant_id, from_date=waiter.list_from()):
                count += 1
                if count > budget:
                    break
                seen.add(event.event_id)
                waiter.observe_event(event)
            waiter.end_listing(count)
        fetch = waiter.to_fetch(seen)
        waiter.requests += len(fetch)
        results = await asyncio.gather(*(apoll(hook, assistant_id, event_id) for event_id in fetch))
        for event_id, result in zip(fetch, results, strict=True):
            if isinstance(result, TelnyxApiError) and result.http_status == 404:
                return waiter.missing(result, event_id)
            if isinstance(result, TelnyxApiError):
                raise result
            waiter.observe_event(result)
    except TelnyxApiError as error:
        return waiter.end_cycle(error)
    return waiter.end_cycle(None)
