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

import asyncio
import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator, BaseOperatorLink, ResumableJobMixin, conf
from airflow.sdk.exceptions import AirflowException
from pydantic import ValidationError

from airflow_provider_telnyx.batch import AdaptiveRateLimiter, Progress, run_pool
from airflow_provider_telnyx.exceptions import (
    TelnyxApiError,
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
from airflow_provider_telnyx.triggers.scheduled_event import TelnyxScheduledEventsTrigger, TelnyxScheduledEventTrigger
from airflow_provider_telnyx.waiting import (
    DEFAULT_MAX_TRANSIENT_ERRORS,
    EventWaiter,
    ManyEventsWaiter,
    poll_many,
    resolve,
    resolve_many,
    wait_blocking,
)

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.types import TaskInstanceKey
    from pydantic import JsonValue

__all__ = [
    "TelnyxBatchError",
    "TelnyxCreateScheduledEventOperator",
    "TelnyxCreateScheduledEventsOperator",
    "TelnyxDeleteScheduledEventOperator",
    "TelnyxScheduledEventLink",
]

PORTAL_ASSISTANT_URL = "https://portal.telnyx.com/#/ai/assistants/edit/{assistant_id}"
XCOM_EVENT_ID = "scheduled_event_id"
XCOM_ASSISTANT_URL = "telnyx_assistant_url"
STATE_EVENT_ID = "telnyx_scheduled_event_id"
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


#: Operator parameters that make up one create body (the batch operator's item keys, less ``idempotency_key``).
REQUEST_PARAMETERS = (
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
)
STATE_ANCHOR = "telnyx_anchor_time"


def anchor_time(context: Context) -> datetime:
    """The moment relative ``scheduled_at`` values count from: the first try's start, kept across retries.

    Keeping it makes a retry send the very same body, so the API replays rather than refuses the create.

    :param context: the task's context.
    :return: the anchor (UTC).
    """
    store = context.get("task_state_store")
    kept = store.get(STATE_ANCHOR) if store is not None else None
    if isinstance(kept, str):
        return datetime.fromisoformat(kept)
    now = datetime.now(UTC)
    if store is not None:
        store.set(STATE_ANCHOR, now.isoformat())
    return now


def lazy_anchor(context: Context) -> Callable[[], datetime]:
    """:func:`anchor_time`, read (or stored) at most once: a batch validates thousands of items against it, and
    each task-state-store access is a round trip to the API server.

    :param context: the task's context.
    :return: a function returning the anchor.
    """
    kept: list[datetime] = []

    def anchor() -> datetime:
        if not kept:
            kept.append(anchor_time(context))
        return kept[0]

    return anchor


def resolve_scheduled_at(value: Any, anchor: Callable[[], datetime]) -> datetime:
    """Turn a ``scheduled_at`` argument into an aware datetime.

    :param value: an aware datetime, an ISO 8601 string with offset, or a ``timedelta`` after ``anchor()``.
    :param anchor: returns the moment a ``timedelta`` counts from.
    :return: the time.
    :raises ValueError: naming what is wrong with the value.
    """
    if isinstance(value, timedelta):
        return anchor() + value
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 date-time") from None
    if not isinstance(value, datetime):
        raise ValueError("must be a datetime, an ISO 8601 string or a timedelta")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must carry a UTC offset (a naive time is never assumed to be UTC)")
    return value


def build_request(
    fields: Mapping[str, Any],
    *,
    anchor: Callable[[], datetime],
    tags: Mapping[str, str | int] | None,
    subject: str,
    prefix: str = "",
) -> ScheduledEventRequest:
    """Validate operator-style fields (``end_user_target``, ``scheduled_at``, ...) into a create body.

    :param fields: the operator parameters of one event.
    :param anchor: returns the moment a relative ``scheduled_at`` counts from.
    :param tags: task-instance tags merged under ``conversation_metadata`` (the user's keys win), or ``None``.
    :param subject: what is validated, for the error message.
    :param prefix: prepended to every field name in errors (``events[3].``).
    :return: the request.
    :raises TelnyxInvalidInputError: naming every bad field.
    """
    try:
        scheduled_at: datetime | None = resolve_scheduled_at(fields.get("scheduled_at"), anchor)
    except ValueError as error:
        raise TelnyxInvalidInputError([(f"{prefix}scheduled_at", str(error))], subject=subject) from None
    metadata = fields.get("conversation_metadata")
    if tags is not None:
        if metadata is not None and not isinstance(metadata, Mapping):
            raise TelnyxInvalidInputError([(f"{prefix}conversation_metadata", "must be a mapping")], subject=subject)
        metadata = {**tags, **(metadata or {})}
    data: dict[str, Any] = {
        "telnyx_conversation_channel": fields.get("conversation_channel") or "phone_call",
        "telnyx_end_user_target": fields.get("end_user_target"),
        "telnyx_agent_target": fields.get("agent_target"),
        "scheduled_at_fixed_datetime": scheduled_at,
        "text": fields.get("text"),
        "conversation_metadata": metadata,
        "dynamic_variables": fields.get("dynamic_variables"),
        "max_retries_client_errors": fields.get("max_retries_client_errors"),
        "retry_interval_secs": fields.get("retry_interval_secs"),
        "call_settings": fields.get("call_settings"),
    }
    for name in _INTEGER_FIELDS:  # a Jinja-rendered number arrives as a string
        if isinstance(data[name], str) and data[name].strip().isdigit():
            data[name] = int(data[name])
    try:
        return ScheduledEventRequest.model_validate({k: v for k, v in data.items() if v is not None})
    except ValidationError as error:
        problems = [(prefix + _parameter_name(name), message) for name, message in field_errors(error)]
        raise TelnyxInvalidInputError(problems, subject=subject) from None


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

    template_fields: Sequence[str] = ("assistant_id", *REQUEST_PARAMETERS, "idempotency_key", "telnyx_conn_id")
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

    def build_request(self, context: Context) -> ScheduledEventRequest:
        """Validate the rendered arguments into the API's create body, before any request.

        :param context: the task's context.
        :return: the request.
        :raises TelnyxInvalidInputError: naming every bad parameter (the task fails without retrying).
        """
        fields = {name: getattr(self, name) for name in REQUEST_PARAMETERS}
        tags = task_instance_tags(context) if self.tag_metadata else None
        return build_request(
            fields, anchor=lazy_anchor(context), tags=tags, subject=f"arguments of task {self.task_id}"
        )

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


class TelnyxBatchError(AirflowException):
    """Some events of a batch could not be created (after the hook's retries); the summary is in XCom.

    A task retry creates only the missing ones: the others are found again and nothing is duplicated.

    :param message: what failed.
    :param summary: the batch summary.
    """

    def __init__(self, message: str, *, summary: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.summary = dict(summary)


class TelnyxCreateScheduledEventsOperator(BaseOperator):
    """Schedule many calls or SMS in one task: validated up front, created concurrently at the API's rate
    limit, each exactly once, optionally waited for together.

    .. seealso::
        The how-to guide: ``docs/howto/batch.md``.

    Every item is a dict with the single operator's fields (``end_user_target``, ``scheduled_at``,
    ``dynamic_variables``, ...); the operator's own arguments of the same names are defaults for every item
    (dict fields are merged, the item's keys winning). Each item gets its own idempotency key (from the task
    instance and the item's position) and is tagged with ``airflow_item`` in ``conversation_metadata``, so a task
    retry finds what an earlier try created and sends only what is missing.

    :param assistant_id: the AI assistant that calls or texts. (templated)
    :param events: the items: a list of dicts, or an ``XComArg`` from an upstream task. (templated)
    :param agent_target: default ``agent_target``. (templated)
    :param conversation_channel: default channel. (templated)
    :param scheduled_at: default ``scheduled_at`` (datetime, ISO string or timedelta). (templated)
    :param text: default SMS text. (templated)
    :param conversation_metadata: default metadata, merged into each item's. (templated)
    :param dynamic_variables: default dynamic variables, merged into each item's. (templated)
    :param max_retries_client_errors: default API retries. (templated)
    :param retry_interval_secs: default retry interval. (templated)
    :param call_settings: default call settings. (templated)
    :param max_concurrency: requests in flight at once.
    :param requests_per_second: a fixed client-side rate; ``None`` adapts to the API's ``x-ratelimit-*`` headers.
    :param fail_on_item_error: fail the task (after creating everything it can) when an item could not be
        created; otherwise report it in the summary.
    :param wait_for_completion: wait until every created event is final (coalesced polling).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: seconds between polling cycles while waiting.
    :param wait_timeout: seconds to wait before failing with a timeout; ``None`` waits as long as it takes.
    :param fail_on_failure: when waiting, fail the task if any event ``failed``.
    :param tag_metadata: tag each event with the task instance and item index (needed to resume after a crash).
    :param progress_interval: seconds between progress log lines.
    :param telnyx_conn_id: the Airflow connection to use. (templated)
    """

    template_fields: Sequence[str] = ("assistant_id", "events", *REQUEST_PARAMETERS[1:], "telnyx_conn_id")
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "events": "json",
        "conversation_metadata": "json",
        "dynamic_variables": "json",
        "call_settings": "json",
    }
    ui_color = TELNYX_UI_COLOR
    ui_fgcolor = "#000000"

    def __init__(
        self,
        *,
        assistant_id: str,
        events: Any,
        agent_target: str | None = None,
        conversation_channel: str | None = None,
        scheduled_at: datetime | str | timedelta | None = None,
        text: str | None = None,
        conversation_metadata: dict[str, str | int | bool] | None = None,
        dynamic_variables: dict[str, str] | None = None,
        max_retries_client_errors: int | None = None,
        retry_interval_secs: int | None = None,
        call_settings: dict[str, Any] | None = None,
        max_concurrency: int = 20,
        requests_per_second: float | None = None,
        fail_on_item_error: bool = True,
        wait_for_completion: bool = False,
        deferrable: bool = default_deferrable(),
        poll_interval: float = 60,
        wait_timeout: float | None = None,
        fail_on_failure: bool = True,
        tag_metadata: bool = True,
        progress_interval: float = 10,
        telnyx_conn_id: str = TelnyxHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        _check_positive("poll_interval", poll_interval)
        _check_positive("wait_timeout", wait_timeout, allow_none=True, allow_zero=True)
        _check_positive("requests_per_second", requests_per_second, allow_none=True)
        _check_positive("progress_interval", progress_interval)
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise TelnyxInvalidInputError(
                [("max_concurrency", "must be a positive integer")], subject="operator argument"
            )
        self.assistant_id = assistant_id
        self.events = events
        self.agent_target = agent_target
        self.conversation_channel = conversation_channel
        self.scheduled_at = scheduled_at
        self.text = text
        self.conversation_metadata = conversation_metadata
        self.dynamic_variables = dynamic_variables
        self.max_retries_client_errors = max_retries_client_errors
        self.retry_interval_secs = retry_interval_secs
        self.call_settings = call_settings
        self.max_concurrency = max_concurrency
        self.requests_per_second = requests_per_second
        self.fail_on_item_error = fail_on_item_error
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout
        self.fail_on_failure = fail_on_failure
        self.tag_metadata = tag_metadata
        self.progress_interval = progress_interval
        self.telnyx_conn_id = telnyx_conn_id

    @cached_property
    def hook(self) -> TelnyxHook:
        """The hook for ``telnyx_conn_id``."""
        return TelnyxHook(telnyx_conn_id=self.telnyx_conn_id)

    def _items(self) -> list[Mapping[str, Any]]:
        items = self.events
        if not isinstance(items, list | tuple):
            raise TelnyxInvalidInputError([("events", "must be a list of dicts")], subject="operator argument")
        return list(items)

    def _fields(self, item: Any, index: int) -> dict[str, Any]:
        if not isinstance(item, Mapping):
            raise TelnyxInvalidInputError([(f"events[{index}]", "must be a dict")], subject="batch item")
        unknown = sorted(set(item) - {*REQUEST_PARAMETERS, "idempotency_key"})
        if unknown:
            raise TelnyxInvalidInputError(
                [(f"events[{index}].{name}", "is not an event field") for name in unknown], subject="batch item"
            )
        fields = {name: getattr(self, name, None) for name in REQUEST_PARAMETERS}
        for name in REQUEST_PARAMETERS:
            value = item.get(name)
            if value is None:
                continue
            default = fields.get(name)
            both_dicts = isinstance(value, Mapping) and isinstance(default, Mapping)
            fields[name] = {**default, **value} if both_dicts else value  # type: ignore[dict-item]
        return fields

    def _request(
        self, context: Context, item: Any, index: int, anchor: Callable[[], datetime]
    ) -> ScheduledEventRequest:
        fields = self._fields(item, index)
        tags = {**task_instance_tags(context), "airflow_item": index} if self.tag_metadata else None
        return build_request(fields, anchor=anchor, tags=tags, subject="batch item", prefix=f"events[{index}].")

    def _key(self, context: Context, item: Mapping[str, Any], index: int) -> str:
        key = item.get("idempotency_key")
        if key is None:
            return default_idempotency_key(context, salt=f"item-{index}")
        if not isinstance(key, str) or not IDEMPOTENCY_KEY_PATTERN.match(key):
            raise TelnyxInvalidInputError(
                [(f"events[{index}].idempotency_key", "must be 1 to 255 letters, digits, '-' or '_'")],
                subject="batch item",
            )
        return key

    def validate(self, context: Context, anchor: Callable[[], datetime]) -> int:
        """Validate every item before anything is sent; report every bad item at once.

        :param context: the task's context.
        :param anchor: returns the moment relative ``scheduled_at`` values count from.
        :return: the number of items.
        :raises TelnyxInvalidInputError: listing every bad item by index and field.
        """
        problems: list[tuple[str, str]] = []
        items = self._items()
        for index, item in enumerate(items):
            try:
                self._request(context, item, index, anchor)
                self._key(context, item, index)
            except TelnyxInvalidInputError as error:
                problems.extend(error.problems)
        if problems:
            bad = len({field.split("]")[0] for field, _ in problems})
            raise TelnyxInvalidInputError(problems, subject=f"batch: {bad} of {len(items)} events")
        return len(items)

    def _existing(self, context: Context, total: int) -> dict[int, str]:
        """Events an earlier try of this task instance created, by item index (found through their tags)."""
        if not self.tag_metadata or (context["ti"].try_number or 1) <= 1:
            return {}
        tags = task_instance_tags(context)
        found: dict[int, str] = {}
        for event in self.hook.list_scheduled_events(self.assistant_id):
            metadata = event.conversation_metadata or {}
            index = metadata.get("airflow_item")
            if isinstance(index, int) and 0 <= index < total and all(metadata.get(k) == v for k, v in tags.items()):
                found.setdefault(index, event.event_id)
        self.log.info("Found %d events created by earlier tries; creating the other %d", len(found), total - len(found))
        return found

    def execute(self, context: Context) -> dict[str, Any]:
        """Validate all items, create the missing ones concurrently under the rate limit, then wait if asked.

        :param context: the task's context.
        :return: the batch summary (and the outcome, when it waited).
        """
        anchor = lazy_anchor(context)
        total = self.validate(context, anchor)
        items = self._items()
        existing = self._existing(context, total)
        summary = asyncio.run(self._create_all(context, items, existing, anchor))
        context["ti"].xcom_push(key="batch_summary", value=summary)
        if summary["errors"] and self.fail_on_item_error:
            first = "; ".join(f"events[{e['index']}]: {e['error']}" for e in summary["errors"][:3])
            raise TelnyxBatchError(
                f"{len(summary['errors'])} of {total} events could not be created (a retry creates only these). "
                f"First: {first}",
                summary=summary,
            )
        if not self.wait_for_completion:
            return summary
        ids = [event_id for event_id in summary["scheduled_event_ids"] if event_id]
        deadline = time.time() + self.wait_timeout if self.wait_timeout is not None else None
        if self.deferrable:
            self.defer(
                trigger=TelnyxScheduledEventsTrigger(
                    assistant_id=self.assistant_id,
                    scheduled_event_ids=ids,
                    telnyx_conn_id=self.telnyx_conn_id,
                    poll_interval=self.poll_interval,
                    end_time=deadline,
                ),
                method_name="execute_complete",
                timeout=timedelta(seconds=self.wait_timeout) if self.wait_timeout is not None else None,
            )
        waiter = ManyEventsWaiter(event_ids=ids, poll_interval=self.poll_interval, deadline=deadline)
        while (payload := poll_many(self.hook, self.assistant_id, waiter)) is None:
            self.log.info("%d of %d scheduled events still pending", len(waiter.pending), len(ids))
            time.sleep(waiter.next_sleep())
        return {**summary, "outcome": resolve_many(payload, fail_on_failure=self.fail_on_failure)}

    async def _create_all(
        self,
        context: Context,
        items: list[Mapping[str, Any]],
        existing: dict[int, str],
        anchor: Callable[[], datetime],
    ) -> dict[str, Any]:
        hook = TelnyxHook(telnyx_conn_id=self.telnyx_conn_id)
        limiter = AdaptiveRateLimiter(self.requests_per_second)
        progress = Progress(total=len(items))
        ids: list[str | None] = [existing.get(index) for index in range(len(items))]
        errors: list[dict[str, Any]] = []
        progress.reused = progress.done = len(existing)

        async def create(index: int) -> None:
            request = self._request(context, items[index], index, anchor)
            key = self._key(context, items[index], index)
            await limiter.acquire()
            try:
                event = await hook.acreate_scheduled_event(self.assistant_id, request, idempotency_key=key)
                ids[index] = event.event_id
                progress.created += 1
            except TelnyxApiError as error:
                errors.append({"index": index, "error": str(error)[:500]})
                progress.errors += 1
            finally:
                progress.done += 1
                limiter.update(hook.rate_limit)

        self.log.info("Creating %d scheduled events (%d already exist)", len(items) - len(existing), len(existing))
        try:
            await run_pool(
                (index for index in range(len(items)) if index not in existing),
                create,
                concurrency=self.max_concurrency,
                progress=progress,
                log=self.log,  # type: ignore[arg-type]
                progress_interval=self.progress_interval,
            )
        finally:
            await hook.aclose()
        self.log.info("Batch done: %s", progress.line())
        elapsed = max(time.monotonic() - progress.started, 1e-9)
        return {
            "total": len(items),
            "created": progress.created,
            "already_existed": progress.reused,
            "failed": len(errors),
            "scheduled_event_ids": ids,
            "errors": sorted(errors, key=lambda e: e["index"]),
            "requests": hook.rate_limit.responses,
            "rate_limited": hook.rate_limit.throttled,
            "seconds": round(elapsed, 3),
            "requests_per_second": round(hook.rate_limit.responses / elapsed, 2),
        }

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger: the batch summary with the outcome of the wait.

        :param context: the task's context.
        :param event: the trigger's payload.
        :return: the summary and ``outcome``.
        """
        summary = context["ti"].xcom_pull(task_ids=self.task_id, key="batch_summary") or {}
        return {**summary, "outcome": resolve_many(event, fail_on_failure=self.fail_on_failure)}
