"""The ``telnyx`` connection, validated: no field is trusted as stored (:class:`TelnyxClientConfig`).

The base URL combines host, port and schema the way the HTTP provider does; the API key must be maskable; plain
``http://`` goes only to this machine unless the extras say ``allow_insecure_http``.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_telnyx._common import DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError

__all__ = ["MAX_RETRIES_LIMIT", "MAX_TIMEOUT", "NAMESPACE_PATTERN", "TelnyxClientConfig", "is_loopback"]

_N = TypeVar("_N", int, float)

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
