"""Our inputs, validated before any request: targets, ids, idempotency keys, list filters, the connection.

Strict writer: every rule here is the API's own (OpenAPI text, guides) or a limit of ours, and a value that breaks
one fails naming the field, with :class:`~airflow_provider_telnyx.exceptions.TelnyxInvalidInputError`, before
anything is sent.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any, TypedDict, TypeVar
from urllib.parse import quote, unquote, urlsplit

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, ValidationError

from airflow_provider_telnyx._common import DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError
from airflow_provider_telnyx.models.enums import ConversationChannel

__all__ = [
    "E164_PATTERN",
    "IDEMPOTENCY_KEY_PATTERN",
    "MAX_ID_LENGTH",
    "MAX_PAGE_SIZE",
    "SIP_URI_PATTERN",
    "EventFilters",
    "ListFilter",
    "TelnyxClientConfig",
    "check_event_id",
    "check_idempotency_key",
    "check_seconds",
    "field_errors",
    "is_loopback",
    "is_valid_target",
    "path_id",
]

#: E.164: a ``+``, a non-zero country code digit, at most 15 digits in all.
E164_PATTERN = re.compile(r"^\+[1-9]\d{1,14}$")
#: A SIP or SIPS URI as RFC 3261 (section 25.1) allows it: scheme in any case, an optional user part (with an
#: optional password), a host name, IPv4 address or bracketed IPv6 reference, an optional port, ``;`` parameters and
#: ``?`` headers. No whitespace anywhere.
SIP_URI_PATTERN = re.compile(
    r"^sips?:"
    r"(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/%]+(?::[A-Za-z0-9\-_.!~*'()&=+$,%]*)?@)?"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?"
    r"|\[[0-9A-Fa-f:.]+\])"
    r"(?::\d{1,5})?"
    r"(?:;[A-Za-z0-9\-_.!~*'()\[\]/:&+$%=]+)*"
    r"(?:\?[A-Za-z0-9\-_.!~*'()\[\]/?:+$%=]+(?:&[A-Za-z0-9\-_.!~*'()\[\]/?:+$%=]+)*)?$",
    re.IGNORECASE,
)
#: The ``Idempotency-Key`` pattern of the scheduled-events endpoint's own reference (the OpenAPI text and the Node
#: SDK's docs: anything else is a 400, code 10015). The general idempotency guide also allows ``:``; the endpoint's
#: reference wins (docs/api-decisions.md).
IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,255}$")

MAX_RETRIES_CLIENT_ERRORS = 10
MIN_RETRY_INTERVAL_SECS = 60
MAX_RETRY_INTERVAL_SECS = 86_400
MAX_PAGE_SIZE = 100

_N = TypeVar("_N", int, float)
#: Longest id (assistant, event, conversation) sent in a path.
MAX_ID_LENGTH = 256


def check_event_id(value: Any, name: str = "scheduled_event_id") -> str:
    """Refuse an event id that is missing, typically a mistyped ``xcom_pull`` rendered to ``None``.

    :param value: the rendered argument.
    :param name: the parameter name, for the error.
    :return: the id, unchanged.
    :raises TelnyxInvalidInputError: for ``None``, ``""``, ``"None"`` or ``"null"`` and non-strings.
    """
    if not isinstance(value, str) or value.strip().lower() in ("", "none", "null"):
        raise TelnyxInvalidInputError(
            [
                (
                    name,
                    f"rendered to {value!r}, which is no event id; if it comes from ti.xcom_pull, check the "
                    "upstream task_ids and key (the create operator pushes key='scheduled_event_id')",
                )
            ],
            subject="operator argument",
        )
    return value


def is_valid_target(value: str) -> bool:
    """Whether ``value`` is an E.164 phone number or a SIP URI, the two target forms the API accepts.

    :param value: the candidate ``telnyx_end_user_target`` or ``telnyx_agent_target``.
    :return: ``True`` when the value has one of the two accepted forms.
    """
    return bool(E164_PATTERN.fullmatch(value) or SIP_URI_PATTERN.fullmatch(value))


def _check_target(value: str) -> str:
    if not is_valid_target(value):
        raise ValueError("must be an E.164 phone number such as +13125550100, or a SIP URI such as sip:bob@example.com")
    return value


def path_id(name: str, value: object) -> str:
    """Validate one path parameter (an assistant, event or conversation id) and URL-encode it.

    :param name: the parameter, for the error.
    :param value: the id.
    :return: the encoded id.
    :raises TelnyxInvalidInputError: for an empty, overlong, ``.``/``..``, whitespace or separator-bearing id.
    """
    if not isinstance(value, str) or not value.strip():
        raise TelnyxInvalidInputError([(name, "must be a non-empty string")], subject="path parameter")
    problem = None
    if len(value) > MAX_ID_LENGTH:
        problem = f"must be at most {MAX_ID_LENGTH} characters"
    elif value in (".", ".."):
        problem = "must not be '.' or '..'"
    elif value != value.strip() or any(ch.isspace() for ch in value):
        problem = "must not contain whitespace"
    elif any(ch in value for ch in "/\\?#%") or ".." in value or not value.isprintable():
        problem = "must not contain '/', '\\', '?', '#', '%', '..' or control characters"
    if problem:
        raise TelnyxInvalidInputError([(name, problem)], subject="path parameter")
    return quote(value, safe="")


def check_seconds(name: str, value: Any, *, allow_none: bool = False, allow_zero: bool = False) -> None:
    """Check a duration argument in seconds: a finite number, positive (or zero / ``None`` where allowed).

    :param name: the parameter, for the error.
    :param value: its value.
    :param allow_none: accept ``None``.
    :param allow_zero: accept ``0``.
    :raises TelnyxInvalidInputError: naming the parameter.
    """
    if value is None and allow_none:
        return
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        raise TelnyxInvalidInputError(
            [(name, "must be a finite, positive number of seconds" + (" or None" if allow_none else ""))],
            subject="operator argument",
        )


def check_idempotency_key(value: Any, *, field: str = "idempotency_key", subject: str = "idempotency key") -> str:
    """Check an ``Idempotency-Key`` against the endpoint's pattern.

    :param value: the key.
    :param field: the parameter name for the error (``events[3].idempotency_key``).
    :param subject: what is validated.
    :raises TelnyxInvalidInputError: when it does not match ``^[A-Za-z0-9_-]{1,255}$``.
    """
    if not isinstance(value, str) or not IDEMPOTENCY_KEY_PATTERN.fullmatch(value):
        raise TelnyxInvalidInputError(
            [(field, "must be 1 to 255 ASCII letters, digits, '-' or '_' (the API refuses anything else: 400 10015)")],
            subject=subject,
        )
    return value


class _FieldError(ValueError):
    """A model-level rule broken by one named field (see :func:`field_errors`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def field_errors(error: ValidationError) -> list[tuple[str, str]]:
    """Flatten a pydantic ``ValidationError`` into ``(field, message)`` pairs, input values left out.

    Model-level rules (``text`` required for SMS, ...) name their field too.

    :param error: the validation error raised by one of these models.
    :return: one pair per problem, ``field`` being a dotted path such as ``call_settings.sip_region``.
    """
    pairs: list[tuple[str, str]] = []
    for item in error.errors(include_url=False, include_input=False):
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, _FieldError):
            location = [*map(str, item["loc"]), cause.field]
            pairs.append((".".join(location), cause.message))
        else:
            location = [str(part) for part in item["loc"]]
            message = item["msg"].removeprefix("Value error, ")
            pairs.append((".".join(location) or "request", message))
    return pairs


# -- the connection ---------------------------------------------------------------------------------------------

_PROXY_SCHEMES = {"http", "https", "socks5", "socks5h"}
#: ``idempotency_namespace``: what may stand in an ``Idempotency-Key`` and a metadata value.
NAMESPACE_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_TIMEOUT = 3600.0
MAX_RETRIES_LIMIT = 20


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) is this machine.

    :param host: the host part of a URL.
    :return: ``True`` for ``localhost``, ``127.0.0.0/8`` and ``::1``.
    """
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class TelnyxClientConfig(BaseModel):
    """Settings read from an Airflow connection of type ``telnyx``, validated (no field is trusted as stored).

    :param api_key: the API key (the connection's password); never shown by ``repr``.
    :param base_url: API root, e.g. ``https://api.telnyx.com/v2`` (from host, port and schema).
    :param timeout: seconds one request may take in all: connect, send and read of the whole answer (extra
        ``timeout``, at most an hour).
    :param max_retries: retries after a retryable failure within one hook call (extra ``max_retries``, 0..20).
    :param proxy: optional proxy URL (extra ``proxy``).
    :param idempotency_namespace: names this Airflow deployment in default idempotency keys and tags when no task
        state store is available (extra ``idempotency_namespace``).
    :param allow_insecure_http: a plain ``http://`` base URL on another machine is allowed (extra
        ``allow_insecure_http: true``): the key then crosses the network in clear. Off, such a URL is refused.
    """

    model_config = ConfigDict(frozen=True)

    api_key: str = Field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    proxy: str | None = None
    idempotency_namespace: str | None = None
    allow_insecure_http: bool = False

    @property
    def insecure(self) -> bool:
        """Whether requests would carry the key in clear over the network (``http://`` to another machine)."""
        parts = urlsplit(self.base_url)
        return parts.scheme == "http" and not is_loopback(parts.hostname or "")

    @classmethod
    def from_connection_fields(
        cls,
        *,
        password: str | None,
        host: str | None,
        extra: Mapping[str, Any],
        port: int | None = None,
        schema: str | None = None,
        min_secret_length: int = 5,
    ) -> TelnyxClientConfig:
        """Validate a connection's fields and build the config.

        The base URL combines ``host``, ``port`` and ``schema`` the way the HTTP provider does: a host with its own
        scheme is used as it is; otherwise ``schema`` ``http``/``https`` is the scheme (default ``https``, or
        ``http`` for a loopback host such as a local simulator); ``port`` is appended; a path in the host is kept,
        and a ``schema`` that is not a scheme is the path (the URI form ``telnyx://:KEY@host:8765/v2`` stores
        ``v2`` there); the default path is ``/v2``.

        :param password: the connection's password (the API key).
        :param host: the connection's host; empty means the public API.
        :param extra: the connection's extra fields.
        :param port: the connection's port.
        :param schema: the connection's schema.
        :param min_secret_length: the secret masker's minimum length (``[logging] min_length_masked_secret``):
            a shorter key could not be masked, so it is refused.
        :return: the validated config.
        :raises TelnyxInvalidInputError: naming every bad field (never quoting the key).
        """
        problems: list[tuple[str, str]] = []
        api_key = _api_key(password, min_secret_length, problems)
        base_url = _base_url(host, port, schema, problems)
        timeout = _number(extra, "timeout", DEFAULT_TIMEOUT, float, problems, low=0.001, high=MAX_TIMEOUT)
        max_retries = _number(extra, "max_retries", DEFAULT_MAX_RETRIES, int, problems, low=0, high=MAX_RETRIES_LIMIT)
        proxy = _extra(extra, "proxy") or None
        if proxy is not None and (not isinstance(proxy, str) or urlsplit(proxy).scheme not in _PROXY_SCHEMES):
            problems.append(("extra.proxy", "must be an http://, https:// or socks5:// URL"))
        namespace = _extra(extra, "idempotency_namespace") or None
        if namespace is not None and (not isinstance(namespace, str) or not NAMESPACE_PATTERN.fullmatch(namespace)):
            problems.append(("extra.idempotency_namespace", "must be 1 to 64 letters, digits, '_', '-' or '.'"))
        allow_insecure = _flag(extra, "allow_insecure_http", problems)
        parts = urlsplit(base_url)
        if parts.scheme == "http" and not is_loopback(parts.hostname or "") and not allow_insecure:
            problems.append(
                (
                    "host",
                    f"plain http:// to {parts.hostname} would send the API key in clear: use https://, or set the "
                    "extra allow_insecure_http: true for a trusted private network",
                )
            )
        if problems:
            raise TelnyxInvalidInputError(problems, subject="telnyx connection")
        return cls(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            proxy=proxy,
            idempotency_namespace=namespace,
            allow_insecure_http=allow_insecure,
        )


def _api_key(password: str | None, min_length: int, problems: list[tuple[str, str]]) -> str:
    api_key = (password or "").strip()
    if not api_key:
        problems.append(("password", "the API key is missing: put it in the connection's password field"))
    elif not api_key.isascii() or not api_key.isprintable() or any(ch.isspace() for ch in api_key):
        # The key goes into a header: h11 would refuse it, quoting it in its error, past the log masker.
        problems.append(("password", "the API key has control, whitespace or non-ASCII characters (not shown)"))
    elif len(api_key) < min_length:
        problems.append(
            ("password", f"the API key is shorter than {min_length} characters, too short to be masked in logs")
        )
    return api_key


def _base_url(host: str | None, port: int | None, schema: str | None, problems: list[tuple[str, str]]) -> str:
    raw = (host or "").strip()
    hint = f"the base URL must be an http(s) URL such as {DEFAULT_BASE_URL}"
    schema = (schema or "").strip()
    scheme_from_schema = schema.lower() if schema.lower() in ("http", "https") else None
    path_from_schema = "/" + schema.strip("/") if schema and scheme_from_schema is None else ""
    if not raw:
        if port:
            problems.append(("port", "a port needs a host"))
        return DEFAULT_BASE_URL
    if "://" not in raw:
        bare_host = urlsplit(f"//{raw}").hostname or ""
        raw = f"{scheme_from_schema or ('http' if is_loopback(bare_host) else 'https')}://{raw}"
    parts = urlsplit(raw)
    try:
        url_port = parts.port
    except ValueError:
        problems.append(("host", hint))
        return DEFAULT_BASE_URL
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        problems.append(("host", hint))
        return DEFAULT_BASE_URL
    if parts.query or parts.fragment or parts.username or parts.password:
        problems.append(("host", "the base URL must not carry credentials, a query or a fragment"))
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
        problems.append(("port", "must be a port number from 1 to 65535"))
        port = None
    if url_port and port and url_port != port:
        problems.append(("port", f"the host names port {url_port}, the port field {port}"))
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if port and not url_port:
        netloc = f"{netloc}:{port}"
    path = parts.path.rstrip("/") or path_from_schema or "/v2"
    segments = [unquote(segment) for segment in path.split("/")]
    if any(segment in (".", "..") or "\\" in segment or "/" in segment for segment in segments):
        problems.append(("host", "the base URL's path must not hold '.' or '..' segments, backslashes or encoded '/'"))
        return DEFAULT_BASE_URL
    return f"{parts.scheme}://{netloc}{path}"


def _flag(extra: Mapping[str, Any], name: str, problems: list[tuple[str, str]]) -> bool:
    value = _extra(extra, name)
    if value in (None, ""):
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    problems.append((f"extra.{name}", "must be true or false"))
    return False


def _extra(extra: Mapping[str, Any], name: str) -> Any:
    # The UI may store declarative fields with Airflow 2's prefixed key; accept both spellings.
    value = extra.get(name)
    return extra.get(f"extra__telnyx__{name}") if value in (None, "") else value


def _number(
    extra: Mapping[str, Any],
    name: str,
    default: _N,
    kind: Callable[[Any], _N],
    problems: list[tuple[str, str]],
    *,
    low: float,
    high: float,
) -> _N:
    value = _extra(extra, name)
    if value in (None, ""):
        return default
    try:
        if isinstance(value, bool):
            raise TypeError(name)
        number = kind(value)
        if not math.isfinite(float(number)) or (kind is int and float(value) != number):
            raise ValueError(name)
    except (TypeError, ValueError, OverflowError):
        problems.append((f"extra.{name}", f"must be a finite number, got {type(value).__name__}"))
        return default
    if not low <= float(number) <= high:
        problems.append((f"extra.{name}", f"must be from {low:g} to {high:g}"))
        return default
    return number


class EventFilters(TypedDict, total=False):
    """The keyword arguments of the list methods, typed (each checked by :class:`ListFilter`)."""

    conversation_channel: ConversationChannel | str | None
    from_date: datetime | None
    to_date: datetime | None
    page_size: int


class ListFilter(BaseModel):
    """The query of ``GET .../scheduled_events``: channel, date range and page size.

    :param conversation_channel: only ``phone_call`` or only ``sms_chat`` events.
    :param from_date: start of the date range (inclusive, timezone-aware).
    :param to_date: end of the date range (inclusive, timezone-aware).
    :param page_size: events per request, 1 to 100.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    conversation_channel: ConversationChannel | None = None
    from_date: AwareDatetime | None = None
    to_date: AwareDatetime | None = None
    page_size: Annotated[StrictInt, Field(ge=1, le=MAX_PAGE_SIZE)] = MAX_PAGE_SIZE

    @classmethod
    def of(cls, **fields: Any) -> ListFilter:
        """Validate the filter's fields.

        :param fields: the keyword arguments of a list method.
        :raises TelnyxInvalidInputError: naming every bad field.
        """
        try:
            return cls.model_validate(fields)
        except ValidationError as error:
            raise TelnyxInvalidInputError(field_errors(error), subject="list filter") from None

    def params(self) -> dict[str, str]:
        """The query parameters, as the SDKs send them (``page[size]``, ISO 8601 dates)."""
        params = {"page[size]": str(self.page_size)}
        if self.conversation_channel is not None:
            params["conversation_channel"] = self.conversation_channel.value
        for name in ("from_date", "to_date"):
            value = getattr(self, name)
            if value is not None:
                params[name] = value.isoformat()
        return params
