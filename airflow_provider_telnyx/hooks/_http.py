"""The transport under :class:`~airflow_provider_telnyx.hooks.telnyx.TelnyxHook`: one request path, sync and async.

A request is described once (:class:`ApiRequest`); :class:`Transport` sends it with ``httpx`` on either side and
reads the answer within hard limits; :func:`decode` turns the answer into JSON or the mapped error;
:class:`RetryPolicy` decides, once for both sides, what is retried and how long to wait. Only the final
send differs between ``send`` and ``asend``.

Limits (every answer, hostile or not):

* an overall deadline per request, ``timeout`` seconds from the connection: connect, send, and the read of the
  whole answer (a server dripping one byte at a time cannot hold a request longer);
* :data:`MAX_BODY_BYTES` of answer, decompressed (a larger one fails clearly, whatever ``Content-Length`` says);
* error summaries look at the first :data:`ERROR_EXCERPT_BYTES` only, in linear time;
* waits derived from headers are finite, non-negative and at most :data:`MAX_RETRY_AFTER`; an unparseable header
  is ignored (the backoff applies) and never replaces the API's own error;
* the API key is scrubbed from every answer body before anything reads it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import json
import logging
import math
import sys
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC
from functools import partial
from typing import Any, TypeVar, cast
from urllib.parse import quote

import httpx
from tenacity import RetryCallState, retry_if_exception, stop_after_attempt, wait_random_exponential

from airflow_provider_telnyx.exceptions import (
    ApiErrorItem,
    TelnyxApiError,
    TelnyxAuthError,
    TelnyxConflictError,
    TelnyxConnectionError,
    TelnyxInvalidResponseError,
    TelnyxNotFoundError,
    TelnyxRateLimitError,
    TelnyxRequestTimeoutError,
    TelnyxServerError,
    TelnyxValidationError,
)

__all__ = [
    "ERROR_EXCERPT_BYTES",
    "MAX_BODY_BYTES",
    "MAX_RETRY_AFTER",
    "Answer",
    "ApiRequest",
    "RateLimitObservation",
    "RetryPolicy",
    "Steps",
    "Transport",
    "arun_steps",
    "async_timeout",
    "decode",
    "error_for_status",
    "parse_error_body",
    "retry_after_seconds",
    "run_steps",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: Largest answer read, after decompression.
MAX_BODY_BYTES = 10 * 1024 * 1024
#: How much of an error body is looked at to summarise it.
ERROR_EXCERPT_BYTES = 4096
#: Longest wait we accept from ``Retry-After``/``x-ratelimit-reset`` before trying again anyway.
MAX_RETRY_AFTER = 60.0
#: Full-jitter exponential backoff: the n-th wait is uniform in [0, min(BACKOFF_MAX, BACKOFF_BASE * 2**n)].
BACKOFF_BASE = 0.5
BACKOFF_MAX = 30.0
DEFAULT_CONNECT_TIMEOUT = 10.0
#: Answers larger than this are decoded off the event loop.
_THREADED_JSON_BYTES = 256 * 1024
_MAX_EXCERPT_CHARS = 200


@dataclass(frozen=True)
class ApiRequest:
    """A request described without I/O: what both the sync and the async side send.

    :param method: HTTP method.
    :param path: path relative to the base URL, ids already validated and encoded.
    :param params: query parameters.
    :param body: JSON body.
    :param headers: extra headers.
    :param idempotent: whether an ambiguous failure (the request may have been processed) may be retried.
    :param ok: status codes that count as success.
    :param done_if_gone: a 404 after an attempt that may have been processed means that attempt did it (a delete).
    """

    method: str
    path: str
    params: Mapping[str, str] | None = None
    body: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    idempotent: bool = True
    ok: tuple[int, ...] = (200,)
    done_if_gone: bool = False


@dataclass(frozen=True)
class Answer:
    """What came back, read whole and within the limits.

    :param status: HTTP status.
    :param reason: reason phrase.
    :param headers: response headers.
    :param body: the decompressed body, with the API key scrubbed.
    :param latency: seconds from sending to the whole answer.
    """

    status: int
    reason: str
    headers: httpx.Headers
    body: bytes
    latency: float | None = None


@dataclass
class RateLimitObservation:
    """What the API's ``x-ratelimit-*`` headers and 429 answers said so far.

    :param limit: ``x-ratelimit-limit`` of the latest answer that carried it.
    :param remaining: ``x-ratelimit-remaining`` of that answer.
    :param reset: ``x-ratelimit-reset`` (seconds) of that answer.
    :param throttled: how many 429 answers were received.
    :param responses: how many answers were received.
    :param retry_after: the latest 429's ``Retry-After`` (seconds), if it gave one.
    :param listeners: called with every answer's ``(status, limit, retry_after, latency)``; the batch operator's
        rate limiter listens here, so it hears the hook's own retries too.
    """

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None
    throttled: int = 0
    responses: int = 0
    retry_after: float | None = None
    listeners: list[Callable[[int, int | None, float | None, float | None], None]] = field(default_factory=list)

    def observe(self, status_code: int, headers: httpx.Headers, latency: float | None = None) -> None:
        """Record one answer (malformed or non-finite header values are ignored).

        :param status_code: its status.
        :param headers: its headers.
        :param latency: seconds from sending to the whole answer.
        """
        self.responses += 1
        limit: int | None = None
        for attribute, header in (("limit", "x-ratelimit-limit"), ("remaining", "x-ratelimit-remaining")):
            number = _finite(headers.get(header))
            if number is not None and number >= 0 and number == int(number):
                setattr(self, attribute, int(number))
                if attribute == "limit" and number > 0:
                    limit = int(number)
        reset = _finite(headers.get("x-ratelimit-reset"))
        if reset is not None and reset >= 0:
            self.reset = reset
        retry_after = None
        if status_code == 429:
            self.throttled += 1
            retry_after = retry_after_header(headers, time.time())
            self.retry_after = retry_after
        for listener in self.listeners:
            listener(status_code, limit, retry_after, latency)


def _finite(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw.strip()[:32])
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def retry_after_seconds(status: int, headers: httpx.Headers, now: float) -> float | None:
    """Seconds the API asked us to wait: ``Retry-After-Ms``/``Retry-After`` on 429 and 503, ``x-ratelimit-reset``
    on 429 only (the API sends it on most answers, where it says nothing about retrying).

    :param status: the answer's status.
    :param headers: its headers.
    :param now: the wall clock (epoch seconds), for an HTTP-date ``Retry-After``.
    :return: a finite wait in ``[0, MAX_RETRY_AFTER]``, or ``None`` when no usable hint was given.
    """
    names = ["retry-after-ms", "retry-after"] if status in (429, 503) else []
    if status == 429:
        names.append("x-ratelimit-reset")
    for name in names:
        seconds = _hint_seconds(name, headers.get(name), now)
        if seconds is not None:
            return min(seconds, MAX_RETRY_AFTER)
    return None


def retry_after_header(headers: httpx.Headers, now: float) -> float | None:
    """Only ``Retry-After-Ms``/``Retry-After`` (what a server says about pausing), finite and capped.

    :param headers: the answer's headers.
    :param now: the wall clock, for an HTTP date.
    :return: the wait, or ``None``.
    """
    for name in ("retry-after-ms", "retry-after"):
        seconds = _hint_seconds(name, headers.get(name), now)
        if seconds is not None:
            return min(seconds, MAX_RETRY_AFTER)
    return None


def _hint_seconds(name: str, raw: str | None, now: float) -> float | None:
    if raw is None:
        return None
    value = _finite(raw)
    if value is None and name == "retry-after":
        try:
            parsed = email.utils.parsedate_to_datetime(raw.strip()[:64])
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        value = parsed.timestamp() - now
    if value is None:
        return None
    if name == "retry-after-ms":
        value /= 1000
    elif name == "x-ratelimit-reset" and value > 1e9:  # an epoch timestamp rather than a number of seconds
        value -= now
    return max(value, 0.0) if math.isfinite(value) else None


def should_retry_hint(headers: httpx.Headers) -> bool | None:
    """The ``x-should-retry`` header as the official SDKs read it: ``true``, ``false`` or absent.

    :param headers: the answer's headers.
    :return: the hint, or ``None``.
    """
    return {"true": True, "false": False}.get(headers.get("x-should-retry", "").strip().lower())


# -- error bodies ------------------------------------------------------------------------------------------------

_STATUS_CLASSES: dict[int, type[TelnyxApiError]] = {
    400: TelnyxValidationError,
    401: TelnyxAuthError,
    403: TelnyxAuthError,
    404: TelnyxNotFoundError,
    408: TelnyxRequestTimeoutError,
    409: TelnyxConflictError,
    422: TelnyxValidationError,
    429: TelnyxRateLimitError,
}


def error_for_status(
    status_code: int,
    *,
    reason: str,
    body: bytes,
    content_type: str,
    method: str,
    path: str,
    retry_after: float | None = None,
    conn_id: str | None = None,
    should_retry: bool | None = None,
) -> TelnyxApiError:
    """Build the exception for an unsuccessful answer.

    :param status_code: the HTTP status (>= 400).
    :param reason: the HTTP reason phrase (``"Bad Gateway"``).
    :param body: the raw response body (only its first :data:`ERROR_EXCERPT_BYTES` are read).
    :param content_type: the response's ``Content-Type``.
    :param method: the request's method.
    :param path: the request's path relative to the base URL.
    :param retry_after: seconds the server asked us to wait.
    :param conn_id: the Airflow connection used.
    :param should_retry: the ``x-should-retry`` hint.
    :return: the subclass that matches the status, with parsed error items.
    """
    cls = _STATUS_CLASSES.get(status_code) or (TelnyxServerError if status_code >= 500 else TelnyxApiError)
    items, summary = parse_error_body(body, content_type)
    head = f"Telnyx API {method} {path} answered {status_code}"
    if reason:
        head += f" {reason[:64]}"
    message = f"{head}: {summary}" if summary else head
    if retry_after is not None:
        message += f" (retry after {retry_after:g}s)"
    return cls(
        message,
        http_status=status_code,
        errors=items,
        method=method,
        path=path,
        retry_after=retry_after,
        conn_id=conn_id,
        should_retry=should_retry,
    )


def parse_error_body(body: bytes, content_type: str) -> tuple[list[ApiErrorItem], str]:
    """Parse an error body in either of the API's two shapes, or summarise another one, in linear time.

    Only the first :data:`ERROR_EXCERPT_BYTES` are looked at: an error body larger than that is not one of the
    API's documented shapes.

    :param body: the raw body.
    :param content_type: the response's ``Content-Type``.
    :return: the error items (at most 10) and a one-line summary.
    """
    excerpt = body[:ERROR_EXCERPT_BYTES]
    payload: Any = None
    if excerpt.strip() and len(body) <= ERROR_EXCERPT_BYTES:
        try:
            payload = json.loads(excerpt)
        except (ValueError, RecursionError):
            return [], _non_json_summary(excerpt, content_type)
    elif excerpt.strip():
        return [], _non_json_summary(excerpt, content_type)
    items = _items_from_payload(payload)[:10]
    if items:
        return items, "; ".join(_describe(item) for item in items)
    if payload is None:
        return [], "empty body"
    return [], f"unrecognised error body {_excerpt(excerpt.decode('utf-8', errors='replace'))}"


def _describe(item: ApiErrorItem) -> str:
    text = str(item)
    return f"{text} (code {item.code})" if item.code and item.code not in text else text


def _items_from_payload(payload: Any) -> list[ApiErrorItem]:
    if not isinstance(payload, dict):
        return []
    errors = payload.get("errors")
    if isinstance(errors, list) and errors:
        # Telnyx gateway shape: {"errors": [{"code", "title", "detail", "source": {"pointer"|"parameter"}}]}
        return [_from_telnyx_error(error) for error in errors]
    detail = payload.get("detail")
    if isinstance(detail, list):
        # FastAPI shape: {"detail": [{"loc": [...], "msg": ..., "type": ...}]}
        return [_from_fastapi_error(error) for error in detail]
    if isinstance(detail, dict):
        return [_from_telnyx_error(detail)]
    if isinstance(detail, str):
        return [ApiErrorItem(code=None, title=None, detail=_text(detail))]
    return []


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= _MAX_EXCERPT_CHARS else text[:_MAX_EXCERPT_CHARS] + "..."


def _from_telnyx_error(error: Any) -> ApiErrorItem:
    if not isinstance(error, dict):
        return ApiErrorItem(code=None, title=None, detail=_text(error))
    source = error.get("source")
    if not isinstance(source, dict):
        source = {}
    pointer = source.get("pointer") or source.get("parameter")
    where = pointer.lstrip("/").replace("/", ".") or None if isinstance(pointer, str) else None
    return ApiErrorItem(
        code=_text(error.get("code")),
        title=_text(error.get("title")),
        detail=_text(error.get("detail") or error.get("description")),
        field=_text(where),
    )


def _from_fastapi_error(error: Any) -> ApiErrorItem:
    if not isinstance(error, dict):
        return ApiErrorItem(code=None, title=None, detail=_text(error))
    loc = error.get("loc")
    parts = [str(part) for part in loc if part != "body"] if isinstance(loc, list) else []
    return ApiErrorItem(
        code=_text(error.get("type")),
        title=None,
        detail=_text(error.get("msg")),
        field=_text(".".join(parts) or None),
    )


def _non_json_summary(excerpt: bytes, content_type: str) -> str:
    text = excerpt.decode("utf-8", errors="replace")
    kind = content_type.split(";", maxsplit=1)[0].strip()[:64] or "unknown content type"
    lower = text.lower()
    start = lower.find("<title>")
    end = lower.find("</title>", start + 7) if start >= 0 else -1
    if start >= 0 and end >= 0:
        return f"non-JSON body ({kind}) titled {_excerpt(text[start + 7 : end])}"
    return f"non-JSON body ({kind}) {_excerpt(_strip_tags(text))}"


def _strip_tags(text: str) -> str:
    """Drop ``<...>`` markup in one pass (no regex backtracking)."""
    out: list[str] = []
    inside = False
    for char in text:
        if char == "<":
            inside = True
            out.append(" ")
        elif char == ">" and inside:
            inside = False
        elif not inside:
            out.append(char)
    return "".join(out)


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) > _MAX_EXCERPT_CHARS:
        flat = flat[:_MAX_EXCERPT_CHARS] + "..."
    return repr(flat)


# -- decoding an answer ------------------------------------------------------------------------------------------


def decode(request: ApiRequest, answer: Answer, *, conn_id: str, now: float) -> Any:
    """The JSON of a successful answer, or the mapped error (in every case bounded in time and size).

    :param request: what was sent.
    :param answer: what came back.
    :param conn_id: the Airflow connection, for messages.
    :param now: the wall clock, for an HTTP-date ``Retry-After``.
    :return: the decoded JSON body (``None`` for an empty one).
    :raises TelnyxApiError: the mapped error.
    """
    if answer.status in request.ok:
        if not answer.body.strip():
            return None
        try:
            return json.loads(answer.body)
        except (ValueError, RecursionError):
            raise invalid_body(request, answer, conn_id, "that is not JSON") from None
    if answer.status < 400:
        raise TelnyxInvalidResponseError(
            f"Telnyx API {request.method} {request.path} answered an unexpected {answer.status}",
            http_status=answer.status,
            method=request.method,
            path=request.path,
            conn_id=conn_id,
        )
    raise error_for_status(
        answer.status,
        reason=answer.reason,
        body=answer.body,
        content_type=answer.headers.get("content-type", ""),
        method=request.method,
        path=request.path,
        retry_after=retry_after_seconds(answer.status, answer.headers, now),
        conn_id=conn_id,
        should_retry=should_retry_hint(answer.headers),
    )


async def adecode(request: ApiRequest, answer: Answer, *, conn_id: str, now: float) -> Any:
    """:func:`decode` for the event loop: a large answer is decoded in a thread, never on the loop.

    :param request: what was sent.
    :param answer: what came back.
    :param conn_id: the Airflow connection, for messages.
    :param now: the wall clock.
    :return: the decoded JSON body.
    """
    if len(answer.body) > _THREADED_JSON_BYTES:
        return await asyncio.to_thread(decode, request, answer, conn_id=conn_id, now=now)
    return decode(request, answer, conn_id=conn_id, now=now)


def invalid_body(request: ApiRequest, answer: Answer, conn_id: str, what: str) -> TelnyxInvalidResponseError:
    """The error for a successful status whose body cannot be used.

    :param request: what was sent.
    :param answer: what came back.
    :param conn_id: the Airflow connection.
    :param what: what is wrong with the body.
    :return: the error.
    """
    content_type = answer.headers.get("content-type", "no content type")[:64]
    return TelnyxInvalidResponseError(
        f"Telnyx API {request.method} {request.path} answered {answer.status} with a body {what} ({content_type})",
        http_status=answer.status,
        method=request.method,
        path=request.path,
        conn_id=conn_id,
    )


# -- reading an answer within the limits -------------------------------------------------------------------------


class _Unreadable(Exception):
    """The answer broke a limit or could not be decoded; the message says which."""


class _BodyReader:
    """Accumulates a (possibly compressed) body chunk by chunk, within the size limit and the deadline."""

    def __init__(self, content_encoding: str, *, limit: int, deadline: float, clock: Callable[[], float]) -> None:
        encoding = content_encoding.strip().lower()
        if encoding in ("", "identity"):
            self._decoder = None
        elif encoding in ("gzip", "x-gzip"):
            self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._decoder = zlib.decompressobj()
        else:
            raise _Unreadable(f"in an encoding this client does not read ({encoding[:32]!r})")
        self._limit = limit
        self._deadline = deadline
        self._clock = clock
        self._out = bytearray()

    def feed(self, chunk: bytes) -> None:
        if self._clock() > self._deadline:
            raise _Deadline
        if self._decoder is None:
            data = chunk
        else:
            try:
                data = self._decoder.decompress(chunk, self._limit - len(self._out) + 1)
            except zlib.error:
                raise _Unreadable("whose compression is corrupt") from None
            if self._decoder.unconsumed_tail:
                raise _Unreadable(f"larger than {self._limit // (1024 * 1024)} MB once decompressed")
        self._out += data
        if len(self._out) > self._limit:
            raise _Unreadable(f"larger than {self._limit // (1024 * 1024)} MB")

    def finish(self) -> bytes:
        if self._decoder is not None:
            try:
                self._out += self._decoder.flush()
            except zlib.error:
                raise _Unreadable("whose compression is corrupt") from None
            if len(self._out) > self._limit:
                raise _Unreadable(f"larger than {self._limit // (1024 * 1024)} MB once decompressed")
        return bytes(self._out)


class _Deadline(Exception):
    """The request's overall deadline passed."""


if sys.version_info >= (3, 11):  # noqa: UP036 - Python 3.10 is supported (issue 16)
    async_timeout = asyncio.timeout
else:  # pragma: no cover - Python 3.10

    @asynccontextmanager
    async def async_timeout(seconds: float) -> AsyncIterator[None]:
        """``asyncio.timeout`` for Python 3.10: cancel the current task at the deadline, and tell that cancel apart
        from one that comes from outside (which must propagate, not turn into a timeout)."""
        task = asyncio.current_task()
        assert task is not None
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        handle = asyncio.get_running_loop().call_later(seconds, expire)
        try:
            yield
        except asyncio.CancelledError:
            if expired:
                raise TimeoutError from None
            raise
        finally:
            handle.cancel()


class Transport:
    """Pooled ``httpx`` clients (one sync, one async), each request bounded by an overall deadline and a size.

    The sync side reads in a worker thread and waits for it until the deadline: a server that trickles bytes
    can hold that thread for one more read at most, never the caller. The async side uses ``asyncio.wait_for``.

    :param headers: headers every request carries (``Authorization`` among them).
    :param base_url: the API root.
    :param timeout: the overall deadline of one request, in seconds.
    :param proxy: an optional proxy URL.
    :param transport: an ``httpx`` transport for the sync client (tests, custom TLS).
    :param async_transport: an ``httpx`` transport for the async client.
    :param secrets: texts scrubbed from every answer body (the API key).
    :param max_body_bytes: largest answer read.
    """

    def __init__(
        self,
        *,
        headers: Mapping[str, str],
        base_url: str,
        timeout: float,
        proxy: str | None = None,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        secrets: Sequence[str] = (),
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self._client_kwargs: dict[str, Any] = {
            "base_url": base_url,
            "headers": {**headers, "Accept-Encoding": "gzip, deflate"},
            "timeout": httpx.Timeout(timeout, connect=min(timeout, DEFAULT_CONNECT_TIMEOUT)),
            "proxy": proxy,
            "follow_redirects": False,
        }
        self._transport = transport
        self._async_transport = async_transport
        self._scrub = _scrubber(secrets)
        self._max_body_bytes = max_body_bytes
        self._client: httpx.Client | None = None
        self._aclient: httpx.AsyncClient | None = None
        self._threads: concurrent.futures.ThreadPoolExecutor | None = None

    @property
    def client(self) -> httpx.Client:
        """The pooled sync client (created on first use)."""
        if self._client is None:
            self._client = httpx.Client(transport=self._transport, **self._client_kwargs)
        return self._client

    @property
    def aclient(self) -> httpx.AsyncClient:
        """The pooled async client (created on first use, bound to the running event loop)."""
        if self._aclient is None:
            self._aclient = httpx.AsyncClient(transport=self._async_transport, **self._client_kwargs)
        return self._aclient

    def send(self, request: ApiRequest, conn_id: str) -> Answer:
        """Send with the sync client; the caller waits at most ``timeout`` seconds in all.

        :param request: what to send.
        :param conn_id: the Airflow connection, for messages.
        :return: the answer.
        :raises TelnyxConnectionError: no complete answer (transport failure, or the deadline passed).
        :raises TelnyxInvalidResponseError: the answer broke a limit or could not be decoded.
        """
        deadline = time.monotonic() + self.timeout
        if self._threads is None:
            self._threads = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="telnyx-http")
        future = self._threads.submit(self._exchange, self.client, request, deadline)
        with self._mapped(request, conn_id):
            try:
                return future.result(timeout=self.timeout + 0.05)
            except concurrent.futures.TimeoutError:
                # The stuck exchange keeps a connection: drop the client (closing its pool) and start afresh.
                stuck, self._client = self._client, None
                if stuck is not None:
                    self._threads.submit(stuck.close)
                raise _Deadline from None

    def _exchange(self, client: httpx.Client, request: ApiRequest, deadline: float) -> Answer:
        started = time.monotonic()
        response = client.send(self._build(client, request), stream=True)
        try:
            reader = self._reader(response, deadline)
            for chunk in [response.content] if response.is_stream_consumed else response.iter_raw():
                reader.feed(chunk)
            return self._answer(response, reader.finish(), started)
        finally:
            response.close()

    async def asend(self, request: ApiRequest, conn_id: str) -> Answer:
        """Send with the async client; at most ``timeout`` seconds in all.

        :param request: what to send.
        :param conn_id: the Airflow connection, for messages.
        :return: the answer.
        :raises TelnyxConnectionError: no complete answer (transport failure, or the deadline passed).
        :raises TelnyxInvalidResponseError: the answer broke a limit or could not be decoded.
        """
        deadline = time.monotonic() + self.timeout
        with self._mapped(request, conn_id):
            try:
                async with async_timeout(self.timeout):
                    return await self._aexchange(self.aclient, request, deadline)
            except TimeoutError:
                raise _Deadline from None

    async def _aexchange(self, client: httpx.AsyncClient, request: ApiRequest, deadline: float) -> Answer:
        started = time.monotonic()
        response = await client.send(self._build(client, request), stream=True)
        try:
            reader = self._reader(response, deadline)
            if response.is_stream_consumed:
                reader.feed(response.content)
            else:
                async for chunk in response.aiter_raw():
                    reader.feed(chunk)
            return self._answer(response, reader.finish(), started)
        finally:
            await response.aclose()

    def _build(self, client: httpx.Client | httpx.AsyncClient, request: ApiRequest) -> httpx.Request:
        return client.build_request(
            request.method,
            request.path,
            params=dict(request.params) if request.params else None,
            json=dict(request.body) if request.body is not None else None,
            headers=dict(request.headers),
        )

    def _reader(self, response: httpx.Response, deadline: float) -> _BodyReader:
        # A response built whole (an httpx.MockTransport in tests) is already decoded by httpx.
        encoding = "" if response.is_stream_consumed else response.headers.get("content-encoding", "")
        return _BodyReader(encoding, limit=self._max_body_bytes, deadline=deadline, clock=time.monotonic)

    def _answer(self, response: httpx.Response, body: bytes, started: float) -> Answer:
        latency = time.monotonic() - started
        return Answer(response.status_code, response.reason_phrase, response.headers, self._scrub(body), latency)

    @contextmanager
    def _mapped(self, request: ApiRequest, conn_id: str) -> Iterator[None]:
        """Turn every way of not getting a usable answer into one of our errors (sync and async alike)."""
        url = f"{self.base_url}{request.path}"
        described = f"Telnyx API {request.method} {request.path}"
        try:
            yield
        except _Deadline:
            raise TelnyxConnectionError(
                f"{described} failed: DeadlineExceeded: no complete answer within {self.timeout:g}s ({url})",
                method=request.method,
                path=request.path,
                conn_id=conn_id,
            ) from None
        except _Unreadable as error:
            raise TelnyxInvalidResponseError(
                f"{described} answered with a body {error}", method=request.method, path=request.path, conn_id=conn_id
            ) from None
        except httpx.TransportError as error:
            not_sent = isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
            reason = type(error).__name__
            detail = self._scrub_text(str(error) or reason)[:_MAX_EXCERPT_CHARS]
            raise TelnyxConnectionError(
                f"{described} failed: {reason}: {detail} ({url})",
                request_sent=not not_sent,
                method=request.method,
                path=request.path,
                conn_id=conn_id,
            ) from None

    def _scrub_text(self, text: str) -> str:
        return self._scrub(text.encode("utf-8", errors="replace")).decode("utf-8", errors="replace")

    def close(self) -> None:
        """Close the sync client's pooled connections and the reader threads."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
            self._threads = None

    async def aclose(self) -> None:
        """Close the async client's pooled connections."""
        if self._aclient is not None:
            await self._aclient.aclose()
            self._aclient = None


def _scrubber(secrets: Sequence[str]) -> Callable[[bytes], bytes]:
    """Replace every spelling of each secret (raw, JSON-escaped, URL-encoded) in a body by ``***``."""
    forms: set[bytes] = set()
    for secret in secrets:
        if secret:
            forms.update(form.encode() for form in (secret, json.dumps(secret)[1:-1], quote(secret, safe="")) if form)
    ordered = sorted(forms, key=len, reverse=True)

    def scrub(body: bytes) -> bytes:
        for form in ordered:
            if form in body:
                body = body.replace(form, b"***")
        return body

    return scrub


# -- retries -------------------------------------------------------------------------------------------------


class RetryPolicy:
    """What the hook retries and how long it waits, described once for the sync and the async side.

    Connection errors, timeouts, 408, 409, 429 and 5xx are retried with full-jitter exponential backoff, or the
    wait the API asked for (``Retry-After`` on 429/503, ``x-ratelimit-reset`` on 429); ``x-should-retry: false``
    stops retrying, ``true`` retries whatever the status. A create without an ``Idempotency-Key`` is retried only
    after failures that prove the API did not act on it: otherwise a second person could be called.

    :param max_retries: retries after the first attempt.
    :param logger: where retry lines go (the hook's logger: stdlib or structlog).
    """

    _backoff = wait_random_exponential(multiplier=BACKOFF_BASE, max=BACKOFF_MAX)

    def __init__(self, max_retries: int, logger: Any) -> None:
        self.max_retries = max_retries
        self._log = logger

    def options(self, request: ApiRequest) -> dict[str, Any]:
        """Keyword arguments for ``tenacity.Retrying`` / ``AsyncRetrying``.

        :param request: what is sent.
        :return: the options (``sleep`` is the caller's).
        """
        return {
            "stop": stop_after_attempt(self.max_retries + 1),
            "wait": self.wait,
            "retry": retry_if_exception(partial(self.should_retry, request)),
            "before_sleep": partial(self._log_retry, request),
            "reraise": True,
        }

    @staticmethod
    def should_retry(request: ApiRequest, error: BaseException) -> bool:
        """Whether to try ``request`` again after ``error``.

        :param request: what was sent.
        :param error: what it raised.
        :return: the decision.
        """
        if not isinstance(error, TelnyxApiError):
            return False
        hint = getattr(error, "should_retry", None)
        safe_to_repeat = request.idempotent or isinstance(error, TelnyxRateLimitError)
        if isinstance(error, TelnyxConnectionError) and not error.request_sent:
            safe_to_repeat = True
        if hint is False:
            return False
        if hint is True:
            return safe_to_repeat or (error.http_status is not None and error.http_status < 500)
        return error.retryable and safe_to_repeat

    def wait(self, state: RetryCallState) -> float:
        """Seconds before the next attempt: the API's own hint when it gave one, else full jitter.

        :param state: tenacity's state.
        :return: the wait.
        """
        error = state.outcome.exception() if state.outcome else None
        hinted = getattr(error, "retry_after", None)
        if isinstance(hinted, float | int) and math.isfinite(hinted):
            return float(min(max(hinted, 0.0), MAX_RETRY_AFTER))
        return float(self._backoff(state))

    def _log_retry(self, request: ApiRequest, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        if isinstance(error, TelnyxApiError) and error.http_status is not None:
            cause = f"HTTP {error.http_status}" + (f" code {error.code}" if error.code else "")
        else:
            cause = type(error).__name__
        with suppress(Exception):
            self._log.warning(
                "Telnyx %s %s failed (%s); retry %d/%d in %.2fs",
                request.method,
                request.path,
                cause,
                state.attempt_number,
                self.max_retries,
                wait,
            )


# -- several requests, described once -------------------------------------------------------------------------

#: A conversation with the API written once for both sides: a generator that yields an :class:`ApiRequest` (and
#: receives its decoded JSON, or has its :class:`TelnyxApiError` thrown in) or a list of requests (and receives a
#: list of decoded JSON or errors, as values: the async side sends them concurrently), and returns a result.
Steps = Generator["ApiRequest | list[ApiRequest]", Any, _T]


def run_steps(steps: Steps[_T], call: Callable[[ApiRequest], Any]) -> _T:
    """Drive ``steps`` with a sync ``call``.

    :param steps: the conversation.
    :param call: sends one request and returns its decoded JSON (raising :class:`TelnyxApiError`).
    :return: what the conversation returns.
    """
    reply: Any = None
    error: TelnyxApiError | None = None
    while True:
        try:
            step = steps.send(reply) if error is None else steps.throw(error)
        except StopIteration as done:
            return cast("_T", done.value)
        reply, error = None, None
        if isinstance(step, list):
            reply = [_outcome(call, request) for request in step]
        else:
            try:
                reply = call(step)
            except TelnyxApiError as raised:
                error = raised


async def arun_steps(steps: Steps[_T], acall: Callable[[ApiRequest], Awaitable[Any]], *, concurrency: int = 10) -> _T:
    """Drive ``steps`` with an async ``acall``; a list of requests is sent concurrently (at most ``concurrency``).

    :param steps: the conversation.
    :param acall: sends one request and returns its decoded JSON (raising :class:`TelnyxApiError`).
    :param concurrency: requests of one list in flight at once.
    :return: what the conversation returns.
    """
    limit = asyncio.Semaphore(concurrency)

    async def outcome(request: ApiRequest) -> Any:
        async with limit:
            try:
                return await acall(request)
            except TelnyxApiError as raised:
                return raised

    reply: Any = None
    error: TelnyxApiError | None = None
    while True:
        try:
            step = steps.send(reply) if error is None else steps.throw(error)
        except StopIteration as done:
            return cast("_T", done.value)
        reply, error = None, None
        if isinstance(step, list):
            reply = await asyncio.gather(*(outcome(request) for request in step))
        else:
            try:
                reply = await acall(step)
            except TelnyxApiError as raised:
                error = raised


def _outcome(call: Callable[[ApiRequest], Any], request: ApiRequest) -> Any:
    try:
        return call(request)
    except TelnyxApiError as raised:
        return raised
