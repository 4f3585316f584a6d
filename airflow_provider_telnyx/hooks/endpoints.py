"""Every endpoint the hook calls, described without I/O: a request-describing function (or a pager) and a parse
function that checks the answer. :class:`~airflow_provider_telnyx.hooks.telnyx.TelnyxHook` sends them (two short
methods each, sync and async); the waiters (:mod:`airflow_provider_telnyx.utils.waiting`) send them as steps.

To add an endpoint: a model in :mod:`airflow_provider_telnyx.models`, its request and parse functions here, two
methods on the hook.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpx
from pydantic import ValidationError

from airflow_provider_telnyx._checks import check_idempotency_key
from airflow_provider_telnyx._common import MAX_PAGE_SIZE
from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError, TelnyxInvalidResponseError
from airflow_provider_telnyx.hooks._http import ApiRequest
from airflow_provider_telnyx.hooks._paging import LISTING_SECONDS, MAX_NAMED_UNREADABLE, MAX_PAGES, Page, Pager
from airflow_provider_telnyx.hooks._steps import Steps
from airflow_provider_telnyx.models import (
    Assistant,
    Conversation,
    ConversationInsight,
    ConversationInsightList,
    ConversationMessage,
    ConversationMessagePage,
    ListFilter,
    ScheduledEvent,
    ScheduledEventPage,
    ScheduledEventRequest,
    field_errors,
    parse_scheduled_event,
    path_id,
)

__all__ = [
    "LISTING_SECONDS",
    "MAX_PAGES",
    "ApiRequest",
    "Create",
    "Pager",
    "Steps",
    "assistant_request",
    "conversation_path",
    "conversation_request",
    "create_body",
    "delete_request",
    "event_request",
    "events_page",
    "events_pager",
    "events_path",
    "insights_page",
    "insights_request",
    "invalid",
    "messages_pager",
    "parsed",
    "read_assistant",
    "read_conversation",
    "read_event",
    "read_insights",
]

_T = TypeVar("_T")

log = logging.getLogger(__name__)


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
    """Read one page of ``GET .../scheduled_events``."""
    return parsed(request, payload, ScheduledEventPage.model_validate)


def events_pager(
    assistant_id: str,
    *,
    max_pages: int = MAX_PAGES,
    max_seconds: float | None = LISTING_SECONDS,
    keep_unreadable: bool = False,
    **filters: Any,
) -> Pager:
    """The pager of an assistant's events (validated before any request). An event listed a second time (offset
    paging while events are created) is dropped; one that does not read is skipped with a WARNING naming it.

    :param max_pages: the most pages followed.
    :param max_seconds: the longest the listing may take (``None``: no time budget).
    :param keep_unreadable: hand an event that does not read over as an
        :class:`~airflow_provider_telnyx.models.UnreadableItem` instead of skipping it.
    :param filters: ``conversation_channel``, ``from_date``, ``to_date``, ``page_size`` (1..100).
    :raises TelnyxInvalidInputError: for bad filters.
    """
    path = events_path(assistant_id)
    params = ListFilter.of(**filters).params()
    return Pager(
        lambda number: ApiRequest("GET", path, params={**params, "page[number]": str(number)}),
        events_page,
        lambda event: event.event_id,
        max_pages=max_pages,
        max_seconds=max_seconds,
        unique=lambda event: event.event_id or None,
        keep_unreadable=keep_unreadable,
    )


def delete_request(assistant_id: str, event_id: str) -> ApiRequest:
    """``DELETE .../scheduled_events/{event_id}``: a 404 after an attempt that may have been processed is success."""
    return ApiRequest(
        "DELETE", events_path(assistant_id, event_id), headers={"Accept": "*/*"}, ok=(200, 204), done_if_gone=True
    )


def assistant_request(assistant_id: str) -> ApiRequest:
    """``GET /ai/assistants/{assistant_id}``."""
    return ApiRequest("GET", f"/ai/assistants/{path_id('assistant_id', assistant_id)}")


def read_assistant(request: ApiRequest, payload: Any) -> Assistant:
    """Parse a fetched assistant."""
    return parsed(request, payload, Assistant.model_validate)


# -- conversations ----------------------------------------------------------------------------------------------


def conversation_path(conversation_id: str, tail: str = "") -> str:
    """``/ai/conversations/{conversation_id}{tail}``, the id validated and encoded."""
    return f"/ai/conversations/{path_id('conversation_id', conversation_id)}{tail}"


def _message_identity(message: ConversationMessage) -> object:
    # Messages have no id: a repeated page is recognised by who said what, when.
    return (message.role, message.created_at, message.sent_at, message.text)


def _messages_page(request: ApiRequest, payload: Any) -> Page[ConversationMessage]:
    return parsed(request, payload, ConversationMessagePage.model_validate)


def messages_pager(
    conversation_id: str, page_size: int = MAX_PAGE_SIZE, max_pages: int = MAX_PAGES, *, keep_unreadable: bool = False
) -> Pager:
    """The pager of a conversation's messages (validated before any request). A message that does not read is
    skipped with a WARNING naming its position (messages have no id; none is dropped as a duplicate).

    :param conversation_id: the conversation.
    :param page_size: messages per request, 1 to 100.
    :param max_pages: the most pages followed before the listing is refused as endless.
    :param keep_unreadable: hand a message that does not read over as an
        :class:`~airflow_provider_telnyx.models.UnreadableItem` instead of skipping it.
    :raises TelnyxInvalidInputError: for a bad id or page size.
    """
    if not isinstance(page_size, int) or isinstance(page_size, bool) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise TelnyxInvalidInputError(
            [("page_size", f"must be an integer from 1 to {MAX_PAGE_SIZE}")], subject="conversation messages"
        )
    path = conversation_path(conversation_id, "/messages")
    size = str(page_size)
    return Pager(
        lambda number: ApiRequest("GET", path, params={"page[number]": str(number), "page[size]": size}),
        _messages_page,
        _message_identity,
        max_pages=max_pages,
        keep_unreadable=keep_unreadable,
    )


def conversation_request(conversation_id: str) -> ApiRequest:
    """``GET /ai/conversations/{conversation_id}``."""
    return ApiRequest("GET", conversation_path(conversation_id))


def insights_request(conversation_id: str) -> ApiRequest:
    """``GET /ai/conversations/{conversation_id}/conversations-insights``."""
    return ApiRequest("GET", conversation_path(conversation_id, "/conversations-insights"))


def _conversation(payload: Any) -> Conversation:
    # The API wraps it: {"data": {...}} (a bare object is accepted too).
    inner = payload.get("data", payload) if isinstance(payload, dict) else payload
    return Conversation.model_validate(inner)


def read_conversation(request: ApiRequest, payload: Any) -> Conversation:
    """Parse a fetched conversation (``{"data": {...}}``)."""
    return parsed(request, payload, _conversation)


def insights_page(request: ApiRequest, payload: Any) -> ConversationInsightList:
    """Read a conversation's insight runs one by one: a run that does not read is kept in ``unreadable``."""
    return parsed(request, payload, ConversationInsightList.model_validate)


def read_insights(request: ApiRequest, payload: Any) -> list[ConversationInsight]:
    """Parse a conversation's insight runs; one that does not read is skipped with a WARNING naming it."""
    page = insights_page(request, payload)
    for item in page.unreadable[:MAX_NAMED_UNREADABLE]:
        log.warning(
            "Telnyx API %s %s: insights run %s does not match the documented schema and is skipped: %s",
            request.method,
            request.path,
            item.name(),
            item.reason,
        )
    if len(page.unreadable) > MAX_NAMED_UNREADABLE:
        log.warning(
            "Telnyx API %s %s: %d insights runs skipped in all", request.method, request.path, len(page.unreadable)
        )
    return page.data
