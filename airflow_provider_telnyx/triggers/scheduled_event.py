"""``TelnyxScheduledEventTrigger``: waits in the triggerer for a scheduled event to become final.

The trigger only reads (``GET``): a triggerer restart re-creates it from ``serialize()`` and it simply polls
again, with no side effect. Its only write is in ``on_kill``, which Airflow calls when a user marks the
deferred task failed or success or clears it (never on a triggerer restart): a still-``pending`` event is
cancelled then, unless ``cancel_on_kill`` is off.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import nullcontext
from datetime import datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_telnyx._checks import check_duration, check_timestamp
from airflow_provider_telnyx._common import DEFAULT_CONN_ID, async_timeout, parse_iso_datetime
from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError
from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
from airflow_provider_telnyx.utils.waiting import DEFAULT_MAX_TRANSIENT_ERRORS, EventWaiter, PollingWaiter
from airflow_provider_telnyx.utils.waiting_many import ManyEventsWaiter, final_facts

__all__ = ["DEADLINE_GRACE", "TelnyxScheduledEventTrigger", "TelnyxScheduledEventsTrigger"]

#: How long past its deadline a polling cycle may still run before it is cut.
DEADLINE_GRACE = 1.0


class _PollingTrigger(BaseTrigger):
    """What both triggers share: the connection, the polling cadence, the deadline, and JSON-only kwargs."""

    #: Constructor arguments, serialized in this order (only JSON values, never the key).
    serialized: tuple[str, ...] = (
        "assistant_id",
        "telnyx_conn_id",
        "poll_interval",
        "end_time",
        "max_transient_errors",
        "cancel_on_kill",
    )

    def __init__(
        self,
        *,
        assistant_id: str,
        telnyx_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = 60.0,
        end_time: float | None = None,
        max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS,
        cancel_on_kill: bool = True,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # airflow-core's BaseTrigger is not annotated
        check_duration("poll_interval", poll_interval)
        check_timestamp("end_time", end_time, allow_none=True)
        self.assistant_id = assistant_id
        self.telnyx_conn_id = telnyx_conn_id
        self.poll_interval = float(poll_interval)
        self.end_time = None if end_time is None else float(end_time)
        self.max_transient_errors = int(max_transient_errors)
        self.cancel_on_kill = bool(cancel_on_kill)
        # Not serialized: replaced by tests to run without waiting.
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self.clock: Callable[[], float] = time.time

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and the JSON-safe kwargs that re-create this trigger.

        :return: ``(classpath, kwargs)``.
        """
        return f"{type(self).__module__}.{type(self).__qualname__}", {n: getattr(self, n) for n in self.serialized}

    def _hook(self) -> TelnyxHook:
        return TelnyxHook(telnyx_conn_id=self.telnyx_conn_id, async_sleep=self.sleep)

    def _describe(self) -> str:
        raise NotImplementedError

    def waiter(self) -> PollingWaiter[Any]:
        """A fresh wait's state for this trigger's events, cadence and deadline (the operators' blocking wait uses
        it too, so both ways of waiting follow the same rule)."""
        return self._new_waiter(
            poll_interval=self.poll_interval,
            deadline=self.end_time,
            max_transient_errors=self.max_transient_errors,
            clock=self.clock,
        )

    def _new_waiter(self, **options: Any) -> PollingWaiter[Any]:
        raise NotImplementedError

    def _event_ids(self) -> list[str]:
        """The events a user's kill cancels while still pending."""
        raise NotImplementedError

    def _remaining(self) -> float | None:
        """Seconds a cycle may take before the deadline cuts it (``None``: no deadline)."""
        if self.end_time is None:
            return None
        return max(self.end_time - self.clock(), 0.0) + DEADLINE_GRACE

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the wait is over and yield its single event (a :mod:`~airflow_provider_telnyx.utils.waiting`
        payload for ``execute_complete``). A cycle still waiting for answers when the deadline passes is cut: the
        deadline holds within :data:`DEADLINE_GRACE`, whatever the API does.

        :return: an async iterator yielding one :class:`TriggerEvent`.
        """
        waiter = self.waiter()
        hook = self._hook()
        payload: dict[str, Any]
        try:
            while True:
                remaining = self._remaining()
                try:
                    async with async_timeout(remaining) if remaining is not None else nullcontext():
                        result = await waiter.apoll(hook, self.assistant_id)
                except TimeoutError:
                    result = waiter.expire()
                if result is not None:
                    break
                self.log.debug("%s: not final yet", self._describe())
                await self.sleep(waiter.next_sleep())
            payload = dict(result)
        except Exception as error:  # a trigger must never die silently: report, then let execute_complete fail
            self.log.exception("Waiting for %s failed", self._describe())
            payload = {"status": "error", "message": f"{error}"}
        finally:
            await hook.aclose()
        self.log.info("%s: wait over (%s)", self._describe(), payload["status"])
        yield TriggerEvent(payload)  # type: ignore[no-untyped-call]  # airflow-core is not annotated

    async def on_kill(self) -> None:
        """Cancel the events that are still ``pending`` (a user killed the deferred task), unless
        ``cancel_on_kill`` is off. Airflow calls it only on a user's action, never on a triggerer restart."""
        if not self.cancel_on_kill:
            return
        hook = self._hook()
        limit = asyncio.Semaphore(10)

        async def cancel(event_id: str) -> bool:
            async with limit:
                return await hook.acancel_scheduled_event_if_pending(self.assistant_id, event_id)

        try:
            cancelled = await asyncio.gather(*(cancel(i) for i in self._event_ids()), return_exceptions=True)
            self.log.info("Cancelled %d pending scheduled events", sum(result is True for result in cancelled))
        finally:
            await hook.aclose()


class TelnyxScheduledEventTrigger(_PollingTrigger):
    """Poll one scheduled event until it is ``completed`` or ``failed``, the deadline passes, or waiting fails.

    Yields exactly one event whose payload is a :class:`~airflow_provider_telnyx.utils.waiting.WaitPayload`:
    ``{"status": "final" | "error" | "timeout", "message", "event_id", "event"}``; the task's
    ``execute_complete`` passes it to :func:`~airflow_provider_telnyx.utils.waiting.resolve`.

    :param scheduled_event_id: the event to wait for.
    :param assistant_id: the assistant that owns the event.
    :param telnyx_conn_id: the Airflow connection (default ``telnyx_default``; only its id is serialized, never
        the key).
    :param poll_interval: seconds between polls (default 60).
    :param end_time: absolute deadline (epoch seconds); ``None`` (default) for no deadline.
    :param max_transient_errors: consecutive failed polls tolerated (timeouts, 429, 5xx; default 5).
    :param cancel_on_kill: cancel the event if it is still pending when a user kills the task (default on).
    """

    def __init__(
        self,
        *,
        scheduled_event_id: str,
        assistant_id: str,
        telnyx_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = 60.0,
        end_time: float | None = None,
        max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS,
        cancel_on_kill: bool = True,
    ) -> None:
        super().__init__(
            assistant_id=assistant_id,
            telnyx_conn_id=telnyx_conn_id,
            poll_interval=poll_interval,
            end_time=end_time,
            max_transient_errors=max_transient_errors,
            cancel_on_kill=cancel_on_kill,
        )
        self.scheduled_event_id = scheduled_event_id

    serialized = ("scheduled_event_id", *_PollingTrigger.serialized)

    def _describe(self) -> str:
        return f"scheduled event {self.scheduled_event_id}"

    def _new_waiter(self, **options: Any) -> EventWaiter:
        return EventWaiter(event_id=self.scheduled_event_id, **options)

    def _event_ids(self) -> list[str]:
        return [self.scheduled_event_id]


class TelnyxScheduledEventsTrigger(_PollingTrigger):
    """Wait for many scheduled events at once with as few requests as the API allows (see ``ManyEventsWaiter``).

    Yields one event whose payload is a :class:`~airflow_provider_telnyx.utils.waiting_many.ManyPayload`; the
    task's ``execute_complete`` passes it to :func:`~airflow_provider_telnyx.utils.waiting_many.resolve_many` with
    its input rows.
    Kwargs and payload stay compact: the kwargs carry the ids (and the connection id) and the facts of the events
    already final, the payload per final event only its status, number of call attempts, last call status and
    first error, each bounded; the rows (targets, the batch's outcomes) stay with the task, which has them again
    when it resumes.

    :param scheduled_event_ids: the events to wait for.
    :param assistant_id: the assistant that owns the events.
    :param telnyx_conn_id: the Airflow connection (default ``telnyx_default``; only its id is serialized).
    :param poll_interval: seconds between polling cycles (default 60).
    :param end_time: absolute deadline (epoch seconds), or ``None`` (default).
    :param max_transient_errors: consecutive failed cycles tolerated (default 5).
    :param cancel_on_kill: cancel the events still pending when a user kills the task (default on).
    :param list_from: an ISO time (with its offset) no pending event is scheduled before: the listing starts there
        instead of at the assistant's oldest event; ``None`` (default) when unknown.
    :param already_final: the compact facts of the task's events that were final before it deferred (as the
        payload's ``final`` holds them), returned in the payload with the others: the payload alone settles every
        row, since ``dag.test()`` resumes a task with the trigger's event and not the deferral's kwargs.
    """

    def __init__(
        self,
        *,
        scheduled_event_ids: list[str],
        assistant_id: str,
        telnyx_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = 60.0,
        end_time: float | None = None,
        max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS,
        cancel_on_kill: bool = True,
        list_from: str | None = None,
        already_final: dict[str, list[Any]] | None = None,
    ) -> None:
        super().__init__(
            assistant_id=assistant_id,
            telnyx_conn_id=telnyx_conn_id,
            poll_interval=poll_interval,
            end_time=end_time,
            max_transient_errors=max_transient_errors,
            cancel_on_kill=cancel_on_kill,
        )
        self.scheduled_event_ids = list(dict.fromkeys(str(event_id) for event_id in scheduled_event_ids))
        self._since = _list_from(list_from)
        self.list_from = list_from
        self.already_final = final_facts({"final": already_final or {}})

    serialized = ("scheduled_event_ids", "list_from", "already_final", *_PollingTrigger.serialized)

    def _describe(self) -> str:
        return f"{len(self.scheduled_event_ids)} scheduled events"

    def _new_waiter(self, **options: Any) -> ManyEventsWaiter:
        waiter = ManyEventsWaiter(event_ids=self.scheduled_event_ids, since=self._since, **options)
        waiter.final.update(self.already_final)
        return waiter

    def _event_ids(self) -> list[str]:
        return list(self.scheduled_event_ids)


def _list_from(value: str | None) -> datetime | None:
    """Read the many-events trigger's ``list_from`` (an ISO time with its offset, or ``None``).

    :raises TelnyxInvalidInputError: naming ``list_from`` when it is no such time.
    """
    if value is None:
        return None
    try:
        at = parse_iso_datetime(value) if isinstance(value, str) else None
    except ValueError:
        at = None
    if at is None or at.utcoffset() is None:
        raise TelnyxInvalidInputError(
            [("list_from", "must be an ISO 8601 date-time with its UTC offset, or None")], subject="trigger argument"
        )
    return at
