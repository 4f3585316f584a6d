"""The conversations routes of the simulator: every dispatched event has a conversation, with synthetic but
plausible messages and insights that move from ``pending`` to ``completed`` on the event's clock.

A call that was answered: a greeting, the reason for the call (its ``dynamic_variables``), the end user's answer,
a tool call recording the outcome, the tool's answer and a goodbye, spread over the answered attempt's duration.
A call never answered (or a dispatch that failed) has a conversation without messages. An SMS: its text, then
(when delivered) a reply. A message exists once its ``sent_at`` has passed on the event clock; insights are
``pending`` until the conversation ends, ``in_progress`` for :data:`INSIGHTS_SECONDS` event-clock seconds, then
``completed``. A conversation that does not exist (yet) answers 404. Paging is the API's: ``page[number]``
from 1, ``page[size]`` 1 to 100 (default 20), the list ``meta``.

A test hook, :meth:`ConversationRoutes.script_transcript`, replaces an event's synthetic messages with the test's
own: odd ones (a lone surrogate, deep ``metadata``, ``NaN``: sent as JSON escapes and tokens, as a server we do not
control might) or very many (built page by page, so 100,000 messages cost the simulator no memory).
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from airflow_provider_telnyx.testing._records import StoredEvent
from airflow_provider_telnyx.testing._rules import Problem, jsonable, query_int, telnyx_error
from airflow_provider_telnyx.testing.lifecycle import RING_SECONDS, Timeline

__all__ = ["INSIGHTS_SECONDS", "SMS_REPLY_SECONDS", "ConversationRoutes", "ScriptedTranscript", "transcript"]

#: Event-clock seconds the insights of a finished conversation stay ``in_progress``.
INSIGHTS_SECONDS = 10
#: Event-clock seconds after a delivered SMS until the end user's reply.
SMS_REPLY_SECONDS = 5


def _stable_id(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:24]


def _message(role: str, text: str, at: datetime, **extra: Any) -> dict[str, Any]:
    return {"role": role, "text": text, "created_at": at, "sent_at": at, **extra}


def _call_transcript(event: StoredEvent) -> list[dict[str, Any]]:
    answered = [a for a in event.timeline.attempts if a.call_status == "completed"]
    if not answered:
        return []
    attempt = answered[0]
    start = attempt.dispatched_at + timedelta(seconds=RING_SECONDS["completed"])
    variables = event.body.get("dynamic_variables") or {}
    reason = ", ".join(f"{name}: {value}" for name, value in sorted(variables.items())) or "a follow-up"
    call_id = f"call_{_stable_id(event.event_id, 'tool')}"
    arguments = json.dumps({"confirmed": True, "variables": sorted(variables)})
    lines: list[tuple[str, str, dict[str, Any]]] = [
        ("assistant", f"Hello, this is an automated assistant calling from {event.body['telnyx_agent_target']}.", {}),
        ("user", "Hi, yes, speaking.", {}),
        ("assistant", f"I am calling about {reason}. Does that still work for you?", {}),
        ("user", "Yes, that works for me. Thank you.", {}),
        (
            "assistant",
            "",
            {
                "tool_calls": [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": "record_outcome", "arguments": arguments},
                    }
                ]
            },
        ),
        ("tool", json.dumps({"recorded": True}), {}),
        ("assistant", "Thank you, it is confirmed. Goodbye!", {}),
    ]
    step = (attempt.ended_at - start) / len(lines)
    return [_message(role, text, start + step * i, **extra) for i, (role, text, extra) in enumerate(lines)]


def _sms_transcript(event: StoredEvent) -> list[dict[str, Any]]:
    timeline = event.timeline
    messages = [_message("assistant", event.body["text"], timeline.scheduled_at)]
    if timeline.final_status == "completed":
        reply_at = timeline.ended_at + timedelta(seconds=SMS_REPLY_SECONDS)
        messages.append(_message("user", "Thanks, got it.", reply_at))
    return messages


def transcript(event: StoredEvent) -> list[dict[str, Any]]:
    """The whole conversation planned for an event, in event-clock time (shown as each ``sent_at`` passes).

    :param event: the stored event.
    :return: the messages, oldest first.
    """
    if event.timeline.channel == "sms_chat":
        return _sms_transcript(event)
    return _call_transcript(event)


@dataclass(frozen=True)
class ScriptedTranscript:
    """Messages a test gives a conversation in place of the synthetic ones (see
    :meth:`ConversationRoutes.script_transcript`).

    :param count: how many messages the conversation has.
    :param message: the message at an index (0-based), as the API would send it; called only for the page asked.
    """

    count: int
    message: Callable[[int], dict[str, Any]]


def _scripted_json(value: Any) -> bytes:
    # ASCII JSON: a lone surrogate goes out as its escape ("\\ud83d"), a non-finite number as NaN/Infinity.
    return json.dumps(value, default=lambda v: jsonable(v) if isinstance(v, datetime) else str(v)).encode()


def _ended_at(timeline: Timeline, messages: list[dict[str, Any]]) -> datetime:
    last: datetime = messages[-1]["sent_at"] if messages else timeline.ended_at
    return max(timeline.ended_at, last)


class ConversationRoutes:
    """The three conversations operations, over the events the :class:`~.simulator.Simulator` holds."""

    clock: Callable[[], datetime]
    _lock: threading.Lock
    _conversations: dict[str, StoredEvent]

    @property
    def _scripts(self) -> dict[str, ScriptedTranscript]:
        scripts: dict[str, ScriptedTranscript] = self.__dict__.setdefault("_scripted_transcripts", {})
        return scripts

    def script_transcript(
        self,
        event_id: str,
        messages: Sequence[dict[str, Any]] | None = None,
        *,
        count: int | None = None,
        message: Callable[[int], dict[str, Any]] | None = None,
    ) -> None:
        """Test hook: serve these messages for the event's conversation instead of the synthetic ones, all visible
        at once (the conversation still exists only once the event dispatched). Give ``messages``, or ``count``
        and ``message`` (the message at an index, built when its page is asked for).

        :param event_id: a stored event.
        :param messages: the messages, as the API would send them (``datetime`` values become ISO text).
        :param count: how many messages, with ``message``.
        :param message: the message at an index, with ``count``.
        """
        if messages is not None:
            fixed = list(messages)
            script = ScriptedTranscript(len(fixed), fixed.__getitem__)
        elif count is not None and message is not None:
            script = ScriptedTranscript(count, message)
        else:
            raise ValueError("give messages, or count and message")
        with self._lock:
            self._scripts[event_id] = script

    def _conversation(self, request: Request, organization: str) -> tuple[StoredEvent, datetime]:
        conversation_id = request.path_params["conversation_id"]
        with self._lock:
            event = self._conversations.get(conversation_id)
        now = self.clock()
        if event is None or event.organization != organization or now < event.timeline.scheduled_at:
            raise Problem(
                telnyx_error(404, "10005", "Resource not found", f"Conversation {conversation_id} was not found.")
            )
        return event, event.timeline.event_clock(now)

    @staticmethod
    def _visible(event: StoredEvent, now: datetime) -> list[dict[str, Any]]:
        return [message for message in transcript(event) if message["sent_at"] <= now]

    async def _get_conversation(self, request: Request, organization: str) -> Response:
        event, now = self._conversation(request, organization)
        messages = self._visible(event, now)
        body = event.body
        metadata = {
            "assistant_id": event.assistant_id,
            "telnyx_conversation_channel": "phone_call" if event.timeline.channel == "phone_call" else "sms",
            "telnyx_agent_target": body["telnyx_agent_target"],
            "telnyx_end_user_target": body["telnyx_end_user_target"],
            **{key: str(value) for key, value in (body.get("conversation_metadata") or {}).items()},
        }
        conversation = {
            "id": event.timeline.conversation_id,
            "name": "",
            "created_at": event.timeline.scheduled_at,
            "last_message_at": messages[-1]["sent_at"] if messages else event.timeline.scheduled_at,
            "metadata": metadata,
        }
        return JSONResponse({"data": jsonable(conversation)})

    async def _conversation_messages(self, request: Request, organization: str) -> Response:
        event, now = self._conversation(request, organization)
        number = query_int(request.query_params.get("page[number]"), "number", 1, 1, None)
        size = query_int(request.query_params.get("page[size]"), "size", 20, 1, 100)
        with self._lock:
            script = self._scripts.get(event.event_id)
        if script is not None:
            total = script.count
            page = [script.message(i) for i in range((number - 1) * size, min(number * size, total))]
        else:
            messages = self._visible(event, now)
            total, page = len(messages), messages[(number - 1) * size : number * size]
        meta = {
            "total_pages": math.ceil(total / size),
            "total_results": total,
            "page_number": number,
            "page_size": size,
        }
        if script is not None:
            return Response(_scripted_json({"data": page, "meta": meta}), media_type="application/json")
        return JSONResponse({"data": jsonable(page), "meta": meta})

    async def _conversation_insights(self, request: Request, organization: str) -> Response:
        event, now = self._conversation(request, organization)
        messages = transcript(event)
        ended = _ended_at(event.timeline, messages)
        insight: dict[str, Any] = {
            "id": _stable_id(event.event_id, "insights"),
            "created_at": event.timeline.scheduled_at,
            "status": "pending",
            "conversation_insights": [],
        }
        if now >= ended + timedelta(seconds=INSIGHTS_SECONDS):
            answered = any(message["role"] == "user" for message in messages)
            summary = "The end user answered and confirmed." if answered else "The end user could not be reached."
            insight["status"] = "completed"
            insight["conversation_insights"] = [
                {"insight_id": "summary", "result": summary},
                {"insight_id": "outcome", "result": json.dumps({"reached": answered, "confirmed": answered})},
            ]
        elif now >= ended:
            insight["status"] = "in_progress"
        meta = {"total_pages": 1, "total_results": 1, "page_number": 1, "page_size": 20}
        return JSONResponse({"data": [jsonable(insight)], "meta": meta})
