"""The simulator behaves like the API where our client once assumed otherwise: organizations, idempotency scope,
assistants, rate-limit models and headers, and the fields and pointers the spec shows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from airflow_provider_telnyx.testing._limits import Faults, RateLimiter
from airflow_provider_telnyx.testing.clock import ManualClock
from airflow_provider_telnyx.testing.simulator import Simulator

START = datetime(2031, 3, 1, 12, 0, tzinfo=timezone.utc)
PATH = "/ai/assistants/assistant-1/scheduled_events"


def body(target: str = "+13125550100", **extra: Any) -> dict[str, Any]:
    return {
        "telnyx_conversation_channel": "phone_call",
        "telnyx_end_user_target": target,
        "telnyx_agent_target": "+13125550199",
        "scheduled_at_fixed_datetime": (START + timedelta(minutes=5)).isoformat(),
        **extra,
    }


def call(sim: Simulator, method: str, path: str, key: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key or sim.api_key}", **kwargs.pop("headers", {})}
    assert sim.base_url is not None
    return httpx.request(method, sim.base_url + path, headers=headers, timeout=10, **kwargs)


@pytest.mark.telnyx_simulator(
    api_keys=("KEYstaging_000", "KEYproduction_0", "KEYother_org_00"),
    organizations={"KEYother_org_00": "org-b"},
)
class TestOrganizations:
    def test_idempotency_records_belong_to_the_organization_method_and_path(self, sim: Simulator) -> None:
        key = {"Idempotency-Key": "run-1_item-0"}
        first = call(sim, "POST", PATH, "KEYstaging_000", json=body(), headers=key)
        assert first.status_code == 201
        # Another API key of the same organization: the same record (replayed), not a second event.
        same_org = call(sim, "POST", PATH, "KEYproduction_0", json=body(), headers=key)
        assert (same_org.status_code, same_org.headers["Idempotent-Replayed"]) == (201, "true")
        assert same_org.json()["scheduled_event_id"] == first.json()["scheduled_event_id"]
        changed = call(sim, "POST", PATH, "KEYproduction_0", json=body("+13125550101"), headers=key)
        assert changed.status_code == 422
        other_org = call(sim, "POST", PATH, "KEYother_org_00", json=body(), headers=key)
        assert other_org.status_code == 201
        assert "Idempotent-Replayed" not in other_org.headers
        other_path = call(sim, "POST", "/ai/assistants/assistant-x/scheduled_events", json=body(), headers=key)
        assert other_path.status_code == 201
        assert "Idempotent-Replayed" not in other_path.headers
        assert sim.stats()["events_created"] == 3

    def test_records_expire_after_24_hours(self, sim: Simulator) -> None:
        key = {"Idempotency-Key": "daily-1"}
        assert call(sim, "POST", PATH, json=body(), headers=key).status_code == 201
        assert isinstance(sim.clock, ManualClock)
        sim.clock.advance(24 * 3600 + 1)
        later = body(scheduled_at_fixed_datetime=(sim.clock() + timedelta(minutes=5)).isoformat())
        again = call(sim, "POST", PATH, json=later, headers=key)
        assert again.status_code == 201
        assert "Idempotent-Replayed" not in again.headers

    def test_events_are_the_organizations(self, sim: Simulator) -> None:
        event_id = call(sim, "POST", PATH, "KEYstaging_000", json=body()).json()["scheduled_event_id"]
        assert call(sim, "GET", f"{PATH}/{event_id}", "KEYproduction_0").status_code == 200
        assert call(sim, "GET", f"{PATH}/{event_id}", "KEYother_org_00").status_code == 404
        assert call(sim, "GET", PATH, "KEYother_org_00").json()["meta"]["total_results"] == 0


class TestAssistants:
    def test_unknown_assistants_answer_404_everywhere(self, sim: Simulator) -> None:
        for method, path in (
            ("GET", "/ai/assistants/assistant-typo"),
            ("GET", "/ai/assistants/assistant-typo/scheduled_events"),
            ("POST", "/ai/assistants/assistant-typo/scheduled_events"),
            ("GET", "/ai/assistants/assistant-typo/scheduled_events/evt-1"),
            ("DELETE", "/ai/assistants/assistant-typo/scheduled_events/evt-1"),
        ):
            answer = call(sim, method, path, json=body() if method == "POST" else None)
            assert answer.status_code == 404, (method, path)
            assert answer.json()["errors"][0] == {
                "code": "10005",
                "title": "Resource not found",
                "detail": "Assistant assistant-typo was not found.",
            }
        assert sim.stats().get("events_created", 0) == 0

    def test_get_assistant_shows_telephony_settings(self, sim: Simulator) -> None:
        able = call(sim, "GET", "/ai/assistants/assistant-1").json()
        unable = call(sim, "GET", "/ai/assistants/assistant-no-telephony").json()
        assert able["telephony_settings"]["default_texml_app_id"]
        assert unable["telephony_settings"] == {}
        sms = body(telnyx_conversation_channel="sms_chat", text="hi")
        assert call(sim, "POST", "/ai/assistants/assistant-no-telephony/scheduled_events", json=sms).status_code == 201
        refused = call(sim, "POST", "/ai/assistants/assistant-no-telephony/scheduled_events", json=body())
        assert refused.status_code == 400
        listed = {a["id"] for a in call(sim, "GET", "/ai/assistants").json()["data"]}
        assert {"assistant-demo", "assistant-1", "assistant-no-telephony"} <= listed


class TestRulesAndShapes:
    def test_retry_interval_without_retries_is_a_400(self, sim: Simulator) -> None:
        answer = call(sim, "POST", PATH, json=body(retry_interval_secs=120))
        assert answer.status_code == 400
        assert answer.json()["errors"][0]["source"] == {"pointer": "/retry_interval_secs"}

    def test_bad_idempotency_key_points_where_the_spec_does(self, sim: Simulator) -> None:
        answer = call(sim, "POST", PATH, json=body(), headers={"Idempotency-Key": "has spaces"})
        assert answer.status_code == 400
        assert answer.json()["errors"][0]["source"] == {"pointer": "/header/Idempotency-Key"}
        colons = call(sim, "POST", PATH, json=body(), headers={"Idempotency-Key": "a:b:c"})  # the endpoint's pattern
        assert (colons.status_code, colons.json()["errors"][0]["code"]) == (400, "10015")
        assert call(sim, "POST", PATH, json=body(), headers={"Idempotency-Key": "a_b-c"}).status_code == 201

    def test_phone_calls_carry_retry_attempts(self, sim: Simulator) -> None:
        event = call(sim, "POST", PATH, json=body()).json()
        assert event["retry_attempts"] == 0
        assert isinstance(sim.clock, ManualClock)
        sim.clock.advance(3600)
        done = call(sim, "GET", f"{PATH}/{event['scheduled_event_id']}").json()
        assert done["retry_attempts"] == len(done["call_attempts"]) == 1


class TestRateLimitModels:
    @pytest.mark.parametrize(
        ("presence", "on_200", "on_429"),
        [("always", True, True), ("on_429", False, True), ("never", False, False)],
    )
    def test_header_presence(self, sim: Simulator, presence: str, on_200: bool, on_429: bool) -> None:
        sim.set_faults(rate_limit=2, rate_limit_headers=presence)
        answers = [call(sim, "GET", PATH) for _ in range(6)]
        ok = [a for a in answers if a.status_code == 200]
        limited = [a for a in answers if a.status_code == 429]
        assert ok
        assert limited
        assert all(("x-ratelimit-limit" in a.headers) is on_200 for a in ok)
        assert all(("x-ratelimit-limit" in a.headers) is on_429 for a in limited)
        assert all(a.json()["errors"][0]["code"] == "10011" for a in limited)

    def test_headers_on_every_answer_by_default(self, sim: Simulator) -> None:
        answer = call(sim, "GET", PATH)
        assert answer.headers["x-ratelimit-limit"] == "1000"

    def test_fixed_window_and_token_bucket_on_a_manual_clock(self) -> None:
        now = [100.0]
        limiter = RateLimiter(clock=lambda: now[0])

        def admitted(faults: Faults, requests: int) -> int:
            count = 0
            for _ in range(requests):
                try:
                    limiter.admit("k", faults)
                    count += 1
                except Exception:
                    continue
            return count

        fixed = Faults(rate_limit=10, rate_limit_window="fixed")
        assert admitted(fixed, 15) == 10  # one window
        now[0] = 100.999
        assert admitted(fixed, 5) == 0  # same window
        now[0] = 101.0
        assert admitted(fixed, 15) == 10  # a new window: a full burst again
        limiter.reset()
        bucket = Faults(rate_limit=10, rate_limit_window="token_bucket")
        now[0] = 200.0
        assert admitted(bucket, 15) == 10  # the bucket's capacity
        now[0] = 200.5
        assert admitted(bucket, 15) == 5  # refilled continuously: half a second, five tokens


@pytest.mark.parametrize("target", ["+13125550100", "+13125550101", "+13125550102", "+13125550103", "+13125550110"])
def test_the_list_filter_reads_the_time_every_answer_shows(target: str) -> None:
    """The list filter's shortcut (``Timeline.scheduled_at_at``) agrees with the rendered event at every moment."""
    from airflow_provider_telnyx.testing.lifecycle import plan_timeline

    sms = target == "+13125550110"
    body = {
        "telnyx_conversation_channel": "sms_chat" if sms else "phone_call",
        "telnyx_end_user_target": target,
        "telnyx_agent_target": "+13125550199",
        **({"text": "hi"} if sms else {"max_retries_client_errors": 2, "retry_interval_secs": 60}),
    }
    timeline = plan_timeline(body, START, time_scale=1.0)
    for second in range(-5, 400, 3):
        wall = START + timedelta(seconds=second)
        shown = timeline.state_at(wall).get("scheduled_at_fixed_datetime", timeline.scheduled_at)
        assert timeline.scheduled_at_at(wall) == shown, second
