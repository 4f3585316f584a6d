"""The hook's conversation methods: requests as the spec writes them, tolerant parsing, bounded paging, and the
same result on the sync and async sides."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from airflow_provider_telnyx.exceptions import (
    TelnyxInvalidInputError,
    TelnyxInvalidResponseError,
    TelnyxNotFoundError,
)
from airflow_provider_telnyx.models import InsightStatus, MessageRole
from tests.unit.mock_api import MockApi, run

MODES = ("sync", "async")


def page(data: list[dict[str, Any]], number: int, total_pages: int, size: int = 100) -> httpx.Response:
    meta = {"page_number": number, "total_pages": total_pages, "total_results": len(data), "page_size": size}
    return httpx.Response(200, json={"data": data, "meta": meta})


def message(text: str, role: str = "assistant", **extra: Any) -> dict[str, Any]:
    return {
        "role": role,
        "text": text,
        "created_at": "2030-01-01T10:00:00Z",
        "sent_at": "2030-01-01T10:00:00Z",
        **extra,
    }


@pytest.mark.parametrize("mode", MODES)
def test_get_conversation_reads_the_data_envelope(mode: str) -> None:
    api = MockApi().script(
        httpx.Response(
            200,
            json={
                "data": {
                    "id": "conv-1",
                    "name": "",
                    "created_at": "2030-01-01T10:00:00",  # no offset: read as UTC
                    "last_message_at": "2030-01-01T10:01:00Z",
                    "metadata": {"assistant_id": "assistant-1"},
                    "new_field": {"kept": True},
                }
            },
        )
    )
    conversation = run(api.hook(), mode, "get_conversation", "conv-1")
    assert api.requests[0].url.path == "/v2/ai/conversations/conv-1"
    assert conversation.id == "conv-1"
    assert conversation.created_at.tzinfo is not None
    assert conversation.model_extra == {"new_field": {"kept": True}}


@pytest.mark.parametrize("mode", MODES)
def test_messages_follow_every_page_with_the_spec_query(mode: str) -> None:
    api = MockApi().script(
        page([message("a"), message("b", role="user")], 1, 2, size=2),
        page([message("c", role="tool", tool_calls=None)], 2, 2, size=2),
    )
    messages = run(api.hook(), mode, "list_conversation_messages", "conv-1", page_size=2)
    assert [m.text for m in messages] == ["a", "b", "c"]
    assert [m.role for m in messages] == [MessageRole.ASSISTANT, MessageRole.USER, MessageRole.TOOL]
    assert [dict(r.url.params) for r in api.requests] == [
        {"page[number]": "1", "page[size]": "2"},
        {"page[number]": "2", "page[size]": "2"},
    ]


@pytest.mark.parametrize("mode", MODES)
def test_messages_are_read_tolerantly(mode: str) -> None:
    api = MockApi().script(
        page(
            [
                {"role": "system", "text": None, "sentiment": "positive"},  # unknown role, null text, new field
                message(
                    "", tool_calls=[{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
                ),
            ],
            1,
            1,
        )
    )
    unknown, tool = run(api.hook(), mode, "list_conversation_messages", "conv-1")
    assert (unknown.role, unknown.text, unknown.model_extra) == ("system", None, {"sentiment": "positive"})
    assert tool.tool_calls[0].function.name == "f"


@pytest.mark.parametrize("mode", MODES)
def test_an_endless_message_listing_is_stopped(mode: str) -> None:
    counter = iter(range(1, 10_000))

    def always_more(request: httpx.Request) -> httpx.Response:
        number = next(counter)
        return page([message(f"m{number}")], number, number + 1)

    api = MockApi().script(always_more)
    with pytest.raises(TelnyxInvalidResponseError, match="announced more than 5 pages"):
        run(api.hook(), mode, "list_conversation_messages", "conv-1", max_pages=5)
    assert len(api.requests) == 5


@pytest.mark.parametrize("mode", MODES)
def test_a_repeated_message_page_is_refused(mode: str) -> None:
    api = MockApi().script(
        page([message("same")], 1, 3),
        httpx.Response(200, json={"data": [message("same")], "meta": {"total_pages": 3}}),
    )
    with pytest.raises(TelnyxInvalidResponseError, match="same items as page 1"):
        run(api.hook(), mode, "list_conversation_messages", "conv-1")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("conversation_id", "page_size", "field"),
    [("", 10, "conversation_id"), ("../x", 10, "conversation_id"), ("c", 0, "page_size"), ("c", 101, "page_size")],
)
def test_bad_arguments_fail_before_any_request(mode: str, conversation_id: str, page_size: int, field: str) -> None:
    api = MockApi().script(page([], 1, 1))
    with pytest.raises(TelnyxInvalidInputError, match=field):
        run(api.hook(), mode, "list_conversation_messages", conversation_id, page_size=page_size)
    assert api.requests == []


@pytest.mark.parametrize("mode", MODES)
def test_insights_keep_unknown_statuses_and_results(mode: str) -> None:
    api = MockApi().script(
        page(
            [
                {
                    "id": "i1",
                    "status": "completed",
                    "created_at": "2030-01-01T10:00:00Z",
                    "conversation_insights": [{"insight_id": "summary", "result": "ok"}],
                },
                {"id": "i2", "status": "queued", "created_at": None, "conversation_insights": []},
            ],
            1,
            1,
        )
    )
    done, queued = run(api.hook(), mode, "get_conversation_insights", "conv-1")
    assert api.requests[0].url.path == "/v2/ai/conversations/conv-1/conversations-insights"
    assert done.status is InsightStatus.COMPLETED
    assert done.is_final
    assert done.conversation_insights[0].result == "ok"
    assert (queued.status, queued.is_final, queued.status_text) == ("queued", False, "queued")


@pytest.mark.parametrize("mode", MODES)
def test_an_insights_run_that_does_not_read_is_skipped_with_a_warning_naming_it(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    api = MockApi().script(
        page([{"id": "i1", "status": "completed"}, {"id": "i2", "conversation_insights": "ok"}, {"id": "i3"}], 1, 1)
    )
    with caplog.at_level(logging.WARNING, logger="airflow_provider_telnyx.hooks.endpoints"):
        runs = run(api.hook(), mode, "get_conversation_insights", "conv-1")
    assert [insight.id for insight in runs] == ["i1", "i3"]
    assert [record.getMessage() for record in caplog.records] == [
        "Telnyx API GET /ai/conversations/conv-1/conversations-insights: insights run i2 does not match the "
        "documented schema and is skipped: conversation_insights: Input should be a valid list"
    ]


@pytest.mark.parametrize("mode", MODES)
def test_unknown_conversation_is_not_found(mode: str) -> None:
    api = MockApi().script(
        httpx.Response(404, json={"errors": [{"code": "10005", "title": "Resource not found", "detail": "gone"}]})
    )
    with pytest.raises(TelnyxNotFoundError, match="gone"):
        run(api.hook(), mode, "get_conversation_insights", "conv-1")
    assert len(api.requests) == 1  # a 404 is not retried
