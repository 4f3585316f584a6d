"""A client-side rate limiter that finds the API's limit and stays just under it, whatever the server says.

Pacing is a virtual schedule (GCRA): each request is given the next free slot ``1 / rate`` seconds after the
previous one, so no one-second window ever holds more than ``floor(rate) + 1`` requests, for any rate; there is no
bucket to misconfigure and nothing that can raise. The rate adapts to what the answers say:

* an announced limit (``x-ratelimit-limit``, on every answer or only on 429s): pace at 95% of it;
* ``Retry-After`` on a 429: pause every sender until then;
* nothing announced: start at :data:`INITIAL_RATE` and double every second until the first 429 (slow start); then
  set the rate to 95% of what the server actually admitted in the last second (the limit, measured), and probe
  upward by :data:`PROBE` per second (additive increase) until the next 429 (multiplicative decrease by
  measurement). A burst of 429s counts once.

Concurrency follows the rate: at most ``ceil(rate x latency x 1.5) + 2`` requests are in flight, from the base
latency the answers show (their slowly forgotten minimum, so a queue our own requests cause does not feed back):
a slow API gets more requests in flight and a fast one fewer, never a constant. While nothing is announced, the
rate it is sized for is at most four times what the answers show, so a probe running ahead of the client does not
inflate it.

Everything is a pure function of the clock it is given (sans-IO): :meth:`AdaptiveRateLimiter.reserve` returns how
long to wait, :meth:`AdaptiveRateLimiter.observe` takes an answer. The asyncio side: :meth:`~AdaptiveRateLimiter.enter`
and :meth:`~AdaptiveRateLimiter.leave` around each item (concurrency), :meth:`~AdaptiveRateLimiter.pace` before
every request, retries included (the hook calls it).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["HEADROOM", "INITIAL_RATE", "MAX_RATE", "MIN_RATE", "PROBE", "AdaptiveRateLimiter", "Answer"]

#: Share of an announced or measured limit the limiter paces at.
HEADROOM = 0.95
#: Rate before anything is known (requests per second).
INITIAL_RATE = 20.0
#: Bounds of any rate the limiter will use.
MIN_RATE = 0.05
MAX_RATE = 10_000.0
#: Additive increase while probing for an unannounced limit: this share of the rate per second at first; halved
#: (down to ``MIN_PROBE``) each time a 429 confirms the same limit, so a known limit is probed ever more gently.
PROBE = 0.02
MIN_PROBE = 0.004
#: How fast the base latency forgets its minimum, per answer (a network that got slower is adopted within about
#: a thousand answers; a queue we caused ourselves is not).
_BASE_DRIFT = 1.001
#: 429s within this many seconds of a backoff belong to the same burst.
_BURST = 0.5
#: How far back admitted answers are counted to measure the server's limit.
_WINDOW = 2.0


def _finite_rate(rate: float) -> float:
    if not isinstance(rate, int | float) or not math.isfinite(rate) or rate <= 0:
        raise ValueError("a rate must be a finite, positive number of requests per second")
    return min(max(float(rate), MIN_RATE), MAX_RATE)


@dataclass(frozen=True)
class Answer:
    """What one answer said about the rate limit.

    :param status: its HTTP status.
    :param limit: ``x-ratelimit-limit``, when sent.
    :param retry_after: the wait a 429 asked for, when given.
    :param latency: seconds between sending and the answer, when known.
    """

    status: int
    limit: int | None = None
    retry_after: float | None = None
    latency: float | None = None


class AdaptiveRateLimiter:
    """Paces requests just under the API's rate limit (see the module's description).

    :param requests_per_second: a fixed rate; ``None`` adapts.
    :param initial_rate: the adaptive rate before anything is known.
    :param max_in_flight: the most requests in flight at once (the caller's own cap).
    :param clock: a monotonic clock (seconds).
    """

    def __init__(
        self,
        requests_per_second: float | None = None,
        *,
        initial_rate: float = INITIAL_RATE,
        max_in_flight: int = 100,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fixed = requests_per_second is not None
        self.rate = _finite_rate(requests_per_second if requests_per_second is not None else initial_rate)
        self.max_in_flight = max(int(max_in_flight), 1)
        self._clock = clock
        self._next_slot = clock()
        self._paused_until = 0.0
        self._announced: float | None = None
        self._throttled = False
        self._last_backoff = -math.inf
        self._last_change = clock()
        self._probe = PROBE
        self._measured: float | None = None
        self._admitted: deque[float] = deque()
        self._latency: float | None = None
        self.in_flight = 0
        self._released = asyncio.Event() if _in_loop() else None

    # -- pacing ----------------------------------------------------------------------------------------------

    @property
    def concurrency(self) -> int:
        """Requests allowed in flight now: enough to keep the pipe full at the current rate and latency."""
        # Unannounced: sized for at most four times the rate the answers show (two seconds' average): while a probe runs
        # ahead of what the client manages to send (its CPU, its caller), the requests in flight do not grow with
        # it, which would only slow every request down without the server ever saying no.
        rate = self.rate
        if self._announced is None:  # an announced limit is the server's word: size for it
            rate = min(rate, max(4.0 * len(self._admitted) / _WINDOW, INITIAL_RATE))
        if self._latency is None:
            return min(self.max_in_flight, max(2, math.ceil(rate * 0.2)))
        return min(self.max_in_flight, math.ceil(rate * self._latency * 1.5) + 2)

    def reserve(self) -> float:
        """Take the next send slot.

        :return: seconds to wait before sending (0 to send now).
        """
        now = self._clock()
        self._adapt_on_time(now)
        slot = max(now, self._next_slot, self._paused_until)
        self._next_slot = slot + 1.0 / self.rate
        return slot - now

    async def enter(self) -> None:
        """Wait for a place among the requests in flight (held until :meth:`leave`, the hook's retries included)."""
        while self.in_flight >= self.concurrency:
            if self._released is None:
                self._released = asyncio.Event()
            self._released.clear()
            await self._released.wait()
        self.in_flight += 1

    def leave(self) -> None:
        """Give back the place taken by :meth:`enter`."""
        self.in_flight = max(self.in_flight - 1, 0)
        if self._released is not None:
            self._released.set()

    async def pace(self) -> None:
        """Wait for the next send slot: call it before every request, retries included (the hook's ``pace``)."""
        wait = self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)

    # -- adapting --------------------------------------------------------------------------------------------

    def observe(self, answer: Answer) -> None:
        """Take what one answer said (any answer: the hook's retries included)."""
        now = self._clock()
        if answer.latency is not None and math.isfinite(answer.latency) and answer.latency >= 0:
            # The base latency (a slowly forgotten minimum), not the average: queueing that too many requests in
            # flight cause must not size the concurrency up (Little's law on a self-inflicted queue feeds back).
            base = answer.latency if self._latency is None else min(answer.latency, self._latency * _BASE_DRIFT)
            self._latency = base
        if self.fixed:
            return
        if answer.limit is not None and answer.limit > 0:
            self._announced = float(answer.limit)
            self._set(HEADROOM * answer.limit, now)
        if answer.status != 429:
            self._admitted.append(now)
            self._forget(now)
            return
        if answer.retry_after is not None and math.isfinite(answer.retry_after) and answer.retry_after > 0:
            self._paused_until = max(self._paused_until, now + min(answer.retry_after, 60.0))
        if answer.limit is not None or now - self._last_backoff < _BURST:
            return  # the announced limit already set the rate, or this 429 belongs to a burst already handled
        self._throttled = True
        self._last_backoff = now
        self._forget(now)
        measured = len(self._admitted) / _WINDOW  # what the server admitted in the last second: its limit
        if measured < self.rate * 0.3:
            self._set(self.rate * 0.5, now)
            return
        same = self._measured is not None and abs(measured - self._measured) <= 0.1 * self._measured
        self._probe = max(self._probe / 2, MIN_PROBE) if same else PROBE
        self._measured = measured
        self._set(HEADROOM * measured, now)

    def _adapt_on_time(self, now: float) -> None:
        """Probe upward while nothing is announced: slow start until the first 429, then additive increase."""
        if self.fixed or self._announced is not None:
            return
        elapsed = now - self._last_change
        if elapsed < 0.1:
            return
        growth = 2.0**elapsed if not self._throttled else 1.0 + self._probe * elapsed
        self._set(self.rate * growth, now)

    def _set(self, rate: float, now: float) -> None:
        rate = min(max(rate, MIN_RATE), MAX_RATE)
        if self._announced is not None:
            rate = min(rate, HEADROOM * self._announced)
        if rate < self.rate:
            # Slots already handed out at the old rate stand; the next one waits for the new spacing.
            self._next_slot = max(self._next_slot, now) + 1.0 / rate - 1.0 / self.rate
        self.rate = rate
        self._last_change = now

    def _forget(self, now: float) -> None:
        while self._admitted and self._admitted[0] < now - _WINDOW:
            self._admitted.popleft()


def _in_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
