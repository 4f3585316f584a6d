"""The window is learned from the resets seen, so that a server is "neither overrun nor under-used" (issue 21, item
4): one odd reset is not taken as the window for the rest of the run."""

from __future__ import annotations

from airflow_provider_telnyx.hooks.telnyx import RateLimitAnswer
from airflow_provider_telnyx.utils.rate_limit import HEADROOM, AdaptiveRateLimiter
from tests.ratelimit_sim import Server


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _send(limiter: AdaptiveRateLimiter, clock: Clock) -> None:
    clock.now += limiter.reserve()
    while clock.now < limiter.paused_until:
        clock.now += limiter.reserve(again=True)


def test_one_outlying_reset_does_not_fix_the_window_for_the_rest_of_the_run() -> None:
    """A 1 s window of 100 after a single answer with ``x-ratelimit-reset: 30`` (a gateway's penalty, a clock-skewed
    epoch reset) is used at >= 50% of its limit from 10 s later on: new windows beginning every second (what is left
    going back up) prove the window shorter, where the largest reset alone would pace at 3 requests/s."""
    server = Server(100, "fixed", seconds=1.0, rounding="up")
    clock = Clock()
    limiter = AdaptiveRateLimiter(clock=clock)
    for _ in range(50):
        _send(limiter, clock)
        allowed, remaining, reset = server.admit(clock.now)
        limiter.observe(RateLimitAnswer(200 if allowed else 429, 100, remaining, float(reset), latency=0.05))
    limiter.observe(RateLimitAnswer(200, 100, 50, 30.0, latency=0.05))  # the one odd answer
    start, sent = clock.now + 10.0, 0
    while clock.now < start + 20.0:
        _send(limiter, clock)
        allowed, remaining, reset = server.admit(clock.now)
        limiter.observe(RateLimitAnswer(200 if allowed else 429, 100, remaining, float(reset), latency=0.05))
        sent += clock.now >= start
    assert sent / 20.0 >= 0.5 * HEADROOM * 100, (limiter.window, limiter.rate)
