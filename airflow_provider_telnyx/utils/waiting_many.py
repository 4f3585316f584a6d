"""Waiting for many scheduled events at once with as few requests as the API allows, and what it tells per input
row.

A wait is given rows (:class:`~airflow_provider_telnyx.utils.event_ids.Row`: the batch operator's summary, one
per input row, or a list of ids) and waits for their distinct events. What it reports (:class:`ManyPayload`, also
the many-events trigger's payload) stays compact: per final event its status, number of call attempts, last call
status and first error, each bounded.
:func:`resolve_many` is the one rule that turns it into the result: one entry per input row, and the counts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypedDict

from airflow_provider_telnyx._common import parse_iso_datetime
from airflow_provider_telnyx.exceptions import (
    TelnyxApiError,
    TelnyxInvalidResponseError,
    TelnyxScheduledEventFailedError,
    TelnyxScheduledEventWaitError,
)
from airflow_provider_telnyx.hooks.endpoints import Steps, event_request, events_pager, read_event
from airflow_provider_telnyx.models import EventStatus, ScheduledEvent
from airflow_provider_telnyx.utils.event_ids import Row, rows_from_ids
from airflow_provider_telnyx.utils.waiting import (
    DEFAULT_MAX_TRANSIENT_ERRORS,
    PollingWaiter,
    next_sleep,
    settled,
    warn_unknown_status,
)

__all__ = [
    "DELETED",
    "MAX_FACT_ERROR",
    "MAX_FACT_TEXT",
    "ManyEventsWaiter",
    "ManyPayload",
    "event_facts",
    "final_facts",
    "resolve_many",
]

#: Longest status or call status kept per event in a wait's payload.
MAX_FACT_TEXT = 32
#: Longest error kept per failed event in a wait's payload (its first error).
MAX_FACT_ERROR = 120
#: Batch outcomes of rows that have no event (the wait's result carries them as the row's outcome).
NOT_CREATED = ("invalid", "failed", "skipped", "not_sent")
#: The status and outcome of a row whose event no longer exists (404: someone deleted it, e.g. cancelled the call).
DELETED = "deleted"
#: The error a deleted event's row carries.
DELETED_ERROR = "no longer exists (404): deleted before it completed"

log = logging.getLogger(__name__)


def _short(text: Any, limit: int) -> str | None:
    if text is None:
        return None
    value = str(text)
    return value if len(value) <= limit else value[: limit - 3] + "..."


def event_facts(event: ScheduledEvent) -> list[Any]:
    """What a wait keeps of a final event: ``[status, call attempts, last call status, first error]``, bounded
    whatever the event holds (a payload of 10,000 events stays a few hundred kilobytes).

    :param event: the final event.
    """
    attempts = event.attempts
    last = attempts[-1].call_status if attempts else getattr(event, "call_status", None)
    error = (event.errors or [None])[0]
    return [
        _short(event.status_text, MAX_FACT_TEXT),
        len(attempts),
        _short(last, MAX_FACT_TEXT),
        _short(error, MAX_FACT_ERROR),
    ]


class ManyPayload(TypedDict, total=False):
    """What a finished wait for many events reports (and what the many-events trigger yields).

    ``final`` maps each final event's id to :func:`event_facts`; ``pending`` lists the events not final yet.
    """

    status: Literal["final", "error", "timeout"]
    message: str
    final: dict[str, list[Any]]
    pending: list[str]
    requests: int


@dataclass
class ManyEventsWaiter(PollingWaiter[ManyPayload]):
    """Wait for many events with as few requests as the API allows, without I/O.

    Each cycle it chooses between listing the assistant's events (100 per request, from the earliest pending
    event's scheduled time on) and fetching the pending events one by one, whichever needs fewer requests by
    what the last listing showed. Events the listing did not show are fetched individually; a listing page that
    cannot be read does not end the wait either (the pending events are fetched instead, that cycle). An event
    that no longer exists (404) is final for the wait, with the status ``deleted``: its row's own outcome.

    A new waiter knows no pending event's time: ``since`` (the rows' earliest ``scheduled_at``, or what an earlier
    poke kept, see :meth:`kept`) starts its listing there instead of at the assistant's oldest event, so a cycle
    costs what the pending events need, not what the account's history holds. Scheduled times only move later
    (a retried call is re-timed to now + its interval), so the earliest time once seen stays a lower bound.

    :param event_ids: the events to wait for.
    :param poll_interval: seconds between cycles.
    :param deadline: wall-clock deadline (epoch seconds), or ``None``.
    :param max_transient_errors: consecutive failed cycles tolerated.
    :param clock: the wall clock (epoch seconds).
    :param since: a time no pending event is scheduled before, or ``None`` when unknown.
    """

    event_ids: list[str]
    poll_interval: float
    deadline: float | None = None
    max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS
    clock: Callable[[], float] = time.time
    since: datetime | None = None
    pending: dict[str, datetime | None] = field(init=False)
    final: dict[str, list[Any]] = field(default_factory=dict, init=False)
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
        """The listing's ``from_date``: the earliest scheduled time among pending events when every one is known,
        else ``since``.

        :return: the time, or ``None`` when neither is known (the listing starts at the oldest event).
        """
        times = [t for t in self.pending.values() if t is not None]
        if self.pending and len(times) == len(self.pending):
            return min(times)
        return self.since

    def kept(self) -> dict[str, Any]:
        """What a reschedule poke keeps for the next: the count of failed cycles, where the listing starts and how
        long the last one was (so the next poke's new waiter decides and costs like this one's next cycle)."""
        start = self.list_from()
        return {
            **super().kept(),
            "list_from": start.isoformat() if start is not None else None,
            "listed_total": self.listed_total,
        }

    def resume(self, kept: Any) -> None:
        """Take back what an earlier poke kept (:meth:`kept`); anything unreadable is ignored.

        :param kept: the value read from the task state store.
        """
        super().resume(kept)
        if not isinstance(kept, Mapping):
            return
        start = kept.get("list_from")
        if isinstance(start, str):
            try:
                at: datetime | None = parse_iso_datetime(start)
            except ValueError:
                at = None
            if at is not None and at.utcoffset() is not None:
                self.since = at if self.since is None else max(self.since, at)
        total = kept.get("listed_total")
        if self.listed_total is None and isinstance(total, int) and not isinstance(total, bool) and total >= 0:
            self.listed_total = total

    def listing_budget(self) -> int:
        """How many events a listing may go through before it costs more than fetching every pending event
        would (it then stops early). Taken at the start of the cycle, before events are ticked off.

        :return: the number of events.
        """
        return 100 * max(len(self.pending), 1) + 100

    def end_listing(self, count: int, pages: int | None = None) -> None:
        """Record how many events a listing returned (its cost, and the estimate for the next cycle).

        :param count: events listed.
        :param pages: requests it took (default: what ``count`` events need).
        """
        self.listed_total = count
        self.requests += max(1, -(-count // 100)) if pages is None else pages

    def to_fetch(self, listed: set[str]) -> list[str]:
        """Pending events to fetch one by one this cycle: those the listing (if any) did not show.

        :param listed: ids the listing showed.
        """
        return [event_id for event_id in self.pending if event_id not in listed]

    def gone(self, event_id: str) -> None:
        """A pending event no longer exists (404): someone deleted it (cancelled the call) before it was final. It
        is final for this wait, with the status ``deleted``; the wait goes on for the others.

        :param event_id: the event.
        """
        if event_id in self.pending:
            del self.pending[event_id]
            self.final[event_id] = [DELETED, 0, None, DELETED_ERROR]

    def observe_event(self, event: ScheduledEvent) -> None:
        """Record one event seen in a listing or a fetch (events we do not wait for are ignored)."""
        if event.event_id not in self.pending:
            return
        warn_unknown_status(event, self._warned)
        if not event.is_final:
            self.pending[event.event_id] = event.scheduled_at_fixed_datetime
            return
        del self.pending[event.event_id]
        self.final[event.event_id] = event_facts(event)

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
            statuses = [facts[0] for facts in self.final.values()]
            completed, deleted = statuses.count(EventStatus.COMPLETED.value), statuses.count(DELETED)
            message = f"{completed} scheduled events completed, {len(statuses) - completed - deleted} failed"
            return self._payload("final", message + (f", {deleted} deleted" if deleted else ""))
        if self.deadline is not None and self.clock() >= self.deadline:
            return self._payload("timeout", f"{len(self.pending)} scheduled events were not final before the deadline")
        return None

    def expire(self) -> ManyPayload:
        """The deadline passed while a cycle was still waiting for answers: the wait is over.

        :return: the timeout payload.
        """
        return self._payload("timeout", f"{len(self.pending)} scheduled events were not final before the deadline")

    def _payload(self, status: Literal["final", "error", "timeout"], message: str) -> ManyPayload:
        payload: ManyPayload = {
            "status": status,
            "message": message,
            "pending": list(self.pending),
            "requests": self.requests,
        }
        if status == "final":
            payload["final"] = dict(self.final)
        return payload

    def next_sleep(self) -> float:
        """Seconds to wait before the next cycle (never past the deadline)."""
        return next_sleep(self.poll_interval, self.deadline, self.clock)

    def cycle(self, assistant_id: str) -> Steps[ManyPayload | None]:
        """One polling cycle, as steps: a listing (bounded by :meth:`listing_budget`) when it is cheaper, then the
        pending events the listing did not show, fetched together (concurrently on the async side). A listing page
        that cannot be read (an odd event of another task's, an endless listing) only ends the listing: the pending
        events are fetched instead. A 404 for one event is that event's ``deleted`` status.

        :param assistant_id: the assistant that owns the events.
        :return: the steps, returning the payload when the wait is over, else ``None``.
        """
        try:
            seen: set[str] = set()
            if self.use_list():
                count, pages, budget = 0, 0, self.listing_budget()
                pager = events_pager(assistant_id, from_date=self.list_from())
                done = False
                try:
                    while not done and count <= budget:
                        request = pager.request()
                        pages += 1
                        events, done = pager.read(request, (yield request))
                        for event in events[: max(budget - count, 0)]:
                            seen.add(event.event_id)
                            self.observe_event(event)
                        count += len(events)
                except TelnyxInvalidResponseError as error:
                    log.warning(
                        "The listing of assistant %s could not be read on (%s): the %d pending events it did not "
                        "show are fetched one by one this cycle",
                        assistant_id,
                        error,
                        len(self.to_fetch(seen)),
                    )
                self.end_listing(count, pages)
            fetch = self.to_fetch(seen)
            self.requests += len(fetch)
            requests = [event_request(assistant_id, event_id) for event_id in fetch]
            results = yield requests
            for event_id, request, result in zip(fetch, requests, results, strict=True):
                if isinstance(result, TelnyxApiError):
                    if result.http_status == 404:
                        self.gone(event_id)
                        continue
                    raise result
                self.observe_event(read_event(request, result, event_id))
        except TelnyxApiError as error:
            return self.end_cycle(error)
        return self.end_cycle(None)


def final_facts(payload: Mapping[str, Any]) -> dict[str, list[Any]]:
    """The final events' facts in a payload, keyed by id (also from the ``completed``/``failed`` lists a trigger
    of an earlier version reports).

    :param payload: a :class:`ManyPayload` (or the facts carried across a deferral).
    """
    final = payload.get("final")
    facts: dict[str, list[Any]] = {}
    for event_id in payload.get("completed") or []:
        facts[str(event_id)] = [EventStatus.COMPLETED.value, 0, None, None]
    for entry in payload.get("failed") or []:
        if isinstance(entry, Mapping) and entry.get("scheduled_event_id"):
            error = (entry.get("errors") or [None])[0]
            facts[str(entry["scheduled_event_id"])] = [EventStatus.FAILED.value, 0, None, _short(error, MAX_FACT_ERROR)]
    if isinstance(final, Mapping):
        for event_id, value in final.items():
            if isinstance(value, list | tuple) and len(value) == 4:
                facts[str(event_id)] = list(value)
    return facts


def _row_result(row: Row, final: Mapping[str, list[Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "index": row.index,
        "scheduled_event_id": row.scheduled_event_id,
        "status": None,
        "outcome": None,
        "attempts": {"count": 0, "last_call_status": None},
        "error": None,
    }
    if row.batch_outcome is not None:
        result["batch_outcome"] = row.batch_outcome
    result.update(row.carried)
    if row.scheduled_event_id is None:
        result["outcome"] = row.batch_outcome if row.batch_outcome in NOT_CREATED else "not_created"
        return result
    facts = final.get(row.scheduled_event_id)
    if facts is None:
        raise TelnyxScheduledEventWaitError(
            f"The wait reported no outcome for scheduled event {row.scheduled_event_id} (row {row.index})"
        )
    status, count, last, error = facts
    result["status"] = status
    result["outcome"] = status if status in (EventStatus.COMPLETED.value, DELETED) else "failed"
    result["attempts"] = {"count": count, "last_call_status": last}
    result["error"] = error  # the event's own (the batch had none for a row it created)
    return result


def _failure_line(item: Mapping[str, Any]) -> str:
    target = f" to {item['end_user_target']}" if item.get("end_user_target") else ""
    if item["status"] == DELETED:
        return f"row {item['index']}: scheduled event {item['scheduled_event_id']}{target} {DELETED_ERROR}"
    line = f"row {item['index']}: scheduled event {item['scheduled_event_id']}{target} failed"
    if item.get("error"):
        line += f"; errors: {item['error']}"
    attempts = item["attempts"]
    if attempts["count"]:
        line += f"; {attempts['count']} call attempt(s), last {attempts['last_call_status']}"
    return line


def resolve_many(payload: Any, *, rows: Sequence[Row] | None = None, fail_on_failure: bool = True) -> dict[str, Any]:
    """Decide the outcome of a wait for many events: the same rule as
    :func:`~airflow_provider_telnyx.utils.waiting.resolve`, over every input row.

    :param payload: a :class:`ManyPayload`.
    :param rows: the input rows (:func:`~airflow_provider_telnyx.utils.event_ids.event_rows`); default: one per
        event reported.
    :param fail_on_failure: raise when any event ``failed`` or was ``deleted`` (it did not complete: someone
        cancelled it); otherwise return the result. Rows the batch did not create (``invalid``, ``failed``,
        ``skipped``) never make the wait fail: the batch already decided on them.
    :return: ``{"items": [...], "counts": {...}}``: per row ``index``, ``scheduled_event_id``, ``status`` (the
        event's final status, ``deleted`` when it no longer exists, ``None`` without an event), ``outcome``
        (``completed``, ``failed``, ``deleted``, ``invalid``, ``skipped``, ...), ``attempts``
        (``{"count", "last_call_status"}``), ``error``, and from a batch summary ``batch_outcome``,
        ``end_user_target`` and ``end_user_target_input``; ``counts`` by outcome and ``total``.
    :raises TelnyxScheduledEventFailedError: some events failed or were deleted and ``fail_on_failure`` is set.
    :raises TelnyxScheduledEventWaitError: the wait ended in an error, or the payload is unreadable.
    :raises TelnyxWaitTimeoutError: the deadline passed first.
    """
    settled(payload)
    final = final_facts(payload)
    if rows is None:
        rows = rows_from_ids(list(final))
    items = [_row_result(row, final) for row in rows]
    counts = dict.fromkeys(("completed", "failed", "invalid", "skipped"), 0)
    for item in items:
        counts[item["outcome"]] = counts.get(item["outcome"], 0) + 1
    counts["total"] = len(items)
    result = {"items": items, "counts": counts}
    failed = [item for item in items if item["status"] in (EventStatus.FAILED.value, DELETED)]
    if failed and fail_on_failure:
        events = sum(item["scheduled_event_id"] is not None for item in items)
        deleted = sum(item["status"] == DELETED for item in failed)
        first = " | ".join(_failure_line(item) for item in failed[:3])
        how = f" ({deleted} of them deleted before they completed)" if deleted else ""
        raise TelnyxScheduledEventFailedError(
            f"{len(failed)} of {events} scheduled events failed{how}. First: {first}", event=result
        )
    return result
