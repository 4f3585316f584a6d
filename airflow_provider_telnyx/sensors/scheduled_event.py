"""``TelnyxScheduledEventSensor``: wait for a scheduled event's outcome, in poke, reschedule or deferrable mode.

Every mode decides with the same function (:func:`airflow_provider_telnyx.waiting.resolve`), so a completed,
failed, deleted or timed-out event gives the same task state, XCom and exception whichever mode runs.
"""

from __future__ import annotations

import ast
import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError
from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
from airflow_provider_telnyx.operators.scheduled_event import TELNYX_UI_COLOR, default_deferrable
from airflow_provider_telnyx.triggers.scheduled_event import TelnyxScheduledEventsTrigger, TelnyxScheduledEventTrigger
from airflow_provider_telnyx.waiting import (
    DEFAULT_MAX_TRANSIENT_ERRORS,
    EventWaiter,
    ManyEventsWaiter,
    poll,
    poll_many,
    resolve,
    resolve_many,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["TelnyxScheduledEventSensor", "TelnyxScheduledEventsSensor", "event_id_list"]


class TelnyxScheduledEventSensor(BaseSensorOperator):
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
    ui_color = TELNYX_UI_COLOR

    def __init__(
        self,
        *,
        assistant_id: str,
        scheduled_event_id: str,
        fail_on_failure: bool = True,
        deferrable: bool = default_deferrable(),
        cancel_on_kill: bool = True,
        max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS,
        telnyx_conn_id: str = TelnyxHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.assistant_id = assistant_id
        self.scheduled_event_id = scheduled_event_id
        self.fail_on_failure = fail_on_failure
        self.deferrable = deferrable
        self.cancel_on_kill = cancel_on_kill
        self.max_transient_errors = max_transient_errors
        self.telnyx_conn_id = telnyx_conn_id

    @cached_property
    def hook(self) -> TelnyxHook:
        """The hook for ``telnyx_conn_id``."""
        return TelnyxHook(telnyx_conn_id=self.telnyx_conn_id)

    @cached_property
    def _waiter(self) -> EventWaiter:
        # The sensor's own timeout bounds poke and reschedule modes; the waiter only counts transient errors.
        return EventWaiter(
            event_id=self.scheduled_event_id,
            poll_interval=self.poke_interval,
            max_transient_errors=self.max_transient_errors,
        )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """Check the event once.

        :param context: the task's context.
        :return: ``False`` to keep waiting, or a done ``PokeReturnValue`` carrying the final event.
        """
        payload = self._waiter.observe(poll(self.hook, self.assistant_id, self.scheduled_event_id))
        if payload is None:
            self.log.info("Scheduled event %s is not final yet", self.scheduled_event_id)
            return False
        return PokeReturnValue(is_done=True, xcom_value=resolve(payload, fail_on_failure=self.fail_on_failure))

    def execute(self, context: Context) -> Any:
        """Poke (or reschedule) as usual; when deferrable, check once, then wait in the triggerer.

        Deferrable mode settles a first check that is already final through ``resume_execution``, the path
        a resumed task takes, so its outcome matches a trigger-delivered one exactly.

        :param context: the task's context.
        :return: the final event.
        """
        if not self.deferrable:
            return super().execute(context)
        payload = self._waiter.observe(poll(self.hook, self.assistant_id, self.scheduled_event_id))
        if payload is not None:
            # Already over: resume exactly as a deferred task would, so soft_fail and friends apply the same way.
            return self.resume_execution("execute_complete", {"event": payload}, context)
        self.defer(
            trigger=TelnyxScheduledEventTrigger(
                assistant_id=self.assistant_id,
                scheduled_event_id=self.scheduled_event_id,
                telnyx_conn_id=self.telnyx_conn_id,
                poll_interval=self.poke_interval,
                end_time=time.time() + self.timeout,
                max_transient_errors=self.max_transient_errors,
                cancel_on_kill=self.cancel_on_kill,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger with the same status rule as ``poke``.

        :param context: the task's context.
        :param event: the trigger's payload.
        :return: the final event.
        """
        return resolve(event, fail_on_failure=self.fail_on_failure)


def event_id_list(value: Any) -> list[str]:
    """Accept a list of ids, or the string a Jinja template renders a list to.

    :param value: the rendered ``scheduled_event_ids``.
    :return: the ids.
    :raises TelnyxInvalidInputError: when it is not a list of non-empty strings.
    """
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            value = [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, dict) and "scheduled_event_ids" in value:  # the batch operator's summary
        value = [event_id for event_id in value["scheduled_event_ids"] if event_id]
    if not isinstance(value, list | tuple) or not all(isinstance(i, str) and i for i in value):
        raise TelnyxInvalidInputError(
            [("scheduled_event_ids", "must be a list of event ids (or a batch summary)")], subject="sensor argument"
        )
    return list(value)


class TelnyxScheduledEventsSensor(BaseSensorOperator):
    """Wait until every one of many scheduled events is final, polling them together.

    Each poll lists the assistant's events 100 at a time, or fetches the pending ones one by one when that
    takes fewer requests, so a thousand pending calls cost about ten requests a poll, not a thousand. The
    outcome follows the single-event rule for each event: with ``fail_on_failure`` (default) the task fails
    if any event ``failed``, naming how many and summarising the first; otherwise it returns
    ``{"completed": [...], "failed": [...], "counts": {...}}`` for downstream branching.

    :param assistant_id: the assistant that owns the events. (templated)
    :param scheduled_event_ids: the event ids, an ``XComArg``, or the batch operator's summary. (templated)
    :param fail_on_failure: fail the task when any event failed (default).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param cancel_on_kill: when deferred, cancel the still-pending events if a user kills the task.
    :param max_transient_errors: consecutive failed polls tolerated.
    :param telnyx_conn_id: the Airflow connection to use. (templated)
    :param kwargs: ``poke_interval``, ``timeout``, ``mode``, ``soft_fail`` and the other sensor arguments.
    """

    template_fields: Sequence[str] = ("assistant_id", "scheduled_event_ids", "telnyx_conn_id")
    ui_color = TELNYX_UI_COLOR

    def __init__(
        self,
        *,
        assistant_id: str,
        scheduled_event_ids: Any,
        fail_on_failure: bool = True,
        deferrable: bool = default_deferrable(),
        cancel_on_kill: bool = True,
        max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS,
        telnyx_conn_id: str = TelnyxHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.assistant_id = assistant_id
        self.scheduled_event_ids = scheduled_event_ids
        self.fail_on_failure = fail_on_failure
        self.deferrable = deferrable
        self.cancel_on_kill = cancel_on_kill
        self.max_transient_errors = max_transient_errors
        self.telnyx_conn_id = telnyx_conn_id

    @cached_property
    def hook(self) -> TelnyxHook:
        """The hook for ``telnyx_conn_id``."""
        return TelnyxHook(telnyx_conn_id=self.telnyx_conn_id)

    @cached_property
    def _waiter(self) -> ManyEventsWaiter:
        return ManyEventsWaiter(
            event_ids=event_id_list(self.scheduled_event_ids),
            poll_interval=self.poke_interval,
            max_transient_errors=self.max_transient_errors,
        )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """Poll every pending event once (coalesced).

        :param context: the task's context.
        :return: ``False`` to keep waiting, or a done ``PokeReturnValue`` with the outcome.
        """
        payload = poll_many(self.hook, self.assistant_id, self._waiter)
        if payload is None:
            self.log.info("%d scheduled events still pending", len(self._waiter.pending))
            return False
        return PokeReturnValue(is_done=True, xcom_value=resolve_many(payload, fail_on_failure=self.fail_on_failure))

    def execute(self, context: Context) -> Any:
        """Poke (or reschedule) as usual; when deferrable, poll once, then wait in the triggerer.

        :param context: the task's context.
        :return: the outcome.
        """
        if not self.deferrable:
            return super().execute(context)
        payload = poll_many(self.hook, self.assistant_id, self._waiter)
        if payload is not None:
            return self.resume_execution("execute_complete", {"event": payload}, context)
        self.defer(
            trigger=TelnyxScheduledEventsTrigger(
                assistant_id=self.assistant_id,
                scheduled_event_ids=list(self._waiter.pending),
                telnyx_conn_id=self.telnyx_conn_id,
                poll_interval=self.poke_interval,
                end_time=time.time() + self.timeout,
                max_transient_errors=self.max_transient_errors,
                cancel_on_kill=self.cancel_on_kill,
            ),
            method_name="execute_complete",
            kwargs={"already": {"completed": self._waiter.completed, "failed": self._waiter.failed}},
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(
        self, context: Context, event: dict[str, Any], already: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Resume after the trigger with the same rule as ``poke``.

        :param context: the task's context.
        :param event: the trigger's payload.
        :param already: events that were final before deferring.
        :return: the outcome.
        """
        if isinstance(event, dict) and already:
            event = {
                **event,
                "completed": [*already.get("completed", []), *event.get("completed", [])],
                "failed": [*already.get("failed", []), *event.get("failed", [])],
            }
        return resolve_many(event, fail_on_failure=self.fail_on_failure)
