"""``TelnyxNotifier``: page the on-call with an AI assistant (an SMS or a phone call) from any Airflow callback.

.. seealso:: The how-to guide: ``docs/howto/notify.md``.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseNotifier

from airflow_provider_telnyx._checks import is_template
from airflow_provider_telnyx._common import DEFAULT_CONN_ID, utcnow
from airflow_provider_telnyx._compat import AirflowException
from airflow_provider_telnyx.exceptions import TelnyxApiError, TelnyxInvalidInputError
from airflow_provider_telnyx.notifications._context import CallbackFacts
from airflow_provider_telnyx.operators._arguments import REQUEST_PARAMETERS, build_request
from airflow_provider_telnyx.operators._late import LATE_SEND_MARGIN, LatePolicy, LateSendRule

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import Context

    from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
    from airflow_provider_telnyx.models import ScheduledEvent, ScheduledEventRequest

__all__ = ["DEFAULT_LEAD", "TelnyxNotifier"]

#: Default ``scheduled_at``: this long after the outcome (the API only takes a time in the future).
DEFAULT_LEAD = LATE_SEND_MARGIN
_SUBJECT = "TelnyxNotifier arguments"
#: Valid values put in place of templated arguments when the others are checked at DAG parse.
_STAND_INS: dict[str, Any] = {
    "end_user_target": "+10000000000",
    "agent_target": "+10000000000",
    "scheduled_at": DEFAULT_LEAD,
    "text": "-",
}


@dataclass(frozen=True)
class _Prepared:
    """One notification, ready to send: what happened, the body and its idempotency key."""

    facts: CallbackFacts
    request: ScheduledEventRequest
    key: str


class TelnyxNotifier(BaseNotifier):
    """Page the on-call: an AI assistant texts (``sms_chat``) or calls (``phone_call``) a person when a task or DAG
    run fails, retries or succeeds, or misses a deadline.

    Use an instance as ``on_failure_callback``, ``on_retry_callback``, ``on_success_callback`` (of a task or a
    DAG), or the class in a deadline alert's callback (Airflow 3.1+, see the how-to). Each callback of one task
    instance try notifies at most once: the ``Idempotency-Key`` is derived from the DAG, run, task, map index, try,
    callback kind (and the connection's ``idempotency_namespace``), so a callback Airflow runs twice is answered
    by the API with the first event. A notification that cannot be sent (an API error, a bad connection, a bad
    rendered argument) is logged and never changes the task's or the run's outcome; arguments that can be checked
    without rendering are checked when the notifier is built (at DAG parse), naming the argument.

    The assistant gets these ``dynamic_variables`` (yours are merged over them): ``dag_id``, ``run_id``,
    ``task_id``, ``map_index``, ``try_number``, ``callback_kind`` (``failure``, ``retry``, ``success``,
    ``skipped``, ``execute``, ``dag_failure``, ``dag_success``, ``deadline``) and ``reason`` (the exception's class
    and first line, or the DAG run's reason, at most 300 characters, every secret Airflow's masker knows replaced
    by ``***``). Templates render with the callback's context (``ti``, ``dag``, ``run_id``, ``exception``...; for a
    deadline only ``dag_run`` and ``deadline``).

    :param assistant_id: the AI assistant that texts or calls. (templated)
    :param end_user_target: who is paged: an E.164 number or a SIP URI. (templated)
    :param agent_target: the Telnyx number or SIP URI it comes from. (templated)
    :param conversation_channel: ``phone_call`` (default) or ``sms_chat``. (templated)
    :param text: the SMS text; by default one line saying what happened, where and why (``Airflow failure: DAG
        d, run r, task t, try 1. ValueError: ...``). Not sent on a phone call. (templated)
    :param dynamic_variables: string values merged over the default variables above. (templated)
    :param conversation_metadata: flat metadata (str, int or bool values); ``airflow_callback``,
        ``airflow_callback_dag_id``, ``_run_id``, ``_task_id``, ``_map_index`` and ``_try_number`` are added (your
        keys win). (templated)
    :param max_retries_client_errors: the API's own retries of a busy or unanswered call (0..10, phone calls
        only). (templated)
    :param retry_interval_secs: seconds between those retries (60..86400; only with
        ``max_retries_client_errors`` > 0). (templated)
    :param call_settings: per-call overrides such as ``{"sip_region": "Europe"}``. (templated)
    :param scheduled_at: when: a ``timedelta`` (or a number of seconds) after the outcome was decided (the try's
        end, the missed deadline; default 10 s, the API needs a time in the future), an aware datetime or an ISO
        8601 string with an offset. A time that has passed when the notification is sent becomes now + 10 s.
        (templated)
    :param telnyx_conn_id: the Airflow connection to use. (templated)
    :param context: the callback's context, set by Airflow when it builds the notifier itself (deadline alerts);
        leave it unset.
    """

    template_fields: Sequence[str] = ("assistant_id", *REQUEST_PARAMETERS, "telnyx_conn_id")
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "conversation_metadata": "json",
        "dynamic_variables": "json",
        "call_settings": "json",
    }
    #: The wall clock (tests replace it on an instance).
    clock: Callable[[], datetime] = staticmethod(utcnow)

    def __init__(
        self,
        *,
        assistant_id: str,
        end_user_target: str,
        agent_target: str,
        conversation_channel: str = "phone_call",
        text: str | None = None,
        dynamic_variables: dict[str, str] | None = None,
        conversation_metadata: dict[str, str | int | bool] | None = None,
        max_retries_client_errors: int | None = None,
        retry_interval_secs: int | None = None,
        call_settings: dict[str, Any] | None = None,
        scheduled_at: timedelta | float | datetime | str = DEFAULT_LEAD,
        telnyx_conn_id: str = DEFAULT_CONN_ID,
        context: Context | None = None,
    ) -> None:
        super().__init__()
        # Set here, not passed up: Airflow 3.0's BaseNotifier takes no context (it has no deadline alerts).
        self.context = context or {}
        self.assistant_id = assistant_id
        self.end_user_target = end_user_target
        self.agent_target = agent_target
        self.conversation_channel = conversation_channel
        self.text = text
        self.dynamic_variables = dynamic_variables
        self.conversation_metadata = conversation_metadata
        self.max_retries_client_errors = max_retries_client_errors
        self.retry_interval_secs = retry_interval_secs
        self.call_settings = call_settings
        if isinstance(scheduled_at, int | float) and not isinstance(scheduled_at, bool):
            scheduled_at = timedelta(seconds=scheduled_at)
        self.scheduled_at = scheduled_at
        self.telnyx_conn_id = telnyx_conn_id
        self._check_arguments()

    @cached_property
    def hook(self) -> TelnyxHook:
        """The hook for ``telnyx_conn_id`` (created on first use; building the notifier does no I/O)."""
        from airflow_provider_telnyx.hooks.telnyx import TelnyxHook

        return TelnyxHook(telnyx_conn_id=self.telnyx_conn_id)

    def _fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in REQUEST_PARAMETERS}

    def _check_arguments(self) -> None:
        """Check, at DAG parse, every argument that holds no template (templated ones are checked once rendered).

        :raises TelnyxInvalidInputError: naming every bad argument.
        """
        from airflow_provider_telnyx.models import path_id

        problems: list[tuple[str, str]] = []
        if not _holds_template(self.assistant_id):
            try:
                path_id("assistant_id", self.assistant_id)
            except TelnyxInvalidInputError as error:
                problems += error.problems
        fields = self._fields()
        templated = {name for name, value in fields.items() if _holds_template(value)}
        probe = {**fields, **{name: _STAND_INS[name] for name in templated & _STAND_INS.keys()}}
        if probe["text"] is None:
            probe["text"] = _STAND_INS["text"]  # the default text, written when the notification is sent
        try:
            build_request(probe, anchor=utcnow(), tags=None, subject=_SUBJECT)
        except TelnyxInvalidInputError as error:
            problems += [(name, message) for name, message in error.problems if name.split(".")[0] not in templated]
        if problems:
            raise TelnyxInvalidInputError(problems, subject=_SUBJECT)

    # -- what Airflow calls --------------------------------------------------------------------------------

    def __call__(self, *args: Any) -> None:
        """Render a copy of this notifier with the callback's context and send the notification; never raises.

        A copy, because rendering replaces the templated attributes: the same notifier (``default_args``, a DAG's
        callback) renders afresh for every task and run.

        :param args: the callback's context (Airflow's calling convention).
        """
        try:
            super(TelnyxNotifier, copy.copy(self)).__call__(*args)
        except Exception as error:
            self._failed(error, args[0] if len(args) == 1 and isinstance(args[0], Mapping) else None)

    def render_template_fields(self, context: Context, jinja_env: jinja2.Environment | None = None) -> None:
        """Render the templated arguments in place, with the DAG's Jinja environment when the context's DAG has one.

        ``dag.test()`` hands DAG callbacks the scheduler's serialized DAG, which has no Jinja environment: then the
        default (sandboxed) one renders, instead of the notification failing.

        :param context: the callback's context.
        :param jinja_env: the environment to use.
        """
        if jinja_env is None and not hasattr(context.get("dag"), "get_template_env"):
            jinja_env = self.get_template_env(dag=None)
        super().render_template_fields(context, jinja_env)

    def notify(self, context: Context) -> None:
        """Send the notification (task and DAG callbacks, and Airflow 3.2+'s ``SyncCallback`` deadline alerts).

        :param context: the callback's context.
        """
        try:
            self._send(self._prepare(context, self.hook.get_config().idempotency_namespace))
        except Exception as error:
            self._failed(error, context)
        finally:
            self.hook.close()

    async def async_notify(self, context: Context) -> None:
        """Send the notification from the triggerer (``AsyncCallback`` deadline alerts), without blocking it.

        :param context: the callback's context.
        """
        try:
            config = await self.hook.aget_config()
            await self._asend(self._prepare(context, config.idempotency_namespace))
        except Exception as error:
            self._failed(error, context)
        finally:
            with contextlib.suppress(Exception):  # nothing reaches the triggerer's callback runner
                await self.hook.aclose()

    # -- the notification ------------------------------------------------------------------------------------

    def _prepare(self, context: Context, namespace: str | None) -> _Prepared:
        """The facts, the body (every rule of the create operators, naming the argument) and the key."""
        now = self.clock()
        facts = CallbackFacts.of(context, now=now)
        fields = self._fields()
        if self.dynamic_variables is not None and not isinstance(self.dynamic_variables, Mapping):
            raise TelnyxInvalidInputError([("dynamic_variables", "must be a mapping")], subject=_SUBJECT)
        fields["dynamic_variables"] = {**facts.dynamic_variables(), **(self.dynamic_variables or {})}
        if fields["text"] is None and fields["conversation_channel"] == "sms_chat":
            fields["text"] = facts.summary()
        request = build_request(fields, anchor=facts.anchor, tags=facts.tags(), subject=_SUBJECT)
        recipient = "\x1f".join(
            str(part)
            for part in (
                self.assistant_id,
                request.telnyx_conversation_channel,
                request.telnyx_end_user_target,
                request.telnyx_agent_target,
            )
        )
        return _Prepared(facts, self._on_time(request, now), facts.idempotency_key(namespace, recipient))

    @staticmethod
    def _on_time(request: ScheduledEventRequest, now: datetime) -> ScheduledEventRequest:
        """The request with a time the API takes: a time that has passed becomes now + 10 s."""
        intended = request.scheduled_at_fixed_datetime
        at = LateSendRule(LatePolicy.SEND_NOW, None).send_time(intended, now, subject="scheduled_at")
        if at is None or at == intended:
            return request
        return request.model_copy(update={"scheduled_at_fixed_datetime": at})

    def _send(self, prepared: _Prepared) -> None:
        try:
            event = self.hook.create_scheduled_event(self.assistant_id, prepared.request, idempotency_key=prepared.key)
        except TelnyxApiError as error:
            again = self._after_refusal(error, prepared)
            if again is None:
                return
            event = self.hook.create_scheduled_event(self.assistant_id, again, idempotency_key=prepared.key)
        self._sent(event, prepared)

    async def _asend(self, prepared: _Prepared) -> None:
        try:
            event = await self.hook.acreate_scheduled_event(
                self.assistant_id, prepared.request, idempotency_key=prepared.key
            )
        except TelnyxApiError as error:
            again = self._after_refusal(error, prepared)
            if again is None:
                return
            event = await self.hook.acreate_scheduled_event(self.assistant_id, again, idempotency_key=prepared.key)
        self._sent(event, prepared)

    def _after_refusal(self, error: TelnyxApiError, prepared: _Prepared) -> ScheduledEventRequest | None:
        """What to do when the API refuses the create: ``None`` when an earlier run of this callback already sent
        it (the key was used with another body), the request re-timed once when the API's clock says the time has
        passed; else the error stands.
        """
        if error.is_idempotency_reuse:
            self.log.info(
                "Telnyx notification for %s was already sent by an earlier run of this callback (Idempotency-Key "
                "%s): not sent again",
                _what(prepared.facts),
                prepared.key,
            )
            return None
        if not error.is_time_in_past:
            raise error
        now = max(self.clock(), prepared.request.scheduled_at_fixed_datetime)
        return self._on_time(prepared.request, now)

    def _sent(self, event: ScheduledEvent, prepared: _Prepared) -> None:
        if event.replayed:
            self.log.info(
                "Telnyx notification for %s was already sent (event %s): the API replayed it, nothing new was sent",
                _what(prepared.facts),
                event.event_id,
            )
            return
        self.log.info(
            "Telnyx notification for %s scheduled: %s event %s at %s",
            _what(prepared.facts),
            prepared.request.telnyx_conversation_channel.value,
            event.event_id,
            prepared.request.scheduled_at_fixed_datetime.isoformat(),
        )

    def _failed(self, error: Exception, context: Context | Mapping[str, Any] | None = None) -> None:
        """Log why nothing was sent; the task's and the run's outcome stay what they are."""
        what = "this callback"
        with contextlib.suppress(Exception):  # a context too odd to describe still gets its line
            what = _what(CallbackFacts.of(context, now=utcnow())) if context else what
        self.log.error(
            "Telnyx notification for %s not sent: %s: %s",
            what,
            type(error).__name__,
            error,
            exc_info=not isinstance(error, AirflowException),  # ours and the API's carry their reason
        )


def _what(facts: CallbackFacts) -> str:
    """``the failure callback of DAG d, run r, task t, try 1``."""
    return f"the {facts.kind.value} callback of {facts.where()}"


def _holds_template(value: Any) -> bool:
    """Whether a value, or anything in it, is a Jinja template not rendered yet."""
    if isinstance(value, Mapping):
        return any(_holds_template(key) or _holds_template(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_holds_template(item) for item in value)
    return is_template(value)
