"""The endpoints, described without I/O: each is a request-describing function and a parse function that checks
the answer. :class:`~airflow_provider_telnyx.hooks.telnyx.TelnyxHook` sends them (two one-line methods each)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpx
from pydantic import ValidationError

from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError, TelnyxInvalidResponseError
from airflow_provider_telnyx.hooks._http import ApiRequest
from airflow_provider_telnyx.hooks._paging import Page
from airflow_provider_telnyx.models import (
    ScheduledEvent,
    ScheduledEventPage,
    ScheduledEventRequest,
    check_idempotency_key,
    field_errors,
    parse_scheduled_event,
    path_id,
)

__all__ = ["Create", "create_body", "event_request", "events_page", "events_path", "invalid", "parsed", "read_event"]

_T = TypeVar("_T")


def invalid(request: ApiRequest, error: ValidationError) -> TelnyxInvalidResponseError:
    problems = "; ".join(f"{name}: {message}" for name, message in field_errors(error)[:5])
    return TelnyxInvalidResponseError(
        f"Telnyx API {request.method} {request.path} answered with a body that does not match the documented "
        f"schema: {problems}",
        method=request.method,
        path=request.path,
    )


def parsed(request: ApiRequest, payload: Any, parse: Callable[[Any], _T]) -> _T:
    try:
        return parse(payload)
    except ValidationError as error:
        raise invalid(request, error) from None


def events_path(assistant_id: str, event_id: str | None = None) -> str:
    path = f"/ai/assistants/{path_id('assistant_id', assistant_id)}/scheduled_events"
    return path if event_id is None else f"{path}/{path_id('event_id', event_id)}"


def create_body(request: ScheduledEventRequest | Mapping[str, Any]) -> ScheduledEventRequest:
    if isinstance(request, ScheduledEventRequest):
        return request
    if not isinstance(request, Mapping):
        raise TelnyxInvalidInputError(
            [("request", "must be a ScheduledEventRequest or a mapping of API fields")],
            subject="scheduled event request",
        )
    try:
        return ScheduledEventRequest.model_validate(dict(request))
    except ValidationError as error:
        raise TelnyxInvalidInputError(field_errors(error), subject="scheduled event request") from None


class Create:
    """One create: its request, and the check of its answer (the created event must be the one we asked for)."""

    def __init__(
        self, assistant_id: str, body: ScheduledEventRequest | Mapping[str, Any], idempotency_key: str | None
    ) -> None:
        self.body = create_body(body)
        key = None if idempotency_key is None else check_idempotency_key(idempotency_key)
        self.request = ApiRequest(
            "POST",
            events_path(assistant_id),
            body=self.body.to_api(),
            headers={"Idempotency-Key": key} if key else {},
            idempotent=key is not None,
            ok=(200, 201),
        )

    def event(self, payload: Any, headers: httpx.Headers) -> ScheduledEvent:
        event = parsed(self.request, payload, parse_scheduled_event)
        what = f"Telnyx API POST {self.request.path} answered"
        if not event.event_id:
            raise TelnyxInvalidResponseError(
                f"{what} a created event without scheduled_event_id (a task retry finds it by its tags)",
                method="POST",
                path=self.request.path,
            )
        try:
            path_id("scheduled_event_id", event.event_id)
        except TelnyxInvalidInputError as error:
            raise TelnyxInvalidResponseError(
                f"{what} an event id no request could name ({error.problems[0][1]}); not adopted",
                method="POST",
                path=self.request.path,
            ) from None
        if event.telnyx_end_user_target != self.body.telnyx_end_user_target:
            raise TelnyxInvalidResponseError(
                f"{what} event {event.event_id} for another end-user target than the one sent",
                method="POST",
                path=self.request.path,
            )
        event._replayed = headers.get("idempotent-replayed", "").strip().lower() == "true"
        return event


def event_request(assistant_id: str, event_id: str) -> ApiRequest:
    """``GET /ai/assistants/{assistant_id}/scheduled_events/{event_id}``, ids validated and encoded."""
    return ApiRequest("GET", events_path(assistant_id, event_id))


def read_event(request: ApiRequest, payload: Any, event_id: str) -> ScheduledEvent:
    """Parse a fetched event and check it is the one asked for (a missing id is taken to be it).

    :param request: the GET sent.
    :param payload: its JSON.
    :param event_id: the id asked for.
    :raises TelnyxInvalidResponseError: the body is not an event, or another one.
    """
    event = parsed(request, payload, parse_scheduled_event)
    if not event.scheduled_event_id:
        event.scheduled_event_id = event_id
    elif event.scheduled_event_id != event_id:
        raise TelnyxInvalidResponseError(
            f"Telnyx API GET {request.path} answered another event ({event.scheduled_event_id})",
            method="GET",
            path=request.path,
        )
    return event


def events_page(request: ApiRequest, payload: Any) -> Page[ScheduledEvent]:
    return parsed(request, payload, ScheduledEventPage.model_validate)
