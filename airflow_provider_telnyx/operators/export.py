"""``TelnyxExportScheduledEventsOperator``: the events of an assistant, with their transcripts and insights, written
to object storage in one task, streamed (flat memory, transcripts capped), at the API's rate, rewritten whole by a
retry, and never failed by one record that cannot be encoded as it is, nor by one event, message or insights run in
a shape the API's schema does not allow (it is repaired, or left out, and counted)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_provider_telnyx._checks import check_aware_datetime, check_duration, check_rate
from airflow_provider_telnyx._common import DEFAULT_CONN_ID, MAX_PAGE_SIZE, TELNYX_UI_COLOR, utcnow
from airflow_provider_telnyx._compat import AirflowException
from airflow_provider_telnyx.exceptions import (
    TelnyxInvalidInputError,
)
from airflow_provider_telnyx.operators._lineage import export_lineage

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

    from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
    from airflow_provider_telnyx.operators._lineage import Lineage

__all__ = ["TelnyxExportScheduledEventsOperator"]


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
    stops at 10,000 messages or 10 MB (``MAX_TRANSCRIPT_MESSAGES``, ``MAX_TRANSCRIPT_BYTES``)
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
        is inclusive, and a retried call's time has moved on, up to ``RETRY_LOOKAHEAD``), and what is not in
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
        from airflow_provider_telnyx.hooks.telnyx import TelnyxHook

        return TelnyxHook(telnyx_conn_id=self.telnyx_conn_id)

    # -- what to export ------------------------------------------------------------------------------------

    def _selection(self, context: Context) -> tuple[list[str] | None, dict[str, Any]]:
        """The ids to export, or the listing filters of the date range (``from_date``, ``to_date`` as the API
        reads them: both included; the operator leaves out what is at ``to_date``); checked before any request."""
        from airflow_provider_telnyx.models import ConversationChannel
        from airflow_provider_telnyx.utils.event_ids import event_ids_from

        if self.event_ids is not None:
            return event_ids_from(self.event_ids, field_name="event_ids", subject="export"), {}
        start = self.from_date if self.from_date is not None else context.get("data_interval_start")
        end = self.to_date if self.to_date is not None else context.get("data_interval_end")
        if start is None or end is None:
            raise TelnyxInvalidInputError(
                [("from_date", "give event_ids, or from_date and to_date (this run has no data interval)")],
                subject="export",
            )
        filters: dict[str, Any] = {
            "from_date": check_aware_datetime("from_date", start, subject="export"),
            "to_date": check_aware_datetime("to_date", end, subject="export"),
        }
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
        from airflow_provider_telnyx.utils.export_files import destination_path

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
        from airflow_provider_telnyx.utils.export_files import (
            CountingFile,
            file_format_for,
            prepare_folder,
            stale_temporaries,
            temporary_path,
            writer_for,
        )

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
            with temporary.open("wb") as raw:
                out = CountingFile(raw)
                writer = writer_for(file_format, out)
                try:
                    from airflow_provider_telnyx.operators._export_run import ExportRun

                    counts = asyncio.run(ExportRun(self).run(writer, ids, filters))
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
