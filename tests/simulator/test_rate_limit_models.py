"""The simulator's rate-limit models on a frozen monotonic clock: windows of any length, resets rounded to the
nearest second (0 at a fixed window's edge), a token bucket refilled over its window, and ``x-ratelimit-*`` on every
answer when the model says so (errors, injected faults and 429s included)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_telnyx.testing._limits import Faults
from airflow_provider_telnyx.testing.simulator import Simulator

PATH = "/ai/assistants/assistant-1/scheduled_events"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(1000.0)


@pytest.fixture
def client(clock: Clock) -> Iterator[tuple[Simulator, httpx.Client]]:
    simulator = Simulator(assistants=("assistant-1",), monotonic=clock, faults=Faults(echo_assistants=("echo",)))
    with simulator.serve_in_thread() as base_url:
        headers = {"Authorization": f"Bearer {simulator.api_key}"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=10) as http:
            yield simulator, http


def said(answer: httpx.Response) -> tuple[int, int | None, int | None, int | None]:
    """The status and the ``x-ratelimit-limit``, ``-remaining``, ``-reset`` of one answer."""
    numbers = [answer.headers.get(f"x-ratelimit-{name}") for name in ("limit", "remaining", "reset")]
    limit, remaining, reset = (int(n) if n is not None else None for n in numbers)
    return answer.status_code, limit, remaining, reset


def test_a_fixed_window_of_ten_seconds(client: tuple[Simulator, httpx.Client], clock: Clock) -> None:
    simulator, http = client
    simulator.set_faults(rate_limit=3, rate_limit_window="fixed", rate_limit_window_seconds=10)
    clock.now = 1002.0  # 8 s left in the window [1000, 1010)
    assert [said(http.get(PATH)) for _ in range(4)] == [(200, 3, 2, 8), (200, 3, 1, 8), (200, 3, 0, 8), (429, 3, 0, 8)]
    clock.now = 1009.4  # 0.6 s left: rounded to 1
    assert said(http.get(PATH)) == (429, 3, 0, 1)
    clock.now = 1009.7  # 0.3 s left: rounded to 0, the window's edge
    assert said(http.get(PATH)) == (429, 3, 0, 0)
    clock.now = 1010.0  # a new window: its whole length ahead, the whole budget again
    assert said(http.get(PATH)) == (200, 3, 2, 10)


def test_a_token_bucket_refilled_over_its_window(client: tuple[Simulator, httpx.Client], clock: Clock) -> None:
    simulator, http = client
    simulator.set_faults(rate_limit=10, rate_limit_window="token_bucket", rate_limit_window_seconds=10)
    assert [said(http.get(PATH))[0] for _ in range(11)] == [200] * 10 + [429]
    assert said(http.get(PATH)) == (429, 10, 0, 10)  # empty: 10 s to refill completely
    clock.now += 2.0  # one token a second
    assert [said(http.get(PATH)) for _ in range(3)] == [(200, 10, 1, 9), (200, 10, 0, 10), (429, 10, 0, 10)]
    clock.now += 100.0  # full again, and no more than full
    assert said(http.get(PATH)) == (200, 10, 9, 1)
    assert [said(http.get(PATH))[0] for _ in range(10)] == [200] * 9 + [429]


def test_a_one_second_window_stays_the_default(client: tuple[Simulator, httpx.Client], clock: Clock) -> None:
    simulator, http = client
    simulator.set_faults(rate_limit=2)
    clock.now = 1000.25
    assert [said(http.get(PATH)) for _ in range(3)] == [(200, 2, 1, 1), (200, 2, 0, 1), (429, 2, 0, 1)]
    clock.now = 1000.75
    assert said(http.get(PATH)) == (429, 2, 0, 0)
    clock.now = 1001.0
    assert said(http.get(PATH))[:3] == (200, 2, 1)


def test_every_answer_carries_the_headers_when_always(client: tuple[Simulator, httpx.Client]) -> None:
    simulator, http = client
    answers = {
        "listed": http.get(PATH),
        "unknown assistant": http.get("/ai/assistants/nobody/scheduled_events"),
        "unknown event": http.get(f"{PATH}/nope"),
        "invalid body": http.post(PATH, json={"telnyx_conversation_channel": "fax"}),
        "hostile proxy": http.get("/ai/assistants/echo/scheduled_events"),
    }
    simulator.set_faults(error_rate=1.0, error_statuses=(429,))
    answers["injected 429"] = http.get(PATH)
    simulator.set_faults(error_rate=1.0, error_statuses=(503,))
    answers["injected 503"] = http.get(PATH)
    missing = {name: a.status_code for name, a in answers.items() if None in said(a)}
    assert missing == {}
    assert answers["injected 429"].headers["retry-after"] == "1"
    assert said(answers["injected 429"])[1] == 1000  # the limit in force, not a made-up one


@pytest.mark.parametrize(("presence", "on_200", "on_429"), [("on_429", False, True), ("never", False, False)])
def test_headers_only_where_the_model_sends_them(
    client: tuple[Simulator, httpx.Client], clock: Clock, presence: str, on_200: bool, on_429: bool
) -> None:
    simulator, http = client
    clock.now = 1020.0  # a minute's window starts
    simulator.set_faults(rate_limit=1, rate_limit_headers=presence, rate_limit_window_seconds=60)
    admitted, refused = http.get(PATH), http.get(PATH)
    assert (admitted.status_code, refused.status_code) == (200, 429)
    assert ("x-ratelimit-reset" in admitted.headers, "x-ratelimit-reset" in refused.headers) == (on_200, on_429)
    if on_429:
        assert said(refused) == (429, 1, 0, 60)
