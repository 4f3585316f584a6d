"""An embedded simulator of the Telnyx API, for demos, our tests and our users' tests.

Serves, under ``/v2``, the four scheduled-events operations, ``GET /ai/assistants`` and
``GET /ai/assistants/{assistant_id}``, following ``shared/telnyx-api``: bare-object create/retrieve answers, the
``{data, meta}`` list envelope, FastAPI-style 422s for schema violations, Telnyx-style ``{"errors": [...]}`` bodies
for 400/401/404/409/429, bearer auth, and ``Idempotency-Key`` records scoped as the guide says (organization,
method and path, 24 hours). API keys belong to organizations (by default all to one); assistants must be
registered (an unknown id answers 404, as the API does). Events follow the lifecycle engine in :mod:`.lifecycle`;
the rules live in :mod:`._rules`, faults and rate-limit models in :mod:`._limits`.

Fault injection, a request journal and counters are available in-process (:class:`Simulator`) and over HTTP under
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
import signal
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from airflow_provider_telnyx.testing._limits import Faults, RateLimiter
from airflow_provider_telnyx.testing._rules import (
    CHANNELS,
    IDEMPOTENCY_KEY,
    NO_TELEPHONY_ASSISTANT,
    Problem,
    check_business_rules,
    check_schema,
    iso,
    jsonable,
    matches,
    query_datetime,
    query_int,
    telnyx_error,
    validation_error,
)
from airflow_provider_telnyx.testing.lifecycle import OUTCOMES, Timeline, plan_timeline

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_ASSISTANTS",
    "DEFAULT_ORGANIZATION",
    "Exchange",
    "Faults",
    "JournalEntry",
    "Simulator",
    "main",
]

log = logging.getLogger(__name__)

DEFAULT_API_KEY = "KEYsimulator_local_only"
DEFAULT_ORGANIZATION = "org-simulator"
#: Assistants every simulator knows: the examples' and the demo's, and one without telephony settings.
DEFAULT_ASSISTANTS = ("assistant-demo",)
#: How long an ``Idempotency-Key`` record is kept (the guide: 24 hours).
IDEMPOTENCY_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class JournalEntry:
    """One request the simulator received.

    :param at: wall-clock time the request arrived.
    :param method: HTTP method.
    :param path: request path.
    :param route: ``create``, ``list``, ``get``, ``delete``, ``assistants``, ``assistant`` or ``unknown``.
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
    organization: str


@dataclass
class _IdempotencyRecord:
    fingerprint: str
    created_at: datetime
    status: int = 0
    body: Any = None
    in_flight: bool = True


@dataclass(frozen=True)
class _Assistant:
    assistant_id: str
    telephony: bool = True

    def render(self) -> dict[str, Any]:
        settings = {"default_texml_app_id": f"texml-{self.assistant_id}"} if self.telephony else {}
        return {
            "id": self.assistant_id,
            "name": self.assistant_id,
            "model": "meta-llama/Meta-Llama-3.1-70B-Instruct",
            "instructions": "You are a helpful assistant (simulated).",
            "created_at": "2026-01-01T00:00:00Z",
            "enabled_features": ["telephony", "messaging"] if self.telephony else ["messaging"],
            "telephony_settings": settings,
        }


class _DroppedConnection(Response):
    """Starts a response, then fails: the server closes the connection mid-response."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]})
        raise ConnectionAbortedError("simulated dropped connection")


class Simulator:
    """The simulated API, its state, its faults and its journal.

    :param api_keys: bearer tokens accepted (any other answers 401).
    :param organizations: the organization of each API key; a key left out belongs to
        :data:`DEFAULT_ORGANIZATION`. Events and idempotency records are the organization's, not the key's.
    :param assistants: assistant ids that exist (with telephony settings); any other answers 404.
        ``assistant-no-telephony`` always exists, without telephony settings (phone calls answer 400).
    :param time_scale: how much faster an event's clock runs after its dispatch (see :mod:`.lifecycle`).
    :param faults: faults injected from the start.
    :param seed: seed of the RNG that draws faults, for repeatable runs.
    :param clock: wall clock (tests may inject one).
    :param monotonic: the clock rate-limit windows and buckets are measured on (tests may freeze it).
    :param record_exchanges: keep every request and response in :attr:`exchanges` (for contract tests).
    """

    def __init__(
        self,
        *,
        api_keys: tuple[str, ...] = (DEFAULT_API_KEY,),
        organizations: Mapping[str, str] | None = None,
        assistants: Iterable[str] = DEFAULT_ASSISTANTS,
        time_scale: float = 1.0,
        faults: Faults | None = None,
        seed: int | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        record_exchanges: bool = False,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.api_keys = tuple(api_keys)
        self.organizations = dict(organizations or {})
        self.time_scale = time_scale
        self.faults = faults or Faults()
        self.clock = clock
        self._random = random.Random(seed)  # noqa: S311 - fault injection, not cryptography
        self._lock = threading.Lock()
        self._assistants: dict[str, _Assistant] = {}
        self.add_assistants(*assistants)
        self._assistants[NO_TELEPHONY_ASSISTANT] = _Assistant(NO_TELEPHONY_ASSISTANT, telephony=False)
        self._events: dict[str, _StoredEvent] = {}
        self._idempotency: dict[tuple[str, str, str, str], _IdempotencyRecord] = {}
        self._limiter = RateLimiter(monotonic)
        self._journal: deque[JournalEntry] = deque(maxlen=200_000)
        self._counters: Counter[str] = Counter()
        self._release = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.record_exchanges = record_exchanges
        self.exchanges: list[Exchange] = []
        #: Set by :meth:`serve_in_thread` while serving: ``http://host:port/v2``.
        self.base_url: str | None = None
        events = "/v2/ai/assistants/{assistant_id}/scheduled_events"
        self.app = Starlette(
            routes=[
                Route("/v2/ai/assistants", self._route("assistants", self._list_assistants), methods=["GET"]),
                Route("/v2/ai/assistants/{assistant_id}", self._route("assistant", self._get_assistant)),
                Route(events, self._route("list", self._list), methods=["GET"]),
                Route(events, self._route("create", self._handle_create), methods=["POST"]),
                Route(events + "/{event_id}", self._route("get", self._get), methods=["GET"]),
                Route(events + "/{event_id}", self._route("delete", self._delete), methods=["DELETE"]),
                Route("/_sim/journal", self._http_journal, methods=["GET"]),
                Route("/_sim/stats", self._http_stats, methods=["GET"]),
                Route("/_sim/faults", self._http_faults, methods=["GET", "PUT"]),
                Route("/_sim/reset", self._http_reset, methods=["POST"]),
                Route("/_sim/release", self._http_release, methods=["POST"]),
            ],
        )

    # -- controls (in-process) -----------------------------------------------------------------------------

    def add_assistants(self, *assistant_ids: str, telephony: bool = True) -> None:
        """Make assistants exist (the API answers 404 for any other).

        :param assistant_ids: their ids.
        :param telephony: whether they have telephony settings (without, phone-call events answer 400).
        """
        for assistant_id in assistant_ids:
            self._assistants[assistant_id] = _Assistant(assistant_id, telephony)

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
            self._journal.clear()
            self._counters.clear()
            self.exchanges.clear()
        self._limiter.reset()
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

    def connection_json(self, api_key: str | None = None) -> str:
        """An ``AIRFLOW_CONN_...`` value (JSON form) pointing at this simulator while it serves.

        :param api_key: the key to use (default: the first accepted one).
        :return: the connection JSON.
        :raises RuntimeError: when the simulator is not serving.
        """
        if self.base_url is None:
            raise RuntimeError("the simulator is not serving")
        return json.dumps({"conn_type": "telnyx", "password": api_key or self.api_key, "host": self.base_url})

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

    def _route(self, name: str, handler: Callable[[Request, str], Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            return await self._answer(request, name, handler)

        return endpoint

    async def _answer(self, request: Request, route: str, handler: Callable[[Request, str], Any]) -> Response:
        self._loop = asyncio.get_running_loop()
        fault: str | None = None
        try:
            if self.faults.latency:
                await asyncio.sleep(self.faults.latency)
            api_key = self._authenticate(request)
            limit_headers = self._limiter.admit(api_key, self.faults)
            fault = await self._random_fault()
            if fault is None and request.path_params.get("assistant_id") in self.faults.failing_assistants:
                fault = "http_503"
            if fault is None and request.path_params.get("assistant_id") in self.faults.echo_assistants:
                echoed = f"Bad request headers: Authorization: {request.headers.get('authorization', '')}"
                raise Problem(telnyx_error(400, "10001", "Bad request", echoed))
            if fault is None:
                self._check_assistant(request)
                response: Response = await handler(request, self._organization(api_key))
                fault = getattr(response, "fault", None)
            else:
                response = self._fault_response(fault)
            response.headers.update(limit_headers)
        except Problem as problem:
            response = problem.response
            if response.status_code == 429:
                fault = "rate_limit"
        status = 0 if isinstance(response, _DroppedConnection) else response.status_code
        event_id = request.path_params.get("event_id") or getattr(response, "event_id", None)
        self._record(request, route, status, fault, event_id)
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

    def _record(self, request: Request, route: str, status: int, fault: str | None, event_id: str | None) -> None:
        entry = JournalEntry(
            at=iso(datetime.now(UTC)),
            method=request.method,
            path=request.url.path,
            route=route,
            status=status,
            fault=fault,
            idempotency_key=request.headers.get("idempotency-key"),
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
            raise Problem(
                telnyx_error(
                    401, "10009", "Authentication failed", "The API key provided is missing, invalid or revoked."
                )
            )
        return token

    def _organization(self, api_key: str) -> str:
        return self.organizations.get(api_key, DEFAULT_ORGANIZATION)

    def _check_assistant(self, request: Request) -> None:
        assistant_id = request.path_params.get("assistant_id")
        if assistant_id is not None and assistant_id not in self._assistants:
            raise Problem(telnyx_error(404, "10005", "Resource not found", f"Assistant {assistant_id} was not found."))

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
            detail = "You have exceeded the maximum number of allowed requests."
            return telnyx_error(429, "10011", "Too many requests", detail, headers=headers)
        if status == 502:
            page = "<html><head><title>502 Bad Gateway</title></head><body>bad gateway</body></html>"
            return Response(page, status_code=502, media_type="text/html")
        return telnyx_error(status, "10007", "Unexpected error", "An unexpected error occurred.")

    # -- assistants ----------------------------------------------------------------------------------------

    async def _list_assistants(self, request: Request, organization: str) -> Response:
        return JSONResponse({"data": [assistant.render() for assistant in self._assistants.values()]})

    async def _get_assistant(self, request: Request, organization: str) -> Response:
        return JSONResponse(self._assistants[request.path_params["assistant_id"]].render())

    # -- scheduled events ----------------------------------------------------------------------------------

    async def _handle_create(self, request: Request, organization: str) -> Response:
        assistant_id = request.path_params["assistant_id"]
        refused = self._refuse_create()
        if refused is not None:
            return refused
        keys = request.headers.getlist("idempotency-key")
        if len(keys) > 1 or (keys and not IDEMPOTENCY_KEY.fullmatch(keys[0])):
            detail = "Idempotency-Key must be one header of 1 to 255 letters, digits, '-', '_' or ':'."
            return telnyx_error(400, "10015", "Invalid Idempotency-Key", detail, "/header/Idempotency-Key")
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            return validation_error([(["body"], "JSON decode error", "json_invalid")])
        now = self.clock()
        # The guide: a record is the organization's, for one method and path; the body is what must match.
        record_key = (organization, request.method, request.url.path, keys[0]) if keys else None
        if record_key:
            replay = self._claim_key(record_key, hashlib.sha256(raw).hexdigest(), now)
            if replay is not None:
                return replay
        try:
            event = self._validate_and_store(assistant_id, body, now, organization)
        except Problem as problem:
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
                self._idempotency[record_key].status, self._idempotency[record_key].body = 201, payload
                self._idempotency[record_key].in_flight = False
        response = self._maybe_lose(JSONResponse(payload, status_code=201))
        response.event_id = event.event_id  # type: ignore[attr-defined]
        return response

    def _refuse_create(self) -> Response | None:
        """Answer 503 before processing while ``refuse_next_creates`` lasts (nothing is created)."""
        with self._lock:
            if self.faults.refuse_next_creates <= 0:
                return None
            self.faults.refuse_next_creates -= 1
        refused = self._fault_response("http_503")
        refused.fault = "refused_create_503"  # type: ignore[attr-defined]
        return refused

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
        dropped = isinstance(lost, _DroppedConnection)
        lost.fault = "lost_response_dropped" if dropped else "lost_response_502"  # type: ignore[attr-defined]
        return lost

    def _claim_key(self, record_key: tuple[str, str, str, str], fingerprint: str, now: datetime) -> Response | None:
        with self._lock:
            record = self._idempotency.get(record_key)
            if record is None or now - record.created_at > IDEMPOTENCY_TTL:
                self._idempotency[record_key] = _IdempotencyRecord(fingerprint, now)
                return None
            self._counters["idempotency_hits"] += 1
        if record.fingerprint != fingerprint:
            return validation_error(
                [
                    (
                        ["header", "Idempotency-Key"],
                        "Idempotency-Key was already used with a different request",
                        "idempotency_key_reused",
                    )
                ]
            )
        if record.in_flight:
            detail = "A request with this Idempotency-Key is still being processed."
            return telnyx_error(409, "10036", "Idempotency conflict", detail, "/header/Idempotency-Key")
        self._counters["idempotent_replays"] += 1
        response = JSONResponse(record.body, status_code=record.status, headers={"Idempotent-Replayed": "true"})
        response.event_id = record.body.get("scheduled_event_id")  # type: ignore[attr-defined]
        return response

    def _validate_and_store(self, assistant_id: str, body: Any, now: datetime, organization: str) -> _StoredEvent:
        scheduled_at = check_schema(body)
        check_business_rules(assistant_id, body, scheduled_at, now)
        if not self._assistants[assistant_id].telephony and body["telnyx_conversation_channel"] == "phone_call":
            detail = "Assistant does not have telephony settings configured"
            raise Problem(telnyx_error(400, "10032", "Invalid scheduled event", detail, "/assistant_id"))
        event = _StoredEvent(
            event_id=str(uuid.uuid4()),
            assistant_id=assistant_id,
            body=body,
            created_at=now,
            timeline=plan_timeline(body, scheduled_at, self.time_scale),
            organization=organization,
        )
        with self._lock:
            self._events[event.event_id] = event
            self._counters["events_created"] += 1
        return event

    def _find(self, request: Request, organization: str) -> _StoredEvent:
        event_id = request.path_params["event_id"]
        with self._lock:
            event = self._events.get(event_id)
        if (
            event is None
            or event.assistant_id != request.path_params["assistant_id"]
            or event.organization != organization
        ):
            raise Problem(
                telnyx_error(404, "10005", "Resource not found", f"Scheduled event {event_id} was not found.")
            )
        return event

    async def _get(self, request: Request, organization: str) -> Response:
        return JSONResponse(self._render(self._find(request, organization), self.clock()))

    async def _delete(self, request: Request, organization: str) -> Response:
        event = self._find(request, organization)
        pending = event.timeline.state_at(self.clock())["status"] == "pending"
        with self._lock:
            self._events.pop(event.event_id, None)
            self._counters["events_cancelled" if pending else "events_deleted"] += 1
        return Response(status_code=200)

    async def _list(self, request: Request, organization: str) -> Response:
        query = request.query_params
        number = query_int(query.get("page[number]"), "number", 1, 1, None)
        size = query_int(query.get("page[size]"), "size", 20, 1, 100)
        channel = query.get("conversation_channel")
        if channel is not None and channel not in CHANNELS:
            where: list[str | int] = ["query", "conversation_channel"]
            raise Problem(validation_error([(where, "Input should be 'phone_call' or 'sms_chat'", "enum")]))
        bounds = [query_datetime(query.get(name), name) for name in ("from_date", "to_date")]
        now = self.clock()
        assistant_id = request.path_params["assistant_id"]
        with self._lock:
            stored = [
                e for e in self._events.values() if e.assistant_id == assistant_id and e.organization == organization
            ]
        rendered = [self._render(event, now) for event in stored]
        selected = [item for item in rendered if matches(item, channel, bounds[0], bounds[1])]
        total = len(selected)
        data = selected[(number - 1) * size : number * size]
        meta = {
            "total_pages": math.ceil(total / size),
            "total_results": total,
            "page_number": number,
            "page_size": size,
        }
        return JSONResponse({"data": data, "meta": meta})

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
        if channel == "phone_call":
            result["retry_attempts"] = len(result["call_attempts"])
        rendered: dict[str, Any] = jsonable(result)
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
            for name in ("error_statuses", "failing_assistants", "echo_assistants"):
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
    parser.add_argument(
        "--assistant", action="append", help=f"an assistant that exists (repeatable; default {DEFAULT_ASSISTANTS})"
    )
    parser.add_argument("--time-scale", type=float, default=1.0, help="event clock speed after dispatch")
    parser.add_argument("--seed", type=int, default=None, help="seed for fault injection")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="latency added to every request")
    parser.add_argument("--rate-limit", type=float, default=None, help="requests per second per API key")
    parser.add_argument("--rate-limit-window", choices=["fixed", "token_bucket"], default="fixed")
    parser.add_argument("--rate-limit-headers", choices=["always", "on_429", "never"], default="always")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered 5xx")
    parser.add_argument("--timeout-rate", type=float, default=0.0, help="share of requests that hang")
    parser.add_argument("--lose-create-rate", type=float, default=0.0, help="share of create responses lost")
    parser.add_argument("--port-file", default=None, help="write the bound port to this file once listening")
    args = parser.parse_args(argv)
    faults = Faults(
        latency=args.latency_ms / 1000,
        rate_limit=args.rate_limit,
        rate_limit_window=args.rate_limit_window,
        rate_limit_headers=args.rate_limit_headers,
        error_rate=args.error_rate,
        timeout_rate=args.timeout_rate,
        lose_create_rate=args.lose_create_rate,
    )
    simulator = Simulator(
        api_keys=tuple(args.api_key or (DEFAULT_API_KEY,)),
        assistants=tuple(args.assistant or DEFAULT_ASSISTANTS),
        time_scale=args.time_scale,
        faults=faults,
        seed=args.seed,
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
