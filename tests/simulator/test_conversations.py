"""The simulator's conversations: one per dispatched event, messages and insights on the event clock, 404 for
what does not exist, paging like the API, answers that conform to the spec (the fixture checks every answer) and
that the official SDK reads."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from airflow_provider_telnyx.testing._conversations import INSIGHTS_SECONDS
from airflow_provider_telnyx.testing.clock import ManualClock
from airflow_provider_telnyx.testing.simulator import Exchange, Simulator
from tests.contract.openapi import violations

START = datetime(2031, 4, 1, 9, 0, tzinfo=timezone.utc)
EVENTS = "/ai/assistants/assistant-1/scheduled_events"
# The event clock runs at wall speed after dispatch, so the manual clock walks a call second by second.
pytestmark = pytest.mark.telnyx_simulator(time_scale=1)


def call(sim: Simulator, path: str, key: str | None = None, **params: Any) -> httpx.Response:
    assert sim.base_url is not None
    headers = {"Authorization": f"Bearer {key or sim.api_key}"}
    return httpx.get(sim.base_url + path, headers=headers, params=params, timeout=10)


def create(sim: Simulator, target: str = "+13125550100", **extra: Any) -> dict[str, Any]:
    assert sim.base_url is not None
    body = {
        "telnyx_conversation_channel": "phone_call",
        "telnyx_end_user_target": target,
        "telnyx_agent_target": "+13125550199",
        "scheduled_at_fixed_datetime": (sim.clock() + timedelta(minutes=1)).isoformat(),
        **extra,
    }
    answer = httpx.post(
        sim.base_url + EVENTS, json=body, headers={"Authorization": f"Bearer {sim.api_key}"}, timeout=10
    )
    assert answer.status_code == 201, answer.text
    event: dict[str, Any] = answer.json()
    return event


def conversation_id(sim: Simulator, event_id: str) -> str:
    value: str = call(sim, f"{EVENTS}/{event_id}").json()["conversation_id"]
    return value


def advance(sim: Simulator, seconds: float) -> None:
    assert isinstance(sim.clock, ManualClock)
    sim.clock.advance(seconds)


def test_a_call_has_a_conversation_only_once_dispatched_and_its_messages_appear_on_the_event_clock(
    sim: Simulator,
) -> None:
    event = create(sim, dynamic_variables={"appointment": "Tuesday 10:00"})
    advance(sim, 61)  # dispatched: ringing
    conv = conversation_id(sim, event["scheduled_event_id"])
    messages = f"/ai/conversations/{conv}/messages"
    assert call(sim, messages).json()["data"] == []  # dispatched, nobody has spoken yet
    whole = call(sim, f"/ai/conversations/{conv}").json()["data"]
    assert whole["id"] == conv
    assert whole["metadata"]["telnyx_end_user_target"] == "+13125550100"
    advance(sim, 30)  # answered after 6 s of ringing, 45 s conversation: some messages said, not all
    partial = call(sim, messages).json()
    assert 0 < partial["meta"]["total_results"] < 7
    advance(sim, 60)
    one_page: dict[str, Any] = {"page[size]": 100}
    done = call(sim, messages, **one_page).json()
    roles = [m["role"] for m in done["data"]]
    assert roles == ["assistant", "user", "assistant", "user", "assistant", "tool", "assistant"]
    assert "appointment: Tuesday 10:00" in done["data"][2]["text"]
    tool = done["data"][4]["tool_calls"][0]
    assert tool["type"] == "function"
    assert json.loads(tool["function"]["arguments"])["confirmed"] is True
    sent = [m["sent_at"] for m in done["data"]]
    assert sent == sorted(sent)


def test_before_dispatch_unknown_cancelled_and_other_organizations_answer_404(sim: Simulator) -> None:
    event = create(sim)
    assert "conversation_id" not in call(sim, f"{EVENTS}/{event['scheduled_event_id']}").json()
    timeline_conv = sim._events[event["scheduled_event_id"]].timeline.conversation_id
    for tail in ("", "/messages", "/conversations-insights"):
        assert call(sim, f"/ai/conversations/{timeline_conv}{tail}").status_code == 404  # not dispatched yet
        assert call(sim, f"/ai/conversations/no-such-conversation{tail}").status_code == 404
    # Cancelled while pending: never dispatched, so never a conversation.
    assert httpx.delete(
        f"{sim.base_url}{EVENTS}/{event['scheduled_event_id']}", headers={"Authorization": f"Bearer {sim.api_key}"}
    ).is_success
    advance(sim, 3600)
    assert call(sim, f"/ai/conversations/{timeline_conv}").status_code == 404


@pytest.mark.telnyx_simulator(
    api_keys=("KEYorg_a_000000", "KEYorg_b_000000"), organizations={"KEYorg_b_000000": "b"}, time_scale=1
)
def test_a_conversation_belongs_to_the_organization(sim: Simulator) -> None:
    event = create(sim)
    advance(sim, 3600)
    conv = conversation_id(sim, event["scheduled_event_id"])
    assert call(sim, f"/ai/conversations/{conv}").status_code == 200
    assert call(sim, f"/ai/conversations/{conv}", key="KEYorg_b_000000").status_code == 404


def test_insights_go_from_pending_to_completed_on_the_event_clock(sim: Simulator) -> None:
    event = create(sim)
    advance(sim, 61)
    path = f"/ai/conversations/{conversation_id(sim, event['scheduled_event_id'])}/conversations-insights"
    assert call(sim, path).json()["data"][0]["status"] == "pending"
    ended = sim.final_at(event["scheduled_event_id"])
    assert ended is not None
    advance(sim, (ended - sim.clock()).total_seconds() + 1)
    assert [i["status"] for i in call(sim, path).json()["data"]] == ["in_progress"]
    advance(sim, INSIGHTS_SECONDS)
    insight = call(sim, path).json()["data"][0]
    assert insight["status"] == "completed"
    results = {r["insight_id"]: r["result"] for r in insight["conversation_insights"]}
    assert json.loads(results["outcome"]) == {"reached": True, "confirmed": True}


def test_unanswered_calls_and_sms(sim: Simulator) -> None:
    never = create(sim, "+13125550102")
    sms = create(
        sim,
        "+13125550110",
        telnyx_conversation_channel="sms_chat",
        text="Your appointment is on Tuesday.",
    )
    advance(sim, 3600)
    never_conv = conversation_id(sim, never["scheduled_event_id"])
    assert call(sim, f"/ai/conversations/{never_conv}/messages").json()["data"] == []
    insight = call(sim, f"/ai/conversations/{never_conv}/conversations-insights").json()["data"][0]
    assert json.loads(insight["conversation_insights"][1]["result"])["reached"] is False
    sms_messages = call(sim, f"/ai/conversations/{conversation_id(sim, sms['scheduled_event_id'])}/messages").json()
    assert [(m["role"], m["text"]) for m in sms_messages["data"]] == [
        ("assistant", "Your appointment is on Tuesday."),
        ("user", "Thanks, got it."),
    ]


def test_messages_page_like_the_api(sim: Simulator) -> None:
    event = create(sim)
    advance(sim, 3600)
    path = f"/ai/conversations/{conversation_id(sim, event['scheduled_event_id'])}/messages"
    queries: list[dict[str, Any]] = [{"page[size]": 3, "page[number]": n} for n in (1, 2, 3, 4)]
    pages = [call(sim, path, **query).json() for query in queries]
    assert [len(p["data"]) for p in pages] == [3, 3, 1, 0]
    assert pages[0]["meta"] == {"total_pages": 3, "total_results": 7, "page_number": 1, "page_size": 3}
    assert call(sim, path).json()["meta"]["page_size"] == 20  # the spec's default
    for bad in ({"page[size]": 0}, {"page[size]": 101}, {"page[number]": 0}, {"page[size]": "x"}):
        answer = call(sim, path, **bad)
        assert answer.status_code == 422
        assert answer.json()["detail"][0]["loc"][0] == "query"


def test_the_contract_check_catches_a_broken_conversation_answer() -> None:
    """The fixture's contract check covers the conversations endpoints: a message without ``role`` is caught."""
    broken = Exchange(
        method="GET",
        path="/v2/ai/conversations/c-1/messages",
        query="",
        request_content_type="",
        request_body=b"",
        status=200,
        response_headers={"content-type": "application/json"},
        response_body=json.dumps(
            {
                "data": [{"text": "hi"}],
                "meta": {"total_pages": 1, "total_results": 1, "page_number": 1, "page_size": 20},
            }
        ).encode(),
    )
    assert violations([broken])
    fixed = Exchange(
        **{**broken.__dict__, "response_body": broken.response_body.replace(b'{"text"', b'{"role": "user", "text"')}
    )
    assert violations([fixed]) == []


def test_the_official_sdk_reads_conversations(sim: Simulator) -> None:
    telnyx = pytest.importorskip("telnyx")
    event = create(sim)
    advance(sim, 3600)
    client = telnyx.Telnyx(api_key=sim.api_key, base_url=sim.base_url)
    conv = conversation_id(sim, event["scheduled_event_id"])
    assert client.ai.conversations.retrieve(conv).data.id == conv
    roles = [message.role for message in client.ai.conversations.messages.list(conv, page_size=2)]
    assert roles == ["assistant", "user", "assistant", "user", "assistant", "tool", "assistant"]
    insights = client.ai.conversations.retrieve_conversations_insights(conv)
    assert insights.data[0].status == "completed"


def test_seeded_history_is_final_with_its_conversation(sim: Simulator) -> None:
    yesterday = START - timedelta(days=1)
    event_id = sim.seed_event(
        "assistant-1",
        {
            "telnyx_conversation_channel": "phone_call",
            "telnyx_end_user_target": "+13125550100",
            "telnyx_agent_target": "+13125550199",
            "scheduled_at_fixed_datetime": yesterday.isoformat(),
        },
    )
    event = call(sim, f"{EVENTS}/{event_id}").json()
    assert event["status"] == "completed"
    assert len(call(sim, f"/ai/conversations/{event['conversation_id']}/messages").json()["data"]) == 7
    with pytest.raises(ValueError, match="unknown assistant"):
        sim.seed_event("assistant-nobody", {})
    with pytest.raises(ValueError, match="not a valid create body"):
        sim.seed_event("assistant-1", {"telnyx_conversation_channel": "fax"})
