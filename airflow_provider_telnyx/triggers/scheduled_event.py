"""``TelnyxScheduledEventTrigger``: waits in the triggerer for a scheduled event to become final.

The trigger only reads (``GET``): a triggerer restart re-creates it from :meth:`serialize` and it simply polls
again, with no side effect. Its only write is in :meth:`on_kill`, which Airflow calls when a user marks the
deferred task failed or success or clears it (never on a triggerer restart): a still-``pending`` event is
cancelled then, unless ``cancel_on_kill`` is off.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import nullcontext
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_telnyx.hooks._http import async_timeout
from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
from airflow_provider_telnyx.models import check_seconds
from airflow_provider_telnyx.waiting import (
    DEFAULT_MAX_TRANSIENT_ERRORS,
    EventWaiter,
    ManyEventsWaiter,
    apoll,
    apoll_many,
)

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
        telnyx_conn_id: str,
        poll_interval: float,
        end_time: float | None,
        max_transient_errors: int,
        cancel_on_kill: bool,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # airflow-core's BaseTrigger is not annotated
        check_seconds("poll_interval", poll_interval)
        check_seconds("end_time", end_time, allow_none=True, allow_zero=True)
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

    def _start(self) -> tuple[Callable[[TelnyxHook], Awaitable[Any]], Callable[[], float], Callable[[], Any]]:
        """A fresh wait: one polling cycle (returns the payload when the wait is over), the next delay, and the
        payload of a deadline that passed during a cycle."""
        raise NotImplementedError

    def _remaining(self) -> float | None:
        """Seconds a cycle may take before the deadline cuts it (``None``: no deadline)."""
        if self.end_time is None:
            return None
        return max(self.end_time - self.clock(), 0.0) + DEADLINE_GRACE

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the wait is over and yield its single event (a :mod:`~airflow_provider_telnyx.waiting`
        payload for ``execute_complete``). A cycle still waiting for answers when the deadline passes is cut: the
        deadline holds within :data:`DEADLINE_GRACE`, whatever the API does.

        :return: an async iterator yielding one :class:`TriggerEvent`.
        """
        poll_once, next_sleep, expire = self._start()
        hook = self._hook()
        payload: dict[str, Any]
        try:
            while True:
                remaining = self._remaining()
                try:
                    async with async_timeout(remaining) if remaining is not None else nullcontext():
                        result = await poll_once(hook)
                except TimeoutError:
                    result = expire()
                if result is not None:
                    break
                self.log.debug("%s: not final yet", self._describe())
                await self.sleep(next_sleep())
            payload = dict(result)
        except Exception as error:  # a trigger must never die silently: report, then let execute_complete fail
            self.log.exception("Waiting for %s failed", self._describe())
            payload = {"status": "error", "message": f"{error}"}
        finally:
            await hook.aclose()
        self.log.info("%s: wait over (%s)", self._describe(), payload["status"])
        yield TriggerEvent(payload)  # type: ignore[no-untyped-call]  # airflow-core is not annotated


class TelnyxScheduledEventTrigger(_PollingTrigger):
    """Poll one scheduled event until it is ``completed`` or ``failed``, the deadline passes, or waiting fails.

    Yields exactly one event whose payload is a :class:`~airflow_provider_telnyx.waiting.WaitPayload`:
    ``{"status": "final" | "error" | "timeout", "message", "event_id", "event"}``; the task's
    ``execute_complete`` passes it to :func:`~airflow_provider_telnyx.waiting.resolve`.

    :param assistant_id: the assistant that owns the event.
    :param scheduled_event_id: the event to wait for.
    :param telnyx_conn_id: the Airflow connection (only its id is serialized, never the key).
    :param poll_interval: seconds between polls.
    :param end_time: absolute deadline (epoch seconds); ``None`` for no deadline.
    :param max_transient_errors: consecutive failed polls tolerated (timeouts, 429, 5xx).
    :param cancel_on_kill: cancel the event if it is still pending when a user kills the task.
    """

    def __init__(
        self,
        *,
        assistant_id: str,
        scheduled_event_id: str,
        telnyx_conn_id: str = TelnyxHook.default_conn_name,
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

    def _start(self) -> tuple[Callable[[TelnyxHook], Awaitable[Any]], Callable[[], float], Callable[[], Any]]:
        waiter = EventWaiter(
            event_id=self.scheduled_event_id,
            poll_interval=self.poll_interval,
            deadline=self.end_time,
            max_transient_errors=self.max_transient_errors,
            clock=self.clock,
        )

        async def poll_once(hook: TelnyxHook) -> Any:
            return waiter.observe(await apoll(hook, self.assistant_id, self.scheduled_event_id))

        return poll_once, waiter.next_sleep, waiter.expire

    async def on_kill(self) -> None:
        """Cancel the event if it is still ``pending`` (a user killed the deferred task)."""
        if not self.cancel_on_kill:
            return
        hook = self._hook()
        try:
            await hook.acancel_scheduled_event_if_pending(self.assistant_id, self.scheduled_event_id)
        finally:
            await hook.aclose()


class TelnyxScheduledEventsTrigger(_PollingTrigger):
    """Wait for many scheduled events at once with as few requests as the API allows (see ``ManyEventsWaiter``).

    Yields one event whose payload is a :class:`~airflow_provider_telnyx.waiting.ManyPayload`; the task's
    ``execute_complete`` passes it to :func:`~airflow_provider_telnyx.waiting.resolve_many`.

    :param assistant_id: the assistant that owns the events.
    :param scheduled_event_ids: the events to wait for.
    :param telnyx_conn_id: the Airflow connection (only its id is serialized).
    :param poll_interval: seconds between polling cycles.
    :param end_time: absolute deadline (epoch seconds), or ``None``.
    :param max_transient_errors: consecutive failed cycles tolerated.
    :param cancel_on_kill: cancel the events still pending when a user kills the task.
    """

    def __init__(
        self,
        *,
        assistant_id: str,
        scheduled_event_ids: list[str],
        telnyx_conn_id: str = TelnyxHook.default_conn_name,
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
        self.scheduled_event_ids = [str(event_id) for event_id in scheduled_event_ids]

    serialized = ("scheduled_event_ids", *_PollingTrigger.serialized)

    def _describe(self) -> str:
        return f"{len(self.scheduled_event_ids)} scheduled events"

    def _start(self) -> tuple[Callable[[TelnyxHook], Awaitable[Any]], Callable[[], float], Callable[[], Any]]:
        waiter = ManyEventsWaiter(
            event_ids=self.scheduled_event_ids,
            poll_interval=self.poll_interval,
            deadline=self.end_time,
            max_transient_errors=self.max_transient_errors,
            clock=self.clock,
        )

        async def poll_once(hook: TelnyxHook) -> Any:
            return await apoll_many(hook, self.assistant_id, waiter)

        return poll_once, waiter.next_sleep, waiter.expire

    async def on_kill(self) -> None:
        """Cancel the events that are still ``pending`` (a user killed the deferred task)."""
        if not self.cancel_on_kill:
            return
        hook = self._hook()
        limit = asyncio.Semaphore(10)

        async def cancel(event_id: str) -> bool:
            async with limit:
                return await hook.acancel_scheduled_event_if_pending(self.assistant_id, event_id)

        try:
            cancelled = await asyncio.gather(*(cancel(i) for i in self.scheduled_event_ids), return_exceptions=True)
            self.log.info("Cancelled %d pending scheduled events", sum(result is True for result in cancelled))
        finally:
            await hook.aclose()
