"""An embedded simulator of the Telnyx API, for demos, our tests and our users' tests.

Serves, under ``/v2``, the four scheduled-events operations, ``GET /ai/assistants``,
``GET /ai/assistants/{assistant_id}`` and the conversations of dispatched events (the conversation, its messages,
its insights: :mod:`._conversations`), following Telnyx's official OpenAPI text (``team-telnyx/openapi``; the test
suite checks every answer against its copies in the repository's ``tests/contract/``): bare-object create/retrieve
answers, the ``{data, meta}`` list envelope, FastAPI-style 422s for schema violations, Telnyx-style
``{"errors": [...]}`` bodies for 400/401/404/409/429, bearer auth, and ``Idempotency-Key`` records scoped as the
guide says (organization, method and path, 24 hours). API keys belong to organizations (by default all to one);
assistants must be registered (an unknown id answers 404, as the API does). Events follow the lifecycle engine in
:mod:`.lifecycle`; the rules live in :mod:`._rules`, faults and rate-limit models in :mod:`._limits`.

Fault injection, a request journal and counters are available in-process (:class:`Simulator`) and over HTTP under
``/_sim`` for out-of-process use.

Run it with ``python -m airflow_provider_telnyx.testing.simulator --port 8765`` or ``telnyx-simulator``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, fields, replace
from datetime import datetime, timezone
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from airflow_provider_telnyx.testing._conversations import ConversationRoutes
from airflow_provider_telnyx.testing._events import ScheduledEventRoutes
from airflow_provider_telnyx.testing._limits import Faults, RateLimiter, fault_response
from airflow_provider_telnyx.testing._records import (
    DroppedConnection,
    Exchange,
    IdempotencyRecord,
    JournalEntry,
    SimulatedAssistant,
    StoredEvent,
)
from airflow_provider_telnyx.testing._rules import (
    NO_TELEPHONY_ASSISTANT,
    Problem,
    iso,
    telnyx_error,
)
from airflow_provider_telnyx.testing.lifecycle import OUTCOMES

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


class Simulator(ScheduledEventRoutes, ConversationRoutes):
    """The simulated API, its state, its faults and its journal.

    :param api_keys: bearer tokens accepted (any other answers 401).
    :param organizations: the organization of each API key; a key left out belongs to
        ``DEFAULT_ORGANIZATION``. Events and idempotency records are the organization's, not the key's.
    :param assistants: assistant ids that exist (with telephony settings); any other answers 404.
        ``assistant-no-telephony`` always exists, without telephony settings (phone calls answer 400).
    :param time_scale: how much faster an event's clock runs after its dispatch (see :mod:`.lifecycle`).
    :param faults: faults injected from the start.
    :param seed: seed of the RNG that draws faults, for repeatable runs.
    :param clock: wall clock (tests may inject one).
    :param monotonic: the clock rate-limit windows and buckets are measured on (tests may freeze it).
    :param record_exchanges: keep every request and response in ``exchanges`` (for contract tests).
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
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
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
        self._assistants: dict[str, SimulatedAssistant] = {}
        self.add_assistants(*assistants)
        self._assistants[NO_TELEPHONY_ASSISTANT] = SimulatedAssistant(NO_TELEPHONY_ASSISTANT, telephony=False)
        self._events: dict[str, StoredEvent] = {}
        self._conversations: dict[str, StoredEvent] = {}
        self._idempotency: dict[tuple[str, str, str, str], IdempotencyRecord] = {}
        self._limiter = RateLimiter(monotonic)
        self._journal: deque[JournalEntry] = deque(maxlen=200_000)
        self._counters: Counter[str] = Counter()
        #: Every client address (host, port) requests came from: one per TCP connection a client opened.
        self._clients: set[tuple[str, int]] = set()
        self._release = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.record_exchanges = record_exchanges
        self.exchanges: list[Exchange] = []
        #: Set by :meth:`serve_in_thread` while serving: ``http://host:port/v2``.
        self.base_url: str | None = None
        events = "/v2/ai/assistants/{assistant_id}/scheduled_events"
        conversation = "/v2/ai/conversations/{conversation_id}"
        self.app = Starlette(
            routes=[
                Route("/v2/ai/assistants", self._route("assistants", self._list_assistants), methods=["GET"]),
                Route("/v2/ai/assistants/{assistant_id}", self._route("assistant", self._get_assistant)),
                Route(events, self._route("list", self._list), methods=["GET"]),
                Route(events, self._route("create", self._handle_create), methods=["POST"]),
                Route(events + "/{event_id}", self._route("get", self._get), methods=["GET"]),
                Route(events + "/{event_id}", self._route("delete", self._delete), methods=["DELETE"]),
                Route(conversation, self._route("conversation", self._get_conversation), methods=["GET"]),
                Route(conversation + "/messages", self._route("messages", self._conversation_messages)),
                Route(conversation + "/conversations-insights", self._route("insights", self._conversation_insights)),
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
            self._assistants[assistant_id] = SimulatedAssistant(assistant_id, telephony)

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
            self._conversations.clear()
            self._idempotency.clear()
            self._journal.clear()
            self._counters.clear()
            self._clients.clear()
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
        """Counters: requests by route and status, the connections they came over (``client_connections``: each
        client address, host and port, counted once), events created, cancelled and deleted, faults injected.

        :return: a JSON-safe dictionary.
        """
        with self._lock:
            by_route: Counter[str] = Counter(f"{e.route} {e.status}" for e in self._journal)
            return {
                "requests": len(self._journal),
                "requests_by_route_status": dict(sorted(by_route.items())),
                "client_connections": len(self._clients),
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
        limit_headers: dict[str, str] = {}
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
                response = fault_response(fault)
            response.headers.update(limit_headers)
        except Problem as problem:
            response = problem.response
            response.headers.update(limit_headers)  # every answer counted against the limit says so
            if response.status_code == 429:
                fault = "rate_limit"
        status = 0 if isinstance(response, DroppedConnection) else response.status_code
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
            at=iso(datetime.now(timezone.utc)),
            method=request.method,
            path=request.url.path,
            route=route,
            status=status,
            fault=fault,
            idempotency_key=request.headers.get("idempotency-key"),
            event_id=event_id,
        )
        client = request.client
        with self._lock:
            self._journal.append(entry)
            if client is not None:
                self._clients.add((client.host, client.port))
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

    # -- assistants ----------------------------------------------------------------------------------------

    async def _list_assistants(self, request: Request, organization: str) -> Response:
        return JSONResponse({"data": [assistant.render() for assistant in self._assistants.values()]})

    async def _get_assistant(self, request: Request, organization: str) -> Response:
        return JSONResponse(self._assistants[request.path_params["assistant_id"]].render())

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
    """The outcome table as Markdown, for the docs."""
    rows = ["| end-user target | outcome | what happens |", "|---|---|---|"]
    rows += [f"| `{target}` | {o.name} | {o.description} |" for target, o in OUTCOMES.items()]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    """Command line: serve the simulator until interrupted (``telnyx-simulator``).

    :param argv: arguments (default: ``sys.argv[1:]``).
    """
    from airflow_provider_telnyx.testing._cli import main as run

    run(argv)


if __name__ == "__main__":
    main()
