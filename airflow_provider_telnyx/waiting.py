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

import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
    "WaitPayload",
    "apoll",
    "failure_summary",
    "poll",
    "resolve",
    "wait_blocking",
]

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
    if not event.status.is_terminal:
        raise TelnyxScheduledEventWaitError(f"Scheduled event {event.event_id} is not final ({event.status})")
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
            if result.status.is_terminal:
                return {
                    "status": "final",
                    "event_id": self.event_id,
                    "message": f"Scheduled event {self.event_id} is {result.status.value}",
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
