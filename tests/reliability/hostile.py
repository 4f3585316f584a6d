"""A hostile HTTP server on loopback: it answers every request with whatever its current behaviour writes, at the
byte level (dripping, lying headers, broken compression, endless pages, echoed secrets, silence).

Not our simulator: it shares none of our assumptions about what an answer looks like.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import logging
import math
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

Behaviour = Callable[["Received", asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Received:
    """One request as the hostile server read it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    number: int

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class HostileServer:
    behaviour: Behaviour | None = None
    received: list[Received] = field(default_factory=list, repr=False)
    base_url: str = ""
    _counter: Iterator[int] = field(default_factory=itertools.count)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    return
                method, target, _ = request_line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = line.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                path, _, query = target.partition("?")
                received = Received(method, path, query, headers, body, next(self._counter))
                self.received.append(received)
                assert self.behaviour is not None
                await self.behaviour(received, writer)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        finally:
            writer.close()


@contextmanager
def hostile_server() -> Iterator[HostileServer]:
    """Serve on a free loopback port in a background thread until the block ends."""
    server = HostileServer()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def start() -> None:
        holder["server"] = await asyncio.start_server(server._handle, "127.0.0.1", 0)
        server.base_url = f"http://127.0.0.1:{holder['server'].sockets[0].getsockname()[1]}/v2"
        ready.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, name="hostile-server", daemon=True)
    thread.start()
    assert ready.wait(10), "the hostile server did not start"
    try:
        yield server
    finally:

        async def stop() -> None:
            holder["server"].close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def answer(
    status: int,
    body: bytes | str | dict[str, Any] | list[Any] = b"",
    headers: dict[str, str] | None = None,
    reason: str = "",
) -> Behaviour:
    """A behaviour that writes one complete answer."""
    if isinstance(body, dict | list):
        payload = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", **(headers or {})}
    else:
        payload = body.encode() if isinstance(body, str) else body

    async def write(received: Received, writer: asyncio.StreamWriter) -> None:
        writer.write(raw(status, payload, headers, reason))

    return write


def raw(status: int, payload: bytes, headers: dict[str, str] | None = None, reason: str = "") -> bytes:
    lines = [f"HTTP/1.1 {status} {reason or 'X'}", f"Content-Length: {len(payload)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


def event(event_id: str | None = "evt-1", **fields: Any) -> dict[str, Any]:
    return {
        "assistant_id": "assistant-hostile",
        "scheduled_event_id": event_id,
        "telnyx_conversation_channel": "phone_call",
        "telnyx_end_user_target": "+13125550100",
        "telnyx_agent_target": "+13125550199",
        "scheduled_at_fixed_datetime": "2030-01-01T10:00:00Z",
        "status": "pending",
        **fields,
    }


def drip(head: bytes, body: bytes, every: float) -> Behaviour:
    """Send ``head`` one byte at a time, then ``body`` one byte at a time, every ``every`` seconds."""

    async def write(received: Received, writer: asyncio.StreamWriter) -> None:
        for byte in head + body:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(every)

    return write


def huge(size: int) -> Behaviour:
    """A 200 whose body is ``size`` bytes of zeros, written as fast as the client reads."""

    async def write(received: Received, writer: asyncio.StreamWriter) -> None:
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nContent-Type: application/json\r\n\r\n".encode())
        chunk = b"0" * (1024 * 1024)
        for _ in range(size // len(chunk)):
            writer.write(chunk)
            await writer.drain()

    return write


def silence() -> Behaviour:
    """Never answer."""

    async def write(received: Received, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)

    return write


def gzip_bomb(decompressed: int) -> bytes:
    return gzip.compress(b"0" * decompressed, compresslevel=9)


def timed(action: Callable[[], Any]) -> tuple[float, BaseException | None]:
    """Run ``action``; return the real seconds it took (a figure for docs/reliability.md, never a pass mark: the
    tests assert counts, and at most a generous safety bound where real time is the behaviour) and what it raised.
    """
    started = time.monotonic()
    try:
        action()
    except BaseException as error:
        return time.monotonic() - started, error
    return time.monotonic() - started, None


# -- scripted answers on a fake clock, and where the key may show up (tests/reliability/test_generative.py) --------


@dataclass
class FakeClock:
    """A wall clock that moves only when the code under test waits: the injected sleeps advance it.

    The hostile server reads the same clock, so "throttled for the first 1.5 s" means 1.5 s of the waits the
    client chose, whatever the machine's speed, and nothing waits for real.

    :param now: epoch seconds.
    :param sleeps: every wait asked for, in order (whatever its value: the tests check them).
    """

    now: float = field(default_factory=time.time)
    sleeps: list[float] = field(default_factory=list)

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if isinstance(seconds, int | float) and math.isfinite(seconds) and seconds > 0:
            self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)


@dataclass(frozen=True, repr=False)
class Reply:
    """One answer written byte for byte: any status, reason phrase, repeated or odd headers, any body.

    ``Content-Length`` is always right, so a connection stays usable (no real time is spent on a lying length).
    """

    status: int
    reason: bytes = b"X"
    headers: tuple[tuple[str, bytes], ...] = ()
    body: bytes = b""

    def __repr__(self) -> str:
        body = (
            self.body
            if len(self.body) <= 300
            else self.body[:150] + b"...(%d bytes)..." % len(self.body) + self.body[-150:]
        )
        return f"Reply({self.status}, {self.reason!r}, {self.headers!r}, {body!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # how hypothesis shows a falsifying example
        printer.text(repr(self))

    def encode(self) -> bytes:
        head = b"HTTP/1.1 %d %s\r\nContent-Length: %d\r\n" % (self.status, self.reason, len(self.body))
        head += b"".join(name.encode() + b": " + value + b"\r\n" for name, value in self.headers)
        return head + b"\r\n" + self.body


class Script:
    """A behaviour answering the n-th request with the n-th reply (the last one repeats), counting requests."""

    def __init__(self, replies: list[Reply] | tuple[Reply, ...]) -> None:
        assert replies
        self.replies = tuple(replies)
        self.requests = 0

    async def __call__(self, received: Received, writer: asyncio.StreamWriter) -> None:
        reply = self.replies[min(self.requests, len(self.replies) - 1)]
        self.requests += 1
        writer.write(reply.encode())


class ThrottledUntil:
    """A behaviour answering ``throttled`` until ``clock`` reaches ``until``, then ``then``; counts requests."""

    def __init__(self, clock: FakeClock, until: float, throttled: Reply, then: Reply) -> None:
        self.clock, self.until, self.throttled, self.then = clock, until, throttled, then
        self.requests = 0
        self.throttled_answers = 0

    async def __call__(self, received: Received, writer: asyncio.StreamWriter) -> None:
        self.requests += 1
        if self.clock.now < self.until:
            self.throttled_answers += 1
            writer.write(self.throttled.encode())
        else:
            writer.write(self.then.encode())


#: Any run of this many consecutive characters of the key counts as the key: more than half of a long key is a leak
#: (a server text cut at 32 or 64 characters may keep most of it), and never shows up by coincidence.
KEY_WINDOW = 24

#: A JSON ``\\uXXXX`` escape, or one escaped again by a ``repr`` (``\\\\uXXXX``): a reader decodes either.
_U_ESCAPE = re.compile(r"\\+u([0-9a-fA-F]{4})")
_SOLIDUS = re.compile(r"\\+/")


def _json_unescaped(text: str) -> str:
    return _SOLIDUS.sub("/", _U_ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), text))


def revealed(text: str, key: str) -> str | None:
    """Where ``text`` shows ``key``, or :data:`KEY_WINDOW` consecutive characters of it, in one of its own
    spellings: raw, JSON-escaped (``\\uXXXX`` escapes of any of its characters, ``\\/``, also as a ``repr``
    shows them), URL-encoded, in any letter case (a lowercased key is the key); ``None`` when it does not. Use a
    long distinctive key: it never shows up by coincidence.

    :return: an excerpt around it (of the decoded text it was found in), for a failure message.
    """
    key = key.lower()
    windows = {key[i : i + KEY_WINDOW] for i in range(max(len(key) - KEY_WINDOW, 0) + 1)}
    for view in dict.fromkeys((text, unquote(text), _json_unescaped(text), unquote(_json_unescaped(text)))):
        lowered = view.lower()
        for window in windows:
            at = lowered.find(window)
            if at >= 0:
                return repr(view[max(at - 160, 0) : at + len(key) + 80])
    return None


class LogTap:
    """Every log line while active, at DEBUG, from stdlib logging and from structlog (Airflow's task loggers), with
    the tracebacks and every bound value, as text; before any masking, so what the code wrote is what is read.

    structlog's processors are swapped in place (bound loggers keep a reference to the list), the level filter is
    DEBUG and loggers are not cached; all is restored on exit. Hooks, triggers and operators made while the tap is
    active log through it.
    """

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []  # (logger name, the line)
        self._handler = _ListHandler(self.lines)

    def __enter__(self) -> LogTap:
        import structlog

        self._saved = structlog.get_config()
        self._processors = self._saved["processors"]
        self._saved_processors = list(self._processors)
        self._processors[:] = [
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.format_exc_info,
            self._capture,
        ]
        structlog.configure(
            processors=self._processors,
            wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
            cache_logger_on_first_use=False,
        )
        root = logging.getLogger()
        self._root_level = root.level
        root.setLevel(logging.DEBUG)
        root.addHandler(self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        import structlog

        root = logging.getLogger()
        root.removeHandler(self._handler)
        root.setLevel(self._root_level)
        self._processors[:] = self._saved_processors
        structlog.configure(
            processors=self._processors,
            wrapper_class=self._saved["wrapper_class"],
            cache_logger_on_first_use=self._saved["cache_logger_on_first_use"],
        )

    def _capture(self, logger: Any, method: str, event: dict[str, Any]) -> Any:
        import structlog

        name = str(event.get("logger_name") or getattr(logger, "name", None) or "structlog")
        line = f"{method} {name} " + " ".join(f"{key}={value!s} {value!r}" for key, value in event.items())
        self.lines.append((name, line))
        raise structlog.DropEvent

    def text(self, loggers: Callable[[str], bool] = lambda name: True) -> str:
        """The lines of the loggers ``loggers`` accepts (by name), one per line."""
        return "\n".join(line for name, line in self.lines if loggers(name))


class _ListHandler(logging.Handler):
    def __init__(self, lines: list[tuple[str, str]]) -> None:
        super().__init__(logging.DEBUG)
        self.lines = lines
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append((record.name, self.format(record)))
        except Exception as error:  # a record that cannot be formatted is itself worth reading
            self.lines.append((record.name, f"unformattable record {record.msg!r} {record.args!r}: {error!r}"))
