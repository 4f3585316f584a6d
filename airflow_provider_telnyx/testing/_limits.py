"""The simulator's faults and its rate limiter, with the server models a client meets in the wild.

Rate limiting has two window semantics (a fixed window, or a token bucket refilled continuously), any window
length (the API does not publish its own), and three ways of saying so (``x-ratelimit-*`` headers on every answer,
as the real API sends them; only on the 429 itself; never). Every combination is selectable, so a client can be
tested against models it was not tuned to. ``x-ratelimit-reset`` is the seconds until the window resets (a fixed
window) or until the bucket is full again, rounded to the nearest second: 0 at a fixed window's edge.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from starlette.responses import Response

from airflow_provider_telnyx.testing._rules import Problem, telnyx_error

__all__ = ["DEFAULT_RATE_LIMIT", "Faults", "HeaderPresence", "RateLimiter", "WindowModel", "fault_response"]

#: The limit the simulator enforces when none is set: generous, but there (the real API always has one).
DEFAULT_RATE_LIMIT = 1000.0

WindowModel = Literal["fixed", "token_bucket"]
HeaderPresence = Literal["always", "on_429", "never"]


@dataclass
class Faults:
    """Faults the simulator injects. Every share is a probability in [0, 1], drawn from a seeded RNG.

    :param latency: seconds added before every API request is answered.
    :param rate_limit: requests per window allowed per API key; ``None``: ``DEFAULT_RATE_LIMIT``.
    :param rate_limit_window: ``"fixed"`` (windows of ``rate_limit_window_seconds``) or ``"token_bucket"`` (a
        bucket of ``rate_limit`` requests refilled continuously, fully in ``rate_limit_window_seconds``).
    :param rate_limit_window_seconds: the window's length (default one second).
    :param rate_limit_headers: when ``x-ratelimit-limit``/``-remaining``/``-reset`` are sent: ``"always"`` (every
        answer, like the real API), ``"on_429"`` or ``"never"``.
    :param error_rate: share of API requests answered with one of ``error_statuses`` before they are processed.
    :param error_statuses: the statuses ``error_rate`` draws from (429 answers carry ``Retry-After``).
    :param timeout_rate: share of API requests that hang for ``hang_seconds`` (then answer 504).
    :param hang_seconds: how long a hanging request hangs.
    :param lose_create_rate: share of creates that are committed but whose response is lost: half answered
        502, half a dropped connection.
    :param lose_next_creates: lose the responses of the next N creates (after committing them), answering 502;
        counts down as it is used (deterministic, unlike ``lose_create_rate``).
    :param refuse_next_creates: answer the next N creates 503 before processing them (nothing is created);
        counts down as it is used (deterministic: a try that fails before any event exists).
    :param hold_creates: commit creates, then hold their responses until :meth:`Simulator.release_held`.
    :param failing_assistants: assistant ids whose requests are always answered 503 (a broken tenant).
    :param echo_assistants: assistant ids whose requests are answered 400 with a body that echoes the request's
        ``Authorization`` header (a hostile or misconfigured proxy: the key must not travel further).
    """

    latency: float = 0.0
    rate_limit: float | None = None
    rate_limit_window: WindowModel = "fixed"
    rate_limit_window_seconds: float = 1.0
    rate_limit_headers: HeaderPresence = "always"
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 502, 503)
    timeout_rate: float = 0.0
    hang_seconds: float = 5.0
    lose_create_rate: float = 0.0
    lose_next_creates: int = 0
    refuse_next_creates: int = 0
    hold_creates: bool = False
    failing_assistants: tuple[str, ...] = ()
    echo_assistants: tuple[str, ...] = ()


class RateLimiter:
    """Counts each API key's requests under the window model in force and says what to answer.

    :param clock: a monotonic clock (seconds).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}
        self._buckets: dict[str, tuple[float, float]] = {}

    def reset(self) -> None:
        """Forget every key's count."""
        with self._lock:
            self._windows.clear()
            self._buckets.clear()

    def admit(self, api_key: str, faults: Faults) -> dict[str, str]:
        """Count one request.

        :param api_key: whose request.
        :param faults: the limit, its window model and its header presence.
        :return: the ``x-ratelimit-*`` headers to send with the answer (maybe none).
        :raises Problem: a 429, when the key is over its limit.
        """
        limit = faults.rate_limit if faults.rate_limit is not None else DEFAULT_RATE_LIMIT
        seconds = faults.rate_limit_window_seconds if faults.rate_limit_window_seconds > 0 else 1.0
        if faults.rate_limit_window == "token_bucket":
            allowed, remaining, reset = self._bucket(api_key, limit, seconds)
        else:
            allowed, remaining, reset = self._window(api_key, limit, seconds)
        headers = {
            "x-ratelimit-limit": str(max(int(limit), 1)),
            "x-ratelimit-remaining": str(max(remaining, 0)),
            "x-ratelimit-reset": str(reset),
        }
        if not allowed:
            shown = headers if faults.rate_limit_headers != "never" else {}
            raise Problem(
                telnyx_error(
                    429,
                    "10011",
                    "Too many requests",
                    "You have exceeded the maximum number of allowed requests.",
                    headers=shown,
                )
            )
        return headers if faults.rate_limit_headers == "always" else {}

    def _window(self, api_key: str, limit: float, seconds: float) -> tuple[bool, int, int]:
        now = self._clock()
        window = math.floor(now / seconds) * seconds
        per_window = max(int(limit), 1)
        with self._lock:
            start, used = self._windows.get(api_key, (window, 0))
            if start != window:
                start, used = window, 0
            used += 1
            self._windows[api_key] = (start, used)
        return used <= per_window, per_window - used, _whole_seconds(start + seconds - now)

    def _bucket(self, api_key: str, limit: float, seconds: float) -> tuple[bool, int, int]:
        now = self._clock()
        capacity = max(limit, 1.0)
        refill = capacity / seconds
        with self._lock:
            tokens, last = self._buckets.get(api_key, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * refill)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._buckets[api_key] = (tokens, now)
        return allowed, int(tokens), _whole_seconds((capacity - tokens) / refill)


def _whole_seconds(seconds: float) -> int:
    """Seconds rounded to the nearest whole one, as servers send them (0 when under half a second is left)."""
    return max(math.floor(seconds + 0.5), 0)


def fault_response(fault: str) -> Response:
    """The answer an injected fault gives (a 504 after a hang, a 429, an HTML 502, a Telnyx 5xx).

    :param fault: ``timeout`` or ``http_<status>``.
    """
    if fault == "timeout":
        return Response("upstream request timeout", status_code=504, media_type="text/plain")
    status = int(fault.removeprefix("http_"))
    if status == 429:  # the x-ratelimit-* headers are the rate limiter's, added when its model sends them
        headers = {"retry-after": "1"}
        detail = "You have exceeded the maximum number of allowed requests."
        return telnyx_error(429, "10011", "Too many requests", detail, headers=headers)
    if status == 502:
        page = "<html><head><title>502 Bad Gateway</title></head><body>bad gateway</body></html>"
        return Response(page, status_code=502, media_type="text/html")
    return telnyx_error(status, "10007", "Unexpected error", "An unexpected error occurred.")
