"""Waiting for scheduled events: the one status rule, and waiters that own their polling.

* :func:`resolve` (and :func:`~airflow_provider_telnyx.utils.waiting_many.resolve_many` for many events) is the
  single function that turns what a wait observed into an outcome: it returns the final event, or raises
  :class:`~airflow_provider_telnyx.exceptions.TelnyxScheduledEventFailedError`,
  :class:`~airflow_provider_telnyx.exceptions.TelnyxScheduledEventWaitError` or
  :class:`~airflow_provider_telnyx.exceptions.TelnyxWaitTimeoutError`. The sensors' ``poke``, the operators'
  blocking waits and every ``execute_complete`` call it, so poke, reschedule and deferrable modes agree.
* A waiter (:class:`EventWaiter`, :class:`~airflow_provider_telnyx.utils.waiting_many.ManyEventsWaiter`) is the
  wait's state machine. Its polling cycle is written once as steps (:meth:`PollingWaiter.cycle`); the operators and
  sensors run it with the sync hook (``waiter.poll(hook, ...)``), the triggers with the async one
  (``await waiter.apoll(hook, ...)``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypedDict, TypeVar

from pydantic import ValidationError

from airflow_provider_telnyx._common import DEFAULT_MAX_TRANSIENT_ERRORS
from airflow_provider_telnyx.exceptions import (
    TelnyxApiError,
    TelnyxScheduledEventFailedError,
    TelnyxScheduledEventWaitError,
    TelnyxWaitTimeoutError,
)
from airflow_provider_telnyx.hooks.endpoints import Steps, event_request, read_event
from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
from airflow_provider_telnyx.models import EventStatus, ScheduledEvent, parse_scheduled_event

__all__ = [
    "DEFAULT_MAX_TRANSIENT_ERRORS",
    "EventWaiter",
    "PollingWaiter",
    "WaitPayload",
    "failure_summary",
    "next_sleep",
    "resolve",
    "settled",
    "wait_blocking",
    "warn_unknown_status",
]

log = logging.getLogger(__name__)


class WaitPayload(TypedDict, total=False):
    """What a finished wait reports (and what the trigger yields).

    ``status`` is ``final`` (the event reached ``completed`` or ``failed``), ``error`` or ``timeout``.
    """

    status: Literal["final", "error", "timeout"]
    message: str
    event_id: str
    event: dict[str, Any]


_P = TypeVar("_P")


class PollingWaiter(Generic[_P]):
    """What every waiter offers: a polling cycle written once as steps, run with either side of the hook.

    Subclasses define :meth:`cycle`, :meth:`next_sleep` and :meth:`expire`; the payload type ``_P`` is what a
    finished wait reports.
    """

    transient_errors: int

    def cycle(self, assistant_id: str) -> Steps[_P | None]:
        """One polling cycle, as steps: returns the payload when the wait is over, else ``None``."""
        raise NotImplementedError

    def next_sleep(self) -> float:
        """Seconds to wait before the next cycle (never past the deadline)."""
        raise NotImplementedError

    def expire(self) -> _P:
        """The payload of a wait whose deadline passed while a cycle was still waiting for answers."""
        raise NotImplementedError

    def kept(self) -> dict[str, Any]:
        """What a reschedule-mode sensor keeps in the task state store between pokes (each poke is a new process
        with a new waiter): JSON values, read back by :meth:`resume`."""
        return {"transient_errors": self.transient_errors}

    def resume(self, kept: Any) -> None:
        """Take back what an earlier poke kept (:meth:`kept`); anything unreadable is ignored.

        :param kept: the value read from the task state store (``None`` on the first poke).
        """
        if isinstance(kept, Mapping):
            count = kept.get("transient_errors")
            if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
                self.transient_errors = count

    def poll(self, hook: TelnyxHook, assistant_id: str) -> _P | None:
        """Run one cycle with the sync hook: the payload when the wait is over, else ``None``."""
        return hook.run(self.cycle(assistant_id))

    async def apoll(self, hook: TelnyxHook, assistant_id: str) -> _P | None:
        """Async twin of :meth:`poll` (a cycle's independent requests run concurrently)."""
        return await hook.arun(self.cycle(assistant_id))


def next_sleep(poll_interval: float, deadline: float | None, clock: Callable[[], float]) -> float:
    """Seconds to wait before the next poll: the interval, never past the deadline.

    :param poll_interval: seconds between polls.
    :param deadline: wall-clock deadline (epoch seconds), or ``None``.
    :param clock: the wall clock.
    """
    if deadline is None:
        return poll_interval
    return max(min(poll_interval, deadline - clock()), 0.0)


def settled(payload: Any) -> str:
    """Check a finished wait's payload (from a waiter or a trigger) before deciding its outcome.

    :return: its message, when the wait reached final events.
    :raises TelnyxScheduledEventWaitError: the payload is unreadable, or the wait ended in an error.
    :raises TelnyxWaitTimeoutError: the deadline passed first.
    """
    if not isinstance(payload, dict) or payload.get("status") not in ("final", "error", "timeout"):
        raise TelnyxScheduledEventWaitError(f"Unreadable wait result from the trigger: {payload!r:.300}")
    message = str(payload.get("message") or "")
    if payload["status"] == "timeout":
        raise TelnyxWaitTimeoutError(message or "Timed out waiting for the scheduled event")
    if payload["status"] == "error":
        raise TelnyxScheduledEventWaitError(message or "Waiting for the scheduled event failed")
    return message


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
    settled(payload)
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
class EventWaiter(PollingWaiter[WaitPayload]):
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
        """Seconds to wait before the next poll (never past the deadline)."""
        return next_sleep(self.poll_interval, self.deadline, self.clock)

    def cycle(self, assistant_id: str) -> Steps[WaitPayload | None]:
        """One poll, as steps (``hook.run`` or ``await hook.arun`` them).

        :param assistant_id: the assistant that owns the event.
        :return: the steps, returning the payload when the wait is over, else ``None``.
        """
        request = event_request(assistant_id, self.event_id)
        try:
            event = read_event(request, (yield request), self.event_id)
        except TelnyxApiError as error:
            return self.observe(error)
        return self.observe(event)


def wait_blocking(
    hook: TelnyxHook, assistant_id: str, waiter: PollingWaiter[_P], sleep: Callable[[float], None] = time.sleep
) -> _P:
    """Poll with the sync hook until ``waiter`` says the wait is over (holds the worker slot).

    :param waiter: the wait's state (one event or many).
    :param sleep: how to wait between polls.
    :return: the payload to pass to the waiter's resolve function.
    """
    while (payload := waiter.poll(hook, assistant_id)) is None:
        sleep(waiter.next_sleep())
    return payload
