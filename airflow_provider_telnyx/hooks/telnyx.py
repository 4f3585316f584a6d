"""``TelnyxHook``: the Telnyx API's endpoints over one request path, sync and ``a``-prefixed async twins.

Each endpoint is a request description and a parse function (:mod:`airflow_provider_telnyx.hooks.endpoints`); the
pooled clients and their limits (``hooks/_http.py``), the redaction (``hooks/_redact.py``), the retry policy
(``hooks/_retry.py``) and the error mapping (``hooks/_errors.py``) are the same for both sides. Several requests in
a row (cancel-if-pending, the waiters' polling cycles) are written once as steps (``run`` / ``arun``).
"""

from __future__ import annotations

import asyncio
import math
import platform
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import httpx
from tenacity import AsyncRetrying, Retrying
from typing_extensions import Unpack

from airflow_provider_telnyx import __version__
from airflow_provider_telnyx._common import DEFAULT_CONN_ID, MAX_PAGE_SIZE
from airflow_provider_telnyx._compat import BaseHook, aextra_dejson, aget_connection, amask_secret, conf, mask_secret
from airflow_provider_telnyx._connection_form import form_widgets, ui_field_behaviour
from airflow_provider_telnyx.exceptions import (
    TelnyxApiError,
    TelnyxInvalidInputError,
    TelnyxNotFoundError,
)
from airflow_provider_telnyx.hooks._errors import adecode, decode
from airflow_provider_telnyx.hooks._http import ApiRequest, HttpClients
from airflow_provider_telnyx.hooks._retry import (
    MIN_HINT_WAIT,
    Attempts,
    RateLimitAnswer,
    RateLimitObservation,
    RetryPolicy,
)
from airflow_provider_telnyx.hooks._steps import Steps, arun_steps, run_steps
from airflow_provider_telnyx.hooks.endpoints import (
    LISTING_SECONDS,
    MAX_PAGES,
    Create,
    Pager,
    assistant_request,
    conversation_request,
    delete_request,
    event_request,
    events_pager,
    insights_request,
    messages_pager,
    read_assistant,
    read_conversation,
    read_event,
    read_insights,
)
from airflow_provider_telnyx.models import (
    Assistant,
    Conversation,
    ConversationInsight,
    ConversationMessage,
    EventFilters,
    EventStatus,
    ScheduledEvent,
    ScheduledEventRequest,
    TelnyxClientConfig,
)

if TYPE_CHECKING:
    from airflow.sdk import Connection

__all__ = ["MIN_HINT_WAIT", "RateLimitAnswer", "RateLimitObservation", "TelnyxHook"]

_T = TypeVar("_T")


class TelnyxHook(BaseHook):
    """Talks to the Telnyx API using an Airflow connection of type ``telnyx``.

    The connection's password is the API key; host, port and schema make the base URL (default
    ``https://api.telnyx.com/v2``); extras ``timeout`` (seconds per request, in all), ``max_retries``, ``proxy`` and
    ``idempotency_namespace`` are optional. Nothing is read or opened until the first request. Every method has an
    async twin prefixed with ``a`` that never blocks the event loop. Besides scheduled events and assistants it
    reads the conversations events lead to (``get_conversation``, ``list_conversation_messages``,
    ``get_conversation_insights``). Every request is described in :mod:`.hooks.endpoints`.

    Connection errors, timeouts, 408, 409, 429 and 5xx answers are retried with full-jitter exponential backoff,
    honouring ``Retry-After`` (429, 503), ``x-ratelimit-reset`` (429) and ``x-should-retry``; other 4xx answers
    are raised at once. A create is retried after an ambiguous failure only when it carries an
    ``Idempotency-Key``. Every request has an overall deadline and a size limit (see ``docs/security.md``).

    :param telnyx_conn_id: the Airflow connection to use.
    :param max_retries: override the connection's ``max_retries``.
    :param timeout: override the connection's ``timeout`` (seconds).
    :param transport: an ``httpx`` transport for the sync client (tests, custom TLS).
    :param async_transport: an ``httpx`` transport for the async client.
    :param sleep: how the sync side waits between retries (default ``time.sleep``).
    :param async_sleep: how the async side waits between retries (default ``asyncio.sleep``).
    :param pace: awaited before every async attempt, retries included (the batch operator's rate limiter).
    :param max_connections: connections each client opens at most, all kept alive between requests; a request
        past them waits for one, within its own ``timeout``. By default httpx's: 100 open, 20 kept alive, so a hook
        with more requests in flight at once opens a new connection (a TLS handshake) for nearly every one past the
        20th; the batch, export and delete operators set it to their concurrency plus one. Ignored with a custom
        ``transport``/``async_transport`` (httpx sizes only its own transports' pools).
    """

    conn_name_attr = "telnyx_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "telnyx"
    hook_name = "Telnyx"

    user_agent: ClassVar[str] = f"airflow-provider-telnyx/{__version__}"

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The extras' fields, for Airflow 3.0 and 3.1 (3.2+ reads the same ``conn-fields`` from provider info)."""
        return form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden, relabelled and placeholder fields, for Airflow 3.0 and 3.1 (3.2+ reads provider info)."""
        return ui_field_behaviour()

    def __init__(
        self,
        telnyx_conn_id: str = default_conn_name,
        *,
        max_retries: int | None = None,
        timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        pace: Callable[[], Awaitable[None]] | None = None,
        max_connections: int | None = None,
    ) -> None:
        super().__init__()
        if max_connections is not None and (
            not isinstance(max_connections, int) or isinstance(max_connections, bool) or max_connections < 1
        ):
            raise TelnyxInvalidInputError([("max_connections", "must be a positive integer")], subject="hook")
        self.telnyx_conn_id = telnyx_conn_id
        self._max_retries = max_retries
        self._timeout = timeout
        self._transport = transport
        self._async_transport = async_transport
        self._sleep = sleep
        self._async_sleep = async_sleep
        self._pace = pace
        self._max_connections = max_connections
        self._config: TelnyxClientConfig | None = None
        self._http: HttpClients | None = None
        #: Rate-limit headers and 429s seen by this hook.
        self.rate_limit = RateLimitObservation()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(telnyx_conn_id={self.telnyx_conn_id!r})"

    # -- configuration -------------------------------------------------------------------------------------

    def _configure(self, conn: Connection, extra: Mapping[str, Any]) -> TelnyxClientConfig:
        config = TelnyxClientConfig.from_connection_fields(
            password=conn.password,
            host=conn.host,
            port=conn.port,
            schema=conn.schema,
            extra=extra,
            min_secret_length=conf.getint("logging", "min_length_masked_secret", fallback=5),
        )
        overrides: dict[str, Any] = {}
        if self._max_retries is not None:
            overrides["max_retries"] = self._max_retries
        if self._timeout is not None:
            if isinstance(self._timeout, bool) or not math.isfinite(self._timeout) or self._timeout <= 0:
                raise TelnyxInvalidInputError([("timeout", "must be a finite, positive number")], subject="hook")
            overrides["timeout"] = float(self._timeout)
        if config.insecure:
            self.log.warning("The telnyx connection %s sends the API key over plain http://", self.telnyx_conn_id)
        return config.model_copy(update=overrides) if overrides else config

    def get_config(self) -> TelnyxClientConfig:
        """Read and validate the connection (once per hook) and mask the API key in Airflow's logs.

        :raises TelnyxInvalidInputError: when the connection's fields are unusable.
        """
        if self._config is None:
            conn = self.get_connection(self.telnyx_conn_id)
            if conn.password:
                mask_secret(conn.password)
            self._config = self._configure(conn, conn.extra_dejson)
        return self._config

    async def aget_config(self) -> TelnyxClientConfig:
        """Async twin of :meth:`get_config`; the connection lookup and masking never block the event loop."""
        if self._config is None:
            conn = await aget_connection(self, self.telnyx_conn_id)
            if conn.password:
                await amask_secret(conn.password)
            self._config = self._configure(conn, await aextra_dejson(conn))
        return self._config

    @cached_property
    def _client_headers(self) -> dict[str, str]:
        try:
            from importlib.metadata import version

            airflow_version = version("apache-airflow-core")
        except Exception:  # pragma: no cover - metadata missing in odd installs
            airflow_version = "unknown"
        return {
            "User-Agent": f"{self.user_agent} apache-airflow/{airflow_version} python/{platform.python_version()}",
            "Accept": "application/json",
        }

    def _clients_for(self, config: TelnyxClientConfig) -> HttpClients:
        if self._http is None:
            self._http = HttpClients(
                headers={**self._client_headers, "Authorization": f"Bearer {config.api_key}"},
                base_url=config.base_url,
                timeout=config.timeout,
                proxy=config.proxy,
                transport=self._transport,
                async_transport=self._async_transport,
                secrets=(config.api_key,),
                max_connections=self._max_connections,
            )
        return self._http

    def get_client(self) -> httpx.Client:
        """The hook's pooled sync client (created on first use)."""
        return self._clients_for(self.get_config()).client

    async def aget_client(self) -> httpx.AsyncClient:
        """The hook's pooled async client (created on first use, bound to the running event loop)."""
        return self._clients_for(await self.aget_config()).aclient

    def close(self) -> None:
        """Close the sync client's pooled connections."""
        if self._http is not None:
            self._http.close()

    async def aclose(self) -> None:
        """Close the async client's pooled connections."""
        if self._http is not None:
            await self._http.aclose()

    # -- the one request path ------------------------------------------------------------------------------

    def _exchange(self, request: ApiRequest) -> tuple[Any, httpx.Headers]:
        config = self.get_config()
        transport = self._clients_for(config)
        attempts = Attempts(request, self.rate_limit, self.log)

        def attempt() -> tuple[Any, httpx.Headers]:
            try:
                answer = attempts.answered(transport.send(request, self.telnyx_conn_id))
                return decode(request, answer, conn_id=self.telnyx_conn_id, now=time.time()), answer.headers
            except TelnyxApiError as error:
                return attempts.settle(error)

        return Retrying(sleep=self._sleep, **RetryPolicy(config.max_retries, self.log).options(request))(attempt)

    async def _aexchange(self, request: ApiRequest) -> tuple[Any, httpx.Headers]:
        config = await self.aget_config()
        transport = self._clients_for(config)
        attempts = Attempts(request, self.rate_limit, self.log)

        async def attempt() -> tuple[Any, httpx.Headers]:
            if self._pace is not None:
                await self._pace()
            try:
                answer = attempts.answered(await transport.asend(request, self.telnyx_conn_id))
                return await adecode(request, answer, conn_id=self.telnyx_conn_id, now=time.time()), answer.headers
            except TelnyxApiError as error:
                return attempts.settle(error)

        policy = RetryPolicy(config.max_retries, self.log).options(request)
        return await AsyncRetrying(sleep=self._async_sleep, **policy)(attempt)

    def call(self, request: ApiRequest) -> Any:
        """Send one request (with retries) and return its decoded JSON.

        :return: the JSON body (``None`` when empty).
        :raises TelnyxApiError: the mapped error.
        """
        return self._exchange(request)[0]

    async def acall(self, request: ApiRequest) -> Any:
        """Async twin of :meth:`call`."""
        return (await self._aexchange(request))[0]

    def run(self, steps: Steps[_T]) -> _T:
        """Drive several requests written as steps (see :mod:`~.hooks._steps`).

        :param steps: the conversation.
        :return: its result.
        """
        return run_steps(steps, self.call)

    async def arun(self, steps: Steps[_T]) -> _T:
        """Async twin of :meth:`run`: a list of requests in one step is sent concurrently."""
        return await arun_steps(steps, self.acall)

    def _pages(self, pager: Pager) -> Iterator[Any]:
        while True:
            request = pager.request()
            items, done = pager.read(request, self.call(request))
            yield from items
            if done:
                return

    async def _apages(self, pager: Pager) -> AsyncIterator[Any]:
        while True:
            request = pager.request()
            items, done = pager.read(request, await self.acall(request))
            for item in items:
                yield item
            if done:
                return

    # -- scheduled events ----------------------------------------------------------------------------------

    def create_scheduled_event(
        self,
        assistant_id: str,
        request: ScheduledEventRequest | Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
    ) -> ScheduledEvent:
        """Schedule a call or SMS (``POST /ai/assistants/{assistant_id}/scheduled_events``).

        :param assistant_id: the AI assistant that will call or text.
        :param request: a :class:`~airflow_provider_telnyx.models.ScheduledEventRequest` or a mapping with the
            API's field names (validated the same way, "in the future" included).
        :param idempotency_key: sent as ``Idempotency-Key``; with it, ambiguous failures are retried safely and
            the API replays the first response instead of creating a second event (``event.replayed``).
        :return: the created event, checked: it has an id and the end-user target sent.
        :raises TelnyxInvalidInputError: for bad arguments, before any request.
        :raises TelnyxApiError: when the API refuses or cannot be reached within the retry budget.
        """
        create = self._describe_create(assistant_id, request, idempotency_key)
        return create.event(*self._exchange(create.request))

    async def acreate_scheduled_event(
        self,
        assistant_id: str,
        request: ScheduledEventRequest | Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
    ) -> ScheduledEvent:
        """Async twin of :meth:`create_scheduled_event`."""
        create = self._describe_create(assistant_id, request, idempotency_key)
        return create.event(*await self._aexchange(create.request))

    def _describe_create(
        self, assistant_id: str, request: ScheduledEventRequest | Mapping[str, Any], idempotency_key: str | None
    ) -> Create:
        create = Create(assistant_id, request, idempotency_key)
        if create.body.text_ignored:
            self.log.warning("text is ignored for phone_call events: not sent (a call has no text)")
        return create

    def get_scheduled_event(self, assistant_id: str, event_id: str) -> ScheduledEvent:
        """Fetch one event (``GET .../scheduled_events/{event_id}``).

        :param assistant_id: the assistant that owns the event.
        :param event_id: the event's ``scheduled_event_id``; the answer must be that event.
        :return: the event, as the phone-call or SMS variant.
        :raises TelnyxNotFoundError: when the event (or assistant) does not exist.
        """
        request = event_request(assistant_id, event_id)
        return read_event(request, self.call(request), event_id)

    async def aget_scheduled_event(self, assistant_id: str, event_id: str) -> ScheduledEvent:
        """Async twin of :meth:`get_scheduled_event`."""
        request = event_request(assistant_id, event_id)
        return read_event(request, await self.acall(request), event_id)

    def list_scheduled_events(
        self,
        assistant_id: str,
        *,
        max_pages: int = MAX_PAGES,
        max_seconds: float | None = LISTING_SECONDS,
        **filters: Unpack[EventFilters],
    ) -> Iterator[ScheduledEvent]:
        """Iterate over an assistant's events, following every page (``GET .../scheduled_events``).

        :param max_pages: the most pages followed (default 10,000); past it the listing fails.
        :param max_seconds: the longest the listing may take, from its first request (default
            600 s); past it the listing fails.
        :param filters: ``conversation_channel`` (only ``phone_call`` or only ``sms_chat`` events), ``from_date``
            and ``to_date`` (the inclusive date range, timezone-aware), ``page_size`` (events per request, 1 to
            100, default 100).
        :return: an iterator; pages are fetched as it is consumed.
        :raises TelnyxInvalidInputError: for bad filters, before any request.
        :raises TelnyxInvalidResponseError: when the server's paging misbehaves.
        """
        return self._pages(events_pager(assistant_id, max_pages=max_pages, max_seconds=max_seconds, **filters))

    def alist_scheduled_events(
        self,
        assistant_id: str,
        *,
        max_pages: int = MAX_PAGES,
        max_seconds: float | None = LISTING_SECONDS,
        **filters: Unpack[EventFilters],
    ) -> AsyncIterator[ScheduledEvent]:
        """Async twin of :meth:`list_scheduled_events`: an async iterator over every page."""
        return self._apages(events_pager(assistant_id, max_pages=max_pages, max_seconds=max_seconds, **filters))

    def delete_scheduled_event(self, assistant_id: str, event_id: str) -> None:
        """Cancel a pending event, or remove the record of a finished one (``DELETE .../{event_id}``).

        :param assistant_id: the assistant that owns the event.
        :param event_id: the event's id.
        :raises TelnyxNotFoundError: when the event does not exist (already deleted).
        """
        self.call(delete_request(assistant_id, event_id))

    async def adelete_scheduled_event(self, assistant_id: str, event_id: str) -> None:
        """Async twin of :meth:`delete_scheduled_event`."""
        await self.acall(delete_request(assistant_id, event_id))

    def cancel_if_pending_steps(self, assistant_id: str, event_id: str) -> Steps[bool]:
        """Cancel an event only while it is still ``pending``, as steps (``run`` or ``arun`` them).

        An event that already dispatched is left alone: deleting it would only remove its record.

        :param assistant_id: the assistant that owns the event.
        :param event_id: the event's id.
        :return: the steps, returning whether the event was cancelled.
        """
        request = event_request(assistant_id, event_id)
        try:
            event = read_event(request, (yield request), event_id)
            if event.status is not EventStatus.PENDING:
                self.log.info("Scheduled event %s is %s: not cancelled", event_id, event.status_text)
                return False
            yield delete_request(assistant_id, event_id)
        except TelnyxNotFoundError:
            self.log.info("Scheduled event %s is already gone", event_id)
            return False
        self.log.info("Cancelled pending scheduled event %s", event_id)
        return True

    def cancel_scheduled_event_if_pending(self, assistant_id: str, event_id: str) -> bool:
        """Cancel an event only while it is still ``pending`` (used by ``on_kill``).

        :param assistant_id: the assistant that owns the event.
        :param event_id: the event's id.
        :return: whether the event was cancelled.
        """
        return self.run(self.cancel_if_pending_steps(assistant_id, event_id))

    async def acancel_scheduled_event_if_pending(self, assistant_id: str, event_id: str) -> bool:
        """Async twin of :meth:`cancel_scheduled_event_if_pending`."""
        return await self.arun(self.cancel_if_pending_steps(assistant_id, event_id))

    # -- conversations -------------------------------------------------------------------------------------

    def get_conversation(self, conversation_id: str) -> Conversation:
        """Fetch an AI conversation (``GET /ai/conversations/{conversation_id}``).

        :param conversation_id: a scheduled event's ``conversation_id``.
        :raises TelnyxNotFoundError: when it does not exist (yet).
        """
        request = conversation_request(conversation_id)
        return read_conversation(request, self.call(request))

    async def aget_conversation(self, conversation_id: str) -> Conversation:
        """Async twin of :meth:`get_conversation`."""
        request = conversation_request(conversation_id)
        return read_conversation(request, await self.acall(request))

    def list_conversation_messages(
        self, conversation_id: str, *, page_size: int = MAX_PAGE_SIZE, max_pages: int = MAX_PAGES
    ) -> Iterator[ConversationMessage]:
        """Iterate over a conversation's messages as the API pages them
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
        request = insights_request(conversation_id)
        return read_insights(request, self.call(request))

    async def aget_conversation_insights(self, conversation_id: str) -> list[ConversationInsight]:
        """Async twin of :meth:`get_conversation_insights`."""
        request = insights_request(conversation_id)
        return read_insights(request, await self.acall(request))

    # -- assistants ----------------------------------------------------------------------------------------

    def get_assistant(self, assistant_id: str) -> Assistant:
        """Fetch an AI assistant (``GET /ai/assistants/{assistant_id}``), e.g. to check it can place calls.

        :raises TelnyxNotFoundError: when it does not exist.
        """
        request = assistant_request(assistant_id)
        return read_assistant(request, self.call(request))

    async def aget_assistant(self, assistant_id: str) -> Assistant:
        """Async twin of :meth:`get_assistant`."""
        request = assistant_request(assistant_id)
        return read_assistant(request, await self.acall(request))

    def check_assistant(self, assistant_id: str, *, phone_calls: bool) -> Assistant:
        """A create's pre-flight: the assistant exists and, for phone calls, has telephony settings.

        :param phone_calls: whether phone-call events will be created (they need telephony settings).
        :raises TelnyxNotFoundError: it does not exist (the API's 404).
        :raises TelnyxInvalidInputError: phone calls are asked of an assistant without telephony settings.
        """
        assistant = self.get_assistant(assistant_id)
        if phone_calls and not assistant.can_call:
            raise TelnyxInvalidInputError(
                [
                    (
                        "assistant_id",
                        f"assistant {assistant_id} has no telephony settings (telephony_settings."
                        "default_texml_app_id): it cannot place phone calls",
                    )
                ],
                subject="pre-flight check",
            )
        self.log.info("Pre-flight: assistant %s exists%s", assistant_id, " and can call" if phone_calls else "")
        return assistant

    def test_connection(self) -> tuple[bool, str]:
        """Check the key and URL with a read-only request (``GET /ai/assistants``), for the UI's Test button.

        :return: ``(True, message)`` when the API accepted the key, else ``(False, reason)``.
        """
        try:
            self.call(ApiRequest("GET", "/ai/assistants"))
        except (TelnyxApiError, TelnyxInvalidInputError) as error:
            return False, str(error)
        return True, f"Connected to the Telnyx API at {self.get_config().base_url}"
