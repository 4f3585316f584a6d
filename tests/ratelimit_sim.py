"""A discrete-event simulation of a batch of creates against a rate-limited server, on a simulated clock.

The server models are the ones a client meets in the wild, written here independently of the simulator's: a fixed
window or a token bucket of ``limit`` requests per ``seconds`` (refilled continuously); ``x-ratelimit-*`` headers on
every answer, only on 429s, or never; resets rounded up, to the nearest second (0 at a fixed window's edge) or down.
The client is the real :class:`~airflow_provider_telnyx.utils.rate_limit.AdaptiveRateLimiter`, driven the way the
batch operator drives it: a sender holds an in-flight place from ``acquire`` until its item is done, and the hook
retries a 429 on its own (waiting ``x-ratelimit-reset`` when sent and positive, else a backoff) while the place is
held. Nothing sleeps: minutes of traffic take milliseconds.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field

from airflow_provider_telnyx.hooks.telnyx import RateLimitAnswer
from airflow_provider_telnyx.utils.rate_limit import AdaptiveRateLimiter

ROUNDING: dict[str, Callable[[float], int]] = {
    "up": math.ceil,
    "nearest": lambda seconds: math.floor(seconds + 0.5),
    "down": math.floor,
}


@dataclass
class Server:
    """A rate-limited server: ``window`` is ``fixed`` or ``token_bucket`` (``limit`` requests per ``seconds``);
    ``headers`` ``always``, ``on_429``, ``never``; ``rounding`` of the reset ``up``, ``nearest`` or ``down``."""

    limit: float
    window: str = "fixed"
    headers: str = "always"
    seconds: float = 1.0
    rounding: str = "nearest"
    _window_index: int = -1
    _used: int = 0
    _tokens: float = field(default=-1.0)
    _last: float = 0.0

    def admit(self, now: float) -> tuple[bool, int, int]:
        """Whether a request arriving now is admitted, and the ``x-ratelimit-remaining`` and ``-reset`` it would
        carry."""
        rounded = ROUNDING[self.rounding]
        if self.window == "fixed":
            index = math.floor(now / self.seconds)
            if index != self._window_index:
                self._window_index, self._used = index, 0
            self._used += 1
            left = (index + 1) * self.seconds - now
            return self._used <= self.limit, max(int(self.limit) - self._used, 0), rounded(left)
        refill = self.limit / self.seconds
        if self._tokens < 0:
            self._tokens, self._last = self.limit, now
        self._tokens = min(self.limit, self._tokens + (now - self._last) * refill)
        self._last = now
        allowed = self._tokens >= 1
        if allowed:
            self._tokens -= 1
        return allowed, int(self._tokens), rounded((self.limit - self._tokens) / refill)


def _count(times: list[float], start: float, end: float) -> int:
    """How many of ``times`` (in time order) fall in ``[start, end)``."""
    return bisect_left(times, end) - bisect_left(times, start)


@dataclass
class Outcome:
    """What a simulated batch saw: each list in time order, as the simulation appends them."""

    seconds: float
    sends: list[float]  # every request's arrival at the server
    admitted: list[float]  # arrivals that were admitted
    throttled: list[float]  # arrivals answered 429

    def rate_between(self, start: float, end: float) -> float:
        return _count(self.admitted, start, end) / max(end - start, 1e-9)

    def share_429_between(self, start: float, end: float) -> float:
        return _count(self.throttled, start, end) / max(_count(self.sends, start, end), 1)

    def first_second_at(self, share: float, limit: float) -> float | None:
        """The first moment the admitted rate over the following second reaches ``share`` of ``limit``."""
        for t in self.admitted:
            if self.rate_between(t, t + 1.0) >= share * limit:
                return t
        return None


def simulate(
    server: Server,
    *,
    items: int,
    latency: float,
    max_in_flight: int = 256,
    fixed_rate: float | None = None,
    max_seconds: float = 600.0,
) -> Outcome:
    """Send ``items`` creates through the limiter to ``server``, each way taking ``latency / 2`` seconds."""
    now = [0.0]
    limiter = AdaptiveRateLimiter(fixed_rate, max_in_flight=max_in_flight, clock=lambda: now[0])
    events: list[tuple[float, int, str, int]] = []  # (time, sequence, kind, item)
    sequence = 0
    started = 0
    done = 0
    tries: dict[int, int] = {}
    outcome = Outcome(0.0, [], [], [])

    def push(at: float, kind: str, item: int) -> None:
        nonlocal sequence
        sequence += 1
        heapq.heappush(events, (at, sequence, kind, item))

    while done < items and now[0] < max_seconds:
        while started < items and limiter.take_place():  # enter()
            push(now[0], "pace", started)
            started += 1
        if not events:
            break
        now[0], _, kind, item = heapq.heappop(events)
        if kind == "slot" and now[0] >= limiter.paused_until:
            push(now[0] + latency / 2, "arrive", item)  # the slot came, and no pause voided it
            continue
        if kind in ("pace", "slot"):  # pace(): before every request, retries included; again if a pause voided it
            push(now[0] + limiter.reserve(again=kind == "slot"), "slot", item)
            continue
        if kind == "arrive":
            allowed, remaining, reset = server.admit(now[0])
            outcome.sends.append(now[0])
            (outcome.admitted if allowed else outcome.throttled).append(now[0])
            push(now[0] + latency / 2, f"{200 if allowed else 429}:{remaining}:{reset}", item)
            continue
        status, remaining, reset = (int(part) for part in kind.split(":"))
        show = server.headers == "always" or (server.headers == "on_429" and status == 429)
        if show:
            limiter.observe(RateLimitAnswer(status, int(server.limit), remaining, float(reset), latency=latency))
        else:
            limiter.observe(RateLimitAnswer(status, latency=latency))
        if status == 429:
            tries[item] = tries.get(item, 0) + 1
            hint = reset if show and reset > 0 else 0.25 * 2 ** min(tries[item], 5)
            push(now[0] + hint, "pace", item)  # the hook waits, then paces its retry; the place is held
            continue
        limiter.leave()
        done += 1
    outcome.seconds = now[0]
    return outcome
