"""``TelnyxExportScheduledEventsOperator``: the events of an assistant, with their transcripts and insights, written
to object storage in one task, streamed (flat memory), at the API's rate, and rewritten whole by a retry."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_provider_telnyx._common import TELNYX_UI_COLOR, parse_iso_datetime, utcnow
from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError, TelnyxNotFoundError
from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
from airflow_provider_telnyx.models import (
    MAX_PAGE_SIZE,
    ConversationChannel,
    ConversationInsight,
    ConversationMessage,
    ScheduledEvent,
    check_event_id,
    check_seconds,
)
from airflow_provider_telnyx.models.export import ExportRecord, TranscriptStatus
from airflow_provider_telnyx.utils.export_files import CountingFile, file_format_for, writer_for
from airflow_provider_telnyx.utils.pool import paced_hook

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

    from airflow_provider_telnyx.utils.export_files import RecordWriter

__all__ = ["TelnyxExportScheduledEventsOperator", "event_ids_from"]

#: Most ids listed in the summary's ``missing_event_ids`` (the count is always exact).
MAX_LISTED_MISSING = 20


def event_ids_from(value: Any) -> list[str]:
    """The event ids in ``event_ids``: a list of ids (``None`` entries, a batch's unsent items, are skipped), one id,
    the batch operator's summary (``scheduled_event_ids``) or the single operator's event (``scheduled_event_id``).
    Duplicates are dropped, the first order kept.

    :raises TelnyxInvalidInputError: for anything else, or an id that is no id (e.g. a mistyped ``xcom_pull``).
    """
    if isinstance(value, Mapping):
        if "scheduled_event_ids" in value:
            value = value["scheduled_event_ids"]
        elif "scheduled_event_id" in value:
            value = [value["scheduled_event_id"]]
        else:
            raise TelnyxInvalidInputError(
                [("event_ids", "a mapping must be a create operator's result (scheduled_event_id[s])")],
                subject="export",
            )
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise TelnyxInvalidInputError([("event_ids", "must be a list of event ids")], subject="export")
    ids = [check_event_id(item, f"event_ids[{index}]") for index, item in enumerate(value) if item is not None]
    return list(dict.fromkeys(ids))


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


class TelnyxExportScheduledEventsOperator(BaseOperator):
    """Export an assistant's scheduled events, one record each, with their call attempts and (when asked) their
    conversation's transcript and insights, to a file in object storage.

    .. seealso::
        The how-to guide, with the record schema and a warehouse load: ``docs/howto/export.md``.

    The events are those named by ``event_ids``, or else those scheduled in ``from_date``..``to_date`` (default:
    the run's data interval). The file is JSON Lines, or Parquet (``pyarrow``, the ``parquet`` extra). Records are
    written as they come, in the order the events were listed or named, with at most ``2 x max_concurrency``
    events in memory; every request goes through the same adaptive rate limiter as the batch create operator.

    The file is written to a temporary sibling and moved over ``destination`` only when complete: a reader never
    sees half a file, and a retry rewrites the whole object (nothing is ever appended twice). Transcripts are
    personal data: nothing of them is logged or pushed to XCom; where the file goes is your decision.

    :param assistant_id: the assistant whose events are exported. (templated)
    :param destination: where to write: an ``ObjectStoragePath`` or a URL such as
        ``file:///data/telnyx/{{ ds }}/events.jsonl`` or ``s3://bucket/telnyx/{{ ds }}/events.parquet`` (any scheme
        Airflow's object storage supports; s3/gcs through their providers). (templated)
    :param event_ids: the events to export: a list of ids, a create operator's result, or an ``XComArg``; when
        set, the date range is not used. An id that no longer exists is counted as missing. (templated)
    :param from_date: start of the range of ``scheduled_at_fixed_datetime`` (ISO text or aware datetime; default
        the data interval's start; an empty interval, as Airflow 3's plain cron schedules give, is refused rather
        than read as "nothing to export"). (templated)
    :param to_date: end of the range, inclusive as the API reads it (default the data interval's end). (templated)
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
        telnyx_conn_id: str = TelnyxHook.default_conn_name,
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
        check_seconds("requests_per_second", requests_per_second, allow_none=True)
        check_seconds("progress_interval", progress_interval)
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

    @cached_property
    def hook(self) -> TelnyxHook:
        """The hook for ``telnyx_conn_id`` (created on first use; constructing the operator does no I/O)."""
        return TelnyxHook(telnyx_conn_id=self.telnyx_conn_id)

    # -- what to export ------------------------------------------------------------------------------------

    def _selection(self, context: Context) -> tuple[list[str] | None, dict[str, Any]]:
        """The ids to export, or the listing filters of the date range; checked before any request."""
        if self.event_ids is not None:
            return event_ids_from(self.event_ids), {}
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
        if filters["from_date"] > filters["to_date"]:
            raise TelnyxInvalidInputError([("to_date", "must not be before from_date")], subject="export")
        if self.conversation_channel is not None:
            if self.conversation_channel not in tuple(ConversationChannel):
                raise TelnyxInvalidInputError(
                    [("conversation_channel", "must be 'phone_call' or 'sms_chat'")], subject="export"
                )
            filters["conversation_channel"] = self.conversation_channel
        return None, filters

    def _path(self) -> ObjectStoragePath:
        from airflow.sdk import ObjectStoragePath

        if isinstance(self.destination, ObjectStoragePath):
            return self.destination
        if not isinstance(self.destination, str) or not self.destination.strip():
            raise TelnyxInvalidInputError([("destination", "must be a path or URL")], subject="export")
        return ObjectStoragePath(self.destination)

    # -- execution -----------------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        """Select the events, read their conversations and write the file.

        :param context: the task's context.
        :return: the summary: ``path``, ``format``, ``rows``, ``bytes``, ``events_without_conversation``,
            ``missing_events`` (ids that no longer exist; the first few in ``missing_event_ids``), ``requests``,
            ``seconds``.
        """
        ids, filters = self._selection(context)
        destination = self._path()
        file_format = file_format_for(str(destination), self.file_format)
        run = f"{context['ti'].dag_id}/{context['ti'].run_id}/{context['ti'].task_id}/{context['ti'].map_index}"
        temporary = destination.parent / f".{destination.name}.{hashlib.sha256(run.encode()).hexdigest()[:12]}.tmp"
        destination.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        if ids is not None:
            what = f"{len(ids)} named events"
        else:
            what = f"events scheduled {filters['from_date'].isoformat()}..{filters['to_date'].isoformat()}"
        self.log.info("Exporting %s of assistant %s to %s (%s)", what, self.assistant_id, destination, file_format)
        try:
            with temporary.open("wb") as raw:  # type: ignore[no-untyped-call]
                out = CountingFile(raw)
                writer = writer_for(file_format, out)
                counts = asyncio.run(self._export(writer, ids, filters))
                writer.close()
            temporary.rename(destination)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        summary = {
            "path": str(destination),
            "format": file_format,
            "bytes": out.bytes,
            **counts,
            "seconds": round(time.monotonic() - started, 3),
        }
        self.log.info(
            "Export done: %d rows, %d bytes, %d events without a conversation yet, %d missing, %d requests in %.1f s "
            "-> %s",
            summary["rows"],
            summary["bytes"],
            summary["events_without_conversation"],
            summary["missing_events"],
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

    async def _export(self, writer: RecordWriter, ids: list[str] | None, filters: dict[str, Any]) -> dict[str, Any]:
        hook, limiter = paced_hook(
            self.telnyx_conn_id, requests_per_second=self.requests_per_second, max_in_flight=self.max_concurrency
        )
        exported_at = utcnow()
        counts: dict[str, Any] = {"rows": 0, "events_without_conversation": 0, "missing_events": 0}
        missing: list[str] = []
        window: deque[asyncio.Task[ExportRecord | None]] = deque()
        clock = time.monotonic
        last_line = clock()

        async def source() -> AsyncIterator[ScheduledEvent | str]:
            if ids is not None:
                for event_id in ids:
                    yield event_id
            else:
                async for event in hook.alist_scheduled_events(self.assistant_id, **filters):
                    yield event

        def write(record: ExportRecord | None) -> None:
            nonlocal last_line
            if record is None:
                return
            writer.write(record)
            counts["rows"] += 1
            counts["events_without_conversation"] += record.transcript_status == "no_conversation"
            if clock() - last_line >= self.progress_interval:
                last_line = clock()
                self.log.info(
                    "Export progress: %d rows, %d requests, %d events without a conversation yet",
                    counts["rows"],
                    hook.rate_limit.responses,
                    counts["events_without_conversation"],
                )

        async def one(item: ScheduledEvent | str) -> ExportRecord | None:
            await limiter.enter()
            try:
                if isinstance(item, str):
                    try:
                        item = await hook.aget_scheduled_event(self.assistant_id, item)
                    except TelnyxNotFoundError:
                        counts["missing_events"] += 1
                        if len(missing) < MAX_LISTED_MISSING:
                            missing.append(str(item))
                        return None
                return await self._record(hook, item, exported_at)
            finally:
                limiter.leave()

        try:
            async for item in source():
                window.append(asyncio.create_task(one(item)))
                if len(window) >= 2 * self.max_concurrency:
                    write(await window.popleft())
            while window:
                write(await window.popleft())
        finally:
            for task in window:
                task.cancel()
            await asyncio.gather(*window, return_exceptions=True)
            await hook.aclose()
        if missing:
            self.log.warning("%d event ids no longer exist (first: %s)", counts["missing_events"], ", ".join(missing))
        return {**counts, "missing_event_ids": missing, "requests": hook.rate_limit.responses}

    async def _record(self, hook: TelnyxHook, event: ScheduledEvent, exported_at: datetime) -> ExportRecord:
        messages: list[ConversationMessage] | None = None
        insights: list[ConversationInsight] | None = None
        status: TranscriptStatus = "exported"
        if not (self.include_transcript or self.include_insights):
            status = "not_requested"
        elif not event.conversation_id:
            status = "no_conversation"
        else:
            try:
                if self.include_transcript:
                    pages = hook.alist_conversation_messages(event.conversation_id, page_size=self.message_page_size)
                    messages = [message async for message in pages]
                if self.include_insights:
                    insights = await hook.aget_conversation_insights(event.conversation_id)
            except TelnyxNotFoundError:  # dispatched, but the API has no conversation for it yet
                messages, insights, status = None, None, "no_conversation"
        return ExportRecord.of(
            event, messages=messages, insights=insights, transcript_status=status, exported_at=exported_at
        )
