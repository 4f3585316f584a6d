"""The sync client's overall deadline, enforced at every socket operation (hooks/_deadline.py)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_telnyx.exceptions import TelnyxConnectionError
from airflow_provider_telnyx.hooks._deadline import DeadlinePassed, bound_sockets, socket_deadline
from airflow_provider_telnyx.hooks._http import ApiRequest, HttpClients


class _Dripper:
    """A loopback server that accepts, then sends one byte of a status line every ``every`` seconds, forever."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.stop = threading.Event()
        self.accepted = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _serve(self) -> None:
        self.listener.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            with conn:
                try:
                    while not self.stop.wait(self.every):
                        conn.sendall(b"H")
                except OSError:
                    pass


@pytest.fixture
def dripper() -> Iterator[_Dripper]:
    server = _Dripper(every=0.02)
    server.thread.start()
    yield server
    server.stop.set()
    server.thread.join(timeout=30)
    server.listener.close()


def test_a_default_client_and_a_proxy_mount_are_bounded() -> None:
    with httpx.Client() as direct, httpx.Client(proxy="http://127.0.0.1:9") as proxied:
        assert bound_sockets(direct)
        assert bound_sockets(proxied)
        assert bound_sockets(direct)  # idempotent: the backend is wrapped once


def test_a_transport_of_another_kind_is_left_alone() -> None:
    with httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200))) as client:
        assert not bound_sockets(client)


def test_a_trickling_server_is_cut_at_the_deadline_not_at_the_read_timeout(dripper: _Dripper) -> None:
    """Each byte comes well inside the 60 s read timeout: only the overall deadline can end the exchange."""
    with httpx.Client(timeout=60) as client:
        assert bound_sockets(client)
        with pytest.raises(DeadlinePassed), socket_deadline(time.monotonic() + 0.3):
            client.get(f"{dripper.url}/x")


def test_without_a_deadline_the_read_timeout_still_applies(dripper: _Dripper) -> None:
    dripper.every = 3600.0  # silent after accepting
    with httpx.Client(timeout=0.2) as client:
        assert bound_sockets(client)
        with pytest.raises(httpx.ReadTimeout):
            client.get(f"{dripper.url}/x")


def test_a_deadline_already_passed_opens_no_connection(dripper: _Dripper) -> None:
    with httpx.Client(timeout=60) as client:
        assert bound_sockets(client)
        with pytest.raises(DeadlinePassed), socket_deadline(time.monotonic() - 1):
            client.get(f"{dripper.url}/x")
    assert dripper.accepted == 0


def test_the_deadline_belongs_to_the_thread_that_set_it(dripper: _Dripper) -> None:
    """A deadline set on one thread does not cut another thread's request short."""
    dripper.every = 3600.0
    outcome: list[BaseException] = []
    with httpx.Client(timeout=0.3) as client:
        assert bound_sockets(client)

        def other() -> None:
            try:
                client.get(f"{dripper.url}/x")
            except BaseException as error:  # the outcome is what the test looks at
                outcome.append(error)

        with socket_deadline(time.monotonic() - 1):
            worker = threading.Thread(target=other)
            worker.start()
            worker.join(timeout=60)
    assert [type(error) for error in outcome] == [httpx.ReadTimeout]


def test_hook_transport_reports_the_deadline_in_the_api_error_and_keeps_working(dripper: _Dripper) -> None:
    clients = HttpClients(headers={}, base_url=dripper.url, timeout=0.3)
    request = ApiRequest("GET", "/ai/assistants/a/scheduled_events/e")
    with pytest.raises(TelnyxConnectionError, match=r"DeadlineExceeded: no complete answer within 0.3s"):
        clients.send(request, "telnyx_default")
    assert clients._sockets_bounded  # the hook's own client took the thread-free path
    with pytest.raises(TelnyxConnectionError, match="DeadlineExceeded"):
        clients.send(request, "telnyx_default")  # the pool dropped the cut connection and opened a new one
    assert dripper.accepted == 2
    clients.close()
