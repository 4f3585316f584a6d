"""Writing export records as they come, with flat memory: JSON Lines (always available) or Parquet (with the
optional ``pyarrow``, imported only when a Parquet file is written), and the bytes counted on the way out.

Each writer encodes a record whole before writing any of it; a record it refuses (a lone surrogate, nesting too
deep, a non-finite number, an integer beyond 64 bits, anything ``pyarrow`` will not take) is written as
:meth:`ExportRecord.made_safe`, and ``write`` returns what was repaired: one odd record never fails a file.

Where the file goes is prepared here too (:func:`prepare_folder`): a local folder is created, a bucket never is; the
temporary sibling's name (:func:`temporary_path`) is this module's, and so is the removal of those a killed try left
(:func:`stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import unquote, urlsplit

from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError
from airflow_provider_telnyx.models.export import ExportRecord

if TYPE_CHECKING:
    import pyarrow
    from airflow.sdk import ObjectStoragePath

__all__ = [
    "FORMATS",
    "ROW_GROUP_BYTES",
    "ROW_GROUP_SIZE",
    "WHOLE_LINE_MESSAGES",
    "CountingFile",
    "FileFormat",
    "JsonLinesWriter",
    "ParquetWriter",
    "RecordWriter",
    "destination_path",
    "file_format_for",
    "json_line",
    "parquet_schema",
    "prepare_folder",
    "stale_temporaries",
    "temporary_path",
    "writer_for",
]

#: Schemes of the local file system: their paths must be absolute (``file:///data/...``).
LOCAL_SCHEMES = ("", "file", "local")
#: Characters fsspec's move and remove read as a glob pattern (the file could not be moved into place, nor removed).
GLOB_CHARACTERS = ("*", "?", "[", "]")

FileFormat = Literal["jsonl", "parquet"]
FORMATS: tuple[FileFormat, ...] = ("jsonl", "parquet")
#: Records buffered per Parquet row group (the most records a Parquet export holds in memory).
ROW_GROUP_SIZE = 1_000
#: Arrow bytes buffered per Parquet row group: a group of long transcripts is written before 1,000 records.
ROW_GROUP_BYTES = 64 * 1024 * 1024
#: Records with up to this many messages are encoded in one piece; longer ones message by message.
WHOLE_LINE_MESSAGES = 1_000


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
    """Writes records one by one; :meth:`close` finishes the file, :meth:`abort` lets go of it after a failure
    (the underlying file object stays open either way: its owner closes it)."""

    def write(self, record: ExportRecord) -> list[str]: ...  # pragma: no cover - protocol

    def close(self) -> None: ...  # pragma: no cover - protocol

    def abort(self) -> None: ...  # pragma: no cover - protocol


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def json_line(record: ExportRecord) -> list[bytes]:
    """A record's JSON line (with its newline), in pieces: past :data:`WHOLE_LINE_MESSAGES` messages each message is
    encoded on its own, so a long transcript never becomes one dictionary, one string and one bytes object of its
    whole size at once. The pieces joined are ``json.dumps(record.to_json(), ensure_ascii=False,
    separators=(",", ":"))`` plus the newline.

    :raises ValueError: when the record cannot be encoded as it is (``UnicodeEncodeError`` for a lone surrogate,
        a non-finite number, nesting deeper than the serializer goes).
    :raises RecursionError: for nesting deeper than the JSON encoder goes.
    """
    if record.messages is None or len(record.messages) <= WHOLE_LINE_MESSAGES:
        return [_dumps(record.to_json()) + b"\n"]  # one encoder call: five times faster for an ordinary record
    messages = record.messages
    head = record.to_json(exclude={"messages"})
    pieces: list[bytes] = []
    for index, name in enumerate(type(record).model_fields):
        key = (b"{" if index == 0 else b",") + _dumps(name) + b":"
        if name != "messages":
            pieces.append(key + _dumps(head[name]))
            continue
        pieces.append(key + b"[")
        for number, message in enumerate(messages):
            pieces.append((b"," if number else b"") + _dumps(message.model_dump(mode="json")))
        pieces.append(b"]")
    pieces.append(b"}\n")
    return pieces


class JsonLinesWriter:
    """One JSON object per line, UTF-8; a record is encoded whole (in pieces) before any of it is written."""

    def __init__(self, out: CountingFile) -> None:
        self._out = out

    def write(self, record: ExportRecord) -> list[str]:
        """Write one record (repaired if it cannot be encoded as it is).

        :return: the repairs made (:data:`~airflow_provider_telnyx.models.export.REPAIRS` keys), empty when none.
        """
        repairs: list[str] = []
        try:
            pieces = json_line(record)
        except Exception:  # whatever the encoder refuses is this record's to repair, never the file's
            record, repairs = record.made_safe()
            pieces = json_line(record)
        for piece in pieces:
            self._out.write(piece)
        return repairs

    def close(self) -> None:
        self._out.flush()

    def abort(self) -> None:
        """Nothing to let go of: every line is written whole."""


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
                            ("metadata", pa.string()),
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
            ("transcript_truncated", pa.bool_()),
            ("exported_at", ts),
            ("event", pa.string()),
        ]
    )


class ParquetWriter:
    """Row groups of at most ``row_group_size`` records or ``row_group_bytes`` Arrow bytes, written as they fill.
    Each record becomes an Arrow batch as it comes (so a record ``pyarrow`` refuses is known, and repaired, alone).

    :param out: the file to write.
    :param row_group_size: records per row group.
    :param row_group_bytes: Arrow bytes per row group.
    """

    def __init__(
        self, out: CountingFile, row_group_size: int = ROW_GROUP_SIZE, row_group_bytes: int = ROW_GROUP_BYTES
    ) -> None:
        self._pa = _pyarrow()
        self._schema = parquet_schema()
        self._writer = self._pa.parquet.ParquetWriter(out, self._schema, compression="zstd")
        self._open = True
        self._batches: list[Any] = []
        self._bytes = 0
        self._size = row_group_size
        self._max_bytes = row_group_bytes

    def _batch(self, record: ExportRecord) -> Any:
        return self._pa.RecordBatch.from_pylist([record.to_row()], schema=self._schema)

    def write(self, record: ExportRecord) -> list[str]:
        """Add one record (repaired if it cannot be encoded as it is) to the row group being filled.

        :return: the repairs made (:data:`~airflow_provider_telnyx.models.export.REPAIRS` keys), empty when none.
        """
        repairs: list[str] = []
        try:
            batch = self._batch(record)
        except Exception:  # ArrowInvalid, TypeError, OverflowError (an integer past int64)...: this record's only
            record, repairs = record.made_safe()
            batch = self._batch(record)
        self._batches.append(batch)
        self._bytes += batch.nbytes
        if len(self._batches) >= self._size or self._bytes >= self._max_bytes:
            self._flush()
        return repairs

    def _flush(self) -> None:
        if self._batches:
            table = self._pa.Table.from_batches(self._batches, schema=self._schema)
            self._writer.write_table(table, row_group_size=len(self._batches))
            self._batches, self._bytes = [], 0

    def close(self) -> None:
        """Write the last row group and the footer."""
        try:
            self._flush()
        finally:
            self._open = False
            self._writer.close()

    def abort(self) -> None:
        """After a failure: close ``pyarrow``'s writer while its file is still open (an abandoned one would write
        its footer into a closed file when collected); never raises, the failure is the one to report."""
        if self._open:
            self._open = False
            with contextlib.suppress(Exception):  # the file is being discarded
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


def _refused(reason: str) -> TelnyxInvalidInputError:
    return TelnyxInvalidInputError([("destination", reason)], subject="export")


def prepare_folder(destination: ObjectStoragePath) -> None:
    """Make ready where the file goes, before any request to Telnyx: a local folder is created (with its parents);
    in object storage, where a folder is only a key prefix, the bucket (the path's root) must exist, and is never
    created: a mistyped bucket is refused rather than made.

    :param destination: the checked destination (:func:`destination_path`).
    :raises TelnyxInvalidInputError: naming ``destination``, when the bucket does not exist (or the credentials
        cannot see it).
    """
    if destination.protocol in LOCAL_SCHEMES:
        destination.parent.mkdir(parents=True, exist_ok=True)
        return
    root = list(destination.parents)[-1]
    if not root.exists():
        raise _refused(
            f"{destination}: the bucket {root} does not exist (or this connection cannot see it); the export "
            "never creates a bucket: create it, or correct the name"
        )


def temporary_path(destination: ObjectStoragePath, run: str) -> ObjectStoragePath:
    """The hidden sibling a try writes before it replaces ``destination``: ``.<name>.<12 hex digits>.tmp``, the
    digits those of the task instance (``run``), so that a retry reuses the name.

    :param destination: the file to write.
    :param run: what names the task instance (DAG, run, task, map index).
    """
    return destination.parent / f".{destination.name}.{hashlib.sha256(run.encode()).hexdigest()[:12]}.tmp"


def stale_temporaries(destination: ObjectStoragePath) -> list[ObjectStoragePath]:
    """The temporary siblings of ``destination`` (named as :func:`temporary_path` names them) that tries left
    behind: a try removes its own however it fails, but a ``SIGKILL`` leaves no time to. One listing of the names
    that start ``.<name>.``.

    :param destination: the file to write (its folder exists).
    """
    pattern = re.compile(rf"\.{re.escape(destination.name)}\.[0-9a-f]{{12}}\.tmp")
    return [path for path in destination.parent.glob(f".{destination.name}.*.tmp") if pattern.fullmatch(path.name)]


def destination_path(value: Any) -> ObjectStoragePath:
    """The destination as an ``ObjectStoragePath``, checked before any request: a URL (``file:///...``,
    ``s3://[conn_id@]bucket/...``) or an absolute local path naming a file, without ``..`` segments.

    A relative path is refused (it would be written under the worker's working folder, wherever that is), as is
    ``file://name/...`` (``name`` would be a relative folder, not a host), a path ending in ``/`` and one holding
    :data:`GLOB_CHARACTERS`.

    :param value: an ``ObjectStoragePath`` or the rendered ``destination`` text.
    :raises TelnyxInvalidInputError: naming ``destination`` and the reason.
    """
    from airflow.sdk import ObjectStoragePath

    if isinstance(value, ObjectStoragePath):
        text = str(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
    else:
        raise _refused("must be a path or URL")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in LOCAL_SCHEMES:
        if scheme and parts.netloc:
            raise _refused(
                f"{text!r} names {parts.netloc!r} as a host: a local file URL is absolute, with three slashes "
                f"({scheme}:///{parts.netloc}{parts.path})"
            )
        if not (parts.path if scheme else text).startswith("/"):
            raise _refused(f"{text!r} is a relative path: give an absolute one (file:///data/...) or a URL")
    if any(unquote(segment) == ".." for segment in text.split("/")):
        raise _refused(f"{text!r} has a '..' segment: give the path without it")
    if text.endswith("/"):
        raise _refused(f"{text!r} ends with '/': name a file (e.g. .../events.jsonl), not a folder")
    if any(character in text for character in GLOB_CHARACTERS):
        raise _refused(
            f"{text!r} holds one of {' '.join(GLOB_CHARACTERS)}, which object storage reads as a pattern when it "
            "moves or removes the file: name it without them"
        )
    return value if isinstance(value, ObjectStoragePath) else ObjectStoragePath(text)
