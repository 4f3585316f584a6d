"""A client-side rate limiter that finds the API's limit and stays just under it, whatever the server says.

Pacing is a virtual schedule (GCRA): each request is given the next free slot ``1 / rate`` seconds after the
previous one, so no stretch of ``t`` seconds ever holds more than ``floor(rate x t) + 1`` requests, for any rate;
there is no bucket to misconfigure and nothing that can raise. The rate follows what the answers say:

* ``x-ratelimit-limit`` is a number of requests per *window*, and the API does not publish the window's length.
  It is learned from ``x-ratelimit-reset`` (seconds until the window resets) as the largest reset seen: a fixed
  window's reset counts down from its length, a token bucket's says how long refilling takes. With both known,
  the rate is 95% of ``limit / window``. One outlying reset (a gateway's penalty, an epoch reset from a skewed
  clock) is forgotten again: when :data:`SHORT_WRAPS` new windows (the reset went up by a second or more, or what is
  left went up) begin so soon after the answer before that the reset should still be above half the learned
  length, with no reset above half of it meanwhile, the window is the largest reset seen since.
* ``x-ratelimit-remaining`` R with a reset of S >= 2 s: R requests may still go before a reset that comes no
  sooner than ``S - 1`` seconds (resets are whole seconds, however the server rounds them), so the rate is at most
  95% of ``R / (S - 1)`` (a key shared with other clients, a window learned too short, a draining bucket).
* A 429 pauses every sender until ``Retry-After`` or the earliest the reset can come (``S - 1``), whichever is
  later, for at least ``MIN_HINT_WAIT`` (0.25 s, the hook's floor too) and at
  most :data:`MAX_PAUSE`: a hint of 0 (a fixed window's edge, rounded down) means "under a second", not "now".
  The last request a window admits (remaining 0) pauses until
  the earliest the reset can come. A slot taken before a pause and falling inside it is void, and so is (once) a
  slot a busy event loop overslept, whose late senders would crowd one window: :meth:`~AdaptiveRateLimiter.pace`
  takes another.
* A limit with no reset: the window is unknown, and taking it for one second would overrun a 10 s window tenfold.
  So the limit only caps the rate (at 95% of it per second: no window is shorter than a second), and the rate is
  found as if nothing were announced until a reset arrives.
* Nothing announced: start at :data:`INITIAL_RATE` and double every round trip until the first 429 (TCP's slow
  start: each admitted answer adds ``1 / round trip`` to the rate); then set the rate to 95% of what the server
  admitted over the last two seconds (the limit, measured) and probe upward by :data:`PROBE` per second (additive
  increase, gentler each time a 429 confirms the same limit). 429s within three round trips (half a second at
  most) of that count once: they answer requests sent before it. If nothing at all was admitted (a window longer
  than two seconds, used up), every sender pauses 0.5 s, then twice as long each time, until one is admitted. The
  rate grows only while it is what holds requests back (the last one waited for its slot): a client slower than
  its rate does not inflate it.

Resets longer than :data:`MAX_WINDOW` are a quota, not a pacing window: they only pause. Concurrency follows the
rate: at most ``ceil(rate x latency x 2) + 2`` requests are sent or waiting for their slot, from the typical
latency the answers show but at most three times their base latency (a slowly forgotten minimum): a busy network
is followed, a queue our own requests cause does not feed back. While the window is unknown, the rate it is sized
for is at most 1.5 times what the server is seen to admit, so a client slower than its rate does not pile up requests.
Items waiting out a retry's backoff hold no such place.

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
from collections.abc import Awaitable, Callable

from airflow_provider_telnyx.hooks.telnyx import MIN_HINT_WAIT, RateLimitAnswer

__all__ = [
    "HEADROOM",
    "INITIAL_RATE",
    "MAX_PAUSE",
    "MAX_RATE",
    "MAX_WINDOW",
    "MIN_RATE",
    "PROBE",
    "SHORT_WRAPS",
    "AdaptiveRateLimiter",
]

#: Share of an announced or measured limit the limiter paces at.
HEADROOM = 0.95
#: Rate before anything is known (requests per second).
INITIAL_RATE = 20.0
#: Bounds of any rate the limiter will use.
MIN_RATE = 0.05
MAX_RATE = 10_000.0
#: Additive increase while probing for an unannounced limit: this share of the rate per second at first; halved
#: (down to ``MIN_PROBE``) each time a 429 confirms the same limit, so a known limit is probed ever more gently.
PROBE = 0.1
MIN_PROBE = 0.004
#: The longest reset taken as a window's length (seconds).
MAX_WINDOW = 3600.0
#: New windows in a row, each beginning at half the learned length or less, that shrink the learned window.
SHORT_WRAPS = 3
#: The longest pause any answer imposes (seconds).
MAX_PAUSE = 60.0
#: How fast the base latency forgets its minimum, per answer (a network that got slower is adopted within about
#: a thousand answers; a queue we caused ourselves is not).
_BASE_DRIFT = 1.001
#: Concurrency is sized from the typical latency (a moving average), at most this many times the base latency:
#: a busy network or CPU is followed, a queue of our own requests only this far.
_LATENCY_SPREAD = 3.0
#: 429s within this many seconds (or three round trips, if fewer) of a backoff belong to the same burst.
_BURST = 0.5
#: A wait that overran its slot by more than this (and two slots) takes a new slot, once.
_LATE = 0.02
#: The first pause when nothing at all is admitted (doubled each time until something is).
_FIRST_LOCKOUT = 0.5
#: How far back admitted answers are counted to measure the server's limit.
_MEASURE = 2.0


def _finite_rate(rate: float) -> float:
    if not isinstance(rate, int | float) or not math.isfinite(rate) or rate <= 0:
        raise ValueError("a rate must be a finite, positive number of requests per second")
    return min(max(float(rate), MIN_RATE), MAX_RATE)


def _number(value: float | None, *, low: float = 0.0) -> float | None:
    """``value`` when it is a finite number of at least ``low``, else ``None``."""
    if isinstance(value, int | float) and math.isfinite(value) and value >= low:
        return float(value)
    return None


class AdaptiveRateLimiter:
    """Paces requests just under the API's rate limit (see the module's description).

    :param requests_per_second: a fixed rate (a 429 still pauses it); ``None`` adapts.
    :param initial_rate: the adaptive rate before anything is known.
    :param max_in_flight: the most requests in flight at once (the caller's own cap).
    :param clock: a monotonic clock (seconds).
    :param sleep: how :meth:`pace` waits (tests pass one that moves their clock instead).
    """

    def __init__(
        self,
        requests_per_second: float | None = None,
        *,
        initial_rate: float = INITIAL_RATE,
        max_in_flight: int = 100,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.fixed = requests_per_second is not None
        self.rate = _finite_rate(requests_per_second if requests_per_second is not None else initial_rate)
        self.max_in_flight = max(int(max_in_flight), 1)
        #: The announced limit (requests per window) and the window's length learned from resets (seconds).
        self.limit: float | None = None
        self.window: float | None = None
        #: The last reset seen (with what was left, and when); the largest reset since every reset stayed at half
        #: the learned window or less, and how many new windows began short meanwhile.
        self._last_reset: tuple[float, float | None, float] | None = None
        self._short_max = 0.0
        self._short_began = 0
        self._clock = clock
        self._sleep = sleep
        self._last_slot = -math.inf
        self._waited = False
        #: Every sender waits until then (a 429, an exhausted window).
        self.paused_until = -math.inf
        self._throttled = False
        self._last_backoff = -math.inf
        self._last_change = clock()
        self._probe = PROBE
        self._measured: float | None = None
        self._first_admitted = math.inf
        self._lockout = _FIRST_LOCKOUT
        self._admitted: deque[float] = deque()
        self._latency: float | None = None
        self._typical = 0.0
        self.in_flight = 0
        self._on_wire = 0
        self._fresh = 0
        self._released = asyncio.Event() if _in_loop() else None

    # -- pacing ----------------------------------------------------------------------------------------------

    @property
    def concurrency(self) -> int:
        """Requests allowed in flight now: enough to keep the pipe full at the current rate and latency."""
        rate = self.rate
        if self.window is None:  # probing: sized for at most 1.5 times what the server admits
            shown = len(self._admitted) / min(_MEASURE, max(self._clock() - self._first_admitted, 0.1))
            rate = min(rate, max(1.5 * shown, INITIAL_RATE))
        if self._latency is None:
            return min(self.max_in_flight, max(2, math.ceil(rate * 0.2)))
        latency = min(max(self._typical, self._latency), _LATENCY_SPREAD * self._latency)
        return min(self.max_in_flight, math.ceil(rate * latency * 2) + 2)

    @property
    def has_place(self) -> bool:
        """Whether another item may start: fewer than :attr:`concurrency` requests are sent or waiting for their
        slot and unanswered (items waiting out a retry's backoff do not count), and fewer than ``max_in_flight``
        items are under way."""
        return self._on_wire < self.concurrency and self.in_flight < self.max_in_flight

    def reserve(self, *, again: bool = False) -> float:
        """Take the next send slot.

        :param again: the slot replaces one that a pause made void (the same request, not another one).
        :return: seconds to wait before sending (0 to send now).
        """
        now = self._clock()
        self._adapt_on_time(now)
        slot = max(now, self._last_slot + 1.0 / self.rate, self.paused_until)
        self._waited = slot > now
        self._last_slot = slot
        if self._fresh:  # an item's first request: counted since it entered
            self._fresh -= 1
        elif not again:
            self._on_wire += 1
        return slot - now

    def take_place(self) -> bool:
        """Take a place for another item if there is one (see :attr:`has_place`).

        :return: whether a place was taken (give it back with :meth:`leave`).
        """
        if not self.has_place:
            return False
        self.in_flight += 1
        self._on_wire += 1  # its first request is on its way
        self._fresh += 1
        return True

    async def enter(self) -> None:
        """Wait for a place (held until :meth:`leave`, the hook's retries included)."""
        while not self.take_place():
            if self._released is None:
                self._released = asyncio.Event()
            self._released.clear()
            await self._released.wait()

    def leave(self) -> None:
        """Give back the place taken by :meth:`enter`."""
        self.in_flight = max(self.in_flight - 1, 0)
        self._on_wire = min(self._on_wire, self.in_flight)  # an item's requests are over: none unanswered stay
        self._fresh = min(self._fresh, self.in_flight)
        if self._released is not None:
            self._released.set()

    async def pace(self) -> None:
        """Wait for the next send slot: call it before every request, retries included (the hook's ``pace``).
        The slot is void, and a new one taken, when a pause began while waiting (a 429 to another request) and
        still runs, or once when the wait overran the slot (a busy event loop wakes every late sleeper at once:
        sent together, they would crowd a fixed window the slots were spread over)."""
        again = late = False
        while True:
            wait = self.reserve(again=again)
            if wait <= 0:
                return
            slot = self._clock() + wait
            await self._sleep(wait)
            now = self._clock()
            overran = not late and now - slot > max(2.0 / self.rate, _LATE)
            if now >= self.paused_until and not overran:
                return
            again, late = True, late or overran

    # -- adapting --------------------------------------------------------------------------------------------

    def observe(self, answer: RateLimitAnswer) -> None:
        """Take what one answer said (any answer: the hook's retries included)."""
        now = self._clock()
        self._on_wire = max(self._on_wire - 1, 0)
        if self._released is not None:  # a place on the wire is free again
            self._released.set()
        latency = _number(answer.latency)
        if latency is not None:
            # The base latency (a slowly forgotten minimum), not the average: queueing that too many requests in
            # flight cause must not size the concurrency up (Little's law on a self-inflicted queue feeds back).
            self._latency = latency if self._latency is None else min(latency, self._latency * _BASE_DRIFT)
            self._typical += (latency - self._typical) * (0.1 if self._typical else 1.0)
        throttled = answer.status == 429
        if self._heed(answer, now) or self.fixed:  # the server's word, or the caller's rate (pauses still hold)
            self._throttled |= throttled
        elif throttled:
            self._back_off(now)
        else:
            self._first_admitted = min(self._first_admitted, now)
            self._lockout = _FIRST_LOCKOUT
            self._admitted.append(now)
            self._forget(now)
            if not self._throttled and self._waited:  # slow start: doubles every round trip
                self._set(self.rate + 1.0 / max(self._latency or 1.0, 0.001), now)

    def _heed(self, answer: RateLimitAnswer, now: float) -> bool:
        """Learn the limit and the window, pause when nothing is left, and pace by what the headers say.

        :return: whether the limit and its window are known (the rate is theirs, not measured).
        """
        limit, remaining, reset = _number(answer.limit, low=1), _number(answer.remaining), _number(answer.reset)
        if limit is not None:
            self.limit = limit
        if reset is not None and (0 < reset <= MAX_WINDOW or (reset == 0 and answer.status == 429)):
            self._learn_window(reset, remaining, now)
        known = self.limit is not None and self.window is not None
        # Refused: nothing left until Retry-After, or until the earliest the reset can come (whole seconds).
        hints = [h for h in (_number(answer.retry_after), None if reset is None else reset - 1) if h is not None]
        if answer.status == 429 and (hints or known):
            self._pause_until(now + min(max([*hints, MIN_HINT_WAIT]), MAX_PAUSE))
        elif remaining == 0 and reset is not None:  # admitted, the last one: none more before the reset can come
            self._pause_until(now + min(max(reset - 1, 0.0), MAX_PAUSE))
        if self.limit is not None and self.window is not None and (limit is not None or reset is not None):
            rate = self.limit / self.window
            if remaining and reset is not None and 2 <= reset <= MAX_WINDOW:
                rate = min(rate, remaining / (reset - 1))
            self._set(HEADROOM * rate, now)
        return known

    def _learn_window(self, reset: float, remaining: float | None, now: float) -> None:
        """The window is the largest reset seen (a second at least: a 429 at a window's edge says 0), until the
        resets show it is shorter (see the module's description)."""
        previous, self._last_reset = self._last_reset, (reset, remaining, now)
        if self.window is None or reset > self.window / 2:
            self.window = max(self.window or 1.0, reset)
            self._short_max, self._short_began = 0.0, 0
            return
        self._short_max = max(self._short_max, reset)
        if previous is None:
            return
        before, left_before, then = previous
        # A new window began (the reset or what is left went up) so soon after the last answer that, were the window
        # as long as learned, the reset would still be above half of it: the learned length is wrong. Sparse answers
        # (a 429 at each window's end) prove nothing and are not counted.
        began = reset >= before + 1 or (remaining is not None and left_before is not None and remaining > left_before)
        if began and reset + (now - then) + 1 < self.window / 2:
            self._short_began += 1
        if self._short_began >= SHORT_WRAPS:
            self.window = max(1.0, self._short_max)
            self._short_max, self._short_began = 0.0, 0

    def _back_off(self, now: float) -> None:
        """A 429 with no window known: measure what the server admits, once per burst of 429s."""
        self._throttled = True
        if now - self._last_backoff < min(_BURST, 3 * (self._latency or _BURST)):
            return
        self._last_backoff = now
        self._forget(now)
        # What the server admitted lately is its limit (over less than two seconds at first).
        measured = len(self._admitted) / min(_MEASURE, max(now - self._first_admitted, 0.1))
        if not measured:  # locked out (a long window used up): pause ever longer until admitted again
            self._pause_until(now + self._lockout)
            self._lockout = min(self._lockout * 2, MAX_PAUSE)
            return
        same = self._measured is not None and abs(measured - self._measured) <= 0.1 * self._measured
        self._probe = max(self._probe / 2, MIN_PROBE) if same else PROBE
        self._measured = measured
        self._set(HEADROOM * measured, now)

    def _adapt_on_time(self, now: float) -> None:
        """Probe upward by additive increase after the first 429, while no window is known."""
        elapsed = now - self._last_change
        if self.fixed or not self._throttled or elapsed < 0.1 or (self.limit and self.window):
            return
        self._set(self.rate * (1.0 + self._probe * elapsed) if self._waited else self.rate, now)

    def _set(self, rate: float, now: float) -> None:
        if self.fixed:
            return
        ceiling = MAX_RATE if self.limit is None else HEADROOM * self.limit / (self.window or 1.0)
        self.rate = max(min(rate, ceiling, MAX_RATE), MIN_RATE)
        self._last_change = now

    def _pause_until(self, moment: float) -> None:
        self.paused_until = max(self.paused_until, moment)

    def _forget(self, now: float) -> None:
        while self._admitted and self._admitted[0] < now - _MEASURE:
            self._admitted.popleft()


def _in_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
