"""Operators that cancel scheduled events: one (:class:`TelnyxDeleteScheduledEventOperator`), or many at once
(:class:`TelnyxDeleteScheduledEventsOperator`: a campaign sent with the wrong text, or to the wrong list)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from airflow.sdk import BaseOperator

from airflow_provider_telnyx._checks import check_aware_datetime, check_event_id, check_rate
from airflow_provider_telnyx._common import DEFAULT_CONN_ID, TELNYX_UI_COLOR
from airflow_provider_telnyx.exceptions import (
    TelnyxBatchError,
    TelnyxBatchRejectedError,
    TelnyxInvalidInputError,
    TelnyxNotFoundError,
)
from airflow_provider_telnyx.operators._batch_results import ItemResult

if TYPE_CHECKING:
    from airflow.sdk import Context
    from pydantic import JsonValue

    from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
    from airflow_provider_telnyx.utils.pool import Turn

__all__ = ["TelnyxDeleteScheduledEventOperator", "TelnyxDeleteScheduledEventsOperator"]

#: Task-state-store key of the events earlier tries cancelled (a 404 for one of them on a retry is its cancel).
STATE_CANCELLED = "telnyx_cancelled_event_ids"
#: Most events one selection may match: a selection that matches more is refused (narrow it), never cut short.
MAX_SELECTED = 100_000
#: The longest the selection's listing may take.
SELECTION_SECONDS = 600.0

DeleteOutcome = Literal["cancelled", "already_final", "not_found", "failed"]


class TelnyxDeleteScheduledEventOperator(BaseOperator):
    """Cancel a pending scheduled event, or delete the record of a finished one.

    :param assistant_id: the assistant that owns the event. (templated)
    :param scheduled_event_id: the event, typically ``{{ ti.xcom_pull(task_ids='...', key='scheduled_event_id') }}``;
        a value that renders to ``None`` or ``""`` fails before any request. (templated)
    :param missing_ok: succeed with a log line when the event is already gone (default); else fail.
    :param only_if_pending: cancel the event only while it is still ``pending`` and leave a dispatched or final one
        (and its record) alone; a missing event counts as not pending. As a teardown after a deferrable create it
        is the cancel-on-kill of Airflow before 3.3, whose triggerer does not call a trigger's ``on_kill``.
        Default ``False``: delete whatever it is.
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
        only_if_pending: bool = False,
        telnyx_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.assistant_id = assistant_id
        self.scheduled_event_id = scheduled_event_id
        self.missing_ok = missing_ok
        self.only_if_pending = only_if_pending
        self.telnyx_conn_id = telnyx_conn_id

    @cached_property
    def hook(self) -> TelnyxHook:
        """The hook for ``telnyx_conn_id``."""
        from airflow_provider_telnyx.hooks.telnyx import TelnyxHook

        return TelnyxHook(telnyx_conn_id=self.telnyx_conn_id)

    def execute(self, context: Context) -> bool:
        """Delete the event.

        :param context: the task's context.
        :return: ``True`` if it was deleted, ``False`` if it was already gone (or, with ``only_if_pending``, no
            longer pending).
        :raises TelnyxNotFoundError: when it is gone and ``missing_ok`` is off.
        """
        event_id = check_event_id(self.scheduled_event_id)
        try:
            if self.only_if_pending:
                return self.hook.cancel_scheduled_event_if_pending(self.assistant_id, event_id)
            self.hook.delete_scheduled_event(self.assistant_id, event_id)
        except TelnyxNotFoundError:
            if not self.missing_ok:
                raise
            self.log.info("Scheduled event %s is already gone", event_id)
            return False
        self.log.info("Deleted scheduled event %s", event_id)
        return True


@dataclass
class _Cancelled:
    """What happened to one event.

    :param index: its position among the ids.
    :param scheduled_event_id: the event.
    :param outcome: ``cancelled``, ``already_final`` (dispatched or final: left alone), ``not_found`` or ``failed``.
    :param status: the event's status when it was looked at (``only_if_pending``).
    :param error_class: the exception's class, when it failed.
    :param error: its bounded message, when it failed.
    :param retryable: whether a task retry may fix the failure.
    """

    index: int
    scheduled_event_id: str
    outcome: DeleteOutcome
    status: str | None = None
    error_class: str | None = None
    error: str | None = None
    retryable: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return {name: value for name, value in self.__dict__.items() if value is not None}


class TelnyxDeleteScheduledEventsOperator(BaseOperator):
    """Cancel many scheduled events of an assistant: the ones named, or the pending ones a selection matches.

    .. seealso::
        The how-to guide: ``docs/howto/delete.md``.

    Give either ``scheduled_event_ids`` (a list, one id, the batch operator's summary as it is, e.g.
    ``batch.output``, or the single create operator's event) or a selection: ``conversation_metadata`` (the
    key/values an event's metadata must contain, e.g. a campaign tag or ``{"airflow_run_id": "{{ run_id }}"}``)
    within ``from_date``/``to_date`` (the API's date filter, both included). Requests go through the batch
    operator's adaptive rate limiter.

    The return value (and XCom ``delete_summary``, pushed before the task fails too) has one entry per event in
    ``items`` (``index``, ``scheduled_event_id``, ``outcome``: ``cancelled``, ``already_final``, ``not_found`` or
    ``failed``; ``status`` when it was looked at; ``error_class``, ``error`` and ``retryable`` when it failed) and
    the ``counts``. A task
    retry is safe: an event an earlier try cancelled answers 404 and counts as ``cancelled`` (kept in the task state
    store; before Airflow 3.3, which has none, as ``not_found``). When some failed, the task fails after every event
    was tried: with a retryable :class:`~airflow_provider_telnyx.exceptions.TelnyxBatchError` when a retry may fix
    one of them, else with ``TelnyxBatchRejectedError``.

    :param assistant_id: the assistant that owns the events. (templated)
    :param scheduled_event_ids: the events (any shape :func:`~airflow_provider_telnyx.utils.event_ids.event_rows`
        takes; rows without an event are left out); ``None`` to select by ``conversation_metadata``. (templated)
    :param conversation_metadata: the selection: a flat dict every selected event's metadata contains; only
        ``pending`` events are selected. (templated)
    :param from_date: start of the selection's date range (timezone-aware datetime or ISO 8601). (templated)
    :param to_date: end of the selection's date range, included. (templated)
    :param only_if_pending: cancel an event only while it is still ``pending`` (one ``GET`` before its ``DELETE``),
        and report a dispatched or final one ``already_final`` without touching it; ``False`` deletes whatever it
        is (a final event's record is removed).
    :param max_concurrency: the most requests in flight at once.
    :param requests_per_second: a fixed client-side rate; ``None`` adapts to the API's answers.
    :param fail_on_item_error: fail the task (after trying every event) when one failed; else report it and succeed.
    :param telnyx_conn_id: the Airflow connection to use. (templated)
    """

    template_fields: Sequence[str] = (
        "assistant_id",
        "scheduled_event_ids",
        "conversation_metadata",
        "from_date",
        "to_date",
        "telnyx_conn_id",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"conversation_metadata": "json"}
    ui_color = TELNYX_UI_COLOR

    def __init__(
        self,
        *,
        assistant_id: str,
        scheduled_event_ids: Any = None,
        conversation_metadata: Mapping[str, str | int | bool] | None = None,
        from_date: datetime | str | None = None,
        to_date: datetime | str | None = None,
        only_if_pending: bool = True,
        max_concurrency: int = 32,
        requests_per_second: float | None = None,
        fail_on_item_error: bool = True,
        telnyx_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_rate("requests_per_second", requests_per_second, allow_none=True)
        if not isinstance(max_concurrency, int) or isinstance(max_concurrency, bool) or max_concurrency < 1:
            raise TelnyxInvalidInputError(
                [("max_concurrency", "must be a positive integer")], subject="operator argument"
            )
        if scheduled_event_ids is not None and conversation_metadata is not None:
            raise TelnyxInvalidInputError(
                [("scheduled_event_ids", "give either the ids or a conversation_metadata selection, not both")],
                subject="operator argument",
            )
        if scheduled_event_ids is None and conversation_metadata is None:
            raise TelnyxInvalidInputError(
                [("scheduled_event_ids", "give the ids, or a conversation_metadata selection with from_date/to_date")],
                subject="operator argument",
            )
        self.assistant_id = assistant_id
        self.scheduled_event_ids = scheduled_event_ids
        self.conversation_metadata = conversation_metadata
        self.from_date = from_date
        self.to_date = to_date
        self.only_if_pending = only_if_pending
        self.max_concurrency = max_concurrency
        self.requests_per_second = requests_per_second
        self.fail_on_item_error = fail_on_item_error
        self.telnyx_conn_id = telnyx_conn_id

    @cached_property
    def hook(self) -> TelnyxHook:
        """The hook for ``telnyx_conn_id`` (the selection's listing)."""
        from airflow_provider_telnyx.hooks.telnyx import TelnyxHook

        return TelnyxHook(telnyx_conn_id=self.telnyx_conn_id)

    # -- which events ----------------------------------------------------------------------------------------

    def _selection(self) -> tuple[dict[str, str | int | bool], datetime, datetime]:
        """The rendered selection, checked before any request."""
        metadata = self.conversation_metadata
        flat = isinstance(metadata, Mapping) and all(
            isinstance(key, str) and isinstance(value, str | int | bool) for key, value in metadata.items()
        )
        if not isinstance(metadata, Mapping) or not metadata or not flat:
            raise TelnyxInvalidInputError(
                [("conversation_metadata", "must be a non-empty dict of string keys and str, int or bool values")],
                subject="operator argument",
            )
        start = check_aware_datetime("from_date", self.from_date)
        end = check_aware_datetime("to_date", self.to_date)
        if end < start:
            raise TelnyxInvalidInputError([("to_date", "must not be before from_date")], subject="operator argument")
        return dict(metadata), start, end

    def _event_ids(self) -> list[str]:
        from airflow_provider_telnyx.models import EventStatus, metadata_matches
        from airflow_provider_telnyx.utils.event_ids import event_ids_from

        if self.scheduled_event_ids is not None:
            return event_ids_from(self.scheduled_event_ids, field_name="scheduled_event_ids")
        metadata, start, end = self._selection()
        found: list[str] = []
        outside = 0
        listing = self.hook.list_scheduled_events(
            self.assistant_id, from_date=start, to_date=end, max_seconds=SELECTION_SECONDS
        )
        for event in listing:
            if event.status is not EventStatus.PENDING or not metadata_matches(event.conversation_metadata, metadata):
                continue
            # The API's date filter is trusted no further than the event's own times: a server that ignores it (or
            # reads a time we do not) must not turn a cancel of one wave into a cancel of later ones.
            times = (event.scheduled_at_fixed_datetime, event.created_at)
            if not any(at is not None and start <= at <= end for at in times):
                outside += 1
                continue
            found.append(event.event_id)
            if len(found) > MAX_SELECTED:
                raise TelnyxInvalidInputError(
                    [("conversation_metadata", f"matches more than {MAX_SELECTED:,} pending events: narrow it")],
                    subject="operator argument",
                )
        if outside:
            self.log.warning(
                "%d listed events match the metadata but neither their scheduled nor their creation time falls from "
                "%s to %s (the API's date filter read another time): left alone",
                outside,
                start,
                end,
            )
        self.log.info("The selection matches %d pending events from %s to %s", len(found), start, end)
        return list(dict.fromkeys(found))

    # -- execution ---------------------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        """Cancel every event (each once, at the API's rate), then report each.

        :param context: the task's context.
        :return: ``{"items", "counts", "requests", "seconds"}``.
        """
        event_ids = self._event_ids()
        store = context.get("task_state_store")
        kept = store.get(STATE_CANCELLED) if store is not None else None
        earlier = {event_id for event_id in kept if isinstance(event_id, str)} if isinstance(kept, list) else set()
        started = time.monotonic()
        results: list[_Cancelled] = []
        try:
            requests = asyncio.run(self._cancel_all(event_ids, earlier, results))
        finally:
            # Also when the try is ended midway (execution_timeout, SIGTERM): a retry reports what this one cancelled.
            if store is not None:
                cancelled: list[JsonValue] = []
                cancelled.extend(sorted(earlier | {r.scheduled_event_id for r in results if r.outcome == "cancelled"}))
                store.set(STATE_CANCELLED, cancelled)
        results.sort(key=lambda result: result.index)
        counts = {name: sum(r.outcome == name for r in results) for name in DELETE_OUTCOMES}
        summary = {
            "items": [result.to_json() for result in results],
            "counts": counts,
            "requests": requests,
            "seconds": round(time.monotonic() - started, 3),
        }
        self.log.info(
            "Cancelled %d of %d events (%d already final, %d not found, %d failed) in %d requests",
            counts["cancelled"],
            len(results),
            counts["already_final"],
            counts["not_found"],
            counts["failed"],
            requests,
        )
        context["ti"].xcom_push(key="delete_summary", value=summary)
        failed = [r for r in results if r.outcome == "failed"]
        if failed and self.fail_on_item_error:
            first = "; ".join(f"{r.scheduled_event_id}: {r.error_class}: {r.error}" for r in failed[:3])
            message = f"{len(failed)} of {len(results)} events could not be cancelled. First: {first}"
            retryable = any(r.retryable for r in failed)
            raise (TelnyxBatchError if retryable else TelnyxBatchRejectedError)(message, summary=summary)
        return summary

    async def _cancel_all(self, event_ids: list[str], earlier: set[str], results: list[_Cancelled]) -> int:
        """Cancel each event, appending each outcome to ``results`` as it comes; the number of requests made."""
        from airflow_provider_telnyx.utils.pool import paced_hook, run_bounded

        hook, limiter = paced_hook(
            self.telnyx_conn_id, requests_per_second=self.requests_per_second, max_in_flight=self.max_concurrency
        )

        async def cancel(job: tuple[int, str], _: Turn) -> _Cancelled:
            index, event_id = job
            try:
                return await self._cancel_one(hook, index, event_id, event_id in earlier)
            except Exception as error:  # any failure of one event is that event's outcome; the others go on
                return _failure(index, event_id, error)

        try:
            cancels = run_bounded(enumerate(event_ids), cancel, window=self.max_concurrency, limiter=limiter)
            async with aclosing(cancels):  # whatever ends the loop, the requests in flight end before the hook closes
                async for result in cancels:
                    results.append(result)
        finally:
            await hook.aclose()
        return hook.rate_limit.responses

    async def _cancel_one(self, hook: TelnyxHook, index: int, event_id: str, cancelled_before: bool) -> _Cancelled:
        from airflow_provider_telnyx.models import EventStatus

        gone = _Cancelled(index, event_id, "cancelled" if cancelled_before else "not_found")
        try:
            if self.only_if_pending:
                event = await hook.aget_scheduled_event(self.assistant_id, event_id)
                if event.status is not EventStatus.PENDING:
                    return _Cancelled(index, event_id, "already_final", status=event.status_text)
            await hook.adelete_scheduled_event(self.assistant_id, event_id)
        except TelnyxNotFoundError:
            return gone
        return _Cancelled(index, event_id, "cancelled", status="pending" if self.only_if_pending else None)


DELETE_OUTCOMES: tuple[DeleteOutcome, ...] = ("cancelled", "already_final", "not_found", "failed")


def _failure(index: int, event_id: str, error: BaseException) -> _Cancelled:
    failed = ItemResult.failure(index, error)  # the batch's reading of an item's failure: one rule for both
    return _Cancelled(
        index, event_id, "failed", error_class=failed.error_class, error=failed.error, retryable=failed.retryable
    )
