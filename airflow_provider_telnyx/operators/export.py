"""``TelnyxExportScheduledEventsOperator``: the events of an assistant, with their transcripts and insights, written
to object storage in one task, streamed (flat memory, transcripts capped), at the API's rate, rewritten whole by a
retry, and never failed by one record that cannot be encoded as it is, nor by one event, message or insights run in
a shape the API's schema does not allow (it is repaired, or left out, and counted)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_provider_telnyx._checks import check_duration, check_rate
from airflow_provider_telnyx._common import DEFAULT_CONN_ID, TELNYX_UI_COLOR, parse_iso_datetime, utcnow
from airflow_provider_telnyx._compat import AirflowException
from airflow_provider_telnyx.exceptions import (
    TelnyxInvalidInputError,
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
    MAX_PAGE_SIZE,
    MAX_RETRIES_CLIENT_ERRORS,
    MAX_RETRY_INTERVAL_SECS,
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
from airflow_provider_telnyx.operators._lineage import export_lineage
from airflow_provider_telnyx.utils.event_ids import event_ids_from
from airflow_provider_telnyx.utils.export_files import (
    CountingFile,
    destination_path,
    file_format_for,
    prepare_folder,
    stale_temporaries,
    temporary_path,
    writer_for,
)
from airflow_provider_telnyx.utils.pool import Turn, paced_hook, run_bounded

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

    from airflow_provider_telnyx.operators._lineage import Lineage
    from airflow_provider_telnyx.utils.export_files import RecordWriter

__all__ = [
    "CALL_ALLOWANCE",
    "MAX_TRANSCRIPT_BYTES",
    "MAX_TRANSCRIPT_MESSAGES",
    "PARALLEL_TRANSCRIPT_BYTES",
    "PARALLEL_TRANSCRIPT_MESSAGES",
    "RETRY_LOOKAHEAD",
    "TelnyxExportScheduledEventsOperator",
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


def _aware(value: Any, name: str) -> datetime:
    if isinstance(value, str):
        try:
            value = parse_iso_datetime(value)
        except ValueError:
            raise TelnyxInvalidInputError(
                [(name, f"{value!r} is not an ISO 8601 date-time")], subject="export"
            ) from None
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise TelnyxInvalidInputError([(name, "must be a timezone-aware date-time")], subject="export")
    return value


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


class TelnyxExportScheduledEventsOperator(BaseOperator):
    """Export an assistant's scheduled events, one record each, with their call attempts and (when asked) their
    conversation's transcript and insights, to a file in object storage.

    .. seealso::
        The how-to guide, with the record schema and a warehouse load: ``docs/howto/export.md``.

    The events are those named by ``event_ids``, or else those first due in ``[from_date, to_date)`` (default:
    the run's data interval; half-open as Airflow's intervals are, and by a time that retries do not move,
    :func:`~airflow_provider_telnyx.models.export.first_due_at`, so consecutive runs never export an event twice).
    The file is JSON Lines, or Parquet (``pyarrow``, the ``parquet`` extra). Records are written as they come, in
    the order the events were listed or named, with at most ``2 x max_concurrency`` events in memory; a transcript
    stops at :data:`MAX_TRANSCRIPT_MESSAGES` messages or :data:`MAX_TRANSCRIPT_BYTES` bytes
    (``transcript_truncated``); every request goes through the same adaptive rate limiter as the batch create
    operator. A record that cannot be encoded as it is (a lone surrogate, nesting too deep, a non-finite number, an
    integer past 64 bits) is written repaired and counted (``repaired_records``), never failing the export; so is an
    event, message or insights run in a shape the API's schema does not allow (read without its odd fields; an event
    that still does not read is left out and counted in ``unreadable_events``). An event listed twice (the listing
    shifted while it was read) is written once.

    The file is written to a temporary sibling and moved over ``destination`` only when complete: a reader never
    sees half a file, and a retry rewrites the whole object (nothing is ever appended twice); a failed try removes
    its temporary file, whatever ended it (:meth:`on_kill` too, which Airflow calls on ``SIGTERM``), and a try
    removes the temporary siblings of ``destination`` a ``SIGKILL`` left. Transcripts are personal data: nothing of
    them is logged or pushed to XCom; where the file goes is your decision.

    :param assistant_id: the assistant whose events are exported. (templated)
    :param destination: the file to write: an ``ObjectStoragePath`` or a URL such as
        ``file:///data/telnyx/{{ ds }}/events.jsonl`` or ``s3://aws_default@bucket/telnyx/{{ ds }}/events.parquet``
        (any scheme Airflow's object storage supports; s3/gcs through their providers). Refused before any request:
        a relative path, a ``..`` segment, an existing folder (or an S3 prefix with keys under it), and a bucket
        that does not exist (a local folder is created; a bucket never is). (templated)
    :param event_ids: the events to export: a list of ids, a create operator's result, or an ``XComArg``; when
        set, the date range is not used. An id that no longer exists is counted as missing. (templated)
    :param from_date: start of the range of the events' first due time (``scheduled_at_fixed_datetime`` until a
        call attempt is recorded, then the first attempt's ``attempted_at``), included (ISO text or aware datetime;
        default the data interval's start; an empty interval, as Airflow 3's plain cron schedules give, is refused
        rather than read as "nothing to export"). (templated)
    :param to_date: end of the range, excluded as in Airflow's data intervals (default the data interval's end):
        an event due exactly at ``to_date`` belongs to the next range. The API is asked for more (its ``to_date``
        is inclusive, and a retried call's time has moved on, up to :data:`RETRY_LOOKAHEAD`), and what is not in
        the range is left out here. (templated)
    :param conversation_channel: only ``phone_call`` or only ``sms_chat`` events (range selection). (templated)
    :param include_transcript: read every event's messages (one request per ``message_page_size`` messages).
    :param include_insights: read every event's insights (one request per event).
    :param file_format: ``"jsonl"`` or ``"parquet"``; default from the destination's suffix (``.parquet``/``.pq``),
        else JSON Lines.
    :param max_concurrency: the most events read at once (the rate limiter may allow fewer requests in flight).
    :param requests_per_second: a fixed client-side rate; ``None`` adapts to the API's answers.
    :param message_page_size: messages per request, 1 to 100.
    :param progress_interval: seconds between progress log lines.
    :param telnyx_conn_id: the Airflow connection to use. (templated)
    """

    template_fields: Sequence[str] = (
        "assistant_id",
        "destination",
        "event_ids",
        "from_date",
        "to_date",
        "conversation_channel",
        "telnyx_conn_id",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"event_ids": "json"}
    ui_color = TELNYX_UI_COLOR
    #: The wall clock the listing's look-ahead and ``exported_at`` read (tests replace it on an instance).
    clock: Callable[[], datetime] = staticmethod(utcnow)

    def __init__(
        self,
        *,
        assistant_id: str,
        destination: str | ObjectStoragePath,
        event_ids: Any = None,
        from_date: datetime | str | None = None,
        to_date: datetime | str | None = None,
        conversation_channel: str | None = None,
        include_transcript: bool = True,
        include_insights: bool = False,
        file_format: str | None = None,
        max_concurrency: int = 32,
        requests_per_second: float | None = None,
        message_page_size: int = MAX_PAGE_SIZE,
        progress_interval: float = 10,
        telnyx_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        problems: list[tuple[str, str]] = []
        flags: tuple[tuple[str, object], ...] = (
            ("include_transcript", include_transcript),
            ("include_insights", include_insights),
        )
        for name, flag in flags:
            if not isinstance(flag, bool):
                problems.append((name, "must be True or False"))
        for name, number, top in (
            ("max_concurrency", max_concurrency, 1_000),
            ("message_page_size", message_page_size, MAX_PAGE_SIZE),
        ):
            if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= top:
                problems.append((name, f"must be an integer from 1 to {top}"))
        if file_format is not None and file_format not in ("jsonl", "parquet"):
            problems.append(("file_format", "must be 'jsonl' or 'parquet'"))
        if problems:
            raise TelnyxInvalidInputError(problems, subject="operator argument")
        check_rate("requests_per_second", requests_per_second, allow_none=True)
        check_duration("progress_interval", progress_interval)
        self.assistant_id = assistant_id
        self.destination = destination
        self.event_ids = event_ids
        self.from_date = from_date
        self.to_date = to_date
        self.conversation_channel = conversation_channel
        self.include_transcript = include_transcript
        self.include_insights = include_insights
        self.file_format = file_format
        self.max_concurrency = max_concurrency
        self.requests_per_second = requests_per_second
        self.message_page_size = message_page_size
        self.progress_interval = progress_interval
        self.telnyx_conn_id = telnyx_conn_id
        # What on_kill stops and removes while execute runs (None otherwise).
        self._running: tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]] | None = None
        self._temporary: ObjectStoragePath | None = None
        self._killed = False

    @cached_property
    def hook(self) -> TelnyxHook:
        """The hook for ``telnyx_conn_id`` (created on first use; constructing the operator does no I/O)."""
        return TelnyxHook(telnyx_conn_id=self.telnyx_conn_id)

    # -- what to export ------------------------------------------------------------------------------------

    def _selection(self, context: Context) -> tuple[list[str] | None, dict[str, Any]]:
        """The ids to export, or the listing filters of the date range (``from_date``, ``to_date`` as the API
        reads them: both included; the operator leaves out what is at ``to_date``); checked before any request."""
        if self.event_ids is not None:
            return event_ids_from(self.event_ids, field_name="event_ids", subject="export"), {}
        start = self.from_date if self.from_date is not None else context.get("data_interval_start")
        end = self.to_date if self.to_date is not None else context.get("data_interval_end")
        if start is None or end is None:
            raise TelnyxInvalidInputError(
                [("from_date", "give event_ids, or from_date and to_date (this run has no data interval)")],
                subject="export",
            )
        filters: dict[str, Any] = {"from_date": _aware(start, "from_date"), "to_date": _aware(end, "to_date")}
        if self.from_date is None and self.to_date is None and filters["from_date"] == filters["to_date"]:
            raise TelnyxInvalidInputError(
                [
                    (
                        "from_date",
                        f"this run's data interval is empty ({filters['from_date'].isoformat()}): Airflow 3's cron "
                        "schedules give runs none unless the DAG uses CronDataIntervalTimetable; give from_date and "
                        "to_date (e.g. from the logical date) or event_ids",
                    )
                ],
                subject="export",
            )
        if filters["from_date"] >= filters["to_date"]:
            raise TelnyxInvalidInputError(
                [("to_date", "must be after from_date (the range is half-open: from_date included, to_date not)")],
                subject="export",
            )
        if self.conversation_channel is not None:
            if self.conversation_channel not in tuple(ConversationChannel):
                raise TelnyxInvalidInputError(
                    [("conversation_channel", "must be 'phone_call' or 'sms_chat'")], subject="export"
                )
            filters["conversation_channel"] = self.conversation_channel
        return None, filters

    def _path(self) -> ObjectStoragePath:
        destination = destination_path(self.destination)
        if destination.is_dir():  # a rename would move the file into it, and the task would report success
            raise TelnyxInvalidInputError(
                [("destination", f"{destination} is an existing folder: name a file, e.g. {destination}/events.jsonl")],
                subject="export",
            )
        return destination

    # -- execution -----------------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        """Select the events, read their conversations and write the file.

        :param context: the task's context.
        :return: the summary: ``path``, ``format``, ``rows``, ``bytes``, ``events_without_conversation``,
            ``missing_events`` (ids that no longer exist; the first few in ``missing_event_ids``),
            ``events_outside_range`` (listed by the API but not first due in ``[from_date, to_date)``, left out),
            ``repaired_records`` (written with values made safe or odd fields left out; the first few ids in
            ``repaired_event_ids``), ``unreadable_events`` (events that could not be read even without their odd
            fields, left out; the first few ids, or positions, in ``unreadable_event_ids``),
            ``transcripts_truncated``, ``requests``, ``seconds``.
        """
        ids, filters = self._selection(context)
        file_format = file_format_for(str(self.destination), self.file_format)
        destination = self._path()
        prepare_folder(destination)
        run = f"{context['ti'].dag_id}/{context['ti'].run_id}/{context['ti'].task_id}/{context['ti'].map_index}"
        temporary = temporary_path(destination, run)
        for stale in stale_temporaries(destination):  # what a SIGKILL left: no try removes it otherwise
            self.log.info("Removing %s, left by an earlier try that was killed", stale)
            self._remove(stale)
        started = time.monotonic()
        if ids is not None:
            what = f"{len(ids)} named events"
        else:
            what = f"events first due in [{filters['from_date'].isoformat()}, {filters['to_date'].isoformat()})"
        self.log.info("Exporting %s of assistant %s to %s (%s)", what, self.assistant_id, destination, file_format)
        self._temporary = temporary
        try:
            with temporary.open("wb") as raw:  # type: ignore[no-untyped-call]
                out = CountingFile(raw)
                writer = writer_for(file_format, out)
                try:
                    counts = asyncio.run(self._export(writer, ids, filters))
                    writer.close()
                finally:
                    writer.abort()  # after a failure: Parquet's writer let go while its file is open
            if self._killed:
                raise AirflowException("The export was stopped (on_kill) before its file was complete")
            temporary.rename(destination)
        except BaseException:  # a failure, a timeout, a kill: no temporary file stays behind
            self._remove(temporary)
            raise
        finally:
            self._temporary, self._running = None, None
        summary = {
            "path": str(destination),
            "format": file_format,
            "bytes": out.bytes,
            **counts,
            "seconds": round(time.monotonic() - started, 3),
        }
        self.log.info(
            "Export done: %d rows, %d bytes, %d events without a conversation yet, %d missing, %d repaired, "
            "%d unreadable, %d transcripts truncated, %d requests in %.1f s -> %s",
            summary["rows"],
            summary["bytes"],
            summary["events_without_conversation"],
            summary["missing_events"],
            summary["repaired_records"],
            summary["unreadable_events"],
            summary["transcripts_truncated"],
            summary["requests"],
            summary["seconds"],
            summary["path"],
        )
        for outlet in self.outlets or []:  # a downstream DAG finds the file in the asset event
            try:
                context["outlet_events"][outlet].extra = {"path": summary["path"], "rows": summary["rows"]}
            except (KeyError, TypeError, AttributeError):  # not an asset (or a runtime without outlet events)
                continue
        return summary

    def on_kill(self) -> None:
        """Stop the export and remove its temporary file. Airflow 3's task runner calls this on ``SIGTERM`` (and
        nothing else: it raises no exception in the task), then kills the process if it has not ended in time; the
        export's event loop is told to cancel its work, which then ends the try as a failure (the file is never
        moved into place)."""
        self._killed = True
        running = self._running
        if running is not None:
            loop, task = running
            with contextlib.suppress(RuntimeError):  # a loop that has just closed: the export is past its requests
                loop.call_soon_threadsafe(task.cancel)  # what asyncio's own SIGINT handler does
        temporary = self._temporary
        if temporary is not None:
            self._remove(temporary)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Lineage:
        """What Airflow's OpenLineage provider reports for this task (the ``openlineage`` extra): the assistant's
        scheduled events on the Telnyx API read, ``destination`` written, with the export record's columns as its
        schema (``docs/howto/lineage.md`` names the datasets).

        :param task_instance: the finished task instance; unused, the rendered arguments say it all.
        """
        return export_lineage(self.hook, self.assistant_id, self.destination, self.file_format)

    def _remove(self, path: ObjectStoragePath) -> None:
        try:
            path.unlink(missing_ok=True)
        except Exception:  # the first failure is the one to report
            self.log.warning("Could not remove the temporary file %s", path, exc_info=True)

    def _source(self, hook: TelnyxHook, ids: list[str] | None, filters: dict[str, Any]) -> AsyncIterator[Any]:
        """The events to export, as listed (an event, or an :class:`UnreadableItem` for one that does not read) or
        named (an id)."""

        async def named(ids: list[str]) -> AsyncIterator[Any]:
            for event_id in ids:
                yield event_id

        async def listed() -> AsyncIterator[Any]:
            pager = events_pager(self.assistant_id, keep_unreadable=True, **self._listing(filters))
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
        reach = self.clock() + timedelta(seconds=MAX_RETRY_INTERVAL_SECS) + CALL_ALLOWANCE
        return {**filters, "to_date": max(end, min(end + RETRY_LOOKAHEAD, reach))}

    async def _export(self, writer: RecordWriter, ids: list[str] | None, filters: dict[str, Any]) -> dict[str, Any]:
        main = asyncio.current_task()
        if main is not None:  # always, under asyncio.run
            self._running = (asyncio.get_running_loop(), main)
        if self._killed:  # on_kill came before the loop ran
            raise asyncio.CancelledError
        hook, limiter = paced_hook(
            self.telnyx_conn_id, requests_per_second=self.requests_per_second, max_in_flight=self.max_concurrency
        )
        exported_at = self.clock()
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
        try:
            records = run_bounded(selected(), one, window=2 * self.max_concurrency, ordered=True, limiter=limiter)
            async for written in records:
                if written is not None:
                    self._write(writer, *written, tally)
                if time.monotonic() - last_line >= self.progress_interval:
                    last_line = time.monotonic()
                    self.log.info(
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
            self.log.warning(
                "Listed event %s does not match the documented schema even without its odd fields, and is left out: %s",
                item.name(),
                item.reason,
            )
            return None
        self.log.warning(
            "Event %s does not match the documented schema (%s): exported without those fields in the columns, "
            "as sent in event",
            item.name(),
            item.reason,
        )
        return _Read(event, item.raw, ("odd_fields",))

    async def _fetch(self, hook: TelnyxHook, event_id: str, tally: _Tally) -> _Read | None:
        """A named event (``None``: it no longer exists, or does not read even without its odd fields)."""
        request = event_request(self.assistant_id, event_id)
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
                self.log.warning("Event %s is left out: %s", event_id, error)
                return None
            if event.scheduled_event_id not in (None, "", event_id):
                raise  # another event than the one asked for: the API misbehaves, no record can say so
            event.scheduled_event_id = event_id
            self.log.warning(
                "Event %s exported without the fields that do not read (as sent in event): %s", event_id, error
            )
            return _Read(event, payload, ("odd_fields",))

    def _write(self, writer: RecordWriter, record: ExportRecord, read_repairs: list[str], tally: _Tally) -> None:
        repairs = sorted({*read_repairs, *writer.write(record)})
        tally.written(record, repairs)
        if repairs:  # the event id and what was changed; never the values (personal data)
            self.log.warning(
                "Event %s written repaired: %s", record.scheduled_event_id, "; ".join(REPAIRS[r] for r in repairs)
            )

    def _log_left_out(self, tally: _Tally) -> None:
        if tally.missing_events:
            self.log.warning(
                "%d event ids no longer exist (first: %s)", tally.missing_events, ", ".join(tally.missing_event_ids)
            )
        if tally.unreadable_events:
            self.log.warning(
                "%d events could not be read and were left out (first: %s)",
                tally.unreadable_events,
                ", ".join(tally.unreadable_event_ids),
            )
        if tally.events_outside_range:
            self.log.info(
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
        if not (self.include_transcript or self.include_insights):
            status = "not_requested"
        elif not event.conversation_id:
            status = "no_conversation"
        else:
            try:
                if self.include_transcript:
                    messages, truncated = await self._transcript(hook, event.conversation_id, wait_turn, repairs)
                if self.include_insights:
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
        pager = messages_pager(conversation_id, self.message_page_size, keep_unreadable=True)
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
