"""The one redaction point: every text that came from the server passes :class:`Redactor` before it reaches a message,
an exception's arguments, a summary, XCom or a log line.

A server (or a proxy in front of it) may echo the API key back anywhere: in the body, the reason phrase or a header
value, and in any encoding. A list of spellings misses the next one, so the redactor looks at the text the way a
reader could decode it: raw; with JSON (``\\u004b``, ``\\/``), URL (``%4B``, ``+``) and HTML (``&#75;``) escapes
undone, repeatedly (an escape of an escape); case-folded; and for the base64 of the key at any alignment. A secret
seen in one of those views is replaced by ``***`` in the view that shows it (so an escaped echo comes out decoded,
with the key masked). Texts without a secret come back unchanged; the cost is a few substring searches, plus the
decoding only for texts that hold an escape character.

Bodies are scrubbed as bytes when they arrive (the raw and common escaped spellings); decoded JSON strings, error
texts, the reason phrase and header values are redacted as text.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import weakref
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus

import httpx

__all__ = ["MASK", "Redactor", "redact_library_logs"]

#: What a secret is replaced by.
MASK = "***"
#: Rounds of unescaping tried (an escape of an escape of an escape).
_ROUNDS = 3
#: Characters that start an escape in one of the decoded views; a text without any is only searched as it is.
_ESCAPES = frozenset("\\%&+")
_JSON_ESCAPE = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|x([0-9A-Fa-f]{2})|([\"\\/bfnrt]))")
_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _json_unescape(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        code, byte, simple = match.groups()
        if code is not None or byte is not None:
            return chr(int(code or byte, 16))
        return _SIMPLE[simple]

    return _JSON_ESCAPE.sub(one, text)


def _unescape(text: str) -> str:
    """One round of every unescaping a reader could apply."""
    return html.unescape(unquote_plus(_json_unescape(text)))


def _base64_cores(secret: bytes) -> set[str]:
    """The parts of the base64 (standard and URL-safe) of ``secret`` that do not depend on the bytes around it, at
    each of the three alignments it may start at."""
    cores: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + secret).decode().rstrip("=")
        # Drop the characters that mix in the neighbouring bytes: the leading ones (the padding bytes) and the last
        # partial group.
        start = -(-offset * 4 // 3)
        end = ((offset + len(secret)) * 4) // 3
        core = encoded[start:end]
        if len(core) >= 8:
            cores.update({core, core.replace("+", "-").replace("/", "_")})
    return cores


class Redactor:
    """Masks secrets in server text, in every encoding a reader could decode (see the module's description).

    :param secrets: the texts to hide (the API key); empty ones are ignored.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = sorted({secret for secret in secrets if secret}, key=len, reverse=True)
        spellings: set[str] = set()
        for secret in self._secrets:
            spellings.update(
                form for form in (secret, json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret)) if form
            )
        self._spellings = sorted(spellings, key=len, reverse=True)
        self._byte_spellings = [form.encode() for form in self._spellings]
        self._folded = [secret.casefold() for secret in self._secrets]
        self._base64 = sorted({core for s in self._secrets for core in _base64_cores(s.encode())}, key=len)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def bytes(self, body: bytes) -> bytes:
        """Scrub a body as it arrives (the raw and common escaped spellings; decoded texts pass :meth:`text`).

        :param body: the raw body.
        """
        for form in self._byte_spellings:
            if form in body:
                body = body.replace(form, MASK.encode())
        return body

    def text(self, text: str) -> str:
        """The text with every secret masked, in whichever view shows it.

        :param text: any text that came from the server (or was built from it).
        """
        if not self._secrets or not text:
            return text
        text = self._replace(text)
        revealing = self._revealing_view(text)
        if revealing is not None:
            return self._replace(revealing)
        if self._holds_folded(text):
            return self._replace_folded(text)
        for core in self._base64:
            if core in text:
                text = text.replace(core, MASK)
        return text

    def reveals(self, text: str) -> bool:
        """Whether any view of ``text`` shows a secret (what :meth:`text` would mask).

        :param text: any text.
        """
        if not self._secrets or not text:
            return False
        return (
            self._holds(text)
            or self._revealing_view(text) is not None
            or self._holds_folded(text)
            or any(core in text for core in self._base64)
        )

    def value(self, value: Any) -> Any:
        """A decoded JSON value with every string (keys included) redacted.

        :param value: what ``json.loads`` returned.
        """
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(key) if isinstance(key, str) else key: self.value(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.value(item) for item in value]
        return value

    def _revealing_view(self, text: str) -> str | None:
        """The first unescaped view of ``text`` that shows a secret, or ``None``."""
        view = text
        for _ in range(_ROUNDS):
            if not _ESCAPES.intersection(view):
                return None
            decoded = _unescape(view)
            if decoded == view:
                return None
            view = decoded
            if self._holds(view):
                return view
        return None

    def headers(self, headers: httpx.Headers) -> httpx.Headers:
        """The headers with every value redacted (names are the client's own business, but redacted too).

        :param headers: an answer's headers.
        """
        if not self._secrets:
            return headers
        return httpx.Headers([(self.text(name), self.text(value)) for name, value in headers.multi_items()])

    def _holds(self, text: str) -> bool:
        return any(secret in text for secret in self._secrets)

    def _holds_folded(self, text: str) -> bool:
        folded = text.casefold()
        return any(secret in folded for secret in self._folded)

    def _replace(self, text: str) -> str:
        for form in self._spellings:
            if form in text:
                text = text.replace(form, MASK)
        return text

    def _replace_folded(self, text: str) -> str:
        for secret in self._secrets:
            text = re.sub(re.escape(secret), MASK, text, flags=re.IGNORECASE)
        return text


#: Every live redactor: the library log filter masks what any of them knows.
_LIVE: weakref.WeakSet[Redactor] = weakref.WeakSet()
#: The loggers of the HTTP stack under the hook: httpx logs the reason phrase at INFO, httpcore the answer's status
#: line and headers at DEBUG, before any of our code sees the answer.
_LIBRARY_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


class _LibraryLogFilter(logging.Filter):
    """Redacts the records of the HTTP libraries' own loggers with every live redactor."""

    def filter(self, record: logging.LogRecord) -> bool:
        redactors = list(_LIVE)
        if not redactors:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot be formatted is left to the logging system's own handling
            return True
        redacted = message
        for redactor in redactors:
            redacted = redactor.text(redacted)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_FILTER = _LibraryLogFilter()


def redact_library_logs(redactor: Redactor) -> None:
    """Have the HTTP libraries' log records pass ``redactor`` too (for as long as it lives).

    :param redactor: the transport's redactor.
    """
    if not redactor:
        return
    _LIVE.add(redactor)
    for name in _LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
