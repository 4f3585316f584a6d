"""A discrete-event simulation of a batch of creates against a rate-limited server, on a simulated clock.

The server models are the ones a client meets in the wild (and the simulator offers): a fixed one-second window
or a token bucket refilled continuously; ``x-ratelimit-*`` headers on every answer, only on 429s, or never.
The client is the real :class:`~airflow_provider_telnyx.utils.rate_limit.AdaptiveRateLimiter`, driven the way the
batch operator drives it: a sender holds an in-flight place from ``acquire`` until its item is done, and the hook
retries a 429 on its own (waiting ``x-ratelimit-reset`` when sent, else a backoff) while the place is held.
Nothing sleeps: minutes of traffic take milliseconds.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

from airflow_provider_telnyx.utils.rate_limit import AdaptiveRateLimiter, Answer


@dataclass
class Server:
    """A rate-limited server: ``window`` is ``fixed`` or ``token_bucket``; ``headers`` ``always``, ``on_429``,
    ``never``."""

    limit: float
    window: str = "fixed"
    headers: str = "always"
    _window_start: int = -1
    _used: int = 0
    _tokens: float = field(default=-1.0)
    _last: float = 0.0

    def admit(self, now: float) -> tuple[bool, float]:
        """Whether a request arriving now is admitted, and the ``x-ratelimit-reset`` it would carry."""
        if self.window == "fixed":
            second = math.floor(now)
            if second != self._window_start:
                self._window_start, self._used = second, 0
            self._used += 1
            return self._used <= self.limit, max(math.ceil(second + 1 - now), 1)
        if self._tokens < 0:
            self._tokens, self._last = self.limit, now
        self._tokens = min(self.limit, self._tokens + (now - self._last) * self.limit)
        self._last = now
        allowed = self._tokens >= 1
        if allowed:
            self._tokens -= 1
        return allowed, max(math.ceil((self.limit - self._tokens) / self.limit), 1)


@dataclass
class Outcome:
    """What a simulated batch saw."""

    seconds: float
    sends: list[float]  # every request's arrival at the server
    admitted: list[float]  # arrivals that were admitted
    throttled: list[float]  # arrivals answered 429

    def rate_between(self, start: float, end: float) -> float:
        return sum(start <= t < end for t in self.admitted) / max(end - start, 1e-9)

    def share_429_between(self, start: float, end: float) -> float:
        sent = sum(start <= t < end for t in self.sends)
        return sum(start <= t < end for t in self.throttled) / max(sent, 1)

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
    waiting_for_place = False
    outcome = Outcome(0.0, [], [], [])

    def pace_at(moment: float) -> float:
        """The slot a request made at ``moment`` (after now) is given: reserved as if the clock were there."""
        real = now[0]
        now[0] = moment
        try:
            return limiter.reserve()
        finally:
            now[0] = real

    def push(at: float, kind: str, item: int) -> None:
        nonlocal sequence
        sequence += 1
        heapq.heappush(events, (at, sequence, kind, item))

    while done < items and now[0] < max_seconds:
        while started < items and limiter.in_flight < limiter.concurrency:
            limiter.in_flight += 1  # enter(): a place among those in flight
            push(now[0] + limiter.reserve() + latency / 2, "arrive", started)  # pace()
            started += 1
        waiting_for_place = started < items
        if not events:
            break
        now[0], _, kind, item = heapq.heappop(events)
        if kind == "arrive":
            allowed, reset = server.admit(now[0])
            outcome.sends.append(now[0])
            (outcome.admitted if allowed else outcome.throttled).append(now[0])
            push(now[0] + latency / 2, "ok" if allowed else f"429:{reset}", item)
            continue
        status = 200 if kind == "ok" else 429
        show = server.headers == "always" or (server.headers == "on_429" and status == 429)
        limiter.observe(Answer(status, limit=int(server.limit) if show else None, latency=latency))
        if status == 429:
            tries[item] = tries.get(item, 0) + 1
            hint = float(kind.split(":")[1]) if show else 0.25 * 2 ** min(tries[item], 5)
            retry_at = now[0] + hint  # the hook waits, then paces its retry like any request; the place is held
            push(retry_at + pace_at(retry_at) + latency / 2, "arrive", item)
            continue
        limiter.leave()
        done += 1
    del waiting_for_place
    outcome.seconds = now[0]
    return outcome
