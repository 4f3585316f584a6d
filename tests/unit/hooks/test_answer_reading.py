"""Reading an answer's body: compressed or not, within the size limit and the deadline, large ones off the event loop.

The answers are streamed through an ``httpx.MockTransport`` (``stream=``, so httpx leaves the body undecoded, as a
socket would), which takes the hook's own reader; the limits' exact edges and the deadline are checked on the reader
itself with an injected clock.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import zlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from airflow_provider_telnyx.exceptions import TelnyxConnectionError, TelnyxInvalidResponseError
from airflow_provider_telnyx.hooks import _errors
from airflow_provider_telnyx.hooks._deadline import DeadlinePassed
from airflow_provider_telnyx.hooks._http import MAX_BODY_BYTES, _BodyReader, _Unreadable
from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
from tests.unit.mock_api import MockApi, event_json, run

MODES = ["sync", "async"]
ASSISTANT = "assistant-1"
PATH = f"GET /ai/assistants/{ASSISTANT}/scheduled_events/evt-1"
CONN = "[connection 'telnyx_default']"
EVENT = json.dumps(event_json()).encode()
MIB = 1024 * 1024


def streamed(body: bytes, **headers: str) -> Callable[[httpx.Request], httpx.Response]:
    """A 200 whose body reaches the client as raw bytes (``Content-Encoding`` not applied by httpx)."""
    named = {name.replace("_", "-"): value for name, value in headers.items()}
    return lambda request: httpx.Response(200, headers=named, stream=httpx.ByteStream(body))


def gzipped(size: int) -> bytes:
    """``size`` zero bytes, gzipped (a few KB per 10 MB), compressed a megabyte at a time."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [packer.compress(bytes(MIB)) for _ in range(size // MIB)]
    return b"".join([*parts, packer.compress(bytes(size % MIB)), packer.flush()])


def identity(body: bytes) -> bytes:
    return body


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("GZip", gzip.compress),
        ("deflate", zlib.compress),
        ("identity", identity),
        ("", identity),
    ],
)
def test_every_encoding_the_client_asks_for_is_read(
    mode: str, encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    api = MockApi().script(streamed(compress(EVENT), content_encoding=encoding, content_type="application/json"))
    event = run(api.hook(), mode, "get_scheduled_event", ASSISTANT, "evt-1")
    assert event.event_id == "evt-1"
    assert event.telnyx_end_user_target == "+13125550100"
    assert api.requests[0].headers["accept-encoding"] == "gzip, deflate"  # what was asked for is what is read


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("encoding", "shown"), [("br", "'br'"), ("zstd", "'zstd'"), ("x" * 100, repr("x" * 32))])
def test_an_encoding_the_client_cannot_read_fails_naming_it(mode: str, encoding: str, shown: str) -> None:
    api = MockApi().script(streamed(b"\x0b\x02\x80{}\x03", content_encoding=encoding))
    with pytest.raises(TelnyxInvalidResponseError) as caught:
        run(api.hook(max_retries=3), mode, "get_scheduled_event", ASSISTANT, "evt-1")
    assert (
        str(caught.value)
        == f"Telnyx API {PATH} answered with a body in an encoding this client does not read ({shown}) {CONN}"
    )
    assert len(api.requests) == 1  # no retry makes the server speak another encoding


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", b"\x1f\x8bnot gzip at all"),
        ("deflate", b"not deflate"),
        ("gzip", gzip.compress(EVENT, mtime=0)[:10] + b"\xff" * 8),
    ],
)
def test_corrupt_compression_is_a_clear_error(mode: str, encoding: str, body: bytes) -> None:
    api = MockApi().script(streamed(body, content_encoding=encoding))
    with pytest.raises(TelnyxInvalidResponseError) as caught:
        run(api.hook(max_retries=3), mode, "get_scheduled_event", ASSISTANT, "evt-1")
    assert str(caught.value) == f"Telnyx API {PATH} answered with a body whose compression is corrupt {CONN}"
    assert caught.value.method == "GET"
    assert len(api.requests) == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_body_past_the_size_limit_is_refused(mode: str) -> None:
    api = MockApi().script(streamed(b" " * (MAX_BODY_BYTES + 1) + EVENT, content_type="application/json"))
    with pytest.raises(TelnyxInvalidResponseError) as caught:
        run(api.hook(max_retries=0), mode, "get_scheduled_event", ASSISTANT, "evt-1")
    assert str(caught.value) == f"Telnyx API {PATH} answered with a body larger than 10 MB {CONN}"


@pytest.mark.parametrize("mode", MODES)
def test_a_compression_bomb_is_refused_once_decompressed_past_the_limit(mode: str) -> None:
    bomb = gzipped(MAX_BODY_BYTES + MIB)
    assert len(bomb) < MIB // 10  # small on the wire: only the decompressed size can refuse it
    api = MockApi().script(streamed(bomb, content_encoding="gzip", content_type="application/json"))
    with pytest.raises(TelnyxInvalidResponseError) as caught:
        run(api.hook(max_retries=0), mode, "get_scheduled_event", ASSISTANT, "evt-1")
    assert str(caught.value) == f"Telnyx API {PATH} answered with a body larger than 10 MB once decompressed {CONN}"


# -- the reader's edges, on an injected clock -------------------------------------------------------------------


def reader(encoding: str = "", *, clock: Callable[[], float] = lambda: 0.0, deadline: float = 10.0) -> _BodyReader:
    return _BodyReader(encoding, limit=MIB, deadline=deadline, clock=clock)


def read_in(encoding: str, data: bytes, chunk: int) -> bytes:
    """Feed ``data`` to a 1 MB reader ``chunk`` bytes at a time, then finish."""
    whole = reader(encoding)
    for start in range(0, len(data), chunk):
        whole.feed(data[start : start + chunk])
    return whole.finish()


@pytest.mark.parametrize("chunk", [MIB + 1, 64 * 1024, 7])  # however the bytes arrive
def test_the_size_limit_is_exact(chunk: int) -> None:
    assert read_in("", b"a" * MIB, chunk) == b"a" * MIB  # exactly the limit: read
    with pytest.raises(_Unreadable, match=r"^larger than 1 MB$"):
        read_in("", b"a" * (MIB + 1), chunk)  # one byte more: refused


@pytest.mark.parametrize("chunk", [MIB, 1024, 7])  # however the compressed bytes arrive
def test_the_decompressed_size_limit_is_exact(chunk: int) -> None:
    assert read_in("gzip", gzipped(MIB), chunk) == bytes(MIB)
    with pytest.raises(_Unreadable, match=r"^larger than 1 MB"):
        read_in("gzip", gzipped(MIB + 1), chunk)


def test_the_deadline_stops_the_reading_between_chunks() -> None:
    now = [0.0]
    slow = reader(clock=lambda: now[0], deadline=10.0)
    slow.feed(b"{")
    now[0] = 10.0  # at the deadline: still read
    slow.feed(b'"a"')
    now[0] = 10.001  # past it: the next chunk is not read
    with pytest.raises(DeadlinePassed):
        slow.feed(b": 1}")
    assert slow.finish() == b'{"a"'


def test_the_deadline_applies_to_compressed_chunks_too() -> None:
    now = [0.0]
    data = gzip.compress(EVENT)
    slow = reader("gzip", clock=lambda: now[0], deadline=5.0)
    slow.feed(data[:10])
    now[0] = 6.0
    with pytest.raises(DeadlinePassed):
        slow.feed(data[10:])


# -- the async deadline, closing, and large answers off the loop ---------------------------------------------------


def test_an_async_answer_that_never_comes_is_cut_at_the_deadline() -> None:
    asked: list[httpx.Request] = []

    async def never(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        await asyncio.Event().wait()  # the server holds the request forever
        raise AssertionError("unreachable")

    hook = TelnyxHook(timeout=0.05, max_retries=0, async_transport=httpx.MockTransport(never))

    async def get() -> None:
        try:
            await hook.aget_scheduled_event(ASSISTANT, "evt-1")
        finally:
            await hook.aclose()

    with pytest.raises(TelnyxConnectionError) as caught:
        asyncio.run(get())
    assert str(caught.value) == (
        f"Telnyx API {PATH} failed: DeadlineExceeded: no complete answer within 0.05s "
        f"(https://telnyx.test/v2/ai/assistants/{ASSISTANT}/scheduled_events/evt-1) {CONN}"
    )
    assert caught.value.request_sent  # the server had it: a retry of a create needs an idempotency key
    assert caught.value.retryable
    assert len(asked) == 1


def test_close_twice_then_use_again() -> None:
    api = MockApi().script(httpx.Response(200, json=event_json()))
    hook = api.hook()
    hook.get_scheduled_event(ASSISTANT, "evt-1")
    first = hook.get_client()
    hook.close()
    assert first.is_closed
    hook.close()  # nothing left open: a second close does nothing
    assert hook.get_scheduled_event(ASSISTANT, "evt-1").event_id == "evt-1"  # a fresh pool
    assert hook.get_client() is not first
    hook.close()
    assert len(api.requests) == 2


def test_a_large_answer_is_decoded_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded_in: list[int] = []
    decode = _errors.decode

    def spy(*args: Any, **kwargs: Any) -> Any:
        decoded_in.append(threading.get_ident())
        return decode(*args, **kwargs)

    monkeypatch.setattr(_errors, "decode", spy)
    large = event_json(notes="x" * _errors._THREADED_JSON_BYTES)  # a newer API's large field, kept out of the way
    api = MockApi().script(httpx.Response(200, json=large), httpx.Response(200, json=event_json()))

    async def both() -> tuple[int, list[str]]:
        hook = api.hook()
        try:
            got = [(await hook.aget_scheduled_event(ASSISTANT, "evt-1")).event_id for _ in range(2)]
        finally:
            await hook.aclose()
        return threading.get_ident(), got

    loop_thread, got = asyncio.run(both())
    assert got == ["evt-1", "evt-1"]
    assert decoded_in[0] != loop_thread  # the large answer: in a worker thread
    assert decoded_in[1] == loop_thread  # a small one: on the loop, no thread hop
