"""``TelnyxHook``: authentication, HTTP, retries and error mapping for the scheduled-events API.

One request path serves both sides. A request is first described as a :class:`_Call` (method, encoded path,
query, body, headers, and whether an ambiguous failure may be retried); the retry policy, the response check
and the error mapping are built once from it; only the final ``send`` differs between the sync methods
(``httpx.Client``) and their ``a``-prefixed async twins (``httpx.AsyncClient``). Both clients are created
once per hook and reused, so connections are pooled.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import platform
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import quote, urlsplit

import httpx
from airflow.sdk import BaseHook
from pydantic import ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from airflow_provider_telnyx import __version__
from airflow_provider_telnyx._common import DEFAULT_BASE_URL
from airflow_provider_telnyx.exceptions import (
    TelnyxApiError,
    TelnyxConnectionError,
    TelnyxInvalidInputError,
    TelnyxInvalidResponseError,
    TelnyxNotFoundError,
    TelnyxRateLimitError,
    error_for_status,
)
from airflow_provider_telnyx.models import (
    IDEMPOTENCY_KEY_PATTERN,
    MAX_PAGE_SIZE,
    ConversationChannel,
    EventStatus,
    ScheduledEvent,
    ScheduledEventPage,
    ScheduledEventRequest,
    field_errors,
    parse_scheduled_event,
)

if TYPE_CHECKING:
    from airflow.sdk import Connection

__all__ = ["RateLimitObservation", "TelnyxClientConfig", "TelnyxHook"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 3
#: Full-jitter exponential backoff: the n-th wait is uniform in [0, min(BACKOFF_MAX, BACKOFF_BASE * 2**n)].
BACKOFF_BASE = 0.5
BACKOFF_MAX = 30.0
#: Longest wait we accept from ``Retry-After``/``x-ratelimit-reset`` before trying again anyway.
MAX_RETRY_AFTER = 60.0

_T = TypeVar("_T")


@dataclass(frozen=True)
class TelnyxClientConfig:
    """Settings read from an Airflow connection of type ``telnyx``.

    :param api_key: the API key (the connection's password); never shown by ``repr``.
    :param base_url: API root, e.g. ``https://api.telnyx.com/v2`` (the connection's host).
    :param timeout: seconds allowed for each HTTP operation (extra ``timeout``).
    :param max_retries: retries after a retryable failure (extra ``max_retries``).
    :param proxy: optional proxy URL (extra ``proxy``).
    """

    api_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    proxy: str | None = None

    @classmethod
    def from_connection_fields(
        cls, *, password: str | None, host: str | None, extra: Mapping[str, Any]
    ) -> TelnyxClientConfig:
        """Validate a connection's fields and build the config.

        :param password: the connection's password (the API key).
        :param host: the connection's host (the base URL); empty means the public API.
        :param extra: the connection's extra fields.
        :return: the validated config.
        :raises TelnyxInvalidInputError: naming every bad field.
        """
        problems: list[tuple[str, str]] = []
        api_key = (password or "").strip()
        if not api_key:
            problems.append(("password", "the API key is missing: put it in the connection's password field"))
        base_url = _base_url(host, problems)
        timeout = _number(extra, "timeout", DEFAULT_TIMEOUT, float, problems, minimum=0.001)
        max_retries = _number(extra, "max_retries", DEFAULT_MAX_RETRIES, int, problems, minimum=0)
        proxy = _extra(extra, "proxy") or None
        if proxy is not None and (not isinstance(proxy, str) or urlsplit(proxy).scheme not in _PROXY_SCHEMES):
            problems.append(("extra.proxy", "must be an http://, https:// or socks5:// URL"))
        if problems:
            raise TelnyxInvalidInputError(problems, subject="telnyx connection")
        return cls(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries, proxy=proxy)


_PROXY_SCHEMES = {"http", "https", "socks5", "socks5h"}


def _base_url(host: str | None, problems: list[tuple[str, str]]) -> str:
    raw = (host or "").strip()
    if not raw:
        return DEFAULT_BASE_URL
    if "://" not in raw:
        raw = f"https://{raw}"
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        problems.append(("host", f"the base URL must be an http(s) URL such as {DEFAULT_BASE_URL}"))
        return DEFAULT_BASE_URL
    if parts.query or parts.fragment or parts.username or parts.password:
        problems.append(("host", "the base URL must not carry credentials, a query or a fragment"))
    path = parts.path.rstrip("/") or "/v2"
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}{path}"


def _extra(extra: Mapping[str, Any], name: str) -> Any:
    # The UI may store declarative fields with Airflow 2's prefixed key; accept both spellings.
    value = extra.get(name)
    return extra.get(f"extra__telnyx__{name}") if value in (None, "") else value


def _number(
    extra: Mapping[str, Any],
    name: str,
    default: _T,
    kind: Callable[[Any], _T],
    problems: list[tuple[str, str]],
    *,
    minimum: float,
) -> _T:
    value = _extra(extra, name)
    if value in (None, ""):
        return default
    try:
        if isinstance(value, bool):
            raise TypeError(name)
        number = kind(value)
        if kind is int and float(value) != number:
            raise ValueError(name)
    except (TypeError, ValueError):
        problems.append((f"extra.{name}", f"must be a number, got {type(value).__name__}"))
        return default
    if number < minimum:  # type: ignore[operator]
        problems.append((f"extra.{name}", f"must be at least {minimum:g}"))
        return default
    return number


@dataclass
class RateLimitObservation:
    """What the API's ``x-ratelimit-*`` headers and 429 answers said so far (read by the batch operator).

    :param limit: ``x-ratelimit-limit`` of the latest answer that carried it.
    :param remaining: ``x-ratelimit-remaining`` of that answer.
    :param reset: ``x-ratelimit-reset`` (seconds) of that answer.
    :param throttled: how many 429 answers this hook has received.
    :param responses: how many answers this hook has received.
    """

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None
    throttled: int = 0
    responses: int = 0

    def observe(self, status_code: int, headers: httpx.Headers) -> None:
        """Record one answer.

        :param status_code: its status.
        :param headers: its headers.
        """
        self.responses += 1
        if status_code == 429:
            self.throttled += 1
        for attribute, header, kind in (
            ("limit", "x-ratelimit-limit", int),
            ("remaining", "x-ratelimit-remaining", int),
            ("reset", "x-ratelimit-reset", float),
        ):
            raw = headers.get(header)
            if raw is not None:
                with suppress(ValueError):
                    setattr(self, attribute, kind(raw))


@dataclass(frozen=True)
class _Call:
    """A request described without I/O: what both the sync and the async side send."""

    method: str
    path: str
    params: dict[str, str] | None = None
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: Whether an ambiguous failure (the request may have been processed) may be retried.
    idempotent: bool = True
    #: Status codes that count as success.
    ok: tuple[int, ...] = (200,)


def _path_id(name: str, value: object) -> str:
    """Validate and URL-encode one path parameter (an assistant or event id)."""
    problem = None
    if not isinstance(value, str) or not value.strip():
        problem = "must be a non-empty string"
    elif value != value.strip() or any(ch.isspace() for ch in value):
        problem = "must not contain whitespace"
    elif any(ch in value for ch in "/\\?#%") or ".." in value or not value.isprintable():
        problem = "must not contain '/', '\\', '?', '#', '%', '..' or control characters"
    if problem:
        raise TelnyxInvalidInputError([(name, problem)], subject="path parameter")
    return quote(str(value), safe="")


def _events_path(assistant_id: str, event_id: str | None = None) -> str:
    path = f"/ai/assistants/{_path_id('assistant_id', assistant_id)}/scheduled_events"
    if event_id is not None:
        path += f"/{_path_id('event_id', event_id)}"
    return path


def _validated_request(request: ScheduledEventRequest | Mapping[str, Any]) -> ScheduledEventRequest:
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


def _validated_key(idempotency_key: str | None) -> str | None:
    if idempotency_key is None:
        return None
    if not isinstance(idempotency_key, str) or not IDEMPOTENCY_KEY_PATTERN.match(idempotency_key):
        raise TelnyxInvalidInputError(
            [("idempotency_key", "must be 1 to 255 letters, digits, '-' or '_'")],
            subject="idempotency key",
        )
    return idempotency_key


def _list_params(
    *,
    conversation_channel: ConversationChannel | str | None,
    from_date: datetime | None,
    to_date: datetime | None,
    page_size: int,
) -> dict[str, str]:
    problems: list[tuple[str, str]] = []
    params: dict[str, str] = {}
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        problems.append(("page_size", f"must be an integer from 1 to {MAX_PAGE_SIZE}"))
    else:
        params["page[size]"] = str(page_size)
    if conversation_channel is not None:
        try:
            params["conversation_channel"] = ConversationChannel(conversation_channel).value
        except ValueError:
            problems.append(("conversation_channel", "must be 'phone_call' or 'sms_chat'"))
    for name, value in (("from_date", from_date), ("to_date", to_date)):
        if value is None:
            continue
        if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
            problems.append((name, "must be a timezone-aware datetime"))
        else:
            params[name] = value.isoformat()
    if problems:
        raise TelnyxInvalidInputError(problems, subject="list filter")
    return params


def _retry_after(headers: httpx.Headers, now: float) -> float | None:
    """Seconds to wait before retrying, from ``Retry-After`` (seconds or HTTP date) or ``x-ratelimit-reset``."""
    for name in ("retry-after-ms", "retry-after", "x-ratelimit-reset"):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            seconds = float(raw)
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(raw) if name == "retry-after" else None
            if parsed is None:
                continue
            seconds = parsed.timestamp() - now
        if name == "retry-after-ms":
            seconds /= 1000
        return max(seconds, 0.0)
    return None


def _should_retry(call: _Call, error: BaseException) -> bool:
    if not isinstance(error, TelnyxApiError) or not error.retryable:
        return False
    if call.idempotent:
        return True
    # A create without an Idempotency-Key: retry only failures that prove the API did not act on it,
    # otherwise an ambiguous failure could schedule a second call to a real person.
    if isinstance(error, TelnyxRateLimitError):
        return True
    return isinstance(error, TelnyxConnectionError) and not error.request_sent


@contextmanager
def _transport_errors(call: _Call, conn_id: str) -> Iterator[None]:
    """Turn httpx's transport failures into :class:`TelnyxConnectionError` (works around sync and async sends)."""
    try:
        yield
    except httpx.TransportError as error:
        not_sent = isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        reason = type(error).__name__
        detail = str(error) or reason
        raise TelnyxConnectionError(
            f"Telnyx API {call.method} {call.path} failed: {reason}: {detail}",
            request_sent=not not_sent,
            method=call.method,
            path=call.path,
            conn_id=conn_id,
        ) from None


class TelnyxHook(BaseHook):
    """Talks to the Telnyx scheduled-events API using an Airflow connection of type ``telnyx``.

    The connection's password is the API key, its host the base URL (default ``https://api.telnyx.com/v2``);
    extras ``timeout`` (seconds), ``max_retries`` and ``proxy`` are optional. Nothing is read or opened until
    the first request. Every method has an async twin prefixed with ``a`` that never blocks the event loop.

    Connection errors, timeouts, 408, 409, 429 and 5xx answers are retried with full-jitter exponential backoff,
    honouring ``Retry-After`` and ``x-ratelimit-reset``; other 4xx answers are raised at once. A create is
    retried after an ambiguous failure only when it carries an ``Idempotency-Key``.

    :param telnyx_conn_id: the Airflow connection to use.
    :param max_retries: override the connection's ``max_retries``.
    :param timeout: override the connection's ``timeout`` (seconds).
    :param transport: an ``httpx`` transport for the sync client (tests, custom TLS).
    :param async_transport: an ``httpx`` transport for the async client.
    :param sleep: how the sync side waits between retries (default ``time.sleep``).
    :param async_sleep: how the async side waits between retries (default ``asyncio.sleep``).
    """

    conn_name_attr = "telnyx_conn_id"
    default_conn_name = "telnyx_default"
    conn_type = "telnyx"
    hook_name = "Telnyx"

    user_agent: ClassVar[str] = f"airflow-provider-telnyx/{__version__}"

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
    ) -> None:
        super().__init__()
        self.telnyx_conn_id = telnyx_conn_id
        self._max_retries = max_retries
        self._timeout = timeout
        self._transport = transport
        self._async_transport = async_transport
        self._sleep = sleep
        self._async_sleep = async_sleep
        self._config: TelnyxClientConfig | None = None
        self._client: httpx.Client | None = None
        self._aclient: httpx.AsyncClient | None = None
        #: Rate-limit headers and 429s seen by this hook.
        self.rate_limit = RateLimitObservation()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(telnyx_conn_id={self.telnyx_conn_id!r})"

    # -- configuration -------------------------------------------------------------------------------------

    def _config_from(self, conn: Connection, extra: Mapping[str, Any]) -> TelnyxClientConfig:
        config = TelnyxClientConfig.from_connection_fields(password=conn.password, host=conn.host, extra=extra)
        overrides: dict[str, Any] = {}
        if self._max_retries is not None:
            overrides["max_retries"] = self._max_retries
        if self._timeout is not None:
            overrides["timeout"] = self._timeout
        if overrides:
            config = TelnyxClientConfig(**{**config.__dict__, **overrides})
        return config

    def get_config(self) -> TelnyxClientConfig:
        """Read and validate the connection (once per hook) and mask the API key in Airflow's logs.

        :return: the config.
        :raises TelnyxInvalidInputError: when the connection's fields are unusable.
        """
        if self._config is None:
            from airflow.sdk.log import mask_secret

            conn = self.get_connection(self.telnyx_conn_id)
            if conn.password:
                mask_secret(conn.password)
            self._config = self._config_from(conn, conn.extra_dejson)
        return self._config

    async def aget_config(self) -> TelnyxClientConfig:
        """Async twin of :meth:`get_config`; the connection lookup and masking never block the event loop.

        :return: the config.
        :raises TelnyxInvalidInputError: when the connection's fields are unusable.
        """
        if self._config is None:
            from airflow.sdk.log import amask_secret

            conn = await self.aget_connection(self.telnyx_conn_id)
            if conn.password:
                await amask_secret(conn.password)
            self._config = self._config_from(conn, await conn.aextra_dejson())
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

    def _client_kwargs(self, config: TelnyxClientConfig) -> dict[str, Any]:
        return {
            "base_url": config.base_url,
            "headers": {**self._client_headers, "Authorization": f"Bearer {config.api_key}"},
            "timeout": httpx.Timeout(config.timeout, connect=min(config.timeout, DEFAULT_CONNECT_TIMEOUT)),
            "proxy": config.proxy,
            "follow_redirects": False,
        }

    def get_client(self) -> httpx.Client:
        """The hook's pooled sync client (created on first use).

        :return: the client.
        """
        if self._client is None:
            self._client = httpx.Client(transport=self._transport, **self._client_kwargs(self.get_config()))
        return self._client

    async def aget_client(self) -> httpx.AsyncClient:
        """The hook's pooled async client (created on first use, bound to the running event loop).

        :return: the client.
        """
        if self._aclient is None:
            config = await self.aget_config()
            self._aclient = httpx.AsyncClient(transport=self._async_transport, **self._client_kwargs(config))
        return self._aclient

    def close(self) -> None:
        """Close the sync client's pooled connections."""
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        """Close the async client's pooled connections."""
        if self._aclient is not None:
            await self._aclient.aclose()
            self._aclient = None

    # -- the one request path ------------------------------------------------------------------------------

    def _retry_options(self, call: _Call, config: TelnyxClientConfig) -> dict[str, Any]:
        return {
            "stop": stop_after_attempt(config.max_retries + 1),
            "wait": self._wait,
            "retry": retry_if_exception(partial(_should_retry, call)),
            "before_sleep": partial(self._log_retry, call, config.max_retries),
            "reraise": True,
        }

    _backoff = wait_random_exponential(multiplier=BACKOFF_BASE, max=BACKOFF_MAX)

    def _wait(self, state: RetryCallState) -> float:
        """Seconds to wait before the next attempt: the API's own hint when it gave one, else full jitter."""
        error = state.outcome.exception() if state.outcome else None
        hinted = getattr(error, "retry_after", None)
        if hinted is not None:
            return float(min(hinted, MAX_RETRY_AFTER))
        return float(self._backoff(state))

    def _log_retry(self, call: _Call, max_retries: int, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        if isinstance(error, TelnyxApiError) and error.http_status is not None:
            cause = f"HTTP {error.http_status}" + (f" code {error.code}" if error.code else "")
        else:
            cause = type(error).__name__
        self.log.warning(
            "Telnyx %s %s failed (%s); retry %d/%d in %.2fs",
            call.method,
            call.path,
            cause,
            state.attempt_number,
            max_retries,
            wait,
        )

    def _prepare(self, client: httpx.Client | httpx.AsyncClient, call: _Call) -> httpx.Request:
        return client.build_request(call.method, call.path, params=call.params, json=call.body, headers=call.headers)

    def _check(self, call: _Call, response: httpx.Response) -> Any:
        """Return the decoded JSON body of a successful response, or raise the mapped error."""
        self.log.debug("Telnyx %s %s -> %s", call.method, call.path, response.status_code)
        self.rate_limit.observe(response.status_code, response.headers)
        if response.status_code in call.ok:
            if not response.content.strip():
                return None
            try:
                return response.json()
            except ValueError:
                raise TelnyxInvalidResponseError(
                    f"Telnyx API {call.method} {call.path} answered {response.status_code} with a body "
                    f"that is not JSON ({response.headers.get('content-type', 'no content type')})",
                    http_status=response.status_code,
                    method=call.method,
                    path=call.path,
                ) from None
        if 200 <= response.status_code < 300 or 300 <= response.status_code < 400:
            raise TelnyxInvalidResponseError(
                f"Telnyx API {call.method} {call.path} answered an unexpected {response.status_code}",
                http_status=response.status_code,
                method=call.method,
                path=call.path,
            )
        raise error_for_status(
            response.status_code,
            reason=response.reason_phrase,
            body=response.content,
            content_type=response.headers.get("content-type", ""),
            method=call.method,
            path=call.path,
            retry_after=_retry_after(response.headers, time.time()),
            conn_id=self.telnyx_conn_id,
        )

    def _send(self, call: _Call) -> Any:
        client = self.get_client()
        with _transport_errors(call, self.telnyx_conn_id):
            response = client.send(self._prepare(client, call))
        return self._check(call, response)

    async def _asend(self, call: _Call) -> Any:
        client = await self.aget_client()
        with _transport_errors(call, self.telnyx_conn_id):
            response = await client.send(self._prepare(client, call))
        return self._check(call, response)

    def _request(self, call: _Call) -> Any:
        retrying = Retrying(sleep=self._sleep, **self._retry_options(call, self.get_config()))
        return retrying(self._send, call)

    async def _arequest(self, call: _Call) -> Any:
        config = await self.aget_config()
        retrying = AsyncRetrying(sleep=self._async_sleep, **self._retry_options(call, config))
        return await retrying(self._asend, call)

    # -- calls: described once, sent by either side ---------------------------------------------------------

    @staticmethod
    def _create_call(
        assistant_id: str, request: ScheduledEventRequest | Mapping[str, Any], idempotency_key: str | None
    ) -> _Call:
        path = _events_path(assistant_id)
        body = _validated_request(request).to_api()
        key = _validated_key(idempotency_key)
        return _Call(
            "POST",
            path,
            body=body,
            headers={"Idempotency-Key": key} if key else {},
            idempotent=key is not None,
            ok=(200, 201),
        )

    @staticmethod
    def _parse_event(call: _Call, payload: Any) -> ScheduledEvent:
        try:
            return parse_scheduled_event(payload)
        except ValidationError as error:
            raise _invalid_response(call, error) from None

    @staticmethod
    def _parse_page(call: _Call, payload: Any, page_number: int) -> ScheduledEventPage:
        try:
            page = ScheduledEventPage.model_validate(payload)
        except ValidationError as error:
            raise _invalid_response(call, error) from None
        if page.data and page.meta.page_number != page_number:
            raise TelnyxInvalidResponseError(
                f"Telnyx API {call.method} {call.path} answered page {page.meta.page_number} "
                f"when page {page_number} was asked for",
                method=call.method,
                path=call.path,
            )
        return page

    @staticmethod
    def _page_call(assistant_id: str, params: dict[str, str], page_number: int) -> _Call:
        return _Call("GET", _events_path(assistant_id), params={**params, "page[number]": str(page_number)})

    # -- public API: sync ----------------------------------------------------------------------------------

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
            API's field names (validated the same way).
        :param idempotency_key: sent as ``Idempotency-Key``; with it, ambiguous failures are retried safely and
            the API replays the first response instead of creating a second event.
        :return: the created event.
        :raises TelnyxInvalidInputError: for bad arguments, before any request.
        :raises TelnyxApiError: when the API refuses or cannot be reached within the retry budget.
        """
        call = self._create_call(assistant_id, request, idempotency_key)
        return self._parse_event(call, self._request(call))

    def get_scheduled_event(self, assistant_id: str, event_id: str) -> ScheduledEvent:
        """Fetch one event (``GET .../scheduled_events/{event_id}``).

        :param assistant_id: the assistant that owns the event.
        :param event_id: the event's ``scheduled_event_id``.
        :return: the event, as the phone-call or SMS variant.
        :raises TelnyxNotFoundError: when the event (or assistant) does not exist.
        :raises TelnyxApiError: for other failures.
        """
        call = _Call("GET", _events_path(assistant_id, event_id))
        return self._parse_event(call, self._request(call))

    def list_scheduled_events(
        self,
        assistant_id: str,
        *,
        conversation_channel: ConversationChannel | str | None = None,
        from_date: datetime | None = None,
        to_date: datetime | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[ScheduledEvent]:
        """Iterate over an assistant's events, following every page (``GET .../scheduled_events``).

        :param assistant_id: the assistant.
        :param conversation_channel: only ``phone_call`` or only ``sms_chat`` events.
        :param from_date: start of the date range (inclusive, timezone-aware).
        :param to_date: end of the date range (inclusive, timezone-aware).
        :param page_size: events per request, 1 to 100.
        :return: an iterator; pages are fetched as it is consumed.
        :raises TelnyxInvalidInputError: for bad filters, before any request.
        :raises TelnyxApiError: for API failures.
        """
        params = _list_params(
            conversation_channel=conversation_channel,
            from_date=from_date,
            to_date=to_date,
            page_size=page_size,
        )
        _events_path(assistant_id)  # validate before the iterator is first consumed
        return self._iter_pages(assistant_id, params)

    def _iter_pages(self, assistant_id: str, params: dict[str, str]) -> Iterator[ScheduledEvent]:
        page_number = 1
        while True:
            call = self._page_call(assistant_id, params, page_number)
            page = self._parse_page(call, self._request(call), page_number)
            yield from page.data
            if page.is_last:
                return
            page_number += 1

    def delete_scheduled_event(self, assistant_id: str, event_id: str) -> None:
        """Cancel a pending event, or remove the record of a finished one (``DELETE .../{event_id}``).

        :param assistant_id: the assistant that owns the event.
        :param event_id: the event's id.
        :raises TelnyxNotFoundError: when the event does not exist (already deleted).
        :raises TelnyxApiError: for other failures.
        """
        self._request(self._delete_call(assistant_id, event_id))

    @staticmethod
    def _delete_call(assistant_id: str, event_id: str) -> _Call:
        return _Call("DELETE", _events_path(assistant_id, event_id), headers={"Accept": "*/*"}, ok=(200, 204))

    def cancel_scheduled_event_if_pending(self, assistant_id: str, event_id: str) -> bool:
        """Cancel an event only while it is still ``pending`` (used by ``on_kill``).

        An event that already dispatched is left alone: deleting it would only remove its record.

        :param assistant_id: the assistant that owns the event.
        :param event_id: the event's id.
        :return: whether the event was cancelled.
        """
        try:
            event = self.get_scheduled_event(assistant_id, event_id)
            if event.status is not EventStatus.PENDING:
                self.log.info("Scheduled event %s is %s: not cancelled", event_id, event.status.value)
                return False
            self.delete_scheduled_event(assistant_id, event_id)
        except TelnyxNotFoundError:
            self.log.info("Scheduled event %s is already gone", event_id)
            return False
        self.log.info("Cancelled pending scheduled event %s", event_id)
        return True

    def test_connection(self) -> tuple[bool, str]:
        """Check the key and URL with a read-only request (``GET /ai/assistants``), for the UI's Test button.

        :return: ``(True, message)`` when the API accepted the key, else ``(False, reason)``.
        """
        try:
            self._request(_Call("GET", "/ai/assistants"))
        except (TelnyxApiError, TelnyxInvalidInputError) as error:
            return False, str(error)
        return True, f"Connected to the Telnyx API at {self.get_config().base_url}"

    # -- public API: async ---------------------------------------------------------------------------------

    async def acreate_scheduled_event(
        self,
        assistant_id: str,
        request: ScheduledEventRequest | Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
    ) -> ScheduledEvent:
        """Async twin of :meth:`create_scheduled_event`.

        :param assistant_id: the AI assistant that will call or text.
        :param request: the create body, as a model or a mapping of API fields.
        :param idempotency_key: sent as ``Idempotency-Key``.
        :return: the created event.
        :raises TelnyxInvalidInputError: for bad arguments, before any request.
        :raises TelnyxApiError: when the API refuses or cannot be reached within the retry budget.
        """
        call = self._create_call(assistant_id, request, idempotency_key)
        return self._parse_event(call, await self._arequest(call))

    async def aget_scheduled_event(self, assistant_id: str, event_id: str) -> ScheduledEvent:
        """Async twin of :meth:`get_scheduled_event`.

        :param assistant_id: the assistant that owns the event.
        :param event_id: the event's id.
        :return: the event.
        :raises TelnyxApiError: for API failures (``TelnyxNotFoundError`` for a missing event).
        """
        call = _Call("GET", _events_path(assistant_id, event_id))
        return self._parse_event(call, await self._arequest(call))

    def alist_scheduled_events(
        self,
        assistant_id: str,
        *,
        conversation_channel: ConversationChannel | str | None = None,
        from_date: datetime | None = None,
        to_date: datetime | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> AsyncIterator[ScheduledEvent]:
        """Async twin of :meth:`list_scheduled_events`: an async iterator over every page.

        :param assistant_id: the assistant.
        :param conversation_channel: only ``phone_call`` or only ``sms_chat`` events.
        :param from_date: start of the date range (inclusive, timezone-aware).
        :param to_date: end of the date range (inclusive, timezone-aware).
        :param page_size: events per request, 1 to 100.
        :return: an async iterator.
        :raises TelnyxInvalidInputError: for bad filters, before any request.
        """
        params = _list_params(
            conversation_channel=conversation_channel,
            from_date=from_date,
            to_date=to_date,
            page_size=page_size,
        )
        _events_path(assistant_id)
        return self._aiter_pages(assistant_id, params)

    async def _aiter_pages(self, assistant_id: str, params: dict[str, str]) -> AsyncIterator[ScheduledEvent]:
        page_number = 1
        while True:
            call = self._page_call(assistant_id, params, page_number)
            page = self._parse_page(call, await self._arequest(call), page_number)
            for event in page.data:
                yield event
            if page.is_last:
                return
            page_number += 1

    async def acancel_scheduled_event_if_pending(self, assistant_id: str, event_id: str) -> bool:
        """Async twin of :meth:`cancel_scheduled_event_if_pending`.

        :param assistant_id: the assistant that owns the event.
        :param event_id: the event's id.
        :return: whether the event was cancelled.
        """
        try:
            event = await self.aget_scheduled_event(assistant_id, event_id)
            if event.status is not EventStatus.PENDING:
                self.log.info("Scheduled event %s is %s: not cancelled", event_id, event.status.value)
                return False
            await self.adelete_scheduled_event(assistant_id, event_id)
        except TelnyxNotFoundError:
            self.log.info("Scheduled event %s is already gone", event_id)
            return False
        self.log.info("Cancelled pending scheduled event %s", event_id)
        return True

    async def adelete_scheduled_event(self, assistant_id: str, event_id: str) -> None:
        """Async twin of :meth:`delete_scheduled_event`.

        :param assistant_id: the assistant that owns the event.
        :param event_id: the event's id.
        :raises TelnyxApiError: for API failures (``TelnyxNotFoundError`` for a missing event).
        """
        await self._arequest(self._delete_call(assistant_id, event_id))


def _invalid_response(call: _Call, error: ValidationError) -> TelnyxInvalidResponseError:
    problems = "; ".join(f"{name}: {message}" for name, message in field_errors(error)[:5])
    return TelnyxInvalidResponseError(
        f"Telnyx API {call.method} {call.path} answered with a body that does not match the documented "
        f"schema: {problems}",
        method=call.method,
        path=call.path,
    )
