"""The transport under :class:`~airflow_provider_telnyx.hooks.telnyx.TelnyxHook`: one request path, sync and async.

A request is described once (:class:`ApiRequest`); :class:`HttpClients` sends it with ``httpx`` on either side and
reads the answer within hard limits. What the answer means is decided in :mod:`._errors`, whether to try again in
:mod:`._retry`; only the final send differs between ``send`` and ``asend``.

Limits (every answer, hostile or not):

* an overall deadline per request, ``timeout`` seconds from the connection: connect, send, and the read of the
  whole answer (a server dripping one byte at a time cannot hold a request longer);
* :data:`MAX_BODY_BYTES` of answer, decompressed (a larger one fails clearly, whatever ``Content-Length`` says);
* every text of the answer (reason phrase, header values, body) passes the transport's
  :class:`~._redact.Redactor` before anything reads it, and so do the HTTP libraries' own log lines.
"""

from __future__ import annotations

import concurrent.futures
import time
import weakref
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from airflow_provider_telnyx._common import async_timeout
from airflow_provider_telnyx.exceptions import TelnyxConnectionError, TelnyxInvalidResponseError
from airflow_provider_telnyx.hooks._deadline import DeadlinePassed, bound_sockets, socket_deadline
from airflow_provider_telnyx.hooks._redact import Redactor, redact_library_logs

__all__ = ["DEFAULT_CONNECT_TIMEOUT", "MAX_BODY_BYTES", "ApiAnswer", "ApiRequest", "HttpClients"]

#: Largest answer read, after decompression.
MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_CONNECT_TIMEOUT = 10.0
_MAX_DETAIL_CHARS = 200


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
class ApiAnswer:
    """What came back, read whole and within the limits.

    :param status: HTTP status.
    :param reason: reason phrase, redacted.
    :param headers: response headers, every value redacted.
    :param body: the decompressed body, with the key's raw and common escaped spellings scrubbed (what is decoded
        from it passes ``redactor`` again).
    :param latency: seconds from sending to the whole answer.
    :param redactor: the redaction every text decoded from this answer passes.
    """

    status: int
    reason: str
    headers: httpx.Headers
    body: bytes
    latency: float | None = None
    redactor: Redactor = field(default_factory=lambda: Redactor(()), repr=False)


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
            raise DeadlinePassed
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


class HttpClients:
    """Pooled ``httpx`` clients (one sync, one async), each request bounded by an overall deadline and a size.

    The sync side bounds every socket operation by the time left (:mod:`._deadline`), so a server that trickles
    bytes cannot hold the caller past the deadline; a transport of another kind (``transport=``, e.g. an
    ``httpx.MockTransport``) cannot be bounded that way and is run in a worker thread the caller stops waiting
    for at the deadline. The async side cancels the exchange at the deadline (``asyncio.timeout``).

    :param headers: headers every request carries (``Authorization`` among them).
    :param base_url: the API root.
    :param timeout: the overall deadline of one request, in seconds.
    :param proxy: an optional proxy URL.
    :param transport: an ``httpx`` transport for the sync client (tests, custom TLS).
    :param async_transport: an ``httpx`` transport for the async client.
    :param secrets: texts masked in every answer (the API key), whatever the encoding.
    :param max_body_bytes: largest answer read.
    :param max_connections: connections each client opens at most and keeps alive between requests (``None``:
        httpx's 100 open, 20 kept alive).
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
        max_connections: int | None = None,
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
        if max_connections is not None:
            self._client_kwargs["limits"] = httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            )
        self._transport = transport
        self._async_transport = async_transport
        self.redactor = Redactor(secrets)
        redact_library_logs(self.redactor)
        self._max_body_bytes = max_body_bytes
        self._client: httpx.Client | None = None
        self._sockets_bounded = False
        self._aclient: httpx.AsyncClient | None = None
        self._threads: concurrent.futures.ThreadPoolExecutor | None = None

    @property
    def client(self) -> httpx.Client:
        """The pooled sync client (created on first use)."""
        if self._client is None:
            self._client = httpx.Client(transport=self._transport, **self._client_kwargs)
            self._sockets_bounded = bound_sockets(self._client)
            # An owner that never calls close() (a task's hook): its pooled connections close when it is collected.
            weakref.finalize(self, self._client.close)
        return self._client

    @property
    def aclient(self) -> httpx.AsyncClient:
        """The pooled async client (created on first use, bound to the running event loop)."""
        if self._aclient is None:
            self._aclient = httpx.AsyncClient(transport=self._async_transport, **self._client_kwargs)
        return self._aclient

    def send(self, request: ApiRequest, conn_id: str) -> ApiAnswer:
        """Send with the sync client; the caller waits at most ``timeout`` seconds in all.

        :param request: what to send.
        :param conn_id: the Airflow connection, for messages.
        :raises TelnyxConnectionError: no complete answer (transport failure, or the deadline passed).
        :raises TelnyxInvalidResponseError: the answer broke a limit or could not be decoded.
        """
        deadline = time.monotonic() + self.timeout
        client = self.client
        with self._mapped(request, conn_id):
            if self._sockets_bounded:
                with socket_deadline(deadline):
                    return self._exchange(client, request, deadline)
            return self._in_thread(client, request, deadline)

    def _in_thread(self, client: httpx.Client, request: ApiRequest, deadline: float) -> ApiAnswer:
        """Run the exchange in a worker thread and stop waiting for it at the deadline (an unbounded transport)."""
        if self._threads is None:
            self._threads = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="telnyx-http")
        future = self._threads.submit(self._exchange, client, request, deadline)
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()) + 0.05)
        except concurrent.futures.TimeoutError:
            # The stuck exchange keeps a connection: drop the client (closing its pool) and start afresh.
            stuck, self._client = self._client, None
            if stuck is not None:
                self._threads.submit(stuck.close)
            raise DeadlinePassed from None

    def _exchange(self, client: httpx.Client, request: ApiRequest, deadline: float) -> ApiAnswer:
        started = time.monotonic()
        response = client.send(self._build(client, request), stream=True)
        try:
            reader = self._reader(response, deadline)
            for chunk in [response.content] if response.is_stream_consumed else response.iter_raw():
                reader.feed(chunk)
            return self._answer(response, reader.finish(), started)
        finally:
            response.close()

    async def asend(self, request: ApiRequest, conn_id: str) -> ApiAnswer:
        """Send with the async client; at most ``timeout`` seconds in all.

        :param request: what to send.
        :param conn_id: the Airflow connection, for messages.
        :raises TelnyxConnectionError: no complete answer (transport failure, or the deadline passed).
        :raises TelnyxInvalidResponseError: the answer broke a limit or could not be decoded.
        """
        deadline = time.monotonic() + self.timeout
        with self._mapped(request, conn_id):
            try:
                async with async_timeout(self.timeout):
                    return await self._aexchange(self.aclient, request, deadline)
            except TimeoutError:
                raise DeadlinePassed from None

    async def _aexchange(self, client: httpx.AsyncClient, request: ApiRequest, deadline: float) -> ApiAnswer:
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
        encoding = (
            "" if response.is_stream_consumed else self.redactor.text(response.headers.get("content-encoding", ""))
        )
        return _BodyReader(encoding, limit=self._max_body_bytes, deadline=deadline, clock=time.monotonic)

    def _answer(self, response: httpx.Response, body: bytes, started: float) -> ApiAnswer:
        latency = time.monotonic() - started
        redact = self.redactor
        return ApiAnswer(
            response.status_code,
            redact.text(response.reason_phrase),
            redact.headers(response.headers),
            redact.bytes(body),
            latency,
            redact,
        )

    @contextmanager
    def _mapped(self, request: ApiRequest, conn_id: str) -> Iterator[None]:
        """Turn every way of not getting a usable answer into one of our errors (sync and async alike)."""
        url = f"{self.base_url}{request.path}"
        described = f"Telnyx API {request.method} {request.path}"
        try:
            yield
        except DeadlinePassed:
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
            detail = self.redactor.text(str(error) or reason)[:_MAX_DETAIL_CHARS]
            raise TelnyxConnectionError(
                f"{described} failed: {reason}: {detail} ({url})",
                request_sent=not not_sent,
                method=request.method,
                path=request.path,
                conn_id=conn_id,
            ) from None

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
