"""An overall deadline enforced at every socket operation of the sync client, without a thread per request.

``httpx`` bounds each read, write and connect by its own timeout, never a whole exchange: a server that sends one
byte of its headers or body just inside every read timeout holds the caller for as long as it likes. The sync side
of :class:`~._http.HttpClients` used to hand each exchange to a worker thread and stop waiting at the deadline,
which bounded the caller but cost a thread hop on every request (a third of the per-request time against a fast
server, benchmark B4).

Here the bound moves into the sockets: :func:`bound_sockets` wraps the network backend of every ``httpcore`` pool
of a client's own ``httpx.HTTPTransport`` (the direct one and any proxy mount) so that each socket operation waits
at most the time left before the deadline the calling thread set with :func:`socket_deadline`; past it the
operation raises :class:`DeadlinePassed`. Reads, writes, connects (each address a host resolves to, in turn, with the
time left) and TLS handshakes are all bounded. The only wait outside any socket is the resolver (``getaddrinfo``),
which the operating system bounds on its own.

Transports of another shape (an ``httpx.MockTransport`` in tests, a custom transport a user passes) cannot be
bounded this way; :func:`bound_sockets` answers ``False`` for them and the caller keeps the worker thread.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

__all__ = ["DeadlinePassed", "bound_sockets", "socket_deadline"]

_current = threading.local()


class DeadlinePassed(Exception):
    """The overall deadline of the request the calling thread is sending passed during a socket operation."""


@contextmanager
def socket_deadline(deadline: float) -> Iterator[None]:
    """Bound every socket operation of bounded clients on this thread by ``deadline`` (a ``time.monotonic()``).

    :param deadline: the monotonic time after which no socket operation may wait.
    """
    _current.deadline = deadline
    try:
        yield
    finally:
        _current.deadline = None


def _left(timeout: float | None) -> tuple[float | None, bool]:
    """The wait allowed for one socket operation, and whether the deadline (not ``timeout``) is what bounds it."""
    deadline: float | None = getattr(_current, "deadline", None)
    if deadline is None:
        return timeout, False
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlinePassed
    if timeout is None or left < timeout:
        return left, True
    return timeout, False


@contextmanager
def _waiting(timeout: float | None) -> Iterator[float | None]:
    """The wait one socket operation may take; its timeout, when the deadline is what bounded it, is
    :class:`DeadlinePassed`."""
    wait, by_deadline = _left(timeout)
    try:
        yield wait
    except httpcore.TimeoutException:
        if by_deadline:
            raise DeadlinePassed from None
        raise


class _BoundedStream(httpcore.NetworkStream):
    """A network stream whose every wait ends at the calling thread's deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _waiting(timeout) as wait:
            return self._stream.read(max_bytes, wait)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        with _waiting(timeout) as wait:
            self._stream.write(buffer, wait)

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        with _waiting(timeout) as wait:
            return _BoundedStream(self._stream.start_tls(ssl_context, server_hostname, wait))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _BoundedBackend(httpcore.NetworkBackend):
    """A network backend whose connections wait at most until the calling thread's deadline."""

    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        """Connect to each address ``host`` resolves to in turn, each attempt waiting at most the time left (one
        ``socket.create_connection`` would give every address the whole wait)."""
        _left(timeout)  # a deadline already passed opens nothing, not even a lookup
        try:
            resolved = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            addresses = list(dict.fromkeys(str(info[4][0]) for info in resolved))
        except OSError as error:
            raise httpcore.ConnectError(str(error)) from error
        failure: Exception = httpcore.ConnectError(f"{host} resolves to no address")
        for address in addresses:
            try:
                with _waiting(timeout) as wait:
                    return _BoundedStream(self._backend.connect_tcp(address, port, wait, local_address, socket_options))
            except (httpcore.TimeoutException, httpcore.ConnectError) as error:
                failure = error  # this address did not answer in time (or refused): the next one
        raise failure

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        with _waiting(timeout) as wait:
            return _BoundedStream(self._backend.connect_unix_socket(path, wait, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def bound_sockets(client: httpx.Client) -> bool:
    """Bound the sockets of every transport of ``client`` by :func:`socket_deadline`, if all are ``httpx``'s own.

    Called once, right after the client is built and before any connection exists. Reads ``httpx`` and ``httpcore``
    attributes that are not public (``Client._transport``, ``Client._mounts``, ``HTTPTransport._pool``,
    ``ConnectionPool._network_backend``); when any is missing or of another type, nothing is changed and the
    answer is ``False``, so a future ``httpx`` can only cost speed, never the deadline.

    :param client: a freshly built sync client.
    :returns: whether every transport the client may use is now bounded.
    """
    direct = getattr(client, "_transport", None)
    mounts = getattr(client, "_mounts", None)
    if direct is None or not isinstance(mounts, dict):
        return False
    pools = []
    for transport in [direct, *mounts.values()]:
        if transport is None:
            continue  # a mount sending some hosts around a proxy, through the direct transport
        if type(transport) is not httpx.HTTPTransport:
            return False
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if not isinstance(pool, httpcore.ConnectionPool) or not isinstance(backend, httpcore.NetworkBackend):
            return False
        pools.append((pool, backend))
    for pool, backend in pools:
        if not isinstance(backend, _BoundedBackend):
            pool._network_backend = _BoundedBackend(backend)
    return True
