"""A server that keeps saying "now" (or "a millisecond") is waited out, not hammered: a hint is waited at least
``MIN_HINT_WAIT``, the floor the batch's rate limiter uses too (issue 21, item 1)."""

from __future__ import annotations

import httpx
import pytest

from airflow_provider_telnyx.hooks._retry import retry_after_seconds
from tests.unit.mock_api import MockApi, event_json, run


def _throttled(**headers: str) -> httpx.Response:
    body = {"errors": [{"code": "10011", "title": "Too many requests"}]}
    return httpx.Response(429, headers=headers, json=body)


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(
    "hint",
    [{"Retry-After-Ms": "1"}, {"x-ratelimit-reset": "0.001"}, {"Retry-After": "0.01"}],
    ids=["retry-after-ms-1", "reset-1ms", "retry-after-10ms"],
)
def test_a_429_whose_hint_is_a_millisecond_is_waited_out_not_hammered(mode: str, hint: dict[str, str]) -> None:
    """A 429 at a window's edge for 1.5 s is waited out with at most 12 requests (issue 21 "Done when" 1) whatever
    positive-but-tiny hint it carries."""
    api = MockApi()

    def answer(request: httpx.Request) -> httpx.Response:
        if sum(api.sleeps) < 1.5:  # the server's clock is moved by the hook's waits only
            return _throttled(**hint)
        return httpx.Response(200, json=event_json())

    api.script(answer)
    run(api.hook(max_retries=0), mode, "get_scheduled_event", "assistant-1", "evt-1")
    assert len(api.requests) <= 12, api.sleeps


@pytest.mark.parametrize(("reset", "wait"), [("1900000007", 7.0), ("1899999990", None), ("7", 7.0)])
def test_an_x_ratelimit_reset_given_as_an_epoch_is_the_time_left_until_it(reset: str, wait: float | None) -> None:
    """Some servers send the window's end as a Unix time rather than seconds: the wait is the time left until it
    (one already passed is no hint), not the number itself (which the one-minute cap would turn into a minute)."""
    assert retry_after_seconds(429, httpx.Headers({"x-ratelimit-reset": reset}), now=1_900_000_000.0) == wait
