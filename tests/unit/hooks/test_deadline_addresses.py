"""The socket-level deadline against a host whose addresses do not answer (hooks/_deadline.py)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_telnyx.exceptions import TelnyxConnectionError
from airflow_provider_telnyx.hooks._http import ApiRequest, HttpClients

HOST = "api.telnyx.invalid"
ADDRESSES = 4


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A loopback port whose accept queue is full and never drained: a connect to it hangs (SYNs are dropped), as
    to a firewalled address."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port: int = listener.getsockname()[1]
    fill = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        with contextlib.suppress(BlockingIOError):  # the handshake completes in the kernel, never accepted
            s.connect(("127.0.0.1", port))
        fill.append(s)
    yield port
    for s in fill:
        s.close()
    listener.close()


def test_a_host_with_several_unreachable_addresses_is_bounded_by_the_deadline(
    blackhole: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host that resolves to several addresses, none answering, fails at the overall deadline: the first address
    is tried with the time left (the whole deadline, under a 60 s connect timeout), and no other is tried after it
    (one ``socket.create_connection`` would give every address the whole connect timeout)."""
    real = socket.getaddrinfo
    connects: list[Any] = []
    real_connect = socket.create_connection

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == HOST:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (f"127.0.0.{n}", blackhole)) for n in (1, 2, 3, 4)]
        return real(host, port, *args, **kwargs)

    def connect(address: Any, *args: Any, **kwargs: Any) -> Any:
        connects.append(address)
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(socket, "create_connection", connect)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    clients = HttpClients(headers={}, base_url=f"http://{HOST}:{blackhole}", timeout=0.4)
    clients._client_kwargs["timeout"] = httpx.Timeout(0.4, connect=60)  # only the overall deadline can end it
    try:
        with pytest.raises(TelnyxConnectionError, match="DeadlineExceeded"):
            clients.send(ApiRequest("GET", "/ai/assistants/a/scheduled_events/e"), "telnyx_default")
    finally:
        clients.close()
    assert connects == [("127.0.0.1", blackhole)]
