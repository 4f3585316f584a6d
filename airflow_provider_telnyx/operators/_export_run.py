"""One try of the export, driven by the export operator
(:class:`~airflow_provider_telnyx.operators.export.TelnyxExportScheduledEventsOperator`): the events listed or named,
their conversations read, their records written in order through the one request window
(:func:`~airflow_provider_telnyx.utils.pool.run_bounded`), odd records repaired and counted. Imported when the export
runs, never when a DAG is parsed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_telnyx._common import MAX_RETRIES_CLIENT_ERRORS, MAX_RETRY_INTERVAL_SECS
from airflow_provider_telnyx.exceptions import (
    TelnyxInvalidResponseError,
    TelnyxNotFoundError,
)
from airflow_provider_telnyx.hooks.endpoints import (
    event_request,
    events_pager,
    insights_page,
    insights_request,
    messages_pager,
    read_event,
)
from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
from airflow_provider_telnyx.models import (
    ConversationChannel,
    ConversationInsight,
    ConversationMessage,
    ScheduledEvent,
    UnreadableItem,
    in_page_order,
    parse_scheduled_event,
)
from airflow_provider_telnyx.models.export import (
    REPAIRS,
    ExportMessage,
    ExportRecord,
    TranscriptStatus,
    first_due_at,
    salvage,
)
from airflow_provider_telnyx.utils.pool import Turn, paced_hook, run_bounded

if TYPE_CHECKING:
    from airflow_provider_telnyx.utils.export_files import RecordWriter

from airflow_provider_telnyx.operators.export import TelnyxExportScheduledEventsOperator

__all__ = [
    "CALL_ALLOWANCE",
    "MAX_TRANSCRIPT_BYTES",
    "MAX_TRANSCRIPT_MESSAGES",
    "PARALLEL_TRANSCRIPT_BYTES",
    "PARALLEL_TRANSCRIPT_MESSAGES",
    "RETRY_LOOKAHEAD",
    "ExportRun",
]

#: Most ids listed in the summary's ``missing_event_ids`` and ``repaired_event_ids`` (the counts are always exact).
MAX_LISTED_IDS = 20
#: The former name of :data:`MAX_LISTED_IDS`.
MAX_LISTED_MISSING = MAX_LISTED_IDS
#: Most messages one record holds: past it the transcript is cut (``transcript_truncated``) and no further page is
#: asked for. An hour-long call is a few hundred messages.
MAX_TRANSCRIPT_MESSAGES = 10_000
#: Most bytes of messages one record holds (about their JSON size, ``ExportMessage.approx_bytes``), likewise.
MAX_TRANSCRIPT_BYTES = 10_000_000
#: A transcript is read alongside the others up to this many messages (or bytes); past it, only the transcript of
#: the event written next reads on. Memory: 2 x max_concurrency transcripts this long, plus one up to the cap.
PARALLEL_TRANSCRIPT_MESSAGES = 1_000
PARALLEL_TRANSCRIPT_BYTES = 1_000_000
#: What the listing's look-ahead allows for one call attempt's length, and for the clocks' skew.
CALL_ALLOWANCE = timedelta(hours=4)
#: How far past ``to_date`` a range export lists, for the calls first due in the range that retries have moved on
#: (the API moves ``scheduled_at_fixed_datetime`` to each retry's time): at most 10 retries, each at most a day
#: (``retry_interval_secs``) after the attempt before it ended. It is also never more than a day (plus
#: :data:`CALL_ALLOWANCE`) past now: a retry is due at most ``retry_interval_secs`` after an attempt that has ended.
RETRY_LOOKAHEAD = MAX_RETRIES_CLIENT_ERRORS * (timedelta(seconds=MAX_RETRY_INTERVAL_SECS) + CALL_ALLOWANCE)


@dataclass
class _Tally:
    """The summary's counts, with the first :data:`MAX_LISTED_IDS` ids of the missing, the repaired and the
    unreadable events."""

    rows: int = 0
    events_without_conversation: int = 0
    missing_events: int = 0
    events_outside_range: int = 0
    repaired_records: int = 0
    unreadable_events: int = 0
    transcripts_truncated: int = 0
    missing_event_ids: list[str] = field(default_factory=list)
    repaired_event_ids: list[str] = field(default_factory=list)
    unreadable_event_ids: list[str] = field(default_factory=list)

    def written(self, record: ExportRecord, repairs: list[str]) -> None:
        self.rows += 1
        self.events_without_conversation += record.transcript_status == "no_conversation"
        self.transcripts_truncated += record.transcript_truncated
        if repairs:
            self.repaired_records += 1
            if len(self.repaired_event_ids) < MAX_LISTED_IDS:
                self.repaired_event_ids.append(record.scheduled_event_id)

    def missing(self, event_id: str) -> None:
        self.missing_events += 1
        if len(self.missing_event_ids) < MAX_LISTED_IDS:
            self.missing_event_ids.append(event_id)

    def unreadable(self, name: str) -> None:
        self.unreadable_events += 1
        if len(self.unreadable_event_ids) < MAX_LISTED_IDS:
            self.unreadable_event_ids.append(name)


@dataclass(frozen=True)
class _Read:
    """An event to export: as read, with its JSON as the API answered it when some of it did not read."""

    event: ScheduledEvent
    document: dict[str, Any] | None = None
    repairs: tuple[str, ...] = ()


class ExportRun:
    """One try's reading and writing, for one operator (its rendered arguments say what to read).

    :param op: the export operator.
    """

    def __init__(self, op: TelnyxExportScheduledEventsOperator) -> None:
        self.op = op

    def _source(self, hook: TelnyxHook, ids: list[str] | None, filters: dict[str, Any]) -> AsyncIterator[Any]:
        """The events to export, as listed (an event, or an :class:`UnreadableItem` for one that does not read) or
        named (an id)."""

        async def named(ids: list[str]) -> AsyncIterator[Any]:
            for event_id in ids:
                yield event_id

        async def listed() -> AsyncIterator[Any]:
            pager = events_pager(self.op.assistant_id, keep_unreadable=True, **self._listing(filters))
            while True:
                request = pager.request()
                items, done = pager.read(request, await hook.acall(request))
                for item in items:
                    yield item
                if done:
                    return

        return named(ids) if ids is not None else listed()

    def _listing(self, filters: dict[str, Any]) -> dict[str, Any]:
        """The listing's filters: the range, and past its end what a retried call's time may have moved to."""
        end = filters["to_date"]
        if filters.get("conversation_channel") == ConversationChannel.SMS_CHAT.value:
            return filters  # a text is never retried: its time never moves
        reach = self.op.clock() + timedelta(seconds=MAX_RETRY_INTERVAL_SECS) + CALL_ALLOWANCE
        return {**filters, "to_date": max(end, min(end + RETRY_LOOKAHEAD, reach))}

    async def run(self, writer: RecordWriter, ids: list[str] | None, filters: dict[str, Any]) -> dict[str, Any]:
        """Read the events and write their records in order; the counts of the summary.

        :param writer: the file's record writer.
        :param ids: the named events, or ``None`` to list ``filters``' range.
        :param filters: the listing's filters.
        """
        main = asyncio.current_task()
        if main is not None:  # always, under asyncio.run
            self.op._running = (asyncio.get_running_loop(), main)
        if self.op._killed:  # on_kill came before the loop ran
            raise asyncio.CancelledError
        hook, limiter = paced_hook(
            self.op.telnyx_conn_id,
            requests_per_second=self.op.requests_per_second,
            max_in_flight=self.op.max_concurrency,
        )
        exported_at = self.op.clock()
        tally = _Tally()
        last_line = time.monotonic()

        async def selected() -> AsyncIterator[_Read | str]:
            async for item in self._source(hook, ids, filters):
                read = self._readable(item, tally) if not isinstance(item, str) else item
                if read is None:
                    continue
                if ids is None and isinstance(read, _Read):
                    due = first_due_at(read.event)
                    if not filters["from_date"] <= due < filters["to_date"]:  # another range's (or the next's)
                        tally.events_outside_range += 1
                        continue
                yield read

        async def one(item: _Read | str, turn: Turn) -> tuple[ExportRecord, list[str]] | None:
            read = await self._fetch(hook, item, tally) if isinstance(item, str) else item
            return None if read is None else await self._record(hook, read, exported_at, turn.wait)

        # Records are written in order; an event whose turn has not come reads a long transcript on only once it
        # has (Turn.wait gives its place among the requests in flight back meanwhile).
        # aclosing: whatever ends the loop (a failed write, a kill), the requests in flight are cancelled and done
        # with before the hook's connections close, not later by the collector (a connection opened meanwhile leaked).
        records = run_bounded(selected(), one, window=2 * self.op.max_concurrency, ordered=True, limiter=limiter)
        try:
            async with aclosing(records):
                async for written in records:
                    if written is not None:
                        self._write(writer, *written, tally)
                    if time.monotonic() - last_line >= self.op.progress_interval:
                        last_line = time.monotonic()
                        self.op.log.info(
                            "Export progress: %d rows, %d requests, %d events without a conversation yet",
                            tally.rows,
                            hook.rate_limit.responses,
                            tally.events_without_conversation,
                        )
        finally:
            await hook.aclose()
        self._log_left_out(tally)
        return {**asdict(tally), "requests": hook.rate_limit.responses}

    def _readable(self, item: ScheduledEvent | UnreadableItem, tally: _Tally) -> _Read | None:
        """A listed event to export: as read, or read without its odd fields (``None``: it does not read even so,
        and is counted and named)."""
        if isinstance(item, ScheduledEvent):
            return _Read(item)
        event = salvage(parse_scheduled_event, item.raw)
        if event is None:
            tally.unreadable(item.name())
            self.op.log.warning(
                "Listed event %s does not match the documented schema even without its odd fields, and is left out: %s",
                item.name(),
                item.reason,
            )
            return None
        self.op.log.warning(
            "Event %s does not match the documented schema (%s): exported without those fields in the columns, "
            "as sent in event",
            item.name(),
            item.reason,
        )
        return _Read(event, item.raw, ("odd_fields",))

    async def _fetch(self, hook: TelnyxHook, event_id: str, tally: _Tally) -> _Read | None:
        """A named event (``None``: it no longer exists, or does not read even without its odd fields)."""
        request = event_request(self.op.assistant_id, event_id)
        try:
            payload = await hook.acall(request)
        except TelnyxNotFoundError:
            tally.missing(event_id)
            return None
        try:
            return _Read(read_event(request, payload, event_id))
        except TelnyxInvalidResponseError as error:
            event = salvage(parse_scheduled_event, payload)
            if event is None:
                tally.unreadable(event_id)
                self.op.log.warning("Event %s is left out: %s", event_id, error)
                return None
            if event.scheduled_event_id not in (None, "", event_id):
                raise  # another event than the one asked for: the API misbehaves, no record can say so
            event.scheduled_event_id = event_id
            self.op.log.warning(
                "Event %s exported without the fields that do not read (as sent in event): %s", event_id, error
            )
            return _Read(event, payload, ("odd_fields",))

    def _write(self, writer: RecordWriter, record: ExportRecord, read_repairs: list[str], tally: _Tally) -> None:
        repairs = sorted({*read_repairs, *writer.write(record)})
        tally.written(record, repairs)
        if repairs:  # the event id and what was changed; never the values (personal data)
            self.op.log.warning(
                "Event %s written repaired: %s", record.scheduled_event_id, "; ".join(REPAIRS[r] for r in repairs)
            )

    def _log_left_out(self, tally: _Tally) -> None:
        if tally.missing_events:
            self.op.log.warning(
                "%d event ids no longer exist (first: %s)", tally.missing_events, ", ".join(tally.missing_event_ids)
            )
        if tally.unreadable_events:
            self.op.log.warning(
                "%d events could not be read and were left out (first: %s)",
                tally.unreadable_events,
                ", ".join(tally.unreadable_event_ids),
            )
        if tally.events_outside_range:
            self.op.log.info(
                "%d listed events are not first due in [from_date, to_date) and were left out (one due exactly at "
                "to_date is the next range's; a retried call's is the range of its first attempt)",
                tally.events_outside_range,
            )

    async def _record(
        self, hook: TelnyxHook, read: _Read, exported_at: datetime, wait_turn: Callable[[], Awaitable[None]]
    ) -> tuple[ExportRecord, list[str]]:
        event = read.event
        repairs = set(read.repairs)
        messages: list[ExportMessage] | None = None
        insights: list[ConversationInsight] | None = None
        truncated = False
        status: TranscriptStatus = "exported"
        if not (self.op.include_transcript or self.op.include_insights):
            status = "not_requested"
        elif not event.conversation_id:
            status = "no_conversation"
        else:
            try:
                if self.op.include_transcript:
                    messages, truncated = await self._transcript(hook, event.conversation_id, wait_turn, repairs)
                if self.op.include_insights:
                    insights = await self._insights(hook, event.conversation_id, repairs)
            except TelnyxNotFoundError:  # dispatched, but the API has no conversation for it yet
                messages, insights, truncated, status = None, None, False, "no_conversation"
        record = ExportRecord.of(
            event,
            messages=messages,
            insights=insights,
            transcript_status=status,
            transcript_truncated=truncated,
            exported_at=exported_at,
            document=read.document,
        )
        return record, sorted(repairs)

    async def _insights(self, hook: TelnyxHook, conversation_id: str, repairs: set[str]) -> list[ConversationInsight]:
        """A conversation's insight runs; one that does not read is read without its odd fields, or left out."""
        request = insights_request(conversation_id)
        page = insights_page(request, await hook.acall(request))
        runs: list[ConversationInsight] = []
        for item in in_page_order(page.data, page.unreadable):
            run = salvage(ConversationInsight.model_validate, item.raw) if isinstance(item, UnreadableItem) else item
            if run is not item:
                repairs.add("unreadable" if run is None else "odd_fields")
            if run is not None:
                runs.append(run)
        return runs

    async def _transcript(
        self, hook: TelnyxHook, conversation_id: str, wait_turn: Callable[[], Awaitable[None]], repairs: set[str]
    ) -> tuple[list[ExportMessage], bool]:
        """A conversation's messages, page by page, up to the caps; a message that does not read is read without
        its odd fields, or left out (``repairs`` says which).

        :return: the messages kept, and whether the conversation had more (no page past the cap is asked for).
        """
        pager = messages_pager(conversation_id, self.op.message_page_size, keep_unreadable=True)
        kept: list[ExportMessage] = []
        size = 0
        while True:
            if len(kept) >= PARALLEL_TRANSCRIPT_MESSAGES or size >= PARALLEL_TRANSCRIPT_BYTES:
                await wait_turn()
            request = pager.request()
            items, done = pager.read(request, await hook.acall(request))
            for item in items:
                read = (
                    salvage(ConversationMessage.model_validate, item.raw) if isinstance(item, UnreadableItem) else item
                )
                if read is not item:
                    repairs.add("unreadable" if read is None else "odd_fields")
                if read is None:
                    continue
                message = ExportMessage.of(read)
                weight = message.approx_bytes()
                if len(kept) >= MAX_TRANSCRIPT_MESSAGES or size + weight > MAX_TRANSCRIPT_BYTES:
                    return kept, True
                kept.append(message)
                size += weight
            if done:
                return kept, False
            if len(kept) >= MAX_TRANSCRIPT_MESSAGES:  # full at a page's end, and the API says more follow
                return kept, True
