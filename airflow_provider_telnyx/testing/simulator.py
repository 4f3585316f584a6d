"""An embedded simulator of the Telnyx scheduled-events API, for demos, our tests and our users' tests.

Serves the four scheduled-events operations under ``/v2`` (so a connection with host
``http://127.0.0.1:8765/v2`` works unchanged), plus ``GET /v2/ai/assistants`` for ``test_connection``,
following ``shared/telnyx-api``: bare-object create/retrieve responses, the ``{data, meta}`` list envelope,
FastAPI-style 422s for schema violations, Telnyx-style ``{"errors": [...]}`` bodies for 400/401/404/409/429,
bearer auth and ``Idempotency-Key`` replay. Events follow the lifecycle engine in :mod:`.lifecycle`.

Fault injection (latency, a per-key rate limit, random 5xx, hangs, and "commit then lose the response" for
creates), a request journal and counters are available in-process (:class:`Simulator`) and over HTTP under
``/_sim`` for out-of-process use.

Run it with ``python -m airflow_provider_telnyx.testing.simulator --port 8765`` or ``telnyx-simulator``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import math
import random
import re
import signal
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from airflow_provider_telnyx.testing.lifecycle import OUTCOMES, Timeline, outcome_for, plan_timeline

__all__ = ["DEFAULT_API_KEY", "Exchange", "Faults", "JournalEntry", "Simulator", "main"]

log = logging.getLogger(__name__)

DEFAULT_API_KEY = "KEYsimulator_local_only"
NO_TELEPHONY_ASSISTANT = "assistant-no-telephony"
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
SIP_REGIONS = ("US", "Europe", "Canada", "Australia", "Middle East")
CHANNELS = ("phone_call", "sms_chat")


@dataclass
class Faults:
    """Faults the simulator injects. Every share is a probability in [0, 1], drawn from a seeded RNG.

    :param latency: seconds added before every API request is answered.
    :param rate_limit: requests per second allowed per API key (fixed one-second windows); ``None``: no limit.
    :param error_rate: share of API requests answered with one of ``error_statuses`` before they are processed.
    :param error_statuses: the statuses ``error_rate`` draws from (429 answers carry the rate-limit headers).
    :param timeout_rate: share of API requests that hang for ``hang_seconds`` (then answer 504).
    :param hang_seconds: how long a hanging request hangs.
    :param lose_create_rate: share of creates that are committed but whose response is lost: half answered
        502, half a dropped connection.
    :param lose_next_creates: lose the responses of the next N creates (after committing them), answering 502;
        counts down as it is used (deterministic, unlike ``lose_create_rate``).
    :param refuse_next_creates: answer the next N creates 503 before processing them (nothing is created);
        counts down as it is used (deterministic: a try that fails before any event exists).
    :param hold_creates: commit creates, then hold their responses until :meth:`Simulator.release_held`.
    :param failing_assistants: assistant ids whose requests are always answered 503 (a broken tenant).
    """

    latency: float = 0.0
    rate_limit: float | None = None
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 502, 503)
    timeout_rate: float = 0.0
    hang_seconds: float = 5.0
    lose_create_rate: float = 0.0
    lose_next_creates: int = 0
    refuse_next_creates: int = 0
    hold_creates: bool = False
    failing_assistants: tuple[str, ...] = ()


@dataclass(frozen=True)
class JournalEntry:
    """One request the simulator received.

    :param at: wall-clock time the request arrived.
    :param method: HTTP method.
    :param path: request path.
    :param route: ``create``, ``list``, ``get``, ``delete``, ``assistants`` or ``unknown``.
    :param status: status answered (0 for a dropped connection).
    :param fault: the injected fault, if any.
    :param idempotency_key: the ``Idempotency-Key`` header, if any.
    :param event_id: the event concerned, if any.
    """

    at: str
    method: str
    path: str
    route: str
    status: int
    fault: str | None = None
    idempotency_key: str | None = None
    event_id: str | None = None


@dataclass(frozen=True)
class Exchange:
    """A request and the response the simulator gave, kept when ``record_exchanges`` is on.

    :param method: HTTP method.
    :param path: request path.
    :param query: raw query string.
    :param request_content_type: request ``Content-Type``.
    :param request_body: request body.
    :param status: response status (0 for a dropped connection).
    :param response_headers: response headers.
    :param response_body: response body.
    """

    method: str
    path: str
    query: str
    request_content_type: str
    request_body: bytes
    status: int
    response_headers: dict[str, str]
    response_body: bytes


@dataclass
class _StoredEvent:
    event_id: str
    assistant_id: str
    body: dict[str, Any]
    created_at: datetime
    timeline: Timeline
    api_key: str


@dataclass
class _IdempotencyRecord:
    fingerprint: str
    status: int = 0
    body: Any = None
    in_flight: bool = True


class _Problem(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _telnyx_error(
    status: int,
    code: str,
    title: str,
    detail: str,
    pointer: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "title": title, "detail": detail}
    if pointer:
        error["source"] = {"pointer": pointer}
    return JSONResponse({"errors": [error]}, status_code=status, headers=dict(headers or {}))


def _validation_error(problems: list[tuple[list[str | int], str, str]]) -> JSONResponse:
    detail = [{"loc": loc, "msg": msg, "type": kind} for loc, msg, kind in problems]
    return JSONResponse({"detail": detail}, status_code=422)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


def _parse_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    # FastAPI/pydantic reads a naive date-time as UTC; so does the simulator.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class _DroppedConnection(Response):
    """Starts a response, then fails: the server closes the connection mid-response."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]})
        raise ConnectionAbortedError("simulated dropped connection")


class Simulator:
    """The simulated API, its state, its faults and its journal.

    :param api_keys: bearer tokens accepted (any other answers 401).
    :param time_scale: how much faster an event's clock runs after its dispatch (see :mod:`.lifecycle`).
    :param faults: faults injected from the start.
    :param seed: seed of the RNG that draws faults, for repeatable runs.
    :param clock: wall clock (tests may inject one).
    :param record_exchanges: keep every request and response in :attr:`exchanges` (for contract tests).
    """

    def __init__(
        self,
        *,
        api_keys: tuple[str, ...] = (DEFAULT_API_KEY,),
        time_scale: float = 1.0,
        faults: Faults | None = None,
        seed: int | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        record_exchanges: bool = False,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.api_keys = tuple(api_keys)
        self.time_scale = time_scale
        self.faults = faults or Faults()
        self.clock = clock
        self._random = random.Random(seed)  # noqa: S311 - fault injection, not cryptography
        self._lock = threading.Lock()
        self._events: dict[str, _StoredEvent] = {}
        self._idempotency: dict[tuple[str, str], _IdempotencyRecord] = {}
        self._windows: dict[str, tuple[int, int]] = {}
        self._journal: deque[JournalEntry] = deque(maxlen=200_000)
        self._counters: Counter[str] = Counter()
        self._release = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.record_exchanges = record_exchanges
        self.exchanges: list[Exchange] = []
        #: Set by :meth:`serve_in_thread` while serving: ``http://host:port/v2``.
        self.base_url: str | None = None
        self.app = Starlette(
            routes=[
                Route("/v2/ai/assistants", self._assistants, methods=["GET"]),
                Route("/v2/ai/assistants/{assistant_id}/scheduled_events", self._list, methods=["GET"]),
                Route("/v2/ai/assistants/{assistant_id}/scheduled_events", self._create, methods=["POST"]),
                Route("/v2/ai/assistants/{assistant_id}/scheduled_events/{event_id}", self._get, methods=["GET"]),
                Route("/v2/ai/assistants/{assistant_id}/scheduled_events/{event_id}", self._delete, methods=["DELETE"]),
                Route("/_sim/journal", self._http_journal, methods=["GET"]),
                Route("/_sim/stats", self._http_stats, methods=["GET"]),
                Route("/_sim/faults", self._http_faults, methods=["GET", "PUT"]),
                Route("/_sim/reset", self._http_reset, methods=["POST"]),
                Route("/_sim/release", self._http_release, methods=["POST"]),
            ],
        )

    # -- controls (in-process) -----------------------------------------------------------------------------

    def set_faults(self, **changes: Any) -> Faults:
        """Change some faults, keeping the others.

        :param changes: fields of :class:`Faults`.
        :return: the faults now in force.
        """
        self.faults = replace(self.faults, **changes)
        return self.faults

    def reset(self) -> None:
        """Forget every event, idempotency record, journal entry and counter; clear the faults."""
        with self._lock:
            self._events.clear()
            self._idempotency.clear()
            self._windows.clear()
            self._journal.clear()
            self._counters.clear()
            self.exchanges.clear()
        self.faults = Faults()

    def clear_journal(self) -> None:
        """Forget the journal (and recorded exchanges) but keep events, faults and counters."""
        with self._lock:
            self._journal.clear()
            self.exchanges.clear()

    def release_held(self) -> None:
        """Let every create held by ``hold_creates`` answer."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._release.set)
        else:
            self._release.set()

    @property
    def api_key(self) -> str:
        """The first accepted API key (what a test connection should use)."""
        return self.api_keys[0]

    def connection_json(self) -> str:
        """An ``AIRFLOW_CONN_...`` value (JSON form) pointing at this simulator while it serves.

        :return: the connection JSON.
        :raises RuntimeError: when the simulator is not serving.
        """
        if self.base_url is None:
            raise RuntimeError("the simulator is not serving")
        return json.dumps({"conn_type": "telnyx", "password": self.api_key, "host": self.base_url})

    @property
    def journal(self) -> list[JournalEntry]:
        """Every API request received so far, in order (``/_sim`` requests are not journaled)."""
        with self._lock:
            return list(self._journal)

    def stats(self) -> dict[str, Any]:
        """Counters: requests by route and status, events created, cancelled and deleted, faults injected.

        :return: a JSON-safe dictionary.
        """
        with self._lock:
            by_route: Counter[str] = Counter(f"{e.route} {e.status}" for e in self._journal)
            return {
                "requests": len(self._journal),
                "requests_by_route_status": dict(sorted(by_route.items())),
                "events_stored": len(self._events),
                **dict(sorted(self._counters.items())),
            }

    def events(self, assistant_id: str | None = None) -> list[dict[str, Any]]:
        """Every stored event as the API would return it now.

        :param assistant_id: only this assistant's events.
        :return: the events, in creation order.
        """
        now = self.clock()
        with self._lock:
            stored = [e for e in self._events.values() if assistant_id in (None, e.assistant_id)]
        return [self._render(event, now) for event in stored]

    def final_at(self, event_id: str) -> datetime | None:
        """The wall-clock moment an event becomes final (for measuring how fast a waiter notices).

        :param event_id: the event.
        :return: the moment, or ``None`` for an unknown event.
        """
        with self._lock:
            event = self._events.get(event_id)
        if event is None:
            return None
        timeline = event.timeline
        return timeline.scheduled_at + (timeline.ended_at - timeline.scheduled_at) / timeline.time_scale

    # -- the pipeline every API request goes through -------------------------------------------------------

    async def _answer(
        self, request: Request, route: str, handler: Callable[[Request, str], Any], event_id: str | None = None
    ) -> Response:
        self._loop = asyncio.get_running_loop()
        key_header = request.headers.get("idempotency-key")
        fault: str | None = None
        try:
            if self.faults.latency:
                await asyncio.sleep(self.faults.latency)
            api_key = self._authenticate(request)
            limit_headers = self._rate_limit(api_key)
            fault = await self._random_fault()
            if fault is None and request.path_params.get("assistant_id") in self.faults.failing_assistants:
                fault = "http_503"
            if fault is None:
                response: Response = await handler(request, api_key)
                fault = getattr(response, "fault", None)
            else:
                response = self._fault_response(fault)
            response.headers.update(limit_headers)
        except _Problem as problem:
            response = problem.response
            if response.status_code == 429:
                fault = "rate_limit"
        status = 0 if isinstance(response, _DroppedConnection) else response.status_code
        event_id = event_id or getattr(response, "event_id", None)
        self._record(request, route, status, fault, key_header, event_id)
        if self.record_exchanges:
            exchange = Exchange(
                method=request.method,
                path=request.url.path,
                query=request.url.query,
                request_content_type=request.headers.get("content-type", ""),
                request_body=await request.body(),
                status=status,
                response_headers=dict(response.headers),
                response_body=bytes(response.body) if status else b"",
            )
            with self._lock:
                self.exchanges.append(exchange)
        return response

    def _record(
        self, request: Request, route: str, status: int, fault: str | None, key: str | None, event_id: str | None
    ) -> None:
        entry = JournalEntry(
            at=_iso(datetime.now(UTC)),
            method=request.method,
            path=request.url.path,
            route=route,
            status=status,
            fault=fault,
            idempotency_key=key,
            event_id=event_id,
        )
        with self._lock:
            self._journal.append(entry)
            if fault:
                self._counters[f"faults_{fault}"] += 1

    def _authenticate(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or token not in self.api_keys:
            raise _Problem(
                _telnyx_error(
                    401,
                    "10009",
                    "Authentication failed",
                    "The API key provided is missing, invalid or revoked.",
                )
            )
        return token

    def _rate_limit(self, api_key: str) -> dict[str, str]:
        limit = self.faults.rate_limit
        if not limit:
            return {}
        now = time.monotonic()
        window = int(now)
        per_window = max(int(limit), 1)
        with self._lock:
            start, used = self._windows.get(api_key, (window, 0))
            if start != window:
                start, used = window, 0
            used += 1
            self._windows[api_key] = (start, used)
        reset = max(math.ceil(start + 1 - now), 1)
        headers = {
            "x-ratelimit-limit": str(per_window),
            "x-ratelimit-remaining": str(max(per_window - used, 0)),
            "x-ratelimit-reset": str(reset),
        }
        if used > per_window:
            raise _Problem(
                _telnyx_error(
                    429,
                    "10011",
                    "Too many requests",
                    "You have exceeded the maximum number of allowed requests.",
                    headers=headers,
                )
            )
        return headers

    async def _random_fault(self) -> str | None:
        faults = self.faults
        draw = self._random.random()
        if draw < faults.error_rate:
            return f"http_{self._random.choice(faults.error_statuses)}"
        if draw < faults.error_rate + faults.timeout_rate:
            await asyncio.sleep(faults.hang_seconds)
            return "timeout"
        return None

    @staticmethod
    def _fault_response(fault: str) -> Response:
        if fault == "timeout":
            return Response("upstream request timeout", status_code=504, media_type="text/plain")
        status = int(fault.removeprefix("http_"))
        if status == 429:
            headers = {"retry-after": "1", "x-ratelimit-limit": "100", "x-ratelimit-remaining": "0"}
            return _telnyx_error(
                429,
                "10011",
                "Too many requests",
                "You have exceeded the maximum number of allowed requests.",
                headers=headers,
            )
        if status == 502:
            page = "<html><head><title>502 Bad Gateway</title></head><body>bad gateway</body></html>"
            return Response(page, status_code=502, media_type="text/html")
        return _telnyx_error(status, "10007", "Unexpected error", "An unexpected error occurred.")

    # -- routes ----------------------------------------------------------------------------------------------

    async def _assistants(self, request: Request) -> Response:
        async def handle(_: Request, api_key: str) -> Response:
            with self._lock:
                seen = sorted({e.assistant_id for e in self._events.values() if e.api_key == api_key})
            data = [{"id": assistant, "name": assistant, "object": "assistant"} for assistant in seen]
            return JSONResponse({"data": data})

        return await self._answer(request, "assistants", handle)

    async def _create(self, request: Request) -> Response:
        return await self._answer(request, "create", self._handle_create)

    async def _handle_create(self, request: Request, api_key: str) -> Response:
        assistant_id = request.path_params["assistant_id"]
        refused = self._refuse_create()
        if refused is not None:
            return refused
        keys = request.headers.getlist("idempotency-key")
        if len(keys) > 1 or (keys and not IDEMPOTENCY_KEY.match(keys[0])):
            return _telnyx_error(
                400,
                "10015",
                "Invalid Idempotency-Key",
                "Idempotency-Key must be one header of 1 to 255 letters, digits, hyphens or underscores.",
                "/headers/Idempotency-Key",
            )
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            return _validation_error([(["body"], "JSON decode error", "json_invalid")])
        now = self.clock()
        fingerprint = hashlib.sha256(f"{assistant_id}\n".encode() + raw).hexdigest()
        record_key = (api_key, keys[0]) if keys else None
        if record_key:
            replay = self._claim_key(record_key, fingerprint)
            if replay is not None:
                return replay
        try:
            event = self._validate_and_store(assistant_id, body, now, api_key)
        except _Problem as problem:
            if record_key:  # only successful responses are kept for replay
                with self._lock:
                    self._idempotency.pop(record_key, None)
            return problem.response
        payload = self._render(event, now)
        if self.faults.hold_creates:
            self._counters["creates_held"] += 1
            await self._release.wait()
        if record_key:  # the request is complete: from now on the key replays this response
            with self._lock:
                self._idempotency[record_key] = _IdempotencyRecord(fingerprint, 201, payload, in_flight=False)
        response = self._maybe_lose(JSONResponse(payload, status_code=201))
        response.event_id = event.event_id  # type: ignore[attr-defined]
        return response

    def _maybe_lose(self, response: Response) -> Response:
        """The answer to a committed create, or what replaces it when a fault loses it (502 or a dropped line)."""
        faults = self.faults
        lost: Response | None = None
        if faults.lose_next_creates > 0:
            faults.lose_next_creates -= 1
            lost = self._fault_response("http_502")
        elif faults.lose_create_rate and self._random.random() < faults.lose_create_rate:
            lost = self._fault_response("http_502") if self._random.random() < 0.5 else _DroppedConnection()
        if lost is None:
            return response
        lost.fault = "lost_response_dropped" if isinstance(lost, _DroppedConnection) else "lost_response_502"  # type: ignore[attr-defined]
        return lost

    def _refuse_create(self) -> Response | None:
        """Answer 503 before processing while ``refuse_next_creates`` lasts (nothing is created)."""
        with self._lock:
            if self.faults.refuse_next_creates <= 0:
                return None
            self.faults.refuse_next_creates -= 1
        refused = self._fault_response("http_503")
        refused.fault = "refused_create_503"  # type: ignore[attr-defined]
        return refused

    def _claim_key(self, record_key: tuple[str, str], fingerprint: str) -> Response | None:
        with self._lock:
            record = self._idempotency.get(record_key)
            if record is None:
                self._idempotency[record_key] = _IdempotencyRecord(fingerprint)
                return None
            self._counters["idempotency_hits"] += 1
        if record.fingerprint != fingerprint:
            return _validation_error(
                [
                    (
                        ["header", "Idempotency-Key"],
                        "Idempotency-Key was already used with a different request",
                        "idempotency_key_reused",
                    )
                ]
            )
        if record.in_flight:
            return _telnyx_error(
                409,
                "10036",
                "Idempotency conflict",
                "A request with this Idempotency-Key is still being processed.",
                "/headers/Idempotency-Key",
            )
        self._counters["idempotent_replays"] += 1
        response = JSONResponse(record.body, status_code=record.status, headers={"Idempotent-Replayed": "true"})
        response.event_id = record.body.get("scheduled_event_id")  # type: ignore[attr-defined]
        return response

    def _validate_and_store(self, assistant_id: str, body: Any, now: datetime, api_key: str) -> _StoredEvent:
        scheduled_at = _check_schema(body)
        _check_business_rules(assistant_id, body, scheduled_at, now)
        event = _StoredEvent(
            event_id=str(uuid.uuid4()),
            assistant_id=assistant_id,
            body=body,
            created_at=now,
            timeline=plan_timeline(body, scheduled_at, self.time_scale),
            api_key=api_key,
        )
        with self._lock:
            self._events[event.event_id] = event
            self._counters["events_created"] += 1
        return event

    def _find(self, request: Request, api_key: str) -> _StoredEvent:
        event_id = request.path_params["event_id"]
        with self._lock:
            event = self._events.get(event_id)
        if event is None or event.assistant_id != request.path_params["assistant_id"] or event.api_key != api_key:
            raise _Problem(
                _telnyx_error(404, "10005", "Resource not found", f"Scheduled event {event_id} was not found.")
            )
        return event

    async def _get(self, request: Request) -> Response:
        async def handle(_: Request, api_key: str) -> Response:
            return JSONResponse(self._render(self._find(request, api_key), self.clock()))

        return await self._answer(request, "get", handle, request.path_params["event_id"])

    async def _delete(self, request: Request) -> Response:
        async def handle(_: Request, api_key: str) -> Response:
            event = self._find(request, api_key)
            pending = event.timeline.state_at(self.clock())["status"] == "pending"
            with self._lock:
                self._events.pop(event.event_id, None)
                self._counters["events_cancelled" if pending else "events_deleted"] += 1
            return Response(status_code=200)

        return await self._answer(request, "delete", handle, request.path_params["event_id"])

    async def _list(self, request: Request) -> Response:
        async def handle(_: Request, api_key: str) -> Response:
            query = request.query_params
            number = _query_int(query.get("page[number]"), "number", 1, 1, None)
            size = _query_int(query.get("page[size]"), "size", 20, 1, 100)
            channel = query.get("conversation_channel")
            if channel is not None and channel not in CHANNELS:
                raise _Problem(
                    _validation_error(
                        [(["query", "conversation_channel"], "Input should be 'phone_call' or 'sms_chat'", "enum")]
                    )
                )
            bounds = [_query_datetime(query.get(name), name) for name in ("from_date", "to_date")]
            now = self.clock()
            assistant_id = request.path_params["assistant_id"]
            with self._lock:
                stored = [e for e in self._events.values() if e.assistant_id == assistant_id and e.api_key == api_key]
            rendered = [self._render(event, now) for event in stored]
            selected = [item for item in rendered if _matches(item, channel, bounds[0], bounds[1])]
            total = len(selected)
            pages = math.ceil(total / size)
            data = selected[(number - 1) * size : number * size]
            meta = {"total_pages": pages, "total_results": total, "page_number": number, "page_size": size}
            return JSONResponse({"data": data, "meta": meta})

        return await self._answer(request, "list", handle)

    def _render(self, event: _StoredEvent, now: datetime) -> dict[str, Any]:
        body = event.body
        channel = body["telnyx_conversation_channel"]
        result: dict[str, Any] = {
            "scheduled_event_id": event.event_id,
            "assistant_id": event.assistant_id,
            "telnyx_conversation_channel": channel,
            "telnyx_end_user_target": body["telnyx_end_user_target"],
            "telnyx_agent_target": body["telnyx_agent_target"],
            "scheduled_at_fixed_datetime": event.timeline.scheduled_at,
            "created_at": event.created_at,
            "retry_count": 0,
            "errors": [],
        }
        for name in ("conversation_metadata", "dynamic_variables"):
            if body.get(name) is not None:
                result[name] = body[name]
        if channel == "sms_chat":
            result["text"] = body["text"]
        else:
            result["max_retries_client_errors"] = body.get("max_retries_client_errors") or 0
            result["call_attempts"] = []
            for name in ("retry_interval_secs", "call_settings"):
                if body.get(name) is not None:
                    result[name] = body[name]
        result.update(event.timeline.state_at(now))
        rendered: dict[str, Any] = _jsonable(result)
        return rendered

    # -- /_sim control endpoints ---------------------------------------------------------------------------

    async def _http_journal(self, request: Request) -> Response:
        return JSONResponse([asdict(entry) for entry in self.journal])

    async def _http_stats(self, request: Request) -> Response:
        return JSONResponse(self.stats())

    async def _http_faults(self, request: Request) -> Response:
        if request.method == "PUT":
            changes = await request.json()
            known = {f.name for f in fields(Faults)}
            unknown = sorted(set(changes) - known)
            if unknown:
                return JSONResponse({"error": f"unknown faults: {unknown}"}, status_code=400)
            for name in ("error_statuses", "failing_assistants"):
                if name in changes:
                    changes[name] = tuple(changes[name])
            self.set_faults(**changes)
        return JSONResponse(asdict(self.faults))

    async def _http_reset(self, request: Request) -> Response:
        self.reset()
        return JSONResponse({"reset": True})

    async def _http_release(self, request: Request) -> Response:
        self._release.set()
        return JSONResponse({"released": True})

    # -- serving ---------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def serve_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve on a background thread; yields the base URL (``http://host:port/v2``) until the block ends.

        :param host: interface to bind (loopback by default).
        :param port: port to bind; 0 picks a free one.
        :return: a context manager yielding the base URL.
        """
        server = _make_server(self.app, host, port)
        thread = threading.Thread(target=server.run, name="telnyx-simulator", daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Telnyx simulator did not start")
            time.sleep(0.01)
        bound = server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://{host}:{bound}/v2"
        try:
            yield self.base_url
        finally:
            self.base_url = None
            self.release_held()
            server.should_exit = True
            thread.join(timeout=10)


def _make_server(app: Starlette, host: str, port: int) -> Any:
    import uvicorn

    config = uvicorn.Config(
        app, host=host, port=port, log_level="critical", access_log=False, lifespan="off", timeout_keep_alive=30
    )
    # uvicorn installs signal handlers only on the main thread, so a server on a thread leaves them alone.
    return uvicorn.Server(config)


def _matches(item: Mapping[str, Any], channel: str | None, start: datetime | None, end: datetime | None) -> bool:
    if channel and item["telnyx_conversation_channel"] != channel:
        return False
    when = _parse_datetime(item["scheduled_at_fixed_datetime"])
    assert when is not None
    return (start is None or when >= start) and (end is None or when <= end)


def _query_int(raw: str | None, name: str, default: int, minimum: int, maximum: int | None) -> int:
    if raw is None:
        return default
    loc: list[str | int] = ["query", "page", name]
    try:
        value = int(raw)
    except ValueError:
        raise _Problem(_validation_error([(loc, "Input should be a valid integer", "int_parsing")])) from None
    if value < minimum:
        raise _Problem(
            _validation_error([(loc, f"Input should be greater than or equal to {minimum}", "greater_than_equal")])
        )
    if maximum is not None and value > maximum:
        raise _Problem(
            _validation_error([(loc, f"Input should be less than or equal to {maximum}", "less_than_equal")])
        )
    return value


def _query_datetime(raw: str | None, name: str) -> datetime | None:
    if raw is None:
        return None
    parsed = _parse_datetime(raw)
    if parsed is None:
        raise _Problem(
            _validation_error([(["query", name], "Input should be a valid datetime", "datetime_from_date_parsing")])
        )
    return parsed


def _check_schema(body: Any) -> datetime:  # noqa: PLR0912 - one branch per rule of the schema
    """The OpenAPI schema of ``CreateScheduledEventRequest``; violations answer 422 like FastAPI."""
    if not isinstance(body, dict):
        raise _Problem(_validation_error([(["body"], "Input should be a valid dictionary", "dict_type")]))
    problems: list[tuple[list[str | int], str, str]] = []
    for name in (
        "telnyx_conversation_channel",
        "telnyx_end_user_target",
        "telnyx_agent_target",
        "scheduled_at_fixed_datetime",
    ):
        if name not in body:
            problems.append((["body", name], "Field required", "missing"))
    for name in ("telnyx_end_user_target", "telnyx_agent_target", "text"):
        if name in body and not isinstance(body[name], str):
            problems.append((["body", name], "Input should be a valid string", "string_type"))
    if "telnyx_conversation_channel" in body and body["telnyx_conversation_channel"] not in CHANNELS:
        problems.append((["body", "telnyx_conversation_channel"], "Input should be 'phone_call' or 'sms_chat'", "enum"))
    scheduled_at = _parse_datetime(body.get("scheduled_at_fixed_datetime"))
    if "scheduled_at_fixed_datetime" in body and scheduled_at is None:
        problems.append(
            (["body", "scheduled_at_fixed_datetime"], "Input should be a valid datetime", "datetime_from_date_parsing")
        )
    for name, low, high in (("max_retries_client_errors", 0, 10), ("retry_interval_secs", 60, 86_400)):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append((["body", name], "Input should be a valid integer", "int_type"))
        elif value < low:
            problems.append((["body", name], f"Input should be greater than or equal to {low}", "greater_than_equal"))
        elif value > high:
            problems.append((["body", name], f"Input should be less than or equal to {high}", "less_than_equal"))
    problems.extend(_check_map(body, "dynamic_variables", (str,)))
    problems.extend(_check_map(body, "conversation_metadata", (str, int, bool)))
    settings = body.get("call_settings")
    if settings is not None:
        if not isinstance(settings, dict):
            problems.append((["body", "call_settings"], "Input should be a valid dictionary", "dict_type"))
        elif settings.get("sip_region") is not None and settings["sip_region"] not in SIP_REGIONS:
            problems.append(
                (["body", "call_settings", "sip_region"], f"Input should be one of {', '.join(SIP_REGIONS)}", "enum")
            )
    if problems:
        raise _Problem(_validation_error(problems))
    assert scheduled_at is not None
    return scheduled_at


def _check_map(body: Mapping[str, Any], name: str, kinds: tuple[type, ...]) -> list[tuple[list[str | int], str, str]]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, dict):
        return [(["body", name], "Input should be a valid dictionary", "dict_type")]
    expected = "a valid string" if kinds == (str,) else "a valid string, integer or boolean"
    return [
        (["body", name, key], f"Input should be {expected}", "string_type" if kinds == (str,) else "type_error")
        for key, item in value.items()
        if not isinstance(item, kinds)
    ]


def _check_business_rules(assistant_id: str, body: Mapping[str, Any], scheduled_at: datetime, now: datetime) -> None:
    """The guide's rules, answered 400 with a Telnyx error (the simulator's choice of code: ``10032``)."""

    def refuse(detail: str, pointer: str) -> _Problem:
        return _Problem(_telnyx_error(400, "10032", "Invalid scheduled event", detail, pointer))

    sms = body["telnyx_conversation_channel"] == "sms_chat"
    if sms and not body.get("text"):
        raise refuse("text is required for sms_chat events.", "/text")
    if sms and (body.get("max_retries_client_errors") or body.get("retry_interval_secs")):
        raise refuse("Retry settings are only supported for phone_call events.", "/max_retries_client_errors")
    if (body.get("max_retries_client_errors") or 0) > 0 and body.get("retry_interval_secs") is None:
        raise refuse("retry_interval_secs is required when max_retries_client_errors > 0.", "/retry_interval_secs")
    if scheduled_at <= now:
        raise refuse("scheduled_at_fixed_datetime must be in the future.", "/scheduled_at_fixed_datetime")
    if assistant_id == NO_TELEPHONY_ASSISTANT:
        raise refuse("Assistant does not have telephony settings configured", "/assistant_id")
    refusal = outcome_for(body["telnyx_end_user_target"]).create_refusal
    if refusal is not None:
        status, code, title, detail = refusal
        raise _Problem(_telnyx_error(status, code, title, detail, "/telnyx_end_user_target"))


def outcome_table_markdown() -> str:
    """The outcome table as Markdown, for the docs.

    :return: the table.
    """
    rows = ["| end-user target | outcome | what happens |", "|---|---|---|"]
    rows += [f"| `{target}` | {o.name} | {o.description} |" for target, o in OUTCOMES.items()]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    """Command line: serve the simulator until interrupted.

    :param argv: arguments (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(prog="telnyx-simulator", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=8765, help="port (0: any free port)")
    parser.add_argument("--api-key", action="append", help=f"accepted API key (repeatable; default {DEFAULT_API_KEY})")
    parser.add_argument("--time-scale", type=float, default=1.0, help="event clock speed after dispatch")
    parser.add_argument("--seed", type=int, default=None, help="seed for fault injection")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="latency added to every request")
    parser.add_argument("--rate-limit", type=float, default=None, help="requests per second per API key")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered 5xx")
    parser.add_argument("--timeout-rate", type=float, default=0.0, help="share of requests that hang")
    parser.add_argument("--lose-create-rate", type=float, default=0.0, help="share of create responses lost")
    parser.add_argument("--port-file", default=None, help="write the bound port to this file once listening")
    args = parser.parse_args(argv)
    faults = Faults(
        latency=args.latency_ms / 1000,
        rate_limit=args.rate_limit,
        error_rate=args.error_rate,
        timeout_rate=args.timeout_rate,
        lose_create_rate=args.lose_create_rate,
    )
    simulator = Simulator(
        api_keys=tuple(args.api_key or (DEFAULT_API_KEY,)), time_scale=args.time_scale, faults=faults, seed=args.seed
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with simulator.serve_in_thread(args.host, args.port) as base_url:
        if args.port_file:
            with open(args.port_file, "w", encoding="utf-8") as handle:
                handle.write(base_url.rsplit(":", 1)[1].split("/")[0])
        print(f"Telnyx simulator listening on {base_url} (time scale {args.time_scale:g})", flush=True)  # noqa: T201
        stop.wait()


if __name__ == "__main__":
    main()
