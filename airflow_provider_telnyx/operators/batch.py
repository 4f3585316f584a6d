"""``TelnyxCreateScheduledEventsOperator``: many calls or SMS in one task, each exactly once, at the API's rate.

On every try: every item is validated (bad rows are reported at once, by index, field and reason: by default
nothing is sent; with ``on_invalid_item="skip"`` they are the rows' outcome and the others go on); the events an
earlier try created are found by their tags; the others are sent concurrently under the rate limit, each with its
own idempotency key, its time checked against ``late_policy`` at the moment it is sent. Any failure of one item is
that item's failure: the others go on, the summary (one entry per input row) is always pushed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from contextlib import aclosing
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_telnyx._checks import check_duration, check_idempotency_key, check_rate, is_template
from airflow_provider_telnyx.exceptions import (
    TelnyxApiError,
    TelnyxBatchError,
    TelnyxBatchRejectedError,
    TelnyxInvalidInputError,
)
from airflow_provider_telnyx.operators._arguments import REQUEST_PARAMETERS, TaskIdentity, build_request
from airflow_provider_telnyx.operators._batch_results import (
    BatchItem,
    InvalidItemPolicy,
    ItemResult,
    bounded,
    bounded_name,
    check_on_invalid_item,
    rejected_before,
    remember_rejected,
    summarize,
    summary_line,
)
from airflow_provider_telnyx.operators._late import LateSendRule
from airflow_provider_telnyx.operators.base import BaseTelnyxCreateOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
    from airflow_provider_telnyx.models import ScheduledEvent
    from airflow_provider_telnyx.utils.pool import Turn

__all__ = ["BatchItem", "ItemResult", "TelnyxCreateScheduledEventsOperator", "summary_line"]

#: The keys an item may have.
_ITEM_KEYS = frozenset({*REQUEST_PARAMETERS, "idempotency_key"})


def _unknown_key(index: int, name: Any) -> tuple[str, str]:
    """The problem of a key that is no event field (its name bounded: a column name is the user's text)."""
    if name is None:
        return (
            f"events[{index}].None",
            "is not an event field: csv.DictReader keeps the values past the header's last column under the key "
            "None (an unquoted comma in the row?)",
        )
    return f"events[{index}].{bounded_name(str(name))}", "is not an event field"


def _field_of(row: Any, name: str) -> Any:
    """A row's value for ``name``, or ``None`` (whatever the row is: reading a bad row never fails the batch)."""
    try:
        return row.get(name) if isinstance(row, Mapping) else None
    except Exception:
        return None


def _shared_keys(events: Sequence[Any]) -> list[tuple[int, tuple[str, str]]]:
    """The rows whose ``idempotency_key`` an earlier row already has, each with its problem: the first row with a
    key keeps it, the API would refuse the others (422: the key was used with another body) or answer them with
    the first row's event."""
    first: dict[str, int] = {}
    shared: list[tuple[int, tuple[str, str]]] = []
    for index, row in enumerate(events):
        key = _field_of(row, "idempotency_key")
        if not isinstance(key, str):
            continue
        owner = first.setdefault(key, index)
        if owner != index:
            reason = f"is the same as events[{owner}].idempotency_key: each row needs its own key"
            shared.append((index, (f"events[{index}].idempotency_key", reason)))
    return shared


class TelnyxCreateScheduledEventsOperator(BaseTelnyxCreateOperator):
    """Schedule many calls or SMS in one task: validated up front, created concurrently at the API's rate
    limit, each exactly once, optionally waited for together.

    .. seealso::
        The how-to guide: ``docs/howto/batch.md``.

    Every item is a dict with the single operator's fields (``end_user_target``, ``scheduled_at``,
    ``dynamic_variables``, ...); the operator's own arguments of the same names are defaults for every item
    (dict fields are merged, the item's keys winning). Each item gets its own idempotency key (from the task
    instance and the item's position; or the item's own ``idempotency_key``, which no other row of the batch may
    share: a row reusing an earlier row's key is ``invalid``) and is tagged with ``airflow_item`` in
    ``conversation_metadata``, so a task retry finds what an earlier try created and sends only what is missing.
    Whatever a row holds (keys of any type, a value whose reading raises), validating it never fails the batch:
    it is that row's ``invalid`` outcome, with the reason.

    Targets written with separators around ``+`` and a country code (``+44 20 7946 0958``) are sent in E.164 form
    (see :func:`~airflow_provider_telnyx.models.normalize_target`); a number without ``+`` is invalid, never guessed.

    The return value (and XCom ``batch_summary``) has one entry per input row in ``items`` (``index``,
    ``outcome``: ``created``, ``reused``, ``skipped``, ``failed``, ``invalid`` or ``not_sent``,
    ``scheduled_event_id``, ``end_user_target`` as sent and ``end_user_target_input`` as written when they differ,
    ``error_class``, ``error``, ``retryable``, and ``problems`` for an invalid row), the ``counts``, and
    ``scheduled_event_ids`` by index; the many-events sensor accepts it as it is. When items failed, the task fails
    after every item was tried: with a retryable :class:`~airflow_provider_telnyx.exceptions.TelnyxBatchError`
    when some failure may pass (a retry sends only those items, not the ones refused for good), else with a
    non-retryable ``TelnyxBatchRejectedError``.

    It takes the arguments of :class:`~airflow_provider_telnyx.operators.base.BaseTelnyxCreateOperator` (the
    event fields as every item's defaults, ``late_policy`` and ``max_lateness`` per item, ``check_assistant``, the
    waiting options, ``tag_metadata`` per item and index, ``telnyx_conn_id``) and:

    :param events: the items: a list of dicts, or an ``XComArg`` from an upstream task. (templated)
    :param agent_target: default ``agent_target``. (templated)
    :param conversation_channel: default channel. (templated)
    :param scheduled_at: default ``scheduled_at`` (datetime, ISO string, or a timedelta after the first try's
        start). (templated)
    :param max_concurrency: the most requests in flight at once; below it, the rate limiter sizes concurrency from
        the rate and the latency it observes.
    :param requests_per_second: a fixed client-side rate; ``None`` adapts to the API's answers.
    :param on_invalid_item: ``"fail"`` (default): when any row is invalid, send nothing and fail (the error names
        the first 20 bad rows and counts the others by field and reason; the summary, every row ``invalid`` or
        ``not_sent``, is pushed first). ``"skip"``: invalid rows are reported ``invalid`` in the summary (with the
        field and the reason), the others are sent, and invalid rows alone do not fail the task. (templated)
    :param fail_on_item_error: fail the task (after trying every item) when an item failed; otherwise report it in
        the summary and succeed.
    :param progress_interval: seconds between progress log lines.
    """

    template_fields: Sequence[str] = (
        "assistant_id",
        "events",
        *REQUEST_PARAMETERS[1:],
        "late_policy",
        "max_lateness",
        "on_invalid_item",
        "telnyx_conn_id",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "events": "json",
        **BaseTelnyxCreateOperator.template_fields_renderers,
    }

    def __init__(
        self,
        *,
        events: Any,
        agent_target: str | None = None,
        conversation_channel: str | None = None,
        scheduled_at: datetime | str | timedelta | None = None,
        max_concurrency: int = 256,
        requests_per_second: float | None = None,
        on_invalid_item: str = InvalidItemPolicy.FAIL,
        fail_on_item_error: bool = True,
        progress_interval: float = 10,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_rate("requests_per_second", requests_per_second, allow_none=True)
        check_duration("progress_interval", progress_interval)
        if not is_template(on_invalid_item):
            check_on_invalid_item(on_invalid_item)
        if not isinstance(max_concurrency, int) or isinstance(max_concurrency, bool) or max_concurrency < 1:
            raise TelnyxInvalidInputError(
                [("max_concurrency", "must be a positive integer")], subject="operator argument"
            )
        self.events = events
        self.agent_target = agent_target
        self.conversation_channel = conversation_channel
        self.scheduled_at = scheduled_at
        self.max_concurrency = max_concurrency
        self.requests_per_second = requests_per_second
        self.on_invalid_item = on_invalid_item
        self.fail_on_item_error = fail_on_item_error
        self.progress_interval = progress_interval

    # -- validation ----------------------------------------------------------------------------------------

    def _fields(self, item: Any, index: int) -> dict[str, Any]:
        if not isinstance(item, Mapping):
            raise TelnyxInvalidInputError([(f"events[{index}]", "must be a dict")], subject="batch item")
        # Keys of any type, sorted by their text: csv.DictReader puts a row's extra values under the key None.
        unknown = sorted((name for name in item if name not in _ITEM_KEYS), key=str)
        if unknown:
            raise TelnyxInvalidInputError([_unknown_key(index, name) for name in unknown], subject="batch item")
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
        target = item.get("end_user_target")
        return BatchItem(index, request, key, target if isinstance(target, str) else None)

    def validate_rows(self, identity: TaskIdentity) -> tuple[list[BatchItem], dict[int, list[tuple[str, str]]]]:
        """Validate every item once, before anything is sent.

        Whether an item's time has passed is not checked here: that is decided when it is sent (``late_policy``),
        after the events an earlier try created were found. Rows that reuse an earlier row's ``idempotency_key`` are
        invalid (the first row with a key keeps it): one key cannot create two events.

        :param identity: the task instance's tags, keys and anchor.
        :return: the valid items, ready to send, and the problems of each invalid row by index.
        :raises TelnyxInvalidInputError: when ``events`` is not a list.
        """
        if not isinstance(self.events, list | tuple):
            raise TelnyxInvalidInputError([("events", "must be a list of dicts")], subject="operator argument")
        invalid: dict[int, list[tuple[str, str]]] = {}
        prepared: list[BatchItem] = []
        for index, item in enumerate(self.events):
            try:
                prepared.append(self._item(identity, item, index))
            except TelnyxInvalidInputError as error:
                invalid[index] = list(error.problems)
            except Exception as error:  # whatever one odd row raises is that row's outcome, never the batch's
                reason = bounded(f"could not be read: {type(error).__name__}: {error}")
                invalid[index] = [(f"events[{index}]", reason)]
        for index, problem in _shared_keys(self.events):
            invalid.setdefault(index, []).append(problem)
        return [item for item in prepared if item.index not in invalid], invalid

    def _invalid_error(self, invalid: dict[int, list[tuple[str, str]]]) -> TelnyxInvalidInputError:
        problems = [problem for index in sorted(invalid) for problem in invalid[index]]
        return TelnyxInvalidInputError(problems, subject=f"batch: {len(invalid)} of {len(self.events)} events")

    def validate(self, identity: TaskIdentity) -> list[BatchItem]:
        """Validate every item once, before anything is sent; report every bad item at once.

        :param identity: the task instance's tags, keys and anchor.
        :return: the items, ready to send.
        :raises TelnyxInvalidInputError: naming the bad items by index and field (the first 20, the rest counted).
        """
        prepared, invalid = self.validate_rows(identity)
        if invalid:
            raise self._invalid_error(invalid)
        return prepared

    # -- what earlier tries did ----------------------------------------------------------------------------

    def _existing(
        self, context: Context, identity: TaskIdentity, items: list[BatchItem], rule: LateSendRule
    ) -> dict[int, ScheduledEvent]:
        """Events an earlier try of this task instance created, by item index (found through their tags, in one
        listing narrowed to the items' channel and times)."""
        total = len(items)
        if not self.tag_metadata or (context["ti"].try_number or 1) <= 1 or not items:
            return {}
        found: dict[int, ScheduledEvent] = {}
        indices = {item.index for item in items}  # the valid rows (an invalid row's index is not among them)
        for event in self._owned_events(identity, [item.request for item in items], rule):
            index = (event.conversation_metadata or {}).get("airflow_item")
            if isinstance(index, int) and index in indices:
                found.setdefault(index, event)
        self.log.info("Found %d events created by earlier tries; %d items left", len(found), total - len(found))
        return found

    # -- execution -----------------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        """Validate all items, find what earlier tries created, send the rest under the rate limit, then wait if
        asked.

        :param context: the task's context.
        :return: the batch summary (and the outcome, when it waited).
        """
        from airflow_provider_telnyx.models import ConversationChannel

        rule = LateSendRule.of(self.late_policy, self.max_lateness)
        policy = check_on_invalid_item(self.on_invalid_item)
        identity = TaskIdentity.of(context, clock=self.clock, namespace=self._namespace)
        prepared, invalid = self.validate_rows(identity)
        total = len(self.events)
        results: list[ItemResult | None] = [None] * total
        for index, problems in invalid.items():
            results[index] = ItemResult.invalid(index, problems, _field_of(self.events[index], "end_user_target"))
        if invalid:
            error = self._invalid_error(invalid)
            if policy is InvalidItemPolicy.FAIL:
                for item in prepared:
                    results[item.index] = ItemResult(item.index, "not_sent")
                self._push_summary(context, results, prepared, 0, 0, 0.0)
                raise error
            self.log.warning(
                "%d of %d rows are invalid and are not sent (on_invalid_item='skip'; every row in the batch_summary "
                "XCom): %s",
                len(invalid),
                total,
                error.describe(error.problems),
            )
        existing = self._existing(context, identity, prepared, rule)
        rejected = rejected_before(context)
        for index, event in existing.items():
            at = event.scheduled_at_fixed_datetime.isoformat()
            results[index] = ItemResult(index, "reused", scheduled_event_id=event.event_id, scheduled_at=at)
        for index, earlier in rejected.items():
            if 0 <= index < total and results[index] is None:
                message = f"refused on an earlier try, not sent again: {earlier.get('error')}"
                results[index] = ItemResult(
                    index, "failed", error_class=earlier.get("error_class"), error=bounded(message), retryable=False
                )
        to_send = [item for item in prepared if results[item.index] is None]
        if to_send:
            phone = any(i.request.telnyx_conversation_channel is ConversationChannel.PHONE_CALL for i in to_send)
            self._preflight(phone_calls=phone)
        self._warn_if_slow(to_send)
        started = time.monotonic()
        sent, requests, throttled = asyncio.run(self._send_all(to_send, rule, len(prepared)))  # invalid rows aside
        for result in sent:
            results[result.index] = result
        summary = self._push_summary(context, results, prepared, requests, throttled, time.monotonic() - started)
        self.log.info("Batch done: %s", summary_line(summary))
        self._raise_for_failures(context, summary, [r for r in results if r is not None])
        if not self.wait_for_completion:
            return summary
        return self._wait(summary)

    def _push_summary(
        self,
        context: Context,
        results: list[ItemResult | None],
        prepared: list[BatchItem],
        requests: int,
        throttled: int,
        seconds: float,
    ) -> dict[str, Any]:
        """Give each valid row's result its target (as sent, and as written when they differ), then push the
        summary (XCom ``batch_summary``): one entry per input row."""
        for item in prepared:
            result = results[item.index]
            if result is not None:
                result.end_user_target = item.request.telnyx_end_user_target
                if item.target_input is not None and item.target_input != result.end_user_target:
                    result.end_user_target_input = bounded(item.target_input)
        summary = summarize([r for r in results if r is not None], requests, throttled, seconds)
        context["ti"].xcom_push(key="batch_summary", value=summary)
        return summary

    def _warn_if_slow(self, to_send: list[BatchItem]) -> None:
        from airflow_provider_telnyx.utils.rate_limit import INITIAL_RATE

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
        self, to_send: list[BatchItem], rule: LateSendRule, total: int
    ) -> tuple[list[ItemResult], int, int]:
        from airflow_provider_telnyx.utils.pool import Progress, paced_hook, reporting, run_bounded

        hook, limiter = paced_hook(
            self.telnyx_conn_id,
            requests_per_second=self.requests_per_second,
            max_in_flight=self.max_concurrency,
            known_limit=self.hook.rate_limit.limit,  # announced to the lookups of this try already
        )
        progress = Progress(total=total)
        progress.reused = progress.done = total - len(to_send)
        results: list[ItemResult] = []

        async def send(item: BatchItem, _: Turn) -> ItemResult:
            try:
                return await self._send_one(hook, item, rule)
            except Exception as error:  # any failure of one item is that item's failure; the others go on
                return ItemResult.failure(item.index, error)

        self.log.info("Creating %d scheduled events (%d already handled)", len(to_send), total - len(to_send))
        try:
            sent = run_bounded(to_send, send, window=self.max_concurrency, limiter=limiter)
            async with reporting(progress, self.log, self.progress_interval), aclosing(sent):  # in flight: done first
                async for result in sent:
                    progress.done += 1
                    progress.created += result.outcome == "created"
                    progress.errors += result.outcome == "failed"
                    results.append(result)
        finally:
            await hook.aclose()
        return results, hook.rate_limit.responses, hook.rate_limit.throttled

    async def _send_one(self, hook: TelnyxHook, item: BatchItem, rule: LateSendRule) -> ItemResult:
        intended = item.request.scheduled_at_fixed_datetime
        subject = f"events[{item.index}]"
        at = rule.send_time(intended, self.clock(), subject=subject)
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
                        error=bounded(f"created by an earlier try (a task retry finds it by its tags): {error}"),
                        retryable=True,
                    )
                )
            # The API's clock says the time has passed: the late policy decides, once.
            at = rule.after_refusal(error, intended, at, self.clock(), subject=subject)
            if at is None:
                return ItemResult(item.index, "skipped", scheduled_at=intended.isoformat())
            event = await self._create(hook, item, at)
        if at != intended:
            self.log.warning("%s is late: intended for %s, sent for %s", subject, intended.isoformat(), at.isoformat())
        return ItemResult(item.index, "created", scheduled_event_id=event.event_id, scheduled_at=at.isoformat())

    async def _create(self, hook: TelnyxHook, item: BatchItem, at: datetime) -> Any:
        request = item.request.sent_for(at)
        return await hook.acreate_scheduled_event(self.assistant_id, request, idempotency_key=item.key)

    def _raise_for_failures(self, context: Context, summary: dict[str, Any], results: list[ItemResult]) -> None:
        failed = [r for r in results if r.outcome == "failed"]
        if not failed or not self.fail_on_item_error:
            return
        remember_rejected(context, results)
        retryable = [r for r in failed if r.retryable]
        first = "; ".join(f"events[{r.index}]: {r.error_class}: {r.error}" for r in failed[:3])
        message = (
            f"{len(failed)} of {summary['total']} events could not be created ({len(retryable)} retryable: a task "
            f"retry sends only those; {len(failed) - len(retryable)} refused for good). First: {first}"
        )
        raise (TelnyxBatchError if retryable else TelnyxBatchRejectedError)(message, summary=summary)

    def _wait(self, summary: dict[str, Any]) -> dict[str, Any]:
        from airflow_provider_telnyx.triggers.scheduled_event import TelnyxScheduledEventsTrigger
        from airflow_provider_telnyx.utils.event_ids import earliest_scheduled_at, rows_from_summary
        from airflow_provider_telnyx.utils.waiting_many import resolve_many

        rows = rows_from_summary(summary)
        ids = [row.scheduled_event_id for row in rows if row.scheduled_event_id]
        start = earliest_scheduled_at(rows)  # the listing starts at the batch's events, not the assistant's oldest
        trigger = TelnyxScheduledEventsTrigger(
            scheduled_event_ids=ids,
            list_from=start.isoformat() if start is not None else None,
            **self._trigger_options(),
        )
        payload = self._wait_or_defer(trigger)
        return {**summary, "outcome": resolve_many(payload, rows=rows, fail_on_failure=self.fail_on_failure)}

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger: the batch summary with the outcome of the wait, in the many-events sensor's
        shape (one item per input row).

        :param context: the task's context.
        :param event: the trigger's payload.
        :return: the summary and ``outcome``.
        """
        from airflow_provider_telnyx.utils.event_ids import rows_from_summary
        from airflow_provider_telnyx.utils.waiting_many import resolve_many

        summary = context["ti"].xcom_pull(task_ids=self.task_id, key="batch_summary") or {}
        rows = rows_from_summary(summary) if summary else None
        return {**summary, "outcome": resolve_many(event, rows=rows, fail_on_failure=self.fail_on_failure)}
