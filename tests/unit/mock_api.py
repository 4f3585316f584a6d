"""A scripted stand-in for the API behind an ``httpx.MockTransport``: records requests, plays responses."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from airflow_provider_telnyx.hooks.telnyx import TelnyxHook

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


@dataclass
class MockApi:
    """Answers each request with the next scripted reply (the last one repeats)."""

    replies: deque[Reply] = field(default_factory=deque)
    requests: list[httpx.Request] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)

    def script(self, *replies: Reply) -> MockApi:
        self.replies.extend(replies)
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        reply = self.replies.popleft() if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        if callable(reply) and not isinstance(reply, httpx.Response):
            return reply(request)
        # A fresh copy each time: a response object can only be sent once.
        return httpx.Response(reply.status_code, headers=reply.headers, content=reply.content)

    def hook(self, **kwargs: Any) -> TelnyxHook:
        transport = httpx.MockTransport(self)

        async def record_async_sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        return TelnyxHook(
            transport=transport,
            async_transport=transport,
            sleep=self.sleeps.append,
            async_sleep=record_async_sleep,
            **kwargs,
        )

    def body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)


def run(hook: TelnyxHook, mode: str, method: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``method`` on the sync side, or its ``a``-prefixed twin on the async side, with the same result."""
    if mode == "sync":
        result = getattr(hook, method)(*args, **kwargs)
        return list(result) if method.startswith("list_") else result

    async def go() -> Any:
        result = getattr(hook, f"a{method}")(*args, **kwargs)
        if method.startswith("list_"):
            return [item async for item in result]
        return await result

    return asyncio.run(go())


def event_json(**overrides: Any) -> dict[str, Any]:
    """A phone-call event as the API returns it."""
    return {
        "assistant_id": "assistant-1",
        "scheduled_event_id": "evt-1",
        "telnyx_conversation_channel": "phone_call",
        "telnyx_end_user_target": "+13125550100",
        "telnyx_agent_target": "+13125550199",
        "scheduled_at_fixed_datetime": "2030-01-01T10:00:00Z",
        "status": "pending",
        "created_at": "2029-12-31T10:00:00Z",
        "retry_count": 0,
        **overrides,
    }


def sms_json(**overrides: Any) -> dict[str, Any]:
    """An SMS event as the API returns it."""
    return event_json(telnyx_conversation_channel="sms_chat", text="Your order ships today", **overrides)
