"""``TelnyxScheduledEventSensor``: wait for a scheduled event's outcome, in poke, reschedule or deferrable mode.

Every mode decides with the same function (:func:`airflow_provider_telnyx.utils.waiting.resolve`), so a completed,
failed, deleted or timed-out event gives the same task state, XCom and exception whichever mode runs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_telnyx._checks import check_duration, check_event_id
from airflow_provider_telnyx._common import (
    DEFAULT_CONN_ID,
    DEFAULT_MAX_TRANSIENT_ERRORS,
    TELNYX_UI_COLOR,
    default_deferrable,
)
from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError
from airflow_provider_telnyx.utils.event_ids import Row, earliest_scheduled_at, event_rows

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger

    from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
    from airflow_provider_telnyx.utils.waiting import EventWaiter, PollingWaiter
    from airflow_provider_telnyx.utils.waiting_many import ManyEventsWaiter

__all__ = ["TelnyxScheduledEventSensor", "TelnyxScheduledEventsSensor"]

#: Task-state-store key of what a wait keeps across reschedules (the consecutive failed checks; for many events,
#: also where the listing starts), see :meth:`~airflow_provider_telnyx.utils.waiting.PollingWaiter.kept`.
STATE_WAIT = "telnyx_wait_state"


_W = TypeVar("_W", bound="PollingWaiter[Any]")


class _WaitSensor(BaseSensorOperator, Generic[_W]):
    """What both sensors share: arguments, the hook, and one way through poke, reschedule and deferrable modes.

    Subclasses say how to check once (:meth:`_check`), how to decide (:meth:`_resolve`) and which trigger waits
    for them (:meth:`_trigger`).
    """

    ui_color = TELNYX_UI_COLOR

    def __init__(
        self,
        *,
        assistant_id: str,
        fail_on_failure: bool = True,
        deferrable: bool = default_deferrable(),
        cancel_on_kill: bool = True,
        max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS,
        telnyx_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_duration("poke_interval", self.poke_interval)
        check_duration("timeout", self.timeout, allow_zero=True)
        if (
            isinstance(max_transient_errors, bool)
            or not isinstance(max_transient_errors, int)
            or max_transient_errors < 0
        ):
            raise TelnyxInvalidInputError(
                [("max_transient_errors", "must be a non-negative integer")], subject="sensor argument"
            )
        self.assistant_id = assistant_id
        self.fail_on_failure = fail_on_failure
        self.deferrable = deferrable
        self.cancel_on_kill = cancel_on_kill
        self.max_transient_errors = max_transient_errors
        self.telnyx_conn_id = telnyx_conn_id

    @cached_property
    def hook(self) -> TelnyxHook:
        """The hook for ``telnyx_conn_id``."""
        from airflow_provider_telnyx.hooks.telnyx import TelnyxHook

        return TelnyxHook(telnyx_conn_id=self.telnyx_conn_id)

    def _check(self) -> Any:
        """Check once (one polling cycle); return the wait's payload when it is over, else ``None``."""
        payload = self._waiter.poll(self.hook, self.assistant_id)
        if payload is None:
            self.log.info("%s: not final yet", self._describe())
        return payload

    def _describe(self) -> str:
        raise NotImplementedError

    def _resolve(self, payload: Any) -> dict[str, Any]:
        """Decide the outcome of a finished wait (the shared status rule)."""
        raise NotImplementedError

    def _trigger(self, end_time: float) -> BaseTrigger:
        """The trigger that waits in the triggerer."""
        raise NotImplementedError

    def _trigger_options(self, end_time: float) -> dict[str, Any]:
        """The arguments every trigger of ours takes, from this sensor's."""
        return {
            "assistant_id": self.assistant_id,
            "telnyx_conn_id": self.telnyx_conn_id,
            "poll_interval": self.poke_interval,
            "end_time": end_time,
            "max_transient_errors": self.max_transient_errors,
            "cancel_on_kill": self.cancel_on_kill,
        }

    def _check_arguments(self) -> None:
        """Refuse rendered arguments no request can succeed with (before any request)."""

    @cached_property
    def _waiter(self) -> _W:
        """The wait's state (for reschedule mode, taken back from the task state store on every poke)."""
        raise NotImplementedError

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """Check once.

        In reschedule mode every poke is a new process with a new sensor: what the wait must remember (the count of
        consecutive failed checks, so ``max_transient_errors`` holds across reschedules; for many events, where
        the listing starts) is kept in the task state store between them (Airflow 3.3).

        :param context: the task's context.
        :return: ``False`` to keep waiting, or a done ``PokeReturnValue`` carrying the outcome.
        """
        store = context.get("task_state_store") if self.reschedule else None
        waiter = self._waiter
        if store is not None:
            waiter.resume(store.get(STATE_WAIT))
        before = waiter.kept()
        payload = self._check()
        if store is not None and waiter.kept() != before:
            store.set(STATE_WAIT, waiter.kept())
        if payload is None:
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._resolve(payload))

    def execute(self, context: Context) -> Any:
        """Poke (or reschedule) as usual; when deferrable, check once, then wait in the triggerer.

        Deferrable mode settles a first check that is already final through ``resume_execution``, the path
        a resumed task takes, so its outcome matches a trigger-delivered one exactly.

        :param context: the task's context.
        """
        self._check_arguments()
        if not self.deferrable:
            return super().execute(context)
        payload = self._check()
        if payload is not None:
            return self.resume_execution("execute_complete", {"event": payload}, context)
        self.defer(
            trigger=self._trigger(time.time() + self.timeout),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )


class TelnyxScheduledEventSensor(_WaitSensor["EventWaiter"]):
    """Wait until a scheduled event is ``completed`` (success) or ``failed``.

    A ``failed`` event raises :class:`~airflow_provider_telnyx.exceptions.TelnyxScheduledEventFailedError`
    (carrying the event, its ``errors`` and a summary of every call attempt) unless ``fail_on_failure=False``,
    in which case the sensor succeeds and returns the failed event for downstream branching. The final event is
    returned to XCom in every mode. Transient API errors (timeouts, 429, 5xx) are tolerated up to
    ``max_transient_errors`` consecutive polls; 401/403/404 fail at once (404: the event was deleted).

    .. seealso::
        The how-to guide: ``docs/howto/sensor.md``.

    :param assistant_id: the assistant that owns the event. (templated)
    :param scheduled_event_id: the event, typically
        ``{{ ti.xcom_pull(task_ids='schedule_call', key='scheduled_event_id') }}``. (templated)
    :param fail_on_failure: fail the task when the event ``failed`` (default); else return it.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param cancel_on_kill: when deferred, cancel the event if a user kills the task while it is still pending.
    :param max_transient_errors: consecutive failed polls tolerated.
    :param telnyx_conn_id: the Airflow connection to use. (templated)
    :param kwargs: ``poke_interval``, ``timeout``, ``mode``, ``soft_fail`` and the other
        ``BaseSensorOperator`` arguments.
    """

    template_fields: Sequence[str] = ("assistant_id", "scheduled_event_id", "telnyx_conn_id")

    def __init__(self, *, assistant_id: str, scheduled_event_id: str, **kwargs: Any) -> None:
        super().__init__(assistant_id=assistant_id, **kwargs)
        self.scheduled_event_id = scheduled_event_id

    @cached_property
    def _waiter(self) -> EventWaiter:
        # The sensor's own timeout bounds poke and reschedule modes; the waiter only counts transient errors.
        from airflow_provider_telnyx.utils.waiting import EventWaiter

        return EventWaiter(
            event_id=self.scheduled_event_id,
            poll_interval=self.poke_interval,
            max_transient_errors=self.max_transient_errors,
        )

    def _check_arguments(self) -> None:
        check_event_id(self.scheduled_event_id)

    def _describe(self) -> str:
        return f"scheduled event {self.scheduled_event_id}"

    def _resolve(self, payload: Any) -> dict[str, Any]:
        from airflow_provider_telnyx.utils.waiting import resolve

        return resolve(payload, fail_on_failure=self.fail_on_failure)

    def _trigger(self, end_time: float) -> BaseTrigger:
        from airflow_provider_telnyx.triggers.scheduled_event import TelnyxScheduledEventTrigger

        return TelnyxScheduledEventTrigger(
            scheduled_event_id=self.scheduled_event_id, **self._trigger_options(end_time)
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger with the same status rule as ``poke``.

        :param context: the task's context.
        :param event: the trigger's payload.
        :return: the final event.
        """
        return self._resolve(event)


class TelnyxScheduledEventsSensor(_WaitSensor["ManyEventsWaiter"]):
    """Wait until every one of many scheduled events is final, polling them together.

    Each poll lists the assistant's events 100 at a time from the rows' earliest scheduled time, or fetches the
    pending ones one by one when that takes fewer requests, so a thousand pending calls cost about ten requests a
    poll, not a thousand, whatever the account's history (in reschedule mode too: where the listing starts is kept
    in the task state store between pokes). The outcome follows the single-event rule for each event: with
    ``fail_on_failure`` (default) the task fails if any event ``failed`` or was deleted, naming how many and
    summarising the first three; otherwise it returns, in every mode, ``{"items": [...], "counts": {...}}``: one
    item per input row (``index``, ``scheduled_event_id``, ``status``, ``outcome``, ``attempts``, ``error``; given
    the batch's summary, also ``batch_outcome`` and the target, and the rows the batch did not create with their
    batch outcome), for downstream branching. An event that no longer exists (404: someone deleted it, e.g.
    cancelled the call) is its row's outcome ``deleted``; the wait goes on for the others.

    .. seealso::
        The how-to guide: ``docs/howto/sensor.md``.

    :param assistant_id: the assistant that owns the events. (templated)
    :param scheduled_event_ids: the event ids, an ``XComArg``, or the batch operator's summary (then the result
        has one item per batch row, keyed by its ``index``). (templated)
    :param fail_on_failure: fail the task when any event failed or was deleted before it completed (default); rows
        the batch did not create never fail it.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param cancel_on_kill: when deferred, cancel the still-pending events if a user kills the task.
    :param max_transient_errors: consecutive failed polls tolerated.
    :param telnyx_conn_id: the Airflow connection to use. (templated)
    :param kwargs: ``poke_interval``, ``timeout``, ``mode``, ``soft_fail`` and the other sensor arguments.
    """

    template_fields: Sequence[str] = ("assistant_id", "scheduled_event_ids", "telnyx_conn_id")

    def __init__(self, *, assistant_id: str, scheduled_event_ids: Any, **kwargs: Any) -> None:
        super().__init__(assistant_id=assistant_id, **kwargs)
        self.scheduled_event_ids = scheduled_event_ids

    @cached_property
    def _rows(self) -> list[Row]:
        return event_rows(self.scheduled_event_ids)

    @cached_property
    def _waiter(self) -> ManyEventsWaiter:
        from airflow_provider_telnyx.utils.waiting_many import ManyEventsWaiter

        return ManyEventsWaiter(
            event_ids=[row.scheduled_event_id for row in self._rows if row.scheduled_event_id],
            poll_interval=self.poke_interval,
            max_transient_errors=self.max_transient_errors,
            since=earliest_scheduled_at(self._rows),
        )

    def _check_arguments(self) -> None:
        self._rows  # noqa: B018  # parsed (and refused if unreadable) before any request

    def _describe(self) -> str:
        return f"{len(self._waiter.pending)} scheduled events still pending"

    def _resolve(self, payload: Any) -> dict[str, Any]:
        from airflow_provider_telnyx.utils.waiting_many import resolve_many

        return resolve_many(payload, rows=self._rows, fail_on_failure=self.fail_on_failure)

    def _trigger(self, end_time: float) -> BaseTrigger:
        from airflow_provider_telnyx.triggers.scheduled_event import TelnyxScheduledEventsTrigger

        pending = list(self._waiter.pending)
        start = self._waiter.list_from()
        # Events already final before deferring are not in the trigger's list: the trigger carries their compact
        # facts into its payload (the rows themselves are the rendered argument again when the task resumes).
        return TelnyxScheduledEventsTrigger(
            scheduled_event_ids=pending,
            list_from=start.isoformat() if start is not None else None,
            already_final=self._waiter.final,
            **self._trigger_options(end_time),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger with the same rule as ``poke``.

        :param context: the task's context.
        :param event: the trigger's payload (it settles every row: the events final before the deferral too).
        """
        return self._resolve(event)
