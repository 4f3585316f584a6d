"""The AI conversations endpoints (a conversation, its messages, its insights): request descriptions without I/O,
and the hook methods that send them (:class:`ConversationEndpoints`, mixed into
:class:`~airflow_provider_telnyx.hooks.telnyx.TelnyxHook`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError
from airflow_provider_telnyx.hooks._endpoints import parsed
from airflow_provider_telnyx.hooks._http import ApiRequest
from airflow_provider_telnyx.hooks._paging import MAX_PAGES, Page, Pager
from airflow_provider_telnyx.models import (
    MAX_PAGE_SIZE,
    Conversation,
    ConversationInsight,
    ConversationInsightList,
    ConversationMessage,
    ConversationMessagePage,
    path_id,
)

__all__ = ["ConversationEndpoints", "conversation_path", "messages_pager"]


def conversation_path(conversation_id: str, tail: str = "") -> str:
    """``/ai/conversations/{conversation_id}{tail}``, the id validated and encoded."""
    return f"/ai/conversations/{path_id('conversation_id', conversation_id)}{tail}"


def _message_identity(message: ConversationMessage) -> object:
    # Messages have no id: a repeated page is recognised by who said what, when.
    return (message.role, message.created_at, message.sent_at, message.text)


def _messages_page(request: ApiRequest, payload: Any) -> Page[ConversationMessage]:
    return parsed(request, payload, ConversationMessagePage.model_validate)


def messages_pager(conversation_id: str, page_size: int = MAX_PAGE_SIZE, max_pages: int = MAX_PAGES) -> Pager:
    """The pager of a conversation's messages (validated before any request).

    :param conversation_id: the conversation.
    :param page_size: messages per request, 1 to 100.
    :param max_pages: the most pages followed before the listing is refused as endless.
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
    )


def _conversation_request(conversation_id: str) -> ApiRequest:
    return ApiRequest("GET", conversation_path(conversation_id))


def _insights_request(conversation_id: str) -> ApiRequest:
    return ApiRequest("GET", conversation_path(conversation_id, "/conversations-insights"))


def _conversation(payload: Any) -> Conversation:
    # The API wraps it: {"data": {...}} (a bare object is accepted too).
    inner = payload.get("data", payload) if isinstance(payload, dict) else payload
    return Conversation.model_validate(inner)


def _insights(request: ApiRequest, payload: Any) -> list[ConversationInsight]:
    return parsed(request, payload, ConversationInsightList.model_validate).data


class ConversationEndpoints:
    """The conversation methods of :class:`~airflow_provider_telnyx.hooks.telnyx.TelnyxHook` (sync and ``a``
    twins over the hook's one request path)."""

    # Provided by TelnyxHook.
    def call(self, request: ApiRequest) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    async def acall(self, request: ApiRequest) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def _pages(self, pager: Pager) -> Iterator[Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    def _apages(self, pager: Pager) -> AsyncIterator[Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    def get_conversation(self, conversation_id: str) -> Conversation:
        """Fetch an AI conversation (``GET /ai/conversations/{conversation_id}``).

        :param conversation_id: a scheduled event's ``conversation_id``.
        :raises TelnyxNotFoundError: when it does not exist (yet).
        """
        request = _conversation_request(conversation_id)
        return parsed(request, self.call(request), _conversation)

    async def aget_conversation(self, conversation_id: str) -> Conversation:
        """Async twin of :meth:`get_conversation`."""
        request = _conversation_request(conversation_id)
        return parsed(request, await self.acall(request), _conversation)

    def list_conversation_messages(
        self, conversation_id: str, *, page_size: int = MAX_PAGE_SIZE, max_pages: int = MAX_PAGES
    ) -> Iterator[ConversationMessage]:
        """Iterate over a conversation's messages in order, following every page
        (``GET /ai/conversations/{conversation_id}/messages``).

        :param conversation_id: a scheduled event's ``conversation_id``.
        :param page_size: messages per request, 1 to 100.
        :param max_pages: the most pages followed (a server that keeps announcing more is stopped with
            :class:`~airflow_provider_telnyx.exceptions.TelnyxInvalidResponseError`).
        :return: an iterator; pages are fetched as it is consumed.
        :raises TelnyxInvalidInputError: for a bad id or page size, before any request.
        :raises TelnyxNotFoundError: when the conversation does not exist (yet).
        """
        return self._pages(messages_pager(conversation_id, page_size, max_pages))

    def alist_conversation_messages(
        self, conversation_id: str, *, page_size: int = MAX_PAGE_SIZE, max_pages: int = MAX_PAGES
    ) -> AsyncIterator[ConversationMessage]:
        """Async twin of :meth:`list_conversation_messages`: an async iterator over every page."""
        return self._apages(messages_pager(conversation_id, page_size, max_pages))

    def get_conversation_insights(self, conversation_id: str) -> list[ConversationInsight]:
        """The insight runs of a conversation (``GET /ai/conversations/{conversation_id}/conversations-insights``),
        each with its ``status`` and, once ``completed``, its results.

        :param conversation_id: a scheduled event's ``conversation_id``.
        :raises TelnyxNotFoundError: when the conversation does not exist (yet).
        """
        request = _insights_request(conversation_id)
        return _insights(request, self.call(request))

    async def aget_conversation_insights(self, conversation_id: str) -> list[ConversationInsight]:
        """Async twin of :meth:`get_conversation_insights`."""
        request = _insights_request(conversation_id)
        return _insights(request, await self.acall(request))
