"""The one redaction point: every text that came from the server passes :class:`Redactor` before it reaches a message,
an exception's arguments, a summary, XCom or a log line.

A server (or a proxy in front of it) may echo the API key back anywhere: in the body, the reason phrase or a header
value, in any encoding, cut short or in another case. A list of spellings misses the next one, so the redactor looks
at a text the way a reader could decode it:

* as it is, and with JSON (``\\u004b``, ``\\/``), URL (``%4B``) and HTML (``&#75;``) escapes undone, in any
  combination up to three deep (an escape of an escape, or a ``repr`` of one);
* for any run of :data:`FRAGMENT` or more consecutive characters of the key, in any letter case (a truncated echo
  still gives most of the key away);
* for the key inside base64 (standard or URL-safe, at any of the three alignments, cut short or wrapped in MIME
  lines): a run of :data:`BASE64_FRAGMENT` or more characters of the base64 of the key counts as the key.

What a view shows is masked with ``***``, view after view, until no view shows a secret (an escaped echo comes out
decoded, the key masked).
Texts without a secret come back unchanged. The common case costs a case-folding copy and a few substring searches;
the unescaped views are built only for texts that hold an escape character, and every combination of the three
unescapings up to three deep is looked at (at most 3 + 9 + 27 views).

Bodies are scrubbed as bytes when they arrive (the key's raw and common escaped spellings); everything decoded from
them, the reason phrase and the header values pass :meth:`Redactor.text`; the HTTP libraries' own log records pass
it too (:func:`redact_library_logs`).
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import string
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus, unquote

import httpx

__all__ = ["BASE64_FRAGMENT", "FRAGMENT", "MASK", "Redactor", "redact_library_logs"]

#: What a secret is replaced by.
MASK = "***"
#: The shortest run of a secret's characters that counts as the secret (the whole secret when it is shorter).
FRAGMENT = 24
#: The shortest run of the base64 of a secret that counts as the secret: it encodes :data:`FRAGMENT` characters.
BASE64_FRAGMENT = 32
#: Rounds of unescaping tried (every combination of the unescapings up to this deep is a view).
_ROUNDS = 3
#: Characters that start an escape in one of the decoded views; a text without any is only searched as it is.
_HAS_ESCAPE = re.compile(r"[\\%&]").search
_JSON_ESCAPE = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|x([0-9A-Fa-f]{2})|([\"\\/bfnrt]))")
_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
#: ASCII-only lower-casing: keeps every index of the text (``str.lower`` may not, e.g. for ``İ``).
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def _json_unescape(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        code, byte, simple = match.groups()
        if code is not None or byte is not None:
            return chr(int(code or byte, 16))
        return _SIMPLE[simple]

    return _JSON_ESCAPE.sub(one, text)


#: The unescapings a reader could apply, each on its own (``+`` as a space is not one: a key holds no space).
_UNESCAPES = (_json_unescape, unquote, html.unescape)


def _base64_forms(secret: bytes) -> set[str]:
    """The base64 (standard and URL-safe) of ``secret`` at each of the three alignments it may start at, without
    the characters that depend on the bytes around it."""
    forms: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + secret).decode().rstrip("=")
        core = encoded[-(-offset * 4 // 3) : ((offset + len(secret)) * 4) // 3]
        if len(core) >= 8:
            forms.update({core, core.replace("+", "-").replace("/", "_")})
    return forms


class _Secret:
    """One secret (or one base64 form of it), with what finding any long run of it takes: its lower-cased text, the
    run length that counts, and the aligned chunks every such run contains (a run of ``length`` holds at least one
    whole chunk)."""

    def __init__(self, secret: str, fragment: int = FRAGMENT) -> None:
        self.lower = secret.translate(_ASCII_LOWER)
        self.length = min(fragment, len(secret))
        size = (self.length + 1) // 2
        self.chunks = [(k, self.lower[k : k + size]) for k in range(0, len(secret) - size + 1, size)]

    def runs(self, folded: str) -> list[tuple[int, int]]:
        """The spans of ``folded`` (a lower-cased text) holding at least :attr:`length` consecutive characters of
        the secret, each extended as far as it goes."""
        spans: list[tuple[int, int]] = []
        for offset, chunk in self.chunks:
            at = folded.find(chunk)
            while at >= 0:
                start, key_start = at, offset
                while start > 0 and key_start > 0 and folded[start - 1] == self.lower[key_start - 1]:
                    start, key_start = start - 1, key_start - 1
                end, key_end = at + len(chunk), offset + len(chunk)
                while end < len(folded) and key_end < len(self.lower) and folded[end] == self.lower[key_end]:
                    end, key_end = end + 1, key_end + 1
                if end - start >= self.length:
                    spans.append((start, end))
                at = folded.find(chunk, at + 1)
        return spans


class Redactor:
    """Masks secrets in server text, in every view a reader could decode (see the module's description).

    :param secrets: the texts to hide (the API key); empty ones are ignored.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        kept = sorted({secret for secret in secrets if secret}, key=len, reverse=True)
        #: What tells two redactors apart: their secrets.
        self.key = tuple(kept)
        forms = sorted({form for secret in kept for form in _base64_forms(secret.encode())})
        self._secrets = [_Secret(secret) for secret in kept] + [_Secret(form, BASE64_FRAGMENT) for form in forms]
        spellings = {
            form
            for secret in kept
            for form in (secret, json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret))
            if form
        }
        self._byte_spellings = [form.encode() for form in sorted(spellings, key=len, reverse=True)]
        #: The shortest text that can show a secret: a run of it (or of its base64).
        self._shortest = min([secret.length for secret in self._secrets] or [0])

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def bytes(self, body: bytes) -> bytes:
        """Scrub a body as it arrives (the raw and common escaped spellings; what is decoded from it passes
        :meth:`text` again).

        :param body: the raw body.
        """
        for form in self._byte_spellings:
            if form in body:
                body = body.replace(form, MASK.encode())
        return body

    def text(self, text: str) -> str:
        """The text with every secret masked, in whichever view shows it.

        A view is masked, then the masked text is looked at again: an echo may hold the key twice, once raw and
        once escaped. A text that still shows a secret after that many rounds is replaced whole.

        :param text: any text that came from the server (or was built from it).
        """
        if not self._secrets or len(text) < self._shortest:
            return text  # too short to hold any run that counts (the common header value)
        for _ in range(_ROUNDS + 1):
            if self._holds(text):
                text = self._mask(text)
            revealing = [view for view in self._views(text) if self._holds(view)]
            if not revealing:
                return text
            # The view that shows the most of a secret is the one masked next (an escaped tail goes with the rest).
            text = max(revealing, key=self._shown)
        return f"{MASK} (a text that kept showing the API key in another encoding)"

    def reveals(self, text: str) -> bool:
        """Whether any view of ``text`` shows a secret (what :meth:`text` would mask).

        :param text: any text.
        """
        if not self._secrets or len(text) < self._shortest:
            return False
        return self._holds(text) or any(self._holds(view) for view in self._views(text))

    def value(self, value: Any) -> Any:
        """A decoded JSON value with every string (keys included) redacted.

        All its strings are looked at once, joined by a NUL (no escape or run of a secret spans it); only when that
        shows a secret is each string redacted on its own.

        :param value: what ``json.loads`` returned.
        """
        if not self._secrets:
            return value
        texts: list[str] = []
        _strings(value, texts)
        return self._value(value) if self.reveals("\x00".join(texts)) else value

    def _value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(key) if isinstance(key, str) else key: self._value(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._value(item) for item in value]
        return value

    def headers(self, headers: httpx.Headers) -> httpx.Headers:
        """The headers with every name and value redacted.

        :param headers: an answer's headers.
        """
        if not self._secrets:
            return headers
        items = headers.multi_items()
        if not self.reveals("\n".join(f"{name}: {value}" for name, value in items)):
            return headers  # one look at them all: the common case
        return httpx.Headers([(self.text(name), self.text(value)) for name, value in items])

    def _holds(self, text: str) -> bool:
        folded = text.lower()  # a fast test (``str.lower`` may move indices, which only :meth:`_mask` needs)
        return any(chunk in folded for secret in self._secrets for _, chunk in secret.chunks) and any(
            secret.runs(folded) for secret in self._secrets
        )

    def _mask(self, text: str) -> str:
        folded = text.translate(_ASCII_LOWER)
        spans = sorted(span for secret in self._secrets for span in secret.runs(folded))
        out: list[str] = []
        position = 0
        for start, end in spans:
            if end <= position:
                continue
            out.append(text[position : max(start, position)])
            out.append(MASK if start >= position else "")
            position = end
        out.append(text[position:])
        return "".join(out)

    def _shown(self, view: str) -> int:
        folded = view.lower()
        return max((end - start for secret in self._secrets for start, end in secret.runs(folded)), default=0)

    def _views(self, text: str) -> list[str]:
        """Every unescaped view of ``text``: each combination of the unescapings, up to :data:`_ROUNDS` deep (none
        for a text without an escape character)."""
        if not _HAS_ESCAPE(text):
            return []
        seen = {text}
        views: list[str] = []
        layer = [text]
        for _ in range(_ROUNDS):
            following: list[str] = []
            for view in layer:
                for unescape in _UNESCAPES:
                    decoded = unescape(view)
                    if decoded in seen:
                        continue
                    seen.add(decoded)
                    views.append(decoded)
                    if _HAS_ESCAPE(decoded):
                        following.append(decoded)
            layer = following
        return views


def _strings(value: Any, into: list[str]) -> None:
    """Every string of a decoded JSON value, keys included, in order."""
    if isinstance(value, str):
        into.append(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                into.append(key)
            _strings(item, into)
    elif isinstance(value, list):
        for item in value:
            _strings(item, into)


#: One redactor per set of secrets this process has seen: the library log filter masks what any of them knows (a
#: handful: one per API key used; kept for the process's life, so that a record logged while a client closes is
#: masked too).
_KNOWN: dict[tuple[str, ...], Redactor] = {}
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
    """Redacts the records of the HTTP libraries' own loggers with every known redactor."""

    def filter(self, record: logging.LogRecord) -> bool:
        redactors = list(_KNOWN.values())
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
    """Have the HTTP libraries' log records pass ``redactor`` too.

    :param redactor: the transport's redactor.
    """
    if not redactor:
        return
    _KNOWN.setdefault(redactor.key, redactor)
    for name in _LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
