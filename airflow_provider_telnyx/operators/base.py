"""``BaseTelnyxCreateOperator``: what the single and the batch create operators take and do alike."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_provider_telnyx._checks import check_duration, is_template
from airflow_provider_telnyx._common import DEFAULT_CONN_ID, TELNYX_UI_COLOR, default_deferrable, utcnow
from airflow_provider_telnyx.operators._late import DEFAULT_MAX_LATENESS, LatePolicy, LateSendRule
from airflow_provider_telnyx.operators._lineage import create_lineage

if TYPE_CHECKING:
    from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
    from airflow_provider_telnyx.models import ConversationChannel, ScheduledEvent, ScheduledEventRequest
    from airflow_provider_telnyx.operators._arguments import TaskIdentity
    from airflow_provider_telnyx.operators._lineage import Lineage
    from airflow_provider_telnyx.triggers.scheduled_event import (
        TelnyxScheduledEventsTrigger,
        TelnyxScheduledEventTrigger,
    )

__all__ = ["REATTACH_SECONDS", "BaseTelnyxCreateOperator"]

#: The longest a retry's lookup of what earlier tries created may take.
REATTACH_SECONDS = 120.0
#: Pages a lookup may read beyond the ones its own events fill (other events scheduled in the same window).
REATTACH_EXTRA_PAGES = 100


class BaseTelnyxCreateOperator(BaseOperator):
    """The arguments and behaviour both create operators share; use
    :class:`~airflow_provider_telnyx.operators.scheduled_event.TelnyxCreateScheduledEventOperator` or
    :class:`~airflow_provider_telnyx.operators.batch.TelnyxCreateScheduledEventsOperator`.

    The event fields below are the event's own for the single operator, and every item's default for the batch
    operator (an item's value wins; dicts are merged, the item's keys winning).

    :param assistant_id: the AI assistant that calls or texts. (templated)
    :param text: the SMS text; required for ``sms_chat``. (templated)
    :param conversation_metadata: flat metadata (str, int or bool values) attached to the conversation; the
        operator adds ``airflow_dag_id``, ``airflow_run_id``, ``airflow_task_id`` and ``airflow_map_index``
        (and ``airflow_item`` per batch item) unless ``tag_metadata=False`` (your keys win). (templated)
    :param dynamic_variables: string values for ``{{variable}}`` placeholders in the assistant's
        instructions. (templated)
    :param max_retries_client_errors: the API's own retries after busy, no-answer, failed or canceled calls
        (0..10, phone calls only). (templated)
    :param retry_interval_secs: seconds between those retries (60..86400; only with
        ``max_retries_client_errors`` > 0). (templated)
    :param call_settings: per-call overrides such as ``{"sip_region": "Europe"}``. (templated)
    :param late_policy: what to do with an event not created yet whose time has passed by the moment it is sent:
        ``"send_now"`` (default: send it 10 s from then, with a WARNING naming both times), ``"skip"`` (the task,
        or the batch item, is skipped) or ``"fail"`` (it fails without retrying). An event that already exists is
        never affected. (templated)
    :param max_lateness: how late ``"send_now"`` may still send (a ``timedelta`` or seconds); later, it fails
        instead of calling someone hours late. Default one hour; ``None``: no limit. (templated)
    :param check_assistant: before creating, check with one ``GET /ai/assistants/{id}`` that the assistant exists
        and, when a phone call is to be placed, has telephony settings; fail clearly (without retrying) when not.
    :param wait_for_completion: wait until the events are ``completed`` or ``failed``.
    :param deferrable: wait in the triggerer instead of holding a worker slot
        (default ``[operators] default_deferrable``).
    :param poll_interval: seconds between status checks while waiting.
    :param wait_timeout: seconds to wait before failing with a timeout; ``None`` waits as long as it takes.
    :param fail_on_failure: when waiting, fail the task if an event ``failed`` (else return the outcome).
    :param tag_metadata: add the task-instance tags to ``conversation_metadata``; without them a retry whose
        earlier try lost the create's answer can only rely on the idempotency key.
    :param telnyx_conn_id: the Airflow connection to use. (templated)
    """

    template_fields_renderers: ClassVar[dict[str, str]] = {
        "conversation_metadata": "json",
        "dynamic_variables": "json",
        "call_settings": "json",
    }
    ui_color = TELNYX_UI_COLOR
    ui_fgcolor = "#000000"
    #: The wall clock the late policy reads (tests replace it on an instance).
    clock: Callable[[], datetime] = staticmethod(utcnow)

    def __init__(
        self,
        *,
        assistant_id: str,
        text: str | None = None,
        conversation_metadata: dict[str, str | int | bool] | None = None,
        dynamic_variables: dict[str, str] | None = None,
        max_retries_client_errors: int | None = None,
        retry_interval_secs: int | None = None,
        call_settings: dict[str, Any] | None = None,
        late_policy: str = LatePolicy.SEND_NOW,
        max_lateness: timedelta | float | None = DEFAULT_MAX_LATENESS,
        check_assistant: bool = False,
        wait_for_completion: bool = False,
        deferrable: bool = default_deferrable(),
        poll_interval: float = 60,
        wait_timeout: float | None = None,
        fail_on_failure: bool = True,
        tag_metadata: bool = True,
        telnyx_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_duration("poll_interval", poll_interval)
        check_duration("wait_timeout", wait_timeout, allow_none=True, allow_zero=True)
        if not is_template(late_policy, max_lateness):
            LateSendRule.of(late_policy, max_lateness)
        self.assistant_id = assistant_id
        self.text = text
        self.conversation_metadata = conversation_metadata
        self.dynamic_variables = dynamic_variables
        self.max_retries_client_errors = max_retries_client_errors
        self.retry_interval_secs = retry_interval_secs
        self.call_settings = call_settings
        self.late_policy = late_policy
        self.max_lateness = max_lateness
        self.check_assistant = check_assistant
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout
        self.fail_on_failure = fail_on_failure
        self.tag_metadata = tag_metadata
        self.telnyx_conn_id = telnyx_conn_id

    @cached_property
    def hook(self) -> TelnyxHook:
        """The hook for ``telnyx_conn_id`` (created on first use; constructing the operator does no I/O)."""
        from airflow_provider_telnyx.hooks.telnyx import TelnyxHook

        return TelnyxHook(telnyx_conn_id=self.telnyx_conn_id)

    def _namespace(self) -> str | None:
        """The connection's ``idempotency_namespace`` (read only when the task instance has no scope yet)."""
        return self.hook.get_config().idempotency_namespace

    def _trigger_options(self) -> dict[str, Any]:
        """The arguments every trigger of ours takes, from this operator's (the deadline starts now)."""
        end_time = time.time() + self.wait_timeout if self.wait_timeout is not None else None
        return {
            "assistant_id": self.assistant_id,
            "telnyx_conn_id": self.telnyx_conn_id,
            "poll_interval": self.poll_interval,
            "end_time": end_time,
        }

    def _wait_or_defer(self, trigger: TelnyxScheduledEventTrigger | TelnyxScheduledEventsTrigger) -> Any:
        """Wait until the events are final: deferred to ``trigger`` (the task resumes in ``execute_complete``, so
        this raises ``TaskDeferred``), or here, holding the worker slot, with the trigger's own waiter.

        :return: the payload of a blocking wait, for the waiter's resolve function.
        """
        from airflow_provider_telnyx.utils.waiting import wait_blocking

        if self.deferrable:
            timeout = timedelta(seconds=self.wait_timeout) if self.wait_timeout is not None else None
            self.defer(trigger=trigger, method_name="execute_complete", timeout=timeout)
        self.log.info("Waiting in the worker (every %ss)", self.poll_interval)
        return wait_blocking(self.hook, self.assistant_id, trigger.waiter())

    def _owned_events(
        self, identity: TaskIdentity, requests: list[ScheduledEventRequest], rule: LateSendRule
    ) -> Iterator[ScheduledEvent]:
        """The events earlier tries of this task instance created, found by their tags: one listing narrowed to
        the channel and to the late rule's :meth:`~._late.LateSendRule.reattach_window` of ``requests``, bounded in
        pages and time.

        :param identity: the task instance's tags and anchor.
        :param requests: the bodies this task instance sends (their channels and intended times).
        :param rule: the late rule (how late an earlier try may have sent).
        """
        channels = {request.telnyx_conversation_channel for request in requests}
        intervals = [request.retry_interval_secs for request in requests if request.max_retries_client_errors]
        start, end = rule.reattach_window(
            [request.scheduled_at_fixed_datetime for request in requests],
            anchor=identity.anchor,
            now=self.clock(),
            retry_interval=timedelta(seconds=max(i or 0 for i in intervals)) if intervals else None,
        )
        channel: ConversationChannel | None = channels.pop() if len(channels) == 1 else None
        self.log.info("Looking for events of earlier tries scheduled from %s to %s", start.isoformat(), end.isoformat())
        listing = self.hook.list_scheduled_events(
            self.assistant_id,
            conversation_channel=channel,
            from_date=start,
            to_date=end,
            max_pages=REATTACH_EXTRA_PAGES + 2 * math.ceil(len(requests) / 100),
            max_seconds=REATTACH_SECONDS,
        )
        return (event for event in listing if identity.owns(event.conversation_metadata))

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Lineage:
        """What Airflow's OpenLineage provider reports for this task (the ``openlineage`` extra): the assistant's
        scheduled events on the Telnyx API written, the dataset an export of them reads
        (``docs/howto/lineage.md``).

        :param task_instance: the finished task instance; unused, the rendered arguments say it all.
        """
        return create_lineage(self.hook, self.assistant_id)

    def _preflight(self, *, phone_calls: bool) -> None:
        """Check the assistant before anything is created, when ``check_assistant`` is set."""
        if self.check_assistant:
            self.hook.check_assistant(self.assistant_id, phone_calls=phone_calls)
