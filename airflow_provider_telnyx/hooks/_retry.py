"""When the hook tries again and how long it waits, and what the answers say about the rate limit.

One rule turns an answer's headers into a wait (:func:`retry_after_seconds`): a hint is used only when it is finite
and positive (as the official SDKs do), and at most :data:`MAX_RETRY_AFTER`. A hint of 0 (what a fixed window's edge
says: ``x-ratelimit-reset: 0``, ``Retry-After: 0``), a negative, unparseable or absent one is no hint: the backoff
applies, which never waits less than :data:`BACKOFF_BASE` / 2 and doubles per attempt ("equal jitter": half the
step fixed, half random), so a server that keeps saying "now" is not hammered. An unusable header never replaces
the API's own error.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import timezone
from functools import partial
from typing import Any

import httpx
from tenacity import RetryCallState, retry_if_exception, stop_after_attempt

from airflow_provider_telnyx.exceptions import (
    TelnyxApiError,
    TelnyxConnectionError,
    TelnyxNotFoundError,
    TelnyxRateLimitError,
    TelnyxRequestTimeoutError,
    TelnyxServerError,
)
from airflow_provider_telnyx.hooks._http import ApiAnswer, ApiRequest

__all__ = [
    "MAX_RETRY_AFTER",
    "MIN_HINT_WAIT",
    "Attempts",
    "RateLimitObservation",
    "RetryPolicy",
    "backoff",
    "retry_after_header",
    "retry_after_seconds",
    "should_retry_hint",
]

#: Longest wait we accept from ``Retry-After``/``x-ratelimit-reset`` before trying again anyway.
MAX_RETRY_AFTER = 60.0
#: 429 answers retried beyond ``max_retries`` (a 429 proves the request was not processed, so repeating it is safe;
#: the batch's rate limiter paces every retry).
RATE_LIMIT_RETRIES = 10
#: Exponential backoff with equal jitter: the n-th wait (n from 0) is uniform in [step / 2, step] where
#: step = min(BACKOFF_MAX, BACKOFF_BASE * 2**n): at least BACKOFF_BASE / 2, then doubling.
BACKOFF_BASE = 0.5
BACKOFF_MAX = 30.0
#: The shortest wait after an answer that asked for one (a 429's hint, however small): a whole-second hint of 0,
#: or a millisecond one, means "under a second", not "now". The batch's rate limiter pauses at least this long too.
MIN_HINT_WAIT = BACKOFF_BASE / 2


@dataclass(frozen=True)
class RateLimitAnswer:
    """What one answer said about the rate limit (each field ``None`` when not said, or said unreadably).

    :param status: its HTTP status.
    :param limit: ``x-ratelimit-limit``: requests per window (a positive whole number).
    :param remaining: ``x-ratelimit-remaining``: requests left in the window.
    :param reset: ``x-ratelimit-reset``: seconds until the window resets (an epoch timestamp is made relative).
    :param retry_after: the wait a 429 asked for (``Retry-After-Ms``/``Retry-After``).
    :param latency: seconds from sending to the whole answer.
    """

    status: int
    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None
    retry_after: float | None = None
    latency: float | None = None


@dataclass
class RateLimitObservation:
    """What the API's ``x-ratelimit-*`` headers and 429 answers said so far.

    :param limit: ``x-ratelimit-limit`` of the latest answer that carried it.
    :param remaining: ``x-ratelimit-remaining`` of the latest answer that carried it.
    :param reset: ``x-ratelimit-reset`` (seconds) of the latest answer that carried it.
    :param throttled: how many 429 answers were received.
    :param responses: how many answers were received.
    :param retry_after: the latest 429's ``Retry-After`` (seconds), if it gave one.
    :param listeners: called with every answer's :class:`RateLimitAnswer`; the batch operator's rate limiter
        listens here, so it hears the hook's own retries too.
    """

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None
    throttled: int = 0
    responses: int = 0
    retry_after: float | None = None
    listeners: list[Callable[[RateLimitAnswer], None]] = field(default_factory=list)

    def observe(self, status_code: int, headers: httpx.Headers, latency: float | None = None) -> None:
        """Record one answer (malformed, negative or non-finite header values are ignored).

        :param status_code: its status.
        :param headers: its headers.
        :param latency: seconds from sending to the whole answer.
        """
        self.responses += 1
        counts: dict[str, int] = {}
        for name in ("limit", "remaining"):
            number = _finite(headers.get(f"x-ratelimit-{name}"))
            if number is not None and number >= 0 and number == int(number):
                counts[name] = int(min(number, 2**53))
        limit = counts.get("limit") or None  # a limit of 0 says nothing usable
        remaining = counts.get("remaining")
        reset = _finite(headers.get("x-ratelimit-reset"))
        if reset is not None and reset > 1e9:  # an epoch timestamp rather than a number of seconds
            reset = max(reset - time.time(), 0.0)
        reset = reset if reset is not None and reset >= 0 else None
        self.limit = limit if limit is not None else self.limit
        self.remaining = remaining if remaining is not None else self.remaining
        self.reset = reset if reset is not None else self.reset
        retry_after = None
        if status_code == 429:
            self.throttled += 1
            retry_after = retry_after_header(headers, time.time())
            self.retry_after = retry_after
        answer = RateLimitAnswer(
            status_code, limit=limit, remaining=remaining, reset=reset, retry_after=retry_after, latency=latency
        )
        for listener in self.listeners:
            listener(answer)


def _finite(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw.strip()[:32])
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def retry_after_seconds(status: int, headers: httpx.Headers, now: float) -> float | None:
    """Seconds the API asked us to wait: ``Retry-After-Ms``/``Retry-After`` on 429 and 503, ``x-ratelimit-reset``
    on 429 only (the API sends it on most answers, where it says nothing about retrying). The first usable one wins.

    :param status: the answer's status.
    :param headers: its headers.
    :param now: the wall clock (epoch seconds), for an HTTP-date ``Retry-After``.
    :return: a finite wait in ``(0, MAX_RETRY_AFTER]``, or ``None`` when no usable hint was given (0 is none).
    """
    names = ["retry-after-ms", "retry-after"] if status in (429, 503) else []
    if status == 429:
        names.append("x-ratelimit-reset")
    for name in names:
        seconds = _hint_seconds(name, headers.get(name), now)
        if seconds is not None:
            return min(seconds, MAX_RETRY_AFTER)
    return None


def retry_after_header(headers: httpx.Headers, now: float) -> float | None:
    """Only ``Retry-After-Ms``/``Retry-After`` (what a server says about pausing), finite and capped.

    :param headers: the answer's headers.
    :param now: the wall clock, for an HTTP date.
    :return: the wait in ``(0, MAX_RETRY_AFTER]``, or ``None`` (0 is none).
    """
    for name in ("retry-after-ms", "retry-after"):
        seconds = _hint_seconds(name, headers.get(name), now)
        if seconds is not None:
            return min(seconds, MAX_RETRY_AFTER)
    return None


def _hint_seconds(name: str, raw: str | None, now: float) -> float | None:
    if raw is None:
        return None
    value = _finite(raw)
    if value is None and name == "retry-after":
        try:
            parsed = email.utils.parsedate_to_datetime(raw.strip()[:64])
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        value = parsed.timestamp() - now
    if value is None:
        return None
    if name == "retry-after-ms":
        value /= 1000
    elif name == "x-ratelimit-reset" and value > 1e9:  # an epoch timestamp rather than a number of seconds
        value -= now
    return value if math.isfinite(value) and value > 0 else None


def should_retry_hint(headers: httpx.Headers) -> bool | None:
    """The ``x-should-retry`` header as the official SDKs read it: ``true``, ``false`` or absent.

    :param headers: the answer's headers.
    :return: the hint, or ``None``.
    """
    return {"true": True, "false": False}.get(headers.get("x-should-retry", "").strip().lower())


def backoff(attempt: int, *, draw: Callable[[], float] = random.random) -> float:
    """The wait after the ``attempt``-th failure (from 0) when the API gave no usable hint: uniform in
    ``[step / 2, step]``, ``step = min(BACKOFF_MAX, BACKOFF_BASE * 2**attempt)``.

    :param attempt: failures so far, less one.
    :param draw: a uniform draw in ``[0, 1)`` (tests pass their own).
    """
    step: float = min(BACKOFF_MAX, BACKOFF_BASE * 2.0 ** min(max(attempt, 0), 32))
    return step / 2 + draw() * step / 2


class RetryPolicy:
    """What the hook retries and how long it waits, described once for the sync and the async side.

    Connection errors, timeouts, 408, 409, 429 and 5xx are retried (429s get :data:`RATE_LIMIT_RETRIES` more
    attempts beyond ``max_retries``) after the wait the API asked for (``Retry-After`` on 429/503,
    ``x-ratelimit-reset`` on 429, when positive), else an exponential backoff with equal jitter;
    ``x-should-retry: false`` stops retrying, ``true`` retries whatever the status. A create without an
    ``Idempotency-Key`` is retried only after failures that prove the API did not act on it: otherwise a second
    person could be called.

    :param max_retries: retries after the first attempt.
    :param logger: where retry lines go (the hook's logger: stdlib or structlog).
    """

    def __init__(self, max_retries: int, logger: Any) -> None:
        self.max_retries = max_retries
        self._log = logger

    def options(self, request: ApiRequest) -> dict[str, Any]:
        """Keyword arguments for ``tenacity.Retrying`` / ``AsyncRetrying``.

        :param request: what is sent.
        :return: the options (``sleep`` is the caller's).
        """
        throttled = [0]  # 429s of this call so far: they get their own budget (nothing was processed)

        def stop(state: RetryCallState) -> bool:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, TelnyxRateLimitError) and throttled[0] < RATE_LIMIT_RETRIES:
                throttled[0] += 1
                return False
            return bool(stop_after_attempt(self.max_retries + 1 + throttled[0])(state))

        return {
            "stop": stop,
            "wait": self.wait,
            "retry": retry_if_exception(partial(self.should_retry, request)),
            "before_sleep": partial(self._log_retry, request),
            "reraise": True,
        }

    @staticmethod
    def should_retry(request: ApiRequest, error: BaseException) -> bool:
        """Whether to try ``request`` again after ``error``.

        :param request: what was sent.
        :param error: what it raised.
        """
        if not isinstance(error, TelnyxApiError):
            return False
        hint = getattr(error, "should_retry", None)
        safe_to_repeat = request.idempotent or isinstance(error, TelnyxRateLimitError)
        if isinstance(error, TelnyxConnectionError) and not error.request_sent:
            safe_to_repeat = True
        if hint is False:
            return False
        if hint is True:
            return safe_to_repeat or (error.http_status is not None and error.http_status < 500)
        return error.retryable and safe_to_repeat

    def wait(self, state: RetryCallState) -> float:
        """Seconds before the next attempt: the API's own hint when it gave a usable one, else the backoff.

        :param state: tenacity's state.
        """
        error = state.outcome.exception() if state.outcome else None
        hinted = getattr(error, "retry_after", None)
        if isinstance(hinted, float | int) and math.isfinite(hinted) and hinted > 0:
            return float(min(max(hinted, MIN_HINT_WAIT), MAX_RETRY_AFTER))
        return backoff(state.attempt_number - 1)

    def _log_retry(self, request: ApiRequest, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        if isinstance(error, TelnyxApiError) and error.http_status is not None:
            cause = f"HTTP {error.http_status}" + (f" code {error.code}" if error.code else "")
        else:
            cause = type(error).__name__
        with suppress(Exception):
            self._log.warning(
                "Telnyx %s %s failed (%s); attempt %d, next in %.2fs",
                request.method,
                request.path,
                cause,
                state.attempt_number,
                wait,
            )


class Attempts:
    """The attempts of one call: every answer is observed, and an error is read knowing what earlier attempts saw.

    A request whose earlier attempt may have been processed (a 5xx, a timeout, a dropped connection) and that now
    answers 404 was done by that attempt, when the request says so (a delete): the call succeeds.
    """

    def __init__(self, request: ApiRequest, observation: RateLimitObservation, logger: Any) -> None:
        self._request = request
        self._observation = observation
        self._log = logger
        self._maybe_processed = False

    def answered(self, answer: ApiAnswer) -> ApiAnswer:
        self._observation.observe(answer.status, answer.headers, answer.latency)
        self._log.debug("Telnyx %s %s -> %s", self._request.method, self._request.path, answer.status)
        return answer

    def settle(self, error: TelnyxApiError) -> tuple[Any, httpx.Headers]:
        if isinstance(error, TelnyxNotFoundError) and self._request.done_if_gone and self._maybe_processed:
            self._log.info("Telnyx %s %s: done by an earlier attempt", self._request.method, self._request.path)
            return None, httpx.Headers()
        if isinstance(error, TelnyxServerError | TelnyxRequestTimeoutError) or (
            isinstance(error, TelnyxConnectionError) and error.request_sent
        ):
            self._maybe_processed = True
        raise error
