"""The batch rate limiter on a manual clock: it cannot raise, never spends more than a window allows, always makes
progress, learns the window's length from the resets it sees, and finds the limit on every server model (announced
or learned from 429s alone)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_telnyx.hooks.telnyx import MIN_HINT_WAIT, RateLimitAnswer
from airflow_provider_telnyx.utils.rate_limit import (
    HEADROOM,
    INITIAL_RATE,
    MAX_PAUSE,
    AdaptiveRateLimiter,
)
from tests.ratelimit_sim import Server, simulate

rates = st.floats(min_value=0.1, max_value=5000, allow_nan=False, allow_infinity=False)
hostile = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**12).map(float))
#: What one answer may say (status, limit, remaining, reset, Retry-After, latency), and how long until the next.
Observation = tuple[int, int | None, int | None, float | None, float | None, float | None, float]
observations = st.lists(
    st.tuples(
        st.sampled_from([200, 201, 429, 503]),
        st.one_of(st.none(), st.integers(-5, 10**9)),
        st.one_of(st.none(), st.integers(-5, 10**9)),
        hostile,
        hostile,
        hostile,
        st.floats(0, 3, allow_nan=False),
    ),
    max_size=300,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def send(limiter: AdaptiveRateLimiter, clock: Clock) -> float:
    """Wait for the next slot (a voided one taken again, like ``pace``) and return the moment of sending."""
    clock.now += limiter.reserve()
    while clock.now < limiter.paused_until:
        clock.now += limiter.reserve(again=True)
    return clock.now


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.one_of(st.none(), rates), rates, observations)
def test_never_raises_and_always_progresses(fixed: float | None, initial: float, steps: list[Observation]) -> None:
    clock = Clock()
    limiter = AdaptiveRateLimiter(fixed, initial_rate=initial, clock=clock)
    for status, limit, remaining, reset, retry_after, latency, gap in steps:
        wait = limiter.reserve()
        assert math.isfinite(wait)
        assert 0 <= wait <= 20 + MAX_PAUSE  # the slowest rate's spacing plus the longest pause
        clock.now += wait + gap
        answer = RateLimitAnswer(status, limit, remaining, reset, retry_after, latency)
        limiter.observe(answer)
        assert 0.05 <= limiter.rate <= 10_000
        assert 1 <= limiter.concurrency <= limiter.max_in_flight
        assert limiter.window is None or 1 <= limiter.window <= 3600


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    st.sampled_from([1, 10, 60]),
    st.integers(1, 3000),
    st.floats(0, 0.999),
    st.sampled_from(["up", "nearest"]),
    st.lists(st.floats(0, 0.2), min_size=1, max_size=300),
)
def test_never_more_than_a_fixed_window_allows_once_it_is_known(
    seconds: int, limit: int, phase: float, rounding: str, gaps: list[float]
) -> None:
    """Whatever the window's length, its phase, the reset's rounding and the pauses between requests: once the
    limit and the window are known, no fixed window is asked for more than it allows."""
    server = Server(limit, "fixed", seconds=seconds, rounding=rounding)
    clock = Clock()
    clock.now = 1000 * seconds + phase * seconds
    limiter = AdaptiveRateLimiter(clock=clock)
    refused_after_learning = 0
    for gap in gaps:
        learned = limiter.window == seconds
        allowed, remaining, reset = server.admit(send(limiter, clock))
        refused_after_learning += learned and not allowed
        limiter.observe(RateLimitAnswer(200 if allowed else 429, limit, remaining, float(reset)))
        clock.now += gap
    assert refused_after_learning == 0


@pytest.mark.parametrize("seconds", [1, 10, 60])
@pytest.mark.parametrize("rounding", ["up", "nearest"])
def test_the_window_is_learned_from_the_resets(seconds: int, rounding: str) -> None:
    """A fixed window of 100 requests per 1, 10 or 60 s: within one window the limiter knows its length and paces
    at 95% of 100 per window; before that it only spends what the window has left."""
    server = Server(100, "fixed", seconds=seconds, rounding=rounding)
    clock = Clock()
    clock.now = 7 * seconds + 0.3 * seconds  # mid-window: the first reset says 70% of the length
    limiter = AdaptiveRateLimiter(clock=clock)
    answers = []
    while clock.now < 10 * seconds:
        allowed, remaining, reset = server.admit(send(limiter, clock))
        answers.append(allowed)
        limiter.observe(RateLimitAnswer(200 if allowed else 429, 100, remaining, float(reset), latency=0.05))
    assert limiter.window == seconds
    assert limiter.rate == pytest.approx(HEADROOM * 100 / seconds)
    assert all(answers)  # never refused: not in the first window, not after


def test_a_hint_of_0_pauses_instead_of_sending_now() -> None:
    clock = Clock()
    limiter = AdaptiveRateLimiter(clock=clock)
    limiter.observe(RateLimitAnswer(429, 100, 0, 0.0))
    assert limiter.reserve() == pytest.approx(MIN_HINT_WAIT)
    retry_after_zero = AdaptiveRateLimiter(clock=clock)
    retry_after_zero.observe(RateLimitAnswer(429, retry_after=0.0))
    assert retry_after_zero.reserve() >= MIN_HINT_WAIT  # and longer: nothing was ever admitted
    assert limiter.window == 1  # refused at a window's edge: a second at least, until a longer reset shows
    limiter.observe(RateLimitAnswer(200, 100, 99, 0.0))
    assert limiter.window == 1  # an admitted answer's 0 says nothing more
    limiter.observe(RateLimitAnswer(429, 100, 0, 8.0))
    assert limiter.window == 8


def test_a_429_waits_for_retry_after_or_the_earliest_reset_within_bounds() -> None:
    """Resets are whole seconds however rounded: a reset of 7 comes 6 s from now at the earliest."""
    clock = Clock()
    limiter = AdaptiveRateLimiter(clock=clock)
    limiter.observe(RateLimitAnswer(429, 100, 0, 7.0, retry_after=3.0))
    assert limiter.reserve() == pytest.approx(6.0)
    told = AdaptiveRateLimiter(clock=clock)
    told.observe(RateLimitAnswer(429, 100, 0, 1.0, retry_after=3.0))
    assert told.reserve() == pytest.approx(3.0)
    edge = AdaptiveRateLimiter(clock=clock)
    edge.observe(RateLimitAnswer(429, 100, 0, 1.0))
    assert edge.reserve() == pytest.approx(MIN_HINT_WAIT)
    huge = AdaptiveRateLimiter(clock=clock)
    huge.observe(RateLimitAnswer(429, 100, 0, 86_400.0))  # a daily quota: a pause, not a window
    assert huge.reserve() == pytest.approx(MAX_PAUSE)
    assert huge.window is None


def test_a_limit_without_reset_is_not_taken_per_second() -> None:
    """``x-ratelimit-limit: 1000`` alone: the window could be a minute. The limiter does not jump to 950/s; it
    starts slowly and only caps its rate at 95% of the limit per second."""
    clock = Clock()
    limiter = AdaptiveRateLimiter(clock=clock)
    limiter.observe(RateLimitAnswer(200, 1000, latency=0.05))
    assert limiter.rate < 100
    for _ in range(200):
        send(limiter, clock)
        limiter.observe(RateLimitAnswer(200, 1000, latency=0.05))
    assert limiter.rate == pytest.approx(HEADROOM * 1000)
    limiter.observe(RateLimitAnswer(200, 1000, 999, 60.0))
    assert limiter.window == 60
    assert limiter.rate == pytest.approx(HEADROOM * 1000 / 60)


def test_absent_and_unreadable_headers_leave_it_measuring() -> None:
    clock = Clock()
    limiter = AdaptiveRateLimiter(clock=clock)
    for answer in (
        RateLimitAnswer(200),
        RateLimitAnswer(200, None, None, None),
        RateLimitAnswer(200, 0, -1, -5.0, math.nan, math.inf),
    ):
        limiter.observe(answer)
    assert (limiter.limit, limiter.window) == (None, None)
    assert limiter.paused_until == -math.inf


def test_remaining_paces_a_shared_key() -> None:
    """Another client spends the same key: 30 left for the next 10 s is 30 / 9 s at most, not 100 per 10 s."""
    clock = Clock()
    limiter = AdaptiveRateLimiter(clock=clock)
    limiter.observe(RateLimitAnswer(200, 100, 30, 10.0))
    assert limiter.rate == pytest.approx(HEADROOM * 30 / 9)
    limiter.observe(RateLimitAnswer(200, 100, 0, 4.0))  # the last one: nothing before the reset (at least 3 s away)
    assert limiter.reserve() == pytest.approx(3.0)


def test_slow_start_doubles_every_round_trip() -> None:
    clock = Clock()
    limiter = AdaptiveRateLimiter(initial_rate=100, clock=clock, max_in_flight=10_000)
    rtt = 0.05
    rates = []
    for _ in range(5):  # one round trip: what the rate lets through is sent, and answered at its end
        sent = [send(limiter, clock) for _ in range(round(limiter.rate * rtt))]
        clock.now = sent[0] + rtt
        for _ in sent:
            limiter.observe(RateLimitAnswer(200, latency=rtt))
        rates.append(limiter.rate)
    assert rates == pytest.approx([200, 400, 800, 1600, 3200])
    limiter.observe(RateLimitAnswer(429, latency=rtt))  # the first 429 ends it: the rate is what the server admitted
    assert limiter.rate < rates[-1] / 2


def test_a_burst_of_429s_backs_off_once() -> None:
    """The 429s of one burst (answers to requests sent before the first 429 came back) say nothing new: the first
    sets the rate from what the server admitted; the others leave it; a 429 after the burst measures again."""
    clock = Clock()
    limiter = AdaptiveRateLimiter(initial_rate=100, clock=clock)
    for _ in range(50):  # 50 admitted over the last second
        clock.now += 0.02
        limiter.observe(RateLimitAnswer(200, latency=0.05))
    limiter.observe(RateLimitAnswer(429, latency=0.05))
    first = limiter.rate
    assert first == pytest.approx(HEADROOM * 50 / 0.98)
    clock.now += 0.1  # still the same burst (within three round trips)
    for _ in range(5):
        limiter.observe(RateLimitAnswer(429, latency=0.05))
    assert limiter.rate == first
    clock.now += 1.0
    limiter.observe(RateLimitAnswer(429, latency=0.05))
    assert limiter.rate == pytest.approx(HEADROOM * 45 / 2.0)  # measured again: 45 admitted in the last two seconds


def test_the_rate_does_not_grow_while_the_client_cannot_use_it() -> None:
    """Answers that come slower than the rate (the client's CPU, its caller) do not inflate the rate, nor the
    requests in flight sized from it: B1 once measured 34% of the limit when they did."""
    clock = Clock()
    limiter = AdaptiveRateLimiter(clock=clock, max_in_flight=256)
    for _ in range(300):
        clock.now += 1.0  # one request a second, far below the rate: never waits for its slot
        limiter.reserve()
        limiter.observe(RateLimitAnswer(200, latency=0.05))
    assert limiter.rate == INITIAL_RATE
    assert limiter.concurrency == math.ceil(INITIAL_RATE * 0.05 * 2) + 2


def test_requests_in_flight_follow_what_the_server_is_seen_to_admit_and_a_slower_network() -> None:
    clock = Clock()
    probing = AdaptiveRateLimiter(initial_rate=5000, clock=clock, max_in_flight=256)
    for _ in range(10):  # five answers a second over two seconds, whatever the rate says
        clock.now += 0.2
        probing.observe(RateLimitAnswer(200, latency=0.05))
    assert probing.concurrency == math.ceil(INITIAL_RATE * 0.05 * 2) + 2  # sized for max(1.5 x 5/s, 20/s)
    known = AdaptiveRateLimiter(clock=clock, max_in_flight=256)
    known.observe(RateLimitAnswer(200, 100, 99, 1.0, latency=0.05))
    for _ in range(100):  # the network got slower: 0.08 s typical, but never sized past three times the base
        known.observe(RateLimitAnswer(200, 100, 99, 1.0, latency=0.08))
    assert known.concurrency == math.ceil(95 * 0.08 * 2) + 2
    for _ in range(20):
        known.observe(RateLimitAnswer(200, 100, 99, 1.0, latency=5.0))
    base = 0.05 * 1.001**121  # the base latency forgets its minimum slowly
    assert known.concurrency == math.ceil(95 * 3 * base * 2) + 2


def test_a_pause_that_begins_while_waiting_voids_the_slot() -> None:
    """A request waiting for its slot when another one's 429 says "wait 2 s" waits for the pause, not its slot."""
    import asyncio

    clock = Clock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 1:
            limiter.observe(RateLimitAnswer(429, retry_after=2.0))  # meanwhile, another request is refused
        clock.now += seconds

    limiter = AdaptiveRateLimiter(initial_rate=10, clock=clock, sleep=sleep)
    limiter.reserve()  # the next free slot is 0.1 s away
    asyncio.run(limiter.pace())
    assert slept == pytest.approx([0.1, 1.9])
    assert clock.now == pytest.approx(limiter.paused_until)


def test_a_sleeper_woken_late_takes_a_new_slot_once() -> None:
    """A busy event loop wakes every late sleeper at once: sent together they would crowd one fixed window. The
    late one takes a new slot behind the others (once: a loop always late must not starve it)."""
    import asyncio

    clock = Clock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:  # the loop is blocked: every sleep overruns by 0.5 s
        slept.append(seconds)
        clock.now += seconds + 0.5
        limiter.reserve()  # meanwhile another sender takes the next slot

    limiter = AdaptiveRateLimiter(10, clock=clock, sleep=sleep)
    limiter.reserve()
    asyncio.run(limiter.pace())
    # Its slot at 0.1, woken at 0.6 (when another took 0.6): a new slot at 0.7; woken late again, it goes.
    assert slept == pytest.approx([0.1, 0.1])


def test_a_fixed_rate_is_kept_whatever_the_answers_say_and_a_429_still_pauses() -> None:
    clock = Clock()
    limiter = AdaptiveRateLimiter(7.6, clock=clock)
    for status in (200, 200, 200):
        limiter.observe(RateLimitAnswer(status, 1000, 5, 3.0))
    assert limiter.rate == 7.6
    waits = [limiter.reserve() for _ in range(8)]
    assert waits[-1] == pytest.approx(7 / 7.6)
    limiter.observe(RateLimitAnswer(429, 1000, 0, 30.0))  # the server's word on pausing holds at any rate
    assert limiter.rate == 7.6
    assert clock.now + limiter.reserve() == pytest.approx(29.0)


@pytest.mark.parametrize("rate", [1.27, 1.29, 2, 4, 8, 11, 16, 49.0, 1.9, 3.7, 6.3, 7.6])
def test_rates_that_broke_the_old_bucket(rate: float) -> None:
    clock = Clock()
    limiter = AdaptiveRateLimiter(rate, clock=clock)
    for _ in range(20):
        clock.now += limiter.reserve()
    assert clock.now == pytest.approx(19 / rate)


def test_retry_after_pauses_every_sender() -> None:
    clock = Clock()
    limiter = AdaptiveRateLimiter(clock=clock)
    limiter.observe(RateLimitAnswer(429, retry_after=3.0))
    assert limiter.reserve() == pytest.approx(3.0)


def test_concurrency_follows_rate_and_latency_and_ignores_items_in_backoff() -> None:
    clock = Clock()
    limiter = AdaptiveRateLimiter(clock=clock, max_in_flight=500)
    limiter.observe(RateLimitAnswer(200, 1000, 999, 1.0, latency=0.2))
    assert limiter.concurrency == math.ceil(950 * 0.2 * 2) + 2
    small = AdaptiveRateLimiter(clock=clock, max_in_flight=500)
    small.observe(RateLimitAnswer(200, 10, 9, 1.0, latency=0.02))
    assert small.concurrency == math.ceil(9.5 * 0.02 * 2) + 2 == 3
    capped = AdaptiveRateLimiter(clock=clock, max_in_flight=16)
    capped.observe(RateLimitAnswer(200, 1000, 999, 1.0, latency=0.2))
    assert capped.concurrency == 16
    # Three items: two of them answered 429 and waiting out their backoff hold no place on the wire.
    assert [small.take_place() for _ in range(4)] == [True, True, True, False]
    for _ in range(3):
        small.reserve()
    small.observe(RateLimitAnswer(429, 10, 0, 1.0, latency=0.02))
    small.observe(RateLimitAnswer(429, 10, 0, 1.0, latency=0.02))
    assert small.take_place()


MODELS = [(window, headers) for window in ("fixed", "token_bucket") for headers in ("always", "on_429", "never")]
#: The simulations below drive the limiter through up to 25,000 simulated requests to check a rate over time; every
#: branch they take, the tests above take too. Coverage is not measured while they run: tracing tripled their time.
statistical = pytest.mark.no_cover


@statistical
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


@statistical
@pytest.mark.parametrize("seconds", [10, 60])
@pytest.mark.parametrize("rounding", ["up", "nearest", "down"])
@pytest.mark.parametrize(("window", "headers"), [m for m in MODELS if m[1] != "never"])
def test_long_windows_are_neither_overrun_nor_underused(seconds: int, rounding: str, window: str, headers: str) -> None:
    """100 requests a second, announced as 100 x seconds per window: at least 90% of it after the first two
    windows, and few 429s there."""
    per_second = 100
    server = Server(per_second * seconds, window, headers, seconds=seconds, rounding=rounding)
    outcome = simulate(server, items=per_second * seconds * 5, latency=0.05, max_seconds=20 * seconds)
    start, end = 2 * seconds, outcome.sends[-1] - 1.0
    assert outcome.rate_between(start, end) >= 0.9 * per_second
    assert outcome.share_429_between(start, end) < 0.02


@statistical
def test_a_short_batch_on_a_bucket_that_speaks_only_in_429s() -> None:
    """Issue 21: 600 items on a token bucket that announces its limit only in 429s averaged 81% of the limit (the
    ramp dominated); slow start per round trip brings the whole run over 90%."""
    outcome = simulate(Server(100, "token_bucket", "on_429"), items=600, latency=0.05)
    assert 600 / outcome.seconds >= 0.9 * 100


def test_the_hook_passes_every_answer_whole_to_the_limiter() -> None:
    """``RateLimitObservation`` reads the headers tolerantly (an epoch reset made relative, nonsense dropped) and
    hands each listener one :class:`RateLimitAnswer`."""
    import time

    import httpx

    from airflow_provider_telnyx.hooks._retry import RateLimitObservation

    heard: list[RateLimitAnswer] = []
    observation = RateLimitObservation(listeners=[heard.append])
    observation.observe(
        429,
        httpx.Headers({"x-ratelimit-limit": "100", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "7"}),
        latency=0.05,
    )
    epoch = str(int(time.time()) + 30)
    observation.observe(200, httpx.Headers({"x-ratelimit-reset": epoch, "x-ratelimit-remaining": "-3"}), 0.04)
    observation.observe(200, httpx.Headers({"x-ratelimit-limit": "nan", "x-ratelimit-reset": "-1"}))
    assert heard[0] == RateLimitAnswer(429, 100, 0, 7.0, None, 0.05)
    assert heard[1].reset is not None
    assert 28 <= heard[1].reset <= 30
    assert (heard[1].limit, heard[1].remaining) == (None, None)
    assert heard[2] == RateLimitAnswer(200)
    assert (observation.limit, observation.throttled, observation.responses) == (100, 1, 3)
