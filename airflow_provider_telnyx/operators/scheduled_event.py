"""Operators that schedule and cancel Telnyx AI-assistant calls and SMS.

:class:`TelnyxCreateScheduledEventOperator` schedules each event exactly once per task instance (dag run,
task and map index), across task retries and worker crashes:

1. every argument is validated before any request (a bad value fails the task without burning retries);
2. a retry first reattaches: to the event id kept in Airflow's task state store, else (when metadata tagging
   is on) to the event whose ``conversation_metadata`` carries this task instance's tags;
3. only then does it create, with an ``Idempotency-Key`` derived from the task instance, so that even a create
   whose response was lost is replayed by the API rather than repeated.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator, BaseOperatorLink, ResumableJobMixin, conf
from pydantic import ValidationError

from airflow_provider_telnyx.exceptions import (
    TelnyxInvalidInputError,
    TelnyxNotFoundError,
    TelnyxScheduledEventWaitError,
)
from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
from airflow_provider_telnyx.models import (
    IDEMPOTENCY_KEY_PATTERN,
    EventStatus,
    ScheduledEvent,
    ScheduledEventRequest,
    field_errors,
)
from airflow_provider_telnyx.triggers.scheduled_event import TelnyxScheduledEventTrigger
from airflow_provider_telnyx.waiting import DEFAULT_MAX_TRANSIENT_ERRORS, EventWaiter, resolve, wait_blocking

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.types import TaskInstanceKey
    from pydantic import JsonValue

__all__ = [
    "TelnyxCreateScheduledEventOperator",
    "TelnyxDeleteScheduledEventOperator",
    "TelnyxScheduledEventLink",
]

PORTAL_ASSISTANT_URL = "https://portal.telnyx.com/#/ai/assistants/edit/{assistant_id}"
XCOM_EVENT_ID = "scheduled_event_id"
XCOM_ASSISTANT_URL = "telnyx_assistant_url"
STATE_EVENT_ID = "telnyx_scheduled_event_id"
STATE_SCHEDULED_AT = "telnyx_scheduled_at"
TELNYX_UI_COLOR = "#00E3AA"

#: Operator parameter for each API field, so that errors name what the user wrote.
_PARAMETER_FOR_FIELD = {
    "telnyx_conversation_channel": "conversation_channel",
    "telnyx_end_user_target": "end_user_target",
    "telnyx_agent_target": "agent_target",
    "scheduled_at_fixed_datetime": "scheduled_at",
}
_INTEGER_FIELDS = ("max_retries_client_errors", "retry_interval_secs")


def default_deferrable() -> bool:
    """``[operators] default_deferrable`` from Airflow's configuration.

    :return: the configured default.
    """
    return conf.getboolean("operators", "default_deferrable", fallback=False)


def task_instance_tags(context: Context) -> dict[str, str | int]:
    """The ``conversation_metadata`` tags that identify a task instance (dag, run, task, map index).

    :param context: the task's context.
    :return: the tags.
    """
    ti = context["ti"]
    return {
        "airflow_dag_id": ti.dag_id,
        "airflow_run_id": ti.run_id,
        "airflow_task_id": ti.task_id,
        "airflow_map_index": ti.map_index if ti.map_index is not None else -1,
    }


def default_idempotency_key(context: Context, salt: str = "") -> str:
    """A key that is stable across the tries of one task instance and unique between task instances.

    :param context: the task's context.
    :param salt: distinguishes several events created by one task instance (the batch operator's items).
    :return: ``airflow-`` and 56 hex digits of a SHA-256, within the API's ``^[A-Za-z0-9_-]{1,255}$``.
    """
    tags = task_instance_tags(context)
    material = "\x1f".join(str(tags[name]) for name in sorted(tags)) + f"\x1f{salt}"
    return "airflow-" + hashlib.sha256(material.encode()).hexdigest()[:56]


def _parameter_name(field: str) -> str:
    head, dot, rest = field.partition(".")
    return _PARAMETER_FOR_FIELD.get(head, head) + dot + rest


def _check_positive(name: str, value: Any, *, allow_none: bool = False, allow_zero: bool = False) -> None:
    if value is None and allow_none:
        return
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        raise TelnyxInvalidInputError(
            [(name, "must be a positive number of seconds" + (" or None" if allow_none else ""))],
            subject="operator argument",
        )


class TelnyxScheduledEventLink(BaseOperatorLink):
    """Extra link: the event's assistant in the Telnyx portal (read from XCom, so it works after retries)."""

    name = "Telnyx assistant"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """The portal URL pushed to XCom by the operator before it waited.

        :param operator: the task.
        :param ti_key: the task instance.
        :return: the URL, or an empty string when the task never got as far.
        """
        from airflow.sdk.execution_time.xcom import XCom

        url = XCom.get_value(ti_key=ti_key, key=XCOM_ASSISTANT_URL)
        return str(url) if url else ""


class TelnyxCreateScheduledEventOperator(ResumableJobMixin, BaseOperator):
    """Schedule an AI-assistant phone call or SMS, exactly once, and optionally wait for its outcome.

    .. seealso::
        The how-to guide: ``docs/howto/create.md``.

    :param assistant_id: the AI assistant that calls or texts. (templated)
    :param end_user_target: who is called or texted: an E.164 number or a SIP URI. (templated)
    :param agent_target: the Telnyx number or SIP URI it comes from. (templated)
    :param scheduled_at: when: a timezone-aware datetime, an ISO 8601 string with a UTC offset (what a template
        such as ``{{ data_interval_end + macros.timedelta(hours=1) }}`` renders), or a ``timedelta`` meaning
        "this long after the task runs" (kept across task retries). (templated)
    :param conversation_channel: ``phone_call`` (default) or ``sms_chat``. (templated)
    :param text: the SMS text; required for ``sms_chat``. (templated)
    :param conversation_metadata: flat metadata (str, int or bool values) attached to the conversation; the
        operator adds ``airflow_dag_id``, ``airflow_run_id``, ``airflow_task_id`` and ``airflow_map_index``
        unless ``tag_metadata=False`` (your keys win). (templated)
    :param dynamic_variables: string values for ``{{variable}}`` placeholders in the assistant's
        instructions. (templated)
    :param max_retries_client_errors: the API's own retries after busy, no-answer, failed or canceled calls
        (0..10, phone calls only). (templated)
    :param retry_interval_secs: seconds between those retries (60..86400). (templated)
    :param call_settings: per-call overrides such as ``{"sip_region": "Europe"}``. (templated)
    :param idempotency_key: ``Idempotency-Key`` for the create; default: derived from the dag id, run id,
        task id and map index, so every try of this task instance uses the same key. (templated)
    :param wait_for_completion: wait until the event is ``completed`` or ``failed``.
    :param deferrable: wait in the triggerer instead of holding a worker slot
        (default ``[operators] default_deferrable``).
    :param poll_interval: seconds between status checks while waiting.
    :param wait_timeout: seconds to wait before failing with a timeout; ``None`` waits as long as it takes.
    :param fail_on_failure: when waiting, fail the task if the event ``failed`` (else return it).
    :param cancel_on_kill: cancel the event when the task is killed while the event is still ``pending``.
    :param tag_metadata: add the task-instance tags to ``conversation_metadata`` (used to find the event again
        after a crash).
    :param max_transient_errors: consecutive failed status checks tolerated while waiting.
    :param telnyx_conn_id: the Airflow connection to use. (templated)
    """

    template_fields: Sequence[str] = (
        "assistant_id",
        "end_user_target",
        "agent_target",
        "scheduled_at",
        "conversation_channel",
        "text",
        "conversation_metadata",
        "dynamic_variables",
        "max_retries_client_errors",
        "retry_interval_secs",
        "call_settings",
        "idempotency_key",
        "telnyx_conn_id",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "conversation_metadata": "json",
        "dynamic_variables": "json",
        "call_settings": "json",
    }
    ui_color = TELNYX_UI_COLOR
    ui_fgcolor = "#000000"
    operator_extra_links = (TelnyxScheduledEventLink(),)
    external_id_key = STATE_EVENT_ID

    def __init__(
        self,
        *,
        assistant_id: str,
        end_user_target: str,
        agent_target: str,
        scheduled_at: datetime | str | timedelta,
        conversation_channel: str = "phone_call",
        text: str | None = None,
        conversation_metadata: dict[str, str | int | bool] | None = None,
        dynamic_variables: dict[str, str] | None = None,
        max_retries_client_errors: int | None = None,
        retry_interval_secs: int | None = None,
        call_settings: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        wait_for_completion: bool = False,
        deferrable: bool = default_deferrable(),
        poll_interval: float = 60,
        wait_timeout: float | None = None,
        fail_on_failure: bool = True,
        cancel_on_kill: bool = True,
        tag_metadata: bool = True,
        max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS,
        telnyx_conn_id: str = TelnyxHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        _check_positive("poll_interval", poll_interval)
        _check_positive("wait_timeout", wait_timeout, allow_none=True, allow_zero=True)
        self.assistant_id = assistant_id
        self.end_user_target = end_user_target
        self.agent_target = agent_target
        self.scheduled_at = scheduled_at
        self.conversation_channel = conversation_channel
        self.text = text
        self.conversation_metadata = conversation_metadata
        self.dynamic_variables = dynamic_variables
        self.max_retries_client_errors = max_retries_client_errors
        self.retry_interval_secs = retry_interval_secs
        self.call_settings = call_settings
        self.idempotency_key = idempotency_key
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout
        self.fail_on_failure = fail_on_failure
        self.cancel_on_kill = cancel_on_kill
        self.tag_metadata = tag_metadata
        self.max_transient_errors = max_transient_errors
        self.telnyx_conn_id = telnyx_conn_id
        self._event: ScheduledEvent | None = None
        self._result: dict[str, Any] | None = None
        self._request: ScheduledEventRequest | None = None
        self._key: str | None = None

    @cached_property
    def hook(self) -> TelnyxHook:
        """The hook for ``telnyx_conn_id`` (created on first use; constructing the operator does no I/O)."""
        return TelnyxHook(telnyx_conn_id=self.telnyx_conn_id)

    # -- validation ----------------------------------------------------------------------------------------

    def _scheduled_at(self, context: Context) -> datetime:
        value = self.scheduled_at
        if isinstance(value, timedelta):
            store = context.get("task_state_store")
            kept = store.get(STATE_SCHEDULED_AT) if store is not None else None
            if isinstance(kept, str):  # a retry: keep the time the first try chose, so the body is identical
                return datetime.fromisoformat(kept)
            chosen = datetime.now(UTC) + value
            if store is not None:
                store.set(STATE_SCHEDULED_AT, chosen.isoformat())
            return chosen
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip())
            except ValueError:
                raise TelnyxInvalidInputError(
                    [("scheduled_at", f"{value!r} is not an ISO 8601 date-time")], subject="operator argument"
                ) from None
        if not isinstance(value, datetime):
            raise TelnyxInvalidInputError(
                [("scheduled_at", "must be a datetime, an ISO 8601 string or a timedelta")],
                subject="operator argument",
            )
        if value.tzinfo is None or value.utcoffset() is None:
            raise TelnyxInvalidInputError(
                [("scheduled_at", "must carry a UTC offset (a naive time is never assumed to be UTC)")],
                subject="operator argument",
            )
        return value

    def build_request(self, context: Context) -> ScheduledEventRequest:
        """Validate the rendered arguments into the API's create body, before any request.

        :param context: the task's context.
        :return: the request.
        :raises TelnyxInvalidInputError: naming every bad parameter (the task fails without retrying).
        """
        metadata = self.conversation_metadata
        if self.tag_metadata:
            if metadata is not None and not isinstance(metadata, Mapping):
                raise TelnyxInvalidInputError(
                    [("conversation_metadata", "must be a mapping")], subject="operator argument"
                )
            metadata = {**task_instance_tags(context), **(metadata or {})}
        data: dict[str, Any] = {
            "telnyx_conversation_channel": self.conversation_channel,
            "telnyx_end_user_target": self.end_user_target,
            "telnyx_agent_target": self.agent_target,
            "scheduled_at_fixed_datetime": self._scheduled_at(context),
            "text": self.text,
            "conversation_metadata": metadata,
            "dynamic_variables": self.dynamic_variables,
            "max_retries_client_errors": self.max_retries_client_errors,
            "retry_interval_secs": self.retry_interval_secs,
            "call_settings": self.call_settings,
        }
        for name in _INTEGER_FIELDS:  # a Jinja-rendered number arrives as a string
            if isinstance(data[name], str) and data[name].strip().isdigit():
                data[name] = int(data[name])
        try:
            return ScheduledEventRequest.model_validate({k: v for k, v in data.items() if v is not None})
        except ValidationError as error:
            problems = [(_parameter_name(name), message) for name, message in field_errors(error)]
            raise TelnyxInvalidInputError(problems, subject=f"arguments of task {self.task_id}") from None

    def _idempotency_key(self, context: Context) -> str:
        key = self.idempotency_key
        if key is None:
            return default_idempotency_key(context)
        if not isinstance(key, str) or not IDEMPOTENCY_KEY_PATTERN.match(key):
            raise TelnyxInvalidInputError(
                [("idempotency_key", "must be 1 to 255 letters, digits, '-' or '_'")], subject="operator argument"
            )
        return key

    # -- execution -----------------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        """Validate, reattach or create, push the event id, then wait if asked.

        :param context: the task's context.
        :return: the event (the final event when it waited) as a JSON-safe dictionary.
        """
        self._request = self.build_request(context)
        self._key = self._idempotency_key(context)
        self.execute_resumable(context)
        assert self._result is not None
        return self._result

    def submit_job(self, context: Context) -> JsonValue:
        """Create the event (or adopt the one a crashed try created); return its id.

        :param context: the task's context.
        :return: the event id.
        """
        assert self._request is not None
        event = self._find_existing(context, self._request)
        if event is None:
            channel = self._request.telnyx_conversation_channel.value
            self.log.info("Scheduling a %s event for assistant %s", channel, self.assistant_id)
            event = self.hook.create_scheduled_event(self.assistant_id, self._request, idempotency_key=self._key)
            self.log.info("Created scheduled event %s (%s)", event.event_id, event.status.value)
        self._event = event
        return event.event_id

    def _find_existing(self, context: Context, request: ScheduledEventRequest) -> ScheduledEvent | None:
        if not self.tag_metadata or (context["ti"].try_number or 1) <= 1:
            return None
        tags = task_instance_tags(context)
        channel = request.telnyx_conversation_channel
        for event in self.hook.list_scheduled_events(self.assistant_id, conversation_channel=channel):
            metadata = event.conversation_metadata or {}
            if all(metadata.get(name) == value for name, value in tags.items()):
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
        try:
            self._event = self.hook.get_scheduled_event(self.assistant_id, str(external_id))
        except TelnyxNotFoundError:
            raise TelnyxScheduledEventWaitError(
                f"Scheduled event {external_id}, created by an earlier try of this task, was deleted; not creating "
                f"it again. Set a new idempotency_key to schedule another event."
            ) from None
        self.log.info("Reattaching to scheduled event %s (%s)", external_id, self._event.status.value)
        return self._event.status.value

    def is_job_active(self, status: str) -> bool:
        """Whether the event may still change.

        :param status: an :class:`EventStatus` value.
        :return: ``True`` for ``pending`` and ``in_progress``.
        """
        return not EventStatus(status).is_terminal

    def is_job_succeeded(self, status: str) -> bool:
        """Whether scheduling is over: the event exists and is final (``completed`` or ``failed``).

        A ``failed`` event is never scheduled again by a task retry: that would call the person twice.

        :param status: an :class:`EventStatus` value.
        :return: ``True`` for final events.
        """
        return EventStatus(status).is_terminal

    def poll_until_complete(self, external_id: JsonValue, context: Context) -> None:
        """Push the event id and portal URL, then wait if asked (deferring when ``deferrable``).

        :param external_id: the event id.
        :param context: the task's context.
        """
        event_id = str(external_id)
        self._push_ids(context, event_id)
        event = self._event
        assert event is not None
        if not self.wait_for_completion:
            self._result = event.to_json_dict()
            return
        if event.status.is_terminal:  # nothing to wait for
            self._result = resolve(
                {"status": "final", "event_id": event_id, "event": event.to_json_dict()},
                fail_on_failure=self.fail_on_failure,
            )
            return
        deadline = time.time() + self.wait_timeout if self.wait_timeout is not None else None
        if self.deferrable:
            self.defer(
                trigger=TelnyxScheduledEventTrigger(
                    assistant_id=self.assistant_id,
                    scheduled_event_id=event_id,
                    telnyx_conn_id=self.telnyx_conn_id,
                    poll_interval=self.poll_interval,
                    end_time=deadline,
                    max_transient_errors=self.max_transient_errors,
                    cancel_on_kill=self.cancel_on_kill,
                ),
                method_name="execute_complete",
                timeout=timedelta(seconds=self.wait_timeout) if self.wait_timeout is not None else None,
            )
        waiter = EventWaiter(
            event_id=event_id,
            poll_interval=self.poll_interval,
            deadline=deadline,
            max_transient_errors=self.max_transient_errors,
        )
        self.log.info("Waiting for scheduled event %s (every %ss)", event_id, self.poll_interval)
        self._result = resolve(
            wait_blocking(self.hook, self.assistant_id, waiter), fail_on_failure=self.fail_on_failure
        )

    def get_job_result(self, external_id: JsonValue, context: Context) -> Any:
        """The task's return value (for a fresh create, after :meth:`poll_until_complete`).

        :param external_id: the event id.
        :param context: the task's context.
        :return: the event as a JSON-safe dictionary.
        """
        if self._result is None:  # an earlier try's event is already final
            self.poll_until_complete(external_id, context)
        return self._result

    def _push_ids(self, context: Context, event_id: str) -> None:
        ti = context["ti"]
        ti.xcom_push(key=XCOM_EVENT_ID, value=event_id)
        ti.xcom_push(key=XCOM_ASSISTANT_URL, value=PORTAL_ASSISTANT_URL.format(assistant_id=self.assistant_id))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger: the same status rule as the blocking wait.

        :param context: the task's context.
        :param event: the trigger's payload.
        :return: the final event.
        """
        return resolve(event, fail_on_failure=self.fail_on_failure)

    def on_kill(self) -> None:
        """Cancel the event if it is still ``pending`` and ``cancel_on_kill`` is set."""
        if self.cancel_on_kill and self._event is not None:
            self.hook.cancel_scheduled_event_if_pending(self.assistant_id, self._event.event_id)


class TelnyxDeleteScheduledEventOperator(BaseOperator):
    """Cancel a pending scheduled event, or delete the record of a finished one.

    :param assistant_id: the assistant that owns the event. (templated)
    :param scheduled_event_id: the event, typically ``{{ ti.xcom_pull(task_ids='...', key='scheduled_event_id') }}``.
        (templated)
    :param missing_ok: succeed with a log line when the event is already gone (default); else fail.
    :param telnyx_conn_id: the Airflow connection to use. (templated)
    """

    template_fields: Sequence[str] = ("assistant_id", "scheduled_event_id", "telnyx_conn_id")
    ui_color = TELNYX_UI_COLOR

    def __init__(
        self,
        *,
        assistant_id: str,
        scheduled_event_id: str,
        missing_ok: bool = True,
        telnyx_conn_id: str = TelnyxHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.assistant_id = assistant_id
        self.scheduled_event_id = scheduled_event_id
        self.missing_ok = missing_ok
        self.telnyx_conn_id = telnyx_conn_id

    @cached_property
    def hook(self) -> TelnyxHook:
        """The hook for ``telnyx_conn_id``."""
        return TelnyxHook(telnyx_conn_id=self.telnyx_conn_id)

    def execute(self, context: Context) -> bool:
        """Delete the event.

        :param context: the task's context.
        :return: ``True`` if it was deleted, ``False`` if it was already gone.
        :raises TelnyxNotFoundError: when it is gone and ``missing_ok`` is off.
        """
        try:
            self.hook.delete_scheduled_event(self.assistant_id, self.scheduled_event_id)
        except TelnyxNotFoundError:
            if not self.missing_ok:
                raise
            self.log.info("Scheduled event %s is already gone", self.scheduled_event_id)
            return False
        self.log.info("Deleted scheduled event %s", self.scheduled_event_id)
        return True
