"""The operator that schedules a Telnyx AI-assistant call or SMS.

:class:`TelnyxCreateScheduledEventOperator` schedules each event exactly once per task instance (dag run,
task and map index), across task retries and worker crashes, on every try in this order:

1. every argument is validated, except what depends on the clock (a bad value fails the task at once);
2. it reattaches: to the event id kept in Airflow's task state store, else (on a retry, when metadata tagging
   is on) to the event whose ``conversation_metadata`` carries this task instance's tags; an event that exists
   is never refused because its time has passed;
3. only then is the time checked (``late_policy``) and the event created, with an ``Idempotency-Key``
   derived from the task instance, so that even a create whose response was lost is replayed by the API
   rather than repeated.

The batch operator lives in :mod:`airflow_provider_telnyx.operators.batch`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_telnyx._checks import check_idempotency_key
from airflow_provider_telnyx._common import DEFAULT_MAX_TRANSIENT_ERRORS
from airflow_provider_telnyx._compat import AirflowSkipException, ResumableJobMixin
from airflow_provider_telnyx.exceptions import (
    TelnyxApiError,
    TelnyxNotFoundError,
    TelnyxScheduledEventWaitError,
)
from airflow_provider_telnyx.operators._arguments import REQUEST_PARAMETERS, TaskIdentity, build_request
from airflow_provider_telnyx.operators._late import LateSendRule
from airflow_provider_telnyx.operators.base import BaseTelnyxCreateOperator
from airflow_provider_telnyx.operators.links import TelnyxScheduledEventLink

if TYPE_CHECKING:
    from airflow.sdk import Context
    from pydantic import JsonValue

    from airflow_provider_telnyx.models import ScheduledEvent, ScheduledEventRequest

__all__ = ["TelnyxCreateScheduledEventOperator"]

XCOM_EVENT_ID = "scheduled_event_id"
STATE_EVENT_ID = "telnyx_scheduled_event_id"


@dataclass
class _Try:
    """What one try of the create works with, from ``execute`` to its result.

    :param identity: the task instance's tags, keys and anchor.
    :param rule: the late rule.
    :param request: the validated body, with the intended time.
    :param key: the ``Idempotency-Key``.
    :param event: the event, once created or found.
    :param result: the task's return value, once decided.
    """

    identity: TaskIdentity
    rule: LateSendRule
    request: ScheduledEventRequest
    key: str
    event: ScheduledEvent | None = None
    result: dict[str, Any] | None = None


class TelnyxCreateScheduledEventOperator(ResumableJobMixin, BaseTelnyxCreateOperator):
    """Schedule an AI-assistant phone call or SMS, exactly once, and optionally wait for its outcome.

    .. seealso::
        The how-to guide: ``docs/howto/create.md``.

    A 400, 401, 403, 404 or 422 answer fails the task at once (no retry can fix it), keeping the API's message and
    code; connection errors, timeouts, 408, 409, 429 and 5xx answers fail the try, and Airflow's retry
    reattaches to whatever the try created before sending anything.

    It takes the arguments of :class:`~airflow_provider_telnyx.operators.base.BaseTelnyxCreateOperator` (``text``,
    ``conversation_metadata``, ``dynamic_variables``, the API's retries, ``call_settings``, ``late_policy``,
    ``max_lateness``, ``check_assistant``, the waiting options, ``tag_metadata``, ``telnyx_conn_id``) and:

    :param end_user_target: who is called or texted: an E.164 number or a SIP URI. (templated)
    :param agent_target: the Telnyx number or SIP URI it comes from. (templated)
    :param scheduled_at: when: a timezone-aware datetime, an ISO 8601 string with a UTC offset (what a template
        such as ``{{ data_interval_end + macros.timedelta(hours=1) }}`` renders), or a ``timedelta`` meaning
        "this long after the first try started" (kept across task retries). (templated)
    :param conversation_channel: ``phone_call`` (default) or ``sms_chat``. (templated)
    :param idempotency_key: ``Idempotency-Key`` for the create; default: derived from the task instance, the
        same for every try. (templated)
    :param cancel_on_kill: cancel the event when the task is killed while the event is still ``pending``.
    :param max_transient_errors: consecutive failed status checks tolerated while waiting.
    """

    template_fields: Sequence[str] = (
        "assistant_id",
        *REQUEST_PARAMETERS,
        "idempotency_key",
        "late_policy",
        "max_lateness",
        "telnyx_conn_id",
    )
    operator_extra_links = (TelnyxScheduledEventLink(),)
    external_id_key = STATE_EVENT_ID

    def __init__(
        self,
        *,
        end_user_target: str,
        agent_target: str,
        scheduled_at: datetime | str | timedelta,
        conversation_channel: str = "phone_call",
        idempotency_key: str | None = None,
        cancel_on_kill: bool = True,
        max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.end_user_target = end_user_target
        self.agent_target = agent_target
        self.scheduled_at = scheduled_at
        self.conversation_channel = conversation_channel
        self.idempotency_key = idempotency_key
        self.cancel_on_kill = cancel_on_kill
        self.max_transient_errors = max_transient_errors
        #: What the running try works with (set by ``execute``; Airflow's resumable-job hooks take no arguments
        #: of ours, so they read it here).
        self._try: _Try | None = None

    def build_request(self, context: Context) -> ScheduledEventRequest:
        """Validate the rendered arguments into the API's create body, before any request.

        Everything is checked but whether ``scheduled_at`` has passed: that is decided by ``late_policy`` when the
        event is about to be sent, after looking for one an earlier try created.

        :param context: the task's context.
        :return: the request, with the intended time.
        :raises TelnyxInvalidInputError: naming every bad parameter (the task fails without retrying).
        """
        return self._request_for(TaskIdentity.of(context, clock=self.clock, namespace=self._namespace))

    def _request_for(self, identity: TaskIdentity) -> ScheduledEventRequest:
        fields = {name: getattr(self, name) for name in REQUEST_PARAMETERS}
        tags = identity.tags() if self.tag_metadata else None
        return build_request(fields, anchor=identity.anchor, tags=tags, subject=f"arguments of task {self.task_id}")

    def _idempotency_key(self, identity: TaskIdentity) -> str:
        if self.idempotency_key is None:
            return identity.idempotency_key()
        return check_idempotency_key(self.idempotency_key, field="idempotency_key", subject="operator argument")

    def _current(self) -> _Try:
        assert self._try is not None, "execute() sets the try's state before Airflow calls back"
        return self._try

    # -- execution -----------------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        """Validate, reattach or create, push the event id, then wait if asked.

        :param context: the task's context.
        :return: the event (the final event when it waited) as a JSON-safe dictionary.
        """
        rule = LateSendRule.of(self.late_policy, self.max_lateness)
        identity = TaskIdentity.of(context, clock=self.clock, namespace=self._namespace)
        self._try = _Try(identity, rule, self._request_for(identity), self._idempotency_key(identity))
        self.execute_resumable(context)
        result = self._current().result
        assert result is not None
        return result

    def submit_job(self, context: Context) -> JsonValue:
        """Adopt the event a crashed try created, or create it (applying ``late_policy``); return its id.

        :param context: the task's context.
        :return: the event id.
        :raises AirflowSkipException: the event is late and ``late_policy="skip"``.
        :raises TelnyxLateEventError: the event is late and ``late_policy="fail"``, or later than ``max_lateness``.
        """
        current = self._current()
        event = self._find_existing(current) if (context["ti"].try_number or 1) > 1 else None
        if event is None:
            event = self._create(current)
        current.event = event
        return event.event_id

    def _create(self, current: _Try) -> ScheduledEvent:
        from airflow_provider_telnyx.models import ConversationChannel

        request = current.request
        self._preflight(phone_calls=request.telnyx_conversation_channel is ConversationChannel.PHONE_CALL)
        intended = request.scheduled_at_fixed_datetime
        now = self.clock()
        sent_for = self._send_time(current.rule, intended, now)
        self.log.info(
            "Scheduling a %s event for assistant %s", request.telnyx_conversation_channel.value, self.assistant_id
        )
        try:
            event = self._send(current, sent_for)
        except TelnyxApiError as error:
            if error.is_idempotency_reuse:
                # An earlier try used this key with another body (a re-timed late send): that try created the event.
                found = self._find_existing(current)
                if found is None:
                    raise
                return found
            # The API's clock says the intended time has passed: the late policy decides, once.
            sent_for = self._send_time(current.rule, intended, now, refused=(error, sent_for))
            event = self._send(current, sent_for)
        self.log.info("Created scheduled event %s (%s)", event.event_id, event.status_text)
        return event

    def _send_time(
        self,
        rule: LateSendRule,
        intended: datetime,
        now: datetime,
        refused: tuple[TelnyxApiError, datetime] | None = None,
    ) -> datetime:
        """When the event is sent: the late rule's decision (after the API's refusal, when there was one); a
        skip ends the task as skipped."""
        if refused is None:
            at = rule.send_time(intended, now, subject="scheduled_at")
        else:
            at = rule.after_refusal(refused[0], intended, refused[1], self.clock(), subject="scheduled_at")
        if at is None:
            raise AirflowSkipException(
                f"scheduled_at {intended.isoformat()} has passed (now {now.isoformat()}) and late_policy='skip': "
                "the event was not created"
            )
        if at != intended:
            self.log.warning(
                "Scheduled event is late: intended for %s, sent for %s (late_policy=send_now)",
                intended.isoformat(),
                at.isoformat(),
            )
        return at

    def _send(self, current: _Try, at: datetime) -> ScheduledEvent:
        request = current.request.sent_for(at)
        return self.hook.create_scheduled_event(self.assistant_id, request, idempotency_key=current.key)

    def _find_existing(self, current: _Try) -> ScheduledEvent | None:
        """The event an earlier try of this task instance created, found by its tags (``None`` without tags)."""
        if not self.tag_metadata:
            return None
        for event in self._owned_events(current.identity, [current.request], current.rule):
            self.log.info("Reattaching to scheduled event %s created by an earlier try", event.event_id)
            return event
        return None

    def get_job_status(self, external_id: JsonValue, context: Context) -> str:
        """Status of the event an earlier try created.

        :param external_id: the event id.
        :param context: the task's context.
        :return: the event's status.
        :raises TelnyxScheduledEventWaitError: when the event was deleted since.
        """
        current = self._current()
        try:
            current.event = self.hook.get_scheduled_event(self.assistant_id, str(external_id))
        except TelnyxNotFoundError:
            raise TelnyxScheduledEventWaitError(
                f"Scheduled event {external_id}, created by an earlier try of this task, was deleted; not creating "
                f"it again. Set a new idempotency_key to schedule another event."
            ) from None
        self.log.info("Reattaching to scheduled event %s (%s)", external_id, current.event.status_text)
        return current.event.status_text

    def is_job_active(self, status: str) -> bool:
        """Whether the event may still change.

        :param status: the status as the API sent it.
        :return: ``True`` unless ``completed`` or ``failed`` (an unknown status is not final).
        """
        return not self.is_job_succeeded(status)

    def is_job_succeeded(self, status: str) -> bool:
        """Whether scheduling is over: the event exists and is final (``completed`` or ``failed``).

        A ``failed`` event is never scheduled again by a task retry: that would call the person twice.

        :param status: the status as the API sent it.
        :return: ``True`` for final events.
        """
        from airflow_provider_telnyx.models import EventStatus

        return status in (EventStatus.COMPLETED.value, EventStatus.FAILED.value)

    def poll_until_complete(self, external_id: JsonValue, context: Context) -> None:
        """Push the event id, then wait if asked (deferring when ``deferrable``).

        :param external_id: the event id.
        :param context: the task's context.
        """
        from airflow_provider_telnyx.triggers.scheduled_event import TelnyxScheduledEventTrigger
        from airflow_provider_telnyx.utils.waiting import resolve

        event_id = str(external_id)
        context["ti"].xcom_push(key=XCOM_EVENT_ID, value=event_id)
        current = self._current()
        event = current.event
        assert event is not None
        if not self.wait_for_completion:
            current.result = event.to_json_dict()
            return
        if event.is_final:  # nothing to wait for
            current.result = resolve(
                {"status": "final", "event_id": event_id, "event": event.to_json_dict()},
                fail_on_failure=self.fail_on_failure,
            )
            return
        trigger = TelnyxScheduledEventTrigger(
            scheduled_event_id=event_id,
            max_transient_errors=self.max_transient_errors,
            cancel_on_kill=self.cancel_on_kill,
            **self._trigger_options(),
        )
        payload = self._wait_or_defer(trigger)
        current.result = resolve(payload, fail_on_failure=self.fail_on_failure)

    def get_job_result(self, external_id: JsonValue, context: Context) -> Any:
        """The task's return value (for a fresh create, after :meth:`poll_until_complete`).

        :param external_id: the event id.
        :param context: the task's context.
        :return: the event as a JSON-safe dictionary.
        """
        if self._current().result is None:  # an earlier try's event is already final
            self.poll_until_complete(external_id, context)
        return self._current().result

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger: the same status rule as the blocking wait.

        :param context: the task's context.
        :param event: the trigger's payload.
        :return: the final event.
        """
        from airflow_provider_telnyx.utils.waiting import resolve

        return resolve(event, fail_on_failure=self.fail_on_failure)

    def on_kill(self) -> None:
        """Cancel the event if it is still ``pending`` and ``cancel_on_kill`` is set."""
        event = self._try.event if self._try is not None else None
        if self.cancel_on_kill and event is not None:
            self.hook.cancel_scheduled_event_if_pending(self.assistant_id, event.event_id)
