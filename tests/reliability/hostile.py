"""A hostile HTTP server on loopback: it answers every request with whatever its current behaviour writes, at the
byte level (dripping, lying headers, broken compression, endless pages, echoed secrets, silence).

Not our simulator: it shares none of our assumptions about what an answer looks like.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

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
    received: list[Received] = field(default_factory=list)
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


def event(event_id: str = "evt-1", **fields: Any) -> dict[str, Any]:
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
    started = time.monotonic()
    try:
        action()
    except BaseException as error:
        return time.monotonic() - started, error
    return time.monotonic() - started, None
