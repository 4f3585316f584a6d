"""Writing export records as they come, with flat memory: JSON Lines (always available) or Parquet (with the
optional ``pyarrow``, imported only when a Parquet file is written), and the bytes counted on the way out."""

from __future__ import annotations

import json
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol

from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError
from airflow_provider_telnyx.models.export import ExportRecord

if TYPE_CHECKING:
    import pyarrow

__all__ = [
    "FORMATS",
    "ROW_GROUP_SIZE",
    "CountingFile",
    "FileFormat",
    "JsonLinesWriter",
    "ParquetWriter",
    "RecordWriter",
    "file_format_for",
    "parquet_schema",
    "writer_for",
]

FileFormat = Literal["jsonl", "parquet"]
FORMATS: tuple[FileFormat, ...] = ("jsonl", "parquet")
#: Records buffered per Parquet row group (the most records a Parquet export holds in memory).
ROW_GROUP_SIZE = 1_000


class CountingFile:
    """A binary file object that counts the bytes written through it.

    :param raw: the file object to write to.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.bytes += len(data)
        self.raw.write(data)
        return len(data)

    def flush(self) -> None:
        self.raw.flush()

    # What pyarrow asks of a writable Python file.
    @property
    def closed(self) -> bool:
        return bool(self.raw.closed)

    def tell(self) -> int:
        return self.bytes

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        """Leaves the underlying file open: its owner closes it."""


class RecordWriter(Protocol):
    """Writes records one by one; :meth:`close` finishes the file (the underlying file object stays open)."""

    def write(self, record: ExportRecord) -> None: ...  # pragma: no cover - protocol

    def close(self) -> None: ...  # pragma: no cover - protocol


class JsonLinesWriter:
    """One JSON object per line, UTF-8, nothing buffered beyond the file object's own buffer."""

    def __init__(self, out: CountingFile) -> None:
        self._out = out

    def write(self, record: ExportRecord) -> None:
        line = json.dumps(record.to_json(), ensure_ascii=False, separators=(",", ":"))
        self._out.write(line.encode() + b"\n")

    def close(self) -> None:
        self._out.flush()


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise TelnyxInvalidInputError(
            [("file_format", "parquet needs pyarrow: pip install 'airflow-provider-telnyx[parquet]'")],
            subject="export",
        ) from None
    return pyarrow


def parquet_schema() -> pyarrow.Schema:
    """The Parquet schema of an export (the columns of :class:`ExportRecord`; timestamps in UTC microseconds).

    :raises TelnyxInvalidInputError: when ``pyarrow`` is not installed.
    """
    pa = _pyarrow()
    ts = pa.timestamp("us", tz="UTC")
    tool_call = pa.struct([(name, pa.string()) for name in ("id", "type", "name", "arguments")])
    return pa.schema(
        [
            ("schema_version", pa.int32()),
            ("scheduled_event_id", pa.string()),
            ("assistant_id", pa.string()),
            ("conversation_channel", pa.string()),
            ("end_user_target", pa.string()),
            ("agent_target", pa.string()),
            ("status", pa.string()),
            ("scheduled_at", ts),
            ("created_at", ts),
            ("conversation_id", pa.string()),
            ("call_status", pa.string()),
            ("call_duration", pa.int64()),
            ("retry_count", pa.int64()),
            ("text", pa.string()),
            ("errors", pa.list_(pa.string())),
            ("conversation_metadata", pa.string()),
            ("dynamic_variables", pa.string()),
            (
                "attempts",
                pa.list_(
                    pa.struct(
                        [
                            ("attempt_number", pa.int64()),
                            ("attempted_at", ts),
                            ("call_status", pa.string()),
                            ("call_duration", pa.int64()),
                            ("telnyx_call_control_id", pa.string()),
                        ]
                    )
                ),
            ),
            (
                "messages",
                pa.list_(
                    pa.struct(
                        [
                            ("role", pa.string()),
                            ("text", pa.string()),
                            ("created_at", ts),
                            ("sent_at", ts),
                            ("tool_calls", pa.list_(tool_call)),
                        ]
                    )
                ),
            ),
            (
                "insights",
                pa.list_(
                    pa.struct(
                        [
                            ("id", pa.string()),
                            ("status", pa.string()),
                            ("created_at", ts),
                            (
                                "results",
                                pa.list_(pa.struct([("insight_id", pa.string()), ("result", pa.string())])),
                            ),
                        ]
                    )
                ),
            ),
            ("transcript_status", pa.string()),
            ("exported_at", ts),
            ("event", pa.string()),
        ]
    )


class ParquetWriter:
    """Row groups of at most ``row_group_size`` records, written as they fill.

    :param out: the file to write.
    :param row_group_size: records per row group.
    """

    def __init__(self, out: CountingFile, row_group_size: int = ROW_GROUP_SIZE) -> None:
        self._pa = _pyarrow()
        self._schema = parquet_schema()
        self._writer = self._pa.parquet.ParquetWriter(out, self._schema, compression="zstd")
        self._rows: list[dict[str, Any]] = []
        self._size = row_group_size

    def write(self, record: ExportRecord) -> None:
        self._rows.append(record.to_row())
        if len(self._rows) >= self._size:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            self._writer.write_table(self._pa.Table.from_pylist(self._rows, schema=self._schema))
            self._rows = []

    def close(self) -> None:
        self._flush()
        self._writer.close()


def file_format_for(path: str, explicit: str | None) -> FileFormat:
    """The format asked for, or the one the destination's suffix names (``.parquet``/``.pq``; else JSON Lines).

    :raises TelnyxInvalidInputError: for an unknown format, or Parquet without ``pyarrow``.
    """
    if explicit is None:
        chosen: str = "parquet" if path.lower().endswith((".parquet", ".pq")) else "jsonl"
    else:
        chosen = explicit
    if chosen not in FORMATS:
        raise TelnyxInvalidInputError([("file_format", f"must be one of {list(FORMATS)}")], subject="export")
    if chosen == "parquet":
        _pyarrow()
    return chosen


def writer_for(file_format: FileFormat, out: CountingFile) -> RecordWriter:
    """A writer of ``file_format`` records into ``out``."""
    return ParquetWriter(out) if file_format == "parquet" else JsonLinesWriter(out)
