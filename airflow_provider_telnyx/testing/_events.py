"""The scheduled-events routes of the simulator: create (with idempotency records as the guide scopes them), get,
delete and list, and how a stored event is rendered as the API answers it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from airflow_provider_telnyx.testing._limits import Faults, fault_response
from airflow_provider_telnyx.testing._records import (
    DroppedConnection,
    IdempotencyRecord,
    SimulatedAssistant,
    StoredEvent,
)
from airflow_provider_telnyx.testing._rules import (
    CHANNELS,
    IDEMPOTENCY_KEY,
    Problem,
    check_business_rules,
    check_schema,
    jsonable,
    matches,
    query_datetime,
    query_int,
    telnyx_error,
    validation_error,
)
from airflow_provider_telnyx.testing.lifecycle import plan_timeline

__all__ = ["IDEMPOTENCY_TTL", "ScheduledEventRoutes"]

#: How long an ``Idempotency-Key`` record is kept (the guide: 24 hours).
IDEMPOTENCY_TTL = timedelta(hours=24)


class ScheduledEventRoutes:
    """The four scheduled-events operations, over the state the :class:`~.simulator.Simulator` holds."""

    faults: Faults
    clock: Callable[[], datetime]
    time_scale: float
    _lock: threading.Lock
    _random: random.Random
    _events: dict[str, StoredEvent]
    _conversations: dict[str, StoredEvent]
    _idempotency: dict[tuple[str, str, str, str], IdempotencyRecord]
    _assistants: dict[str, SimulatedAssistant]
    _counters: Counter[str]
    _release: asyncio.Event

    async def _handle_create(self, request: Request, organization: str) -> Response:
        assistant_id = request.path_params["assistant_id"]
        refused = self._refuse_create()
        if refused is not None:
            return refused
        keys = request.headers.getlist("idempotency-key")
        if len(keys) > 1 or (keys and not IDEMPOTENCY_KEY.fullmatch(keys[0])):
            detail = "Idempotency-Key must be one header of 1 to 255 letters, digits, '-' or '_'."
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
        refused = fault_response("http_503")
        refused.fault = "refused_create_503"  # type: ignore[attr-defined]
        return refused

    def _maybe_lose(self, response: Response) -> Response:
        """The answer to a committed create, or what replaces it when a fault loses it (502 or a dropped line)."""
        faults = self.faults
        lost: Response | None = None
        if faults.lose_next_creates > 0:
            faults.lose_next_creates -= 1
            lost = fault_response("http_502")
        elif faults.lose_create_rate and self._random.random() < faults.lose_create_rate:
            lost = fault_response("http_502") if self._random.random() < 0.5 else DroppedConnection()
        if lost is None:
            return response
        dropped = isinstance(lost, DroppedConnection)
        lost.fault = "lost_response_dropped" if dropped else "lost_response_502"  # type: ignore[attr-defined]
        return lost

    def _claim_key(self, record_key: tuple[str, str, str, str], fingerprint: str, now: datetime) -> Response | None:
        with self._lock:
            record = self._idempotency.get(record_key)
            if record is None or now - record.created_at > IDEMPOTENCY_TTL:
                self._idempotency[record_key] = IdempotencyRecord(fingerprint, now)
                return None
            self._counters["idempotency_hits"] += 1
        if record.fingerprint != fingerprint:
            detail = "This Idempotency-Key was already used with a different request."
            return telnyx_error(422, "10027", "Idempotency key reused", detail, "/header/Idempotency-Key")
        if record.in_flight:
            detail = "A request with this Idempotency-Key is still being processed."
            return telnyx_error(409, "10036", "Idempotency conflict", detail, "/header/Idempotency-Key")
        self._counters["idempotent_replays"] += 1
        response = JSONResponse(record.body, status_code=record.status, headers={"Idempotent-Replayed": "true"})
        response.event_id = record.body.get("scheduled_event_id")  # type: ignore[attr-defined]
        return response

    def _validate_and_store(self, assistant_id: str, body: Any, now: datetime, organization: str) -> StoredEvent:
        scheduled_at = check_schema(body)
        check_business_rules(assistant_id, body, scheduled_at, now)
        if not self._assistants[assistant_id].telephony and body["telnyx_conversation_channel"] == "phone_call":
            detail = "Assistant does not have telephony settings configured"
            raise Problem(telnyx_error(400, "10032", "Invalid scheduled event", detail, "/assistant_id"))
        event = StoredEvent(
            event_id=str(uuid.uuid4()),
            assistant_id=assistant_id,
            body=body,
            created_at=now,
            timeline=plan_timeline(body, scheduled_at, self.time_scale),
            organization=organization,
        )
        self._store(event)
        return event

    def _store(self, event: StoredEvent) -> None:
        with self._lock:
            self._events[event.event_id] = event
            self._conversations[event.timeline.conversation_id] = event
            self._counters["events_created"] += 1

    def seed_event(self, assistant_id: str, body: dict[str, Any], *, organization: str | None = None) -> str:
        """Store an event as if it had been created before (its time may be in the past: an event scheduled
        yesterday is final now, with its conversation), without a request. For tests and benchmarks that need
        history, e.g. yesterday's calls.

        :param assistant_id: a known assistant.
        :param body: a create body (checked against the schema; the "in the future" rule is not applied).
        :param organization: whose event it is (default: the default organization's).
        :return: the event id.
        """
        from airflow_provider_telnyx.testing.simulator import DEFAULT_ORGANIZATION

        if assistant_id not in self._assistants:
            raise ValueError(f"unknown assistant {assistant_id!r}: add it first")
        try:
            scheduled_at = check_schema(body)
        except Problem as problem:
            raise ValueError(f"not a valid create body: {bytes(problem.response.body).decode()}") from None
        event = StoredEvent(
            event_id=str(uuid.uuid4()),
            assistant_id=assistant_id,
            body=dict(body),
            created_at=scheduled_at - timedelta(hours=1),
            timeline=plan_timeline(body, scheduled_at, self.time_scale),
            organization=organization or DEFAULT_ORGANIZATION,
        )
        self._store(event)
        return event.event_id

    def _find(self, request: Request, organization: str) -> StoredEvent:
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
            if pending:  # never dispatched: no conversation will ever exist
                self._conversations.pop(event.timeline.conversation_id, None)
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
        # Filter on what the filter reads, render only the page asked for.
        selected = [
            event
            for event in stored
            if matches(
                {
                    "telnyx_conversation_channel": event.body["telnyx_conversation_channel"],
                    "scheduled_at_fixed_datetime": event.timeline.scheduled_at_at(now),
                },
                channel,
                bounds[0],
                bounds[1],
            )
        ]
        total = len(selected)
        data = [self._render(event, now) for event in selected[(number - 1) * size : number * size]]
        meta = {
            "total_pages": math.ceil(total / size),
            "total_results": total,
            "page_number": number,
            "page_size": size,
        }
        return JSONResponse({"data": data, "meta": meta})

    def _render(self, event: StoredEvent, now: datetime) -> dict[str, Any]:
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
