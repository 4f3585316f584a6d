"""Hostile review of the sync client's socket-level deadline (hooks/_deadline.py)."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from typing import Any

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
    """A host that resolves to several addresses, none answering, fails within the overall deadline, not after
    one connect timeout per address (socket.create_connection gives each address the whole wait)."""
    real = socket.getaddrinfo

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == HOST:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", blackhole))] * ADDRESSES
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    timeout = 0.4
    clients = HttpClients(headers={}, base_url=f"http://{HOST}:{blackhole}", timeout=timeout)
    started = time.monotonic()
    try:
        with pytest.raises(TelnyxConnectionError):
            clients.send(ApiRequest("GET", "/ai/assistants/a/scheduled_events/e"), "telnyx_default")
        elapsed = time.monotonic() - started
    finally:
        clients.close()
    assert elapsed < 2 * timeout, (
        f"{ADDRESSES} unreachable addresses held the caller {elapsed:.2f}s (deadline {timeout}s)"
    )
