"""The batch rate limiter on a manual clock: it cannot raise, never exceeds an announced limit in any one-second
window, always makes progress, and finds the limit on every server model (announced or learned from 429s alone)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_telnyx.utils.rate_limit import INITIAL_RATE, AdaptiveRateLimiter, Answer
from tests.ratelimit_sim import Server, simulate

rates = st.floats(min_value=0.1, max_value=5000, allow_nan=False, allow_infinity=False)
#: What one answer may say: status, announced limit, Retry-After, latency; and how long until the next request.
observations = st.lists(
    st.tuples(
        st.sampled_from([200, 201, 429, 503]),
        st.one_of(st.none(), st.integers(1, 5000)),
        st.one_of(st.none(), st.floats(0, 120, allow_nan=False)),
        st.one_of(st.none(), st.floats(0, 5, allow_nan=False)),
        st.floats(0, 3, allow_nan=False),
    ),
    max_size=300,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.one_of(st.none(), rates), rates, observations)
def test_never_raises_and_always_progresses(fixed: float | None, initial: float, steps: list[tuple]) -> None:
    now = [0.0]
    limiter = AdaptiveRateLimiter(fixed, initial_rate=initial, clock=lambda: now[0])
    for status, limit, retry_after, latency, gap in steps:
        wait = limiter.reserve()
        assert math.isfinite(wait)
        assert 0 <= wait <= 20 + 60  # the slowest rate's spacing plus the longest pause
        now[0] += wait + gap
        limiter.observe(Answer(status, limit, retry_after, latency))
        assert 0.05 <= limiter.rate <= 10_000
        assert 1 <= limiter.concurrency <= limiter.max_in_flight


@settings(max_examples=300, deadline=None, derandomize=True)
@given(rates, st.integers(1, 5000), st.lists(st.tuples(st.booleans(), st.floats(0, 0.5)), min_size=1, max_size=400))
def test_never_more_than_the_announced_limit_in_any_one_second_window(
    initial: float, limit: int, steps: list[tuple[bool, float]]
) -> None:
    now = [0.0]
    limiter = AdaptiveRateLimiter(initial_rate=initial, clock=lambda: now[0])
    announced_at = None
    sends: list[float] = []
    for throttled, gap in steps:
        now[0] += limiter.reserve()
        sends.append(now[0])
        now[0] += gap
        if announced_at is None:
            announced_at = now[0]
        limiter.observe(Answer(429 if throttled else 200, limit))
    after = [t for t in sends if announced_at is not None and t > announced_at]
    for i, start in enumerate(after):
        in_window = sum(1 for t in after[i:] if t < start + 1.0)
        assert in_window <= limit, (start, in_window, limit)


def test_a_fixed_rate_is_kept_whatever_the_answers_say() -> None:
    now = [0.0]
    limiter = AdaptiveRateLimiter(7.6, clock=lambda: now[0])
    for status in (429, 200, 429, 200):
        limiter.observe(Answer(status, limit=1000))
    assert limiter.rate == 7.6
    waits = [limiter.reserve() for _ in range(8)]
    assert waits[-1] == pytest.approx(7 / 7.6)


@pytest.mark.parametrize("rate", [1.27, 1.29, 2, 4, 8, 11, 16, 49.0, 1.9, 3.7, 6.3, 7.6])
def test_rates_that_broke_the_old_bucket(rate: float) -> None:
    now = [0.0]
    limiter = AdaptiveRateLimiter(rate, clock=lambda: now[0])
    for _ in range(20):
        now[0] += limiter.reserve()
    assert now[0] == pytest.approx(19 / rate)


def test_retry_after_pauses_every_sender() -> None:
    now = [0.0]
    limiter = AdaptiveRateLimiter(clock=lambda: now[0])
    limiter.observe(Answer(429, retry_after=3.0))
    assert limiter.reserve() == pytest.approx(3.0)


def test_concurrency_follows_rate_and_latency() -> None:
    now = [0.0]
    limiter = AdaptiveRateLimiter(clock=lambda: now[0], max_in_flight=500)
    limiter.observe(Answer(200, limit=1000, latency=0.2))
    assert limiter.concurrency == math.ceil(950 * 0.2 * 1.5) + 2
    slow_start = AdaptiveRateLimiter(clock=lambda: now[0], max_in_flight=500)
    slow_start.observe(Answer(200, limit=10, latency=0.02))
    assert slow_start.concurrency == math.ceil(9.5 * 0.02 * 1.5) + 2 == 3
    capped = AdaptiveRateLimiter(clock=lambda: now[0], max_in_flight=16)
    capped.observe(Answer(200, limit=1000, latency=0.2))
    assert capped.concurrency == 16


MODELS = [(window, headers) for window in ("fixed", "token_bucket") for headers in ("always", "on_429", "never")]


@pytest.mark.parametrize("limit", [10, 100, 1000])
@pytest.mark.parametrize("latency", [0.02, 0.2])
@pytest.mark.parametrize(("window", "headers"), MODELS)
def test_reaches_90_percent_within_10_s_with_few_429s(limit: int, latency: float, window: str, headers: str) -> None:
    outcome = simulate(Server(limit, window, headers), items=limit * 25, latency=latency)
    reached = outcome.first_second_at(0.9, limit)
    assert reached is not None
    assert reached <= 10.0
    end = outcome.sends[-1] - 1.0
    assert outcome.rate_between(10.0, end) >= 0.9 * limit
    assert outcome.share_429_between(10.0, end) < 0.02


def test_concurrency_does_not_follow_a_probe_the_answers_do_not_show() -> None:
    """A slow start that runs ahead of what the client actually sends (its CPU, its caller) must not inflate the
    requests in flight: B1 measured 34% of the limit when it did (256 in flight, every request slower)."""
    now = [0.0]
    limiter = AdaptiveRateLimiter(clock=lambda: now[0], max_in_flight=256)
    limiter.observe(Answer(200, latency=0.05))
    for _ in range(12):
        now[0] += 1.0
        limiter.reserve()
    assert limiter.rate > 1_000  # nothing said no: the probe went on
    assert limiter.concurrency == math.ceil(INITIAL_RATE * 0.05 * 1.5) + 2
    for _ in range(100):  # 50 answers a second over the last two seconds
        limiter.observe(Answer(200, latency=0.05))
        now[0] += 0.02
    # 100 or 101 answers in the two-second window (the float clock decides the edge): sized for 4 x ~50/s.
    assert math.ceil(4 * 50 * 0.05 * 1.5) + 2 <= limiter.concurrency <= math.ceil(4 * 50.5 * 0.05 * 1.5) + 2
