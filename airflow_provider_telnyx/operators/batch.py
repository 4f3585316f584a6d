"""``TelnyxCreateScheduledEventsOperator``: many calls or SMS in one task, each exactly once, at the API's rate.

On every try: every item is validated (all bad items reported at once, nothing sent); the events an earlier try
created are found by their tags; the others are sent concurrently under the rate limit, each with its own
idempotency key, its time checked against ``late_policy`` at the moment it is sent. Any failure of one item is
that item's failure: the others go on, the summary (one entry per input row) is always pushed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_telnyx._common import TELNYX_UI_COLOR, default_deferrable
from airflow_provider_telnyx.exceptions import (
    TelnyxApiError,
    TelnyxBatchError,
    TelnyxBatchRejectedError,
    TelnyxInvalidInputError,
)
from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
from airflow_provider_telnyx.models import (
    ConversationChannel,
    ScheduledEventRequest,
    check_idempotency_key,
    check_seconds,
)
from airflow_provider_telnyx.operators._arguments import (
    DEFAULT_MAX_LATENESS,
    REQUEST_PARAMETERS,
    LatePolicy,
    TaskIdentity,
    build_request,
    check_late_arguments,
    send_time,
)
from airflow_provider_telnyx.triggers.scheduled_event import TelnyxScheduledEventsTrigger
from airflow_provider_telnyx.utils.pool import Progress, run_pool
from airflow_provider_telnyx.utils.rate_limit import INITIAL_RATE, AdaptiveRateLimiter, Answer
from airflow_provider_telnyx.waiting import ManyEventsWaiter, poll_many, resolve_many

if TYPE_CHECKING:
    from airflow.sdk import Context
    from pydantic import JsonValue

__all__ = ["BatchItem", "ItemResult", "TelnyxCreateScheduledEventsOperator", "summary_line"]

#: Task-state-store key of the items an earlier try of this clear refused for good (not re-sent by a retry).
STATE_REJECTED = "telnyx_batch_rejected"
#: Longest error text kept per item in the summary.
MAX_ERROR_TEXT = 300

Outcome = Literal["created", "reused", "skipped", "failed"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class BatchItem:
    """One validated input row: its request (with the intended time) and its idempotency key.

    :param index: the row's position in ``events``.
    :param request: the create body.
    :param key: the ``Idempotency-Key``.
    """

    index: int
    request: ScheduledEventRequest
    key: str


@dataclass
class ItemResult:
    """What happened to one input row.

    :param index: the row's position in ``events``.
    :param outcome: ``created``, ``reused`` (an earlier try created it), ``skipped`` (late, ``late_policy="skip"``)
        or ``failed``.
    :param scheduled_event_id: the event, when there is one.
    :param scheduled_at: when it was sent for (differs from the intended time for a late ``send_now``).
    :param error_class: the exception's class name, when it failed.
    :param error: the exception's message (bounded), when it failed.
    :param retryable: whether a task retry may fix the failure (and will send the item again).
    """

    index: int
    outcome: Outcome
    scheduled_event_id: str | None = None
    scheduled_at: str | None = None
    error_class: str | None = None
    error: str | None = None
    retryable: bool | None = None

    @classmethod
    def failure(cls, index: int, error: BaseException) -> ItemResult:
        """The result of an item whose send raised.

        :param index: the row.
        :param error: what it raised (any exception: one odd answer never aborts the batch).
        :return: the result.
        """
        return cls(
            index,
            "failed",
            error_class=type(error).__name__,
            error=_bounded(str(error) or type(error).__name__),
            # A task retry may fix anything but what Airflow itself would not retry (400/401/403/404/422, late).
            retryable=not isinstance(error, AirflowFailException),
        )

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON-safe dictionary, unset fields left out.

        :return: the dictionary.
        """
        return {name: value for name, value in self.__dict__.items() if value is not None}


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 3] + "..."


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

    The return value (and XCom ``batch_summary``) has one entry per input row in ``items`` (``index``,
    ``outcome``: ``created``, ``reused``, ``skipped`` or ``failed``, ``scheduled_event_id``, ``error_class``,
    ``error``, ``retryable``), the ``counts``, and ``scheduled_event_ids`` by index, which the many-events sensor
    accepts as it is. When items failed, the task fails after every item was tried: with a retryable
    :class:`~airflow_provider_telnyx.exceptions.TelnyxBatchError` when some failure may pass (a retry sends only
    those items, not the ones refused for good), else with a non-retryable ``TelnyxBatchRejectedError``.

    :param assistant_id: the AI assistant that calls or texts. (templated)
    :param events: the items: a list of dicts, or an ``XComArg`` from an upstream task. (templated)
    :param agent_target: default ``agent_target``. (templated)
    :param conversation_channel: default channel. (templated)
    :param scheduled_at: default ``scheduled_at`` (datetime, ISO string, or a timedelta after the first try's
        start). (templated)
    :param text: default SMS text. (templated)
    :param conversation_metadata: default metadata, merged into each item's. (templated)
    :param dynamic_variables: default dynamic variables, merged into each item's. (templated)
    :param max_retries_client_errors: default API retries. (templated)
    :param retry_interval_secs: default retry interval. (templated)
    :param call_settings: default call settings. (templated)
    :param late_policy: for each item not created yet whose time has passed when its turn comes: ``"send_now"``
        (default: sent 10 s from then, WARNING), ``"skip"`` (reported ``skipped``) or ``"fail"`` (reported
        ``failed``, not retried). (templated)
    :param max_lateness: how late ``"send_now"`` may still send an item (``timedelta`` or seconds); later items
        fail. Default one hour; ``None``: no limit. (templated)
    :param check_assistant: before sending, check with one ``GET /ai/assistants/{id}`` that the assistant exists
        and, when any item is a phone call, has telephony settings; fail clearly (without retrying) when not.
    :param max_concurrency: the most requests in flight at once; below it, the rate limiter sizes concurrency from
        the rate and the latency it observes.
    :param requests_per_second: a fixed client-side rate; ``None`` adapts to the API's answers.
    :param fail_on_item_error: fail the task (after trying every item) when an item failed; otherwise report it in
        the summary and succeed.
    :param wait_for_completion: wait until every created event is final (coalesced polling).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: seconds between polling cycles while waiting.
    :param wait_timeout: seconds to wait before failing with a timeout; ``None`` waits as long as it takes.
    :param fail_on_failure: when waiting, fail the task if any event ``failed``.
    :param tag_metadata: tag each event with the task instance and item index (needed to resume after a crash).
    :param progress_interval: seconds between progress log lines.
    :param telnyx_conn_id: the Airflow connection to use. (templated)
    """

    template_fields: Sequence[str] = (
        "assistant_id",
        "events",
        *REQUEST_PARAMETERS[1:],
        "late_policy",
        "max_lateness",
        "telnyx_conn_id",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "events": "json",
        "conversation_metadata": "json",
        "dynamic_variables": "json",
        "call_settings": "json",
    }
    ui_color = TELNYX_UI_COLOR
    ui_fgcolor = "#000000"
    #: The wall clock the late policy reads (tests replace it on an instance).
    clock: Callable[[], datetime] = staticmethod(_utcnow)

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
        late_policy: str = LatePolicy.SEND_NOW,
        max_lateness: timedelta | float | None = DEFAULT_MAX_LATENESS,
        check_assistant: bool = False,
        max_concurrency: int = 256,
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
        check_seconds("poll_interval", poll_interval)
        check_seconds("wait_timeout", wait_timeout, allow_none=True, allow_zero=True)
        check_seconds("requests_per_second", requests_per_second, allow_none=True)
        check_seconds("progress_interval", progress_interval)
        if not isinstance(max_concurrency, int) or isinstance(max_concurrency, bool) or max_concurrency < 1:
            raise TelnyxInvalidInputError(
                [("max_concurrency", "must be a positive integer")], subject="operator argument"
            )
        if not any(isinstance(v, str) and "{{" in v for v in (late_policy, max_lateness)):
            check_late_arguments(late_policy, max_lateness)
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
        self.late_policy = late_policy
        self.max_lateness = max_lateness
        self.check_assistant = check_assistant
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

    def _namespace(self) -> str | None:
        return self.hook.get_config().idempotency_namespace

    @cached_property
    def hook(self) -> TelnyxHook:
        """The hook for ``telnyx_conn_id``."""
        return TelnyxHook(telnyx_conn_id=self.telnyx_conn_id)

    # -- validation ----------------------------------------------------------------------------------------

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

    def _item(self, identity: TaskIdentity, item: Any, index: int) -> BatchItem:
        fields = self._fields(item, index)
        tags = identity.tags(airflow_item=index) if self.tag_metadata else None
        request = build_request(
            fields, anchor=identity.anchor, tags=tags, subject="batch item", prefix=f"events[{index}]."
        )
        key = item.get("idempotency_key")
        if key is None:
            key = identity.idempotency_key(salt=f"item-{index}")
        else:
            key = check_idempotency_key(key, field=f"events[{index}].idempotency_key", subject="batch item")
        return BatchItem(index, request, key)

    def validate(self, identity: TaskIdentity) -> list[BatchItem]:
        """Validate every item once, before anything is sent; report every bad item at once.

        Whether an item's time has passed is not checked here: that is decided when it is sent (``late_policy``),
        after the events an earlier try created were found.

        :param identity: the task instance's tags, keys and anchor.
        :return: the items, ready to send.
        :raises TelnyxInvalidInputError: listing every bad item by index and field.
        """
        if not isinstance(self.events, list | tuple):
            raise TelnyxInvalidInputError([("events", "must be a list of dicts")], subject="operator argument")
        problems: list[tuple[str, str]] = []
        prepared: list[BatchItem] = []
        for index, item in enumerate(self.events):
            try:
                prepared.append(self._item(identity, item, index))
            except TelnyxInvalidInputError as error:
                problems.extend(error.problems)
        if problems:
            bad = len({field.split("]")[0] for field, _ in problems})
            raise TelnyxInvalidInputError(problems, subject=f"batch: {bad} of {len(self.events)} events")
        return prepared

    # -- what earlier tries did ----------------------------------------------------------------------------

    def _existing(self, context: Context, identity: TaskIdentity, total: int) -> dict[int, str]:
        """Events an earlier try of this task instance created, by item index (found through their tags)."""
        if not self.tag_metadata or (context["ti"].try_number or 1) <= 1:
            return {}
        tags = identity.tags()
        found: dict[int, str] = {}
        for event in self.hook.list_scheduled_events(self.assistant_id):
            metadata = event.conversation_metadata or {}
            index = metadata.get("airflow_item")
            if isinstance(index, int) and 0 <= index < total and all(metadata.get(k) == v for k, v in tags.items()):
                found.setdefault(index, event.event_id)
        self.log.info("Found %d events created by earlier tries; %d items left", len(found), total - len(found))
        return found

    @staticmethod
    def _clear_number(context: Context) -> int:
        dag_run = context.get("dag_run")
        return int(getattr(dag_run, "clear_number", 0) or 0)

    def _rejected_before(self, context: Context) -> dict[int, dict[str, Any]]:
        """Items an earlier try of this run (same clear) refused for good: a retry does not send them again."""
        store = context.get("task_state_store")
        if store is None or (context["ti"].try_number or 1) <= 1:
            return {}
        kept = store.get(STATE_REJECTED)
        if not isinstance(kept, dict) or kept.get("clear_number") != self._clear_number(context):
            return {}
        items = kept.get("items")
        if not isinstance(items, dict):
            return {}
        return {int(index): value for index, value in items.items() if isinstance(value, dict)}

    def _remember_rejected(self, context: Context, results: list[ItemResult]) -> None:
        store = context.get("task_state_store")
        rejected: dict[str, JsonValue] = {
            str(r.index): {"error_class": r.error_class, "error": r.error}
            for r in results
            if r.outcome == "failed" and r.retryable is False
        }
        if store is not None and rejected:
            store.set(STATE_REJECTED, {"clear_number": self._clear_number(context), "items": rejected})

    # -- execution -----------------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        """Validate all items, find what earlier tries created, send the rest under the rate limit, then wait if
        asked.

        :param context: the task's context.
        :return: the batch summary (and the outcome, when it waited).
        """
        late = check_late_arguments(self.late_policy, self.max_lateness)
        identity = TaskIdentity.of(context, clock=self.clock, namespace=self._namespace)
        prepared = self.validate(identity)
        existing = self._existing(context, identity, len(prepared))
        rejected = self._rejected_before(context)
        results: list[ItemResult | None] = [None] * len(prepared)
        for index, event_id in existing.items():
            results[index] = ItemResult(index, "reused", scheduled_event_id=event_id)
        for index, earlier in rejected.items():
            if 0 <= index < len(prepared) and results[index] is None:
                error = f"refused on an earlier try, not sent again: {earlier.get('error')}"
                results[index] = ItemResult(
                    index, "failed", error_class=earlier.get("error_class"), error=_bounded(error), retryable=False
                )
        to_send = [item for item in prepared if results[item.index] is None]
        if self.check_assistant and to_send:
            phone = any(i.request.telnyx_conversation_channel is ConversationChannel.PHONE_CALL for i in to_send)
            self.hook.check_assistant(self.assistant_id, phone_calls=phone)
        self._warn_if_slow(to_send)
        started = time.monotonic()
        sent, requests, throttled = asyncio.run(self._send_all(to_send, late, len(prepared)))
        for result in sent:
            results[result.index] = result
        summary = _summary([r for r in results if r is not None], requests, throttled, time.monotonic() - started)
        context["ti"].xcom_push(key="batch_summary", value=summary)
        self.log.info("Batch done: %s", summary_line(summary))
        self._raise_for_failures(context, summary, [r for r in results if r is not None])
        if not self.wait_for_completion:
            return summary
        return self._wait(summary)

    def _warn_if_slow(self, to_send: list[BatchItem]) -> None:
        if not to_send:
            return
        if self.requests_per_second is not None:
            rate, source = self.requests_per_second, "requests_per_second"
        elif self.hook.rate_limit.limit:
            rate, source = 0.95 * self.hook.rate_limit.limit, "the API's announced limit"
        else:
            rate, source = INITIAL_RATE, "the starting rate"
        lead = (min(item.request.scheduled_at_fixed_datetime for item in to_send) - self.clock()).total_seconds()
        estimate = len(to_send) / rate
        if estimate > lead:
            self.log.warning(
                "Sending %d events at about %.0f/s (%s) takes about %.0f s, but the earliest is due in %.0f s: "
                "items sent after their time follow late_policy=%s",
                len(to_send),
                rate,
                source,
                estimate,
                max(lead, 0.0),
                self.late_policy,
            )

    async def _send_all(
        self, to_send: list[BatchItem], late: tuple[LatePolicy, timedelta | None], total: int
    ) -> tuple[list[ItemResult], int, int]:
        limiter = AdaptiveRateLimiter(self.requests_per_second, max_in_flight=self.max_concurrency)
        hook = TelnyxHook(telnyx_conn_id=self.telnyx_conn_id, pace=limiter.pace)
        if self.hook.rate_limit.limit:  # announced to the lookups of this try already
            limiter.observe(Answer(200, limit=self.hook.rate_limit.limit))
        hook.rate_limit.listeners.append(
            lambda status, limit, retry_after, latency: limiter.observe(Answer(status, limit, retry_after, latency))
        )
        progress = Progress(total=total)
        progress.reused = progress.done = total - len(to_send)
        results: list[ItemResult] = []

        async def send(item: BatchItem) -> None:
            await limiter.enter()
            try:
                result = await self._send_one(hook, item, late)
            except Exception as error:  # any failure of one item is that item's failure; the others go on
                result = ItemResult.failure(item.index, error)
            finally:
                limiter.leave()
                progress.done += 1
            progress.created += result.outcome == "created"
            progress.errors += result.outcome == "failed"
            results.append(result)

        self.log.info("Creating %d scheduled events (%d already handled)", len(to_send), total - len(to_send))
        try:
            await run_pool(
                to_send,
                send,
                concurrency=self.max_concurrency,
                progress=progress,
                log=self.log,  # type: ignore[arg-type]
                progress_interval=self.progress_interval,
            )
        finally:
            await hook.aclose()
        return results, hook.rate_limit.responses, hook.rate_limit.throttled

    async def _send_one(
        self, hook: TelnyxHook, item: BatchItem, late: tuple[LatePolicy, timedelta | None]
    ) -> ItemResult:
        policy, max_lateness = late
        intended = item.request.scheduled_at_fixed_datetime
        subject = f"events[{item.index}]"
        at = send_time(intended, self.clock(), policy=policy, max_lateness=max_lateness, subject=subject)
        if at is None:
            return ItemResult(item.index, "skipped", scheduled_at=intended.isoformat())
        try:
            event = await self._create(hook, item, at)
        except TelnyxApiError as error:
            if error.is_idempotency_reuse:
                # An earlier try sent this item with another body (re-timed) and created it: a retry finds it.
                return (
                    ItemResult.failure(item.index, error)
                    if not self.tag_metadata
                    else ItemResult(
                        item.index,
                        "failed",
                        error_class=type(error).__name__,
                        error=_bounded(f"created by an earlier try (a task retry finds it by its tags): {error}"),
                        retryable=True,
                    )
                )
            if not error.is_time_in_past or at != intended:
                raise
            # The API's clock says the time has passed: the late policy decides, once.
            at = send_time(
                intended, max(self.clock(), intended), policy=policy, max_lateness=max_lateness, subject=subject
            )
            if at is None:
                return ItemResult(item.index, "skipped", scheduled_at=intended.isoformat())
            event = await self._create(hook, item, at)
        if at != intended:
            self.log.warning("%s is late: intended for %s, sent for %s", subject, intended.isoformat(), at.isoformat())
        return ItemResult(item.index, "created", scheduled_event_id=event.event_id, scheduled_at=at.isoformat())

    async def _create(self, hook: TelnyxHook, item: BatchItem, at: datetime) -> Any:
        request = item.request
        if at != request.scheduled_at_fixed_datetime:
            request = request.model_copy(update={"scheduled_at_fixed_datetime": at})
        return await hook.acreate_scheduled_event(self.assistant_id, request, idempotency_key=item.key)

    def _raise_for_failures(self, context: Context, summary: dict[str, Any], results: list[ItemResult]) -> None:
        failed = [r for r in results if r.outcome == "failed"]
        if not failed or not self.fail_on_item_error:
            return
        self._remember_rejected(context, results)
        retryable = [r for r in failed if r.retryable]
        first = "; ".join(f"events[{r.index}]: {r.error_class}: {r.error}" for r in failed[:3])
        message = (
            f"{len(failed)} of {summary['total']} events could not be created ({len(retryable)} retryable: a task "
            f"retry sends only those; {len(failed) - len(retryable)} refused for good). First: {first}"
        )
        raise (TelnyxBatchError if retryable else TelnyxBatchRejectedError)(message, summary=summary)

    def _wait(self, summary: dict[str, Any]) -> dict[str, Any]:
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

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger: the batch summary with the outcome of the wait.

        :param context: the task's context.
        :param event: the trigger's payload.
        :return: the summary and ``outcome``.
        """
        summary = context["ti"].xcom_pull(task_ids=self.task_id, key="batch_summary") or {}
        return {**summary, "outcome": resolve_many(event, fail_on_failure=self.fail_on_failure)}


def _summary(results: list[ItemResult], requests: int, throttled: int, seconds: float) -> dict[str, Any]:
    ordered = sorted(results, key=lambda r: r.index)
    counts = {name: sum(r.outcome == name for r in ordered) for name in ("created", "reused", "skipped", "failed")}
    elapsed = max(seconds, 1e-9)
    return {
        "total": len(ordered),
        "counts": counts,
        "created": counts["created"],
        "already_existed": counts["reused"],
        "skipped": counts["skipped"],
        "failed": counts["failed"],
        "retryable_failures": sum(bool(r.retryable) for r in ordered if r.outcome == "failed"),
        "items": [r.to_json() for r in ordered],
        "scheduled_event_ids": [r.scheduled_event_id for r in ordered],
        "requests": requests,
        "rate_limited": throttled,
        "seconds": round(seconds, 3),
        "requests_per_second": round(requests / elapsed, 2),
    }


def summary_line(summary: Mapping[str, Any]) -> str:
    """The batch summary in one bounded line (counts, traffic, the first failure; never the list of ids).

    :param summary: the summary the batch operator returns.
    :return: the line.
    """
    counts = summary["counts"]
    line = (
        f"{summary['total']} items: {counts['created']} created, {counts['reused']} reused, "
        f"{counts['skipped']} skipped, {counts['failed']} failed ({summary['retryable_failures']} retryable); "
        f"{summary['requests']} requests ({summary['rate_limited']} rate-limited) in {summary['seconds']:.1f} s, "
        f"{summary['requests_per_second']:.1f}/s"
    )
    first = next((item for item in summary["items"] if item["outcome"] == "failed"), None)
    if first is not None:
        line += f". First failure: events[{first['index']}]: {first.get('error_class')}: {first.get('error')}"
    return line
