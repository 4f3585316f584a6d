"""What the simulator keeps: its journal of requests, recorded exchanges, stored events, idempotency records and
assistants."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from airflow_provider_telnyx.testing.lifecycle import Timeline

__all__ = ["DroppedConnection", "Exchange", "IdempotencyRecord", "JournalEntry", "SimulatedAssistant", "StoredEvent"]


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
    :param status: response status (0 for a dropped connection).
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
class StoredEvent:
    event_id: str
    assistant_id: str
    body: dict[str, Any]
    created_at: datetime
    timeline: Timeline
    organization: str


@dataclass
class IdempotencyRecord:
    fingerprint: str
    created_at: datetime
    status: int = 0
    body: Any = None
    in_flight: bool = True


@dataclass(frozen=True)
class SimulatedAssistant:
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


class DroppedConnection(Response):
    """Starts a response, then fails: the server closes the connection mid-response."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]})
        raise ConnectionAbortedError("simulated dropped connection")
