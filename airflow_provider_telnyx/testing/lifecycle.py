"""The simulator's lifecycle engine: what happens to a scheduled event, decided by its end-user target.

An event's whole future is planned when it is created (a :class:`Timeline` of attempts), so its state at any
moment is a pure function of the clock: there is no background worker to race with, and every read agrees.

Time: until its first dispatch an event lives on the wall clock (it dispatches when
``scheduled_at_fixed_datetime`` arrives). From then on its own clock runs ``time_scale`` times faster, so a
60-second retry interval passes in one real second at ``time_scale=60``. Every timestamp the simulator
reports after dispatch is on that event clock, so the timestamps stay consistent with each other (an
attempt's duration is the gap between its timestamps, a retry is scheduled exactly ``retry_interval_secs``
after the previous attempt ended), even though they run ahead of the wall clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = ["OUTCOMES", "Attempt", "Outcome", "Timeline", "plan_timeline"]

RETRYABLE_CALL_STATUSES = frozenset({"busy", "no-answer", "failed", "canceled"})


@dataclass(frozen=True)
class Outcome:
    """What the simulated world does when an event dispatches.

    :param name: short name used in docs and tests.
    :param call_statuses: the terminal call status of each successive attempt (the last one repeats).
    :param call_duration: seconds an answered call lasts.
    :param dispatch_error: when set, the dispatch fails at once with this error and no call is placed.
    :param sms_error: when set, an SMS event fails with this error.
    :param create_refusal: when set, the create itself is refused: ``(status, code, title, detail)``.
    :param description: one line for the outcome table.
    """

    name: str
    call_statuses: tuple[str, ...] = ("completed",)
    call_duration: int = 45
    dispatch_error: str | None = None
    sms_error: str | None = None
    create_refusal: tuple[int, str, str, str] | None = None
    description: str = ""


#: The outcome table, keyed by end-user target. The numbers are in the 555-0100..0199 block that North
#: American numbering reserves for fiction, so they can never reach a real person.
OUTCOMES: dict[str, Outcome] = {
    "+13125550100": Outcome("answered", description="answers at once, 45 s conversation, completed"),
    "+13125550101": Outcome(
        "busy-then-answered",
        call_statuses=("busy", "completed"),
        description="busy on the first attempt, answers the retry (needs max_retries_client_errors >= 1)",
    ),
    "+13125550102": Outcome(
        "never-answers",
        call_statuses=("no-answer",),
        description="never answers: every attempt is no-answer until the retry budget runs out, then failed",
    ),
    "+13125550103": Outcome(
        "dispatch-fails",
        dispatch_error="Cannot make outbound call with no outbound voice profile",
        description="the dispatch fails at once: failed, no call attempt, one error",
    ),
    "+13125550104": Outcome(
        "long-call",
        call_duration=1_200,
        description="answers, 20-minute conversation, completed",
    ),
    "+13125550105": Outcome(
        "destination-refused",
        create_refusal=(403, "D13", "Destination not allowed", "The destination country is not whitelisted."),
        description="the create is refused: 403 D13, the destination country is not whitelisted (no event)",
    ),
    "+13125550110": Outcome("sms-delivered", description="SMS delivered: completed"),
    "+13125550111": Outcome(
        "sms-fails",
        sms_error="SMS delivery failed: the carrier rejected the message (30007)",
        description="SMS rejected by the carrier: failed with one error",
    ),
}
DEFAULT_OUTCOME = Outcome("default", description="any other target: answers (calls) or is delivered (SMS)")

RING_SECONDS = {"completed": 6, "busy": 3, "no-answer": 30, "failed": 1, "canceled": 10}
SMS_DELIVERY_SECONDS = 2


def outcome_for(target: str) -> Outcome:
    """The outcome planned for an end-user target.

    :param target: ``telnyx_end_user_target``.
    :return: the table's outcome, or the default one.
    """
    return OUTCOMES.get(target, DEFAULT_OUTCOME)


@dataclass(frozen=True)
class Attempt:
    """One planned dispatch, in event-clock time."""

    number: int
    dispatched_at: datetime
    ended_at: datetime
    call_status: str
    call_duration: int | None
    call_control_id: str


@dataclass(frozen=True)
class Timeline:
    """Everything that will happen to one event, planned at creation.

    :param scheduled_at: the first dispatch time (wall clock).
    :param time_scale: how much faster the event clock runs after the first dispatch.
    :param attempts: the planned attempts, in order.
    :param final_status: ``completed`` or ``failed``.
    :param final_errors: errors reported once the event is final.
    :param conversation_id: set at the first dispatch.
    :param retry_interval: seconds between an attempt's end and the next dispatch.
    :param channel: ``phone_call`` or ``sms_chat``.
    :param ended_at: event-clock time at which the event becomes final.
    """

    scheduled_at: datetime
    time_scale: float
    attempts: tuple[Attempt, ...]
    final_status: str
    final_errors: tuple[str, ...]
    conversation_id: str
    retry_interval: int | None
    channel: str
    ended_at: datetime

    def event_clock(self, wall: datetime) -> datetime:
        """Map a wall-clock moment to this event's clock.

        :param wall: the wall-clock time.
        :return: the event-clock time.
        """
        if wall <= self.scheduled_at:
            return wall
        return self.scheduled_at + (wall - self.scheduled_at) * self.time_scale

    def scheduled_at_at(self, wall: datetime) -> datetime:
        """``scheduled_at_fixed_datetime`` as :meth:`state_at` reports it at a wall-clock moment, without building
        the rest (the list filter reads only this).

        :param wall: the wall-clock time.
        """
        now = self.event_clock(wall)
        if now < self.scheduled_at or self.channel == "sms_chat" or not self.attempts:
            return self.scheduled_at
        done = sum(1 for attempt in self.attempts if attempt.ended_at <= now)
        return self.attempts[min(done, len(self.attempts) - 1)].dispatched_at

    def state_at(self, wall: datetime) -> dict[str, Any]:
        """The lifecycle fields of the event at a wall-clock moment.

        :param wall: the wall-clock time.
        :return: the fields that change over the event's life (``status``, ``call_attempts``, ...).
        """
        now = self.event_clock(wall)
        if now < self.scheduled_at:
            return {"status": "pending", "scheduled_at_fixed_datetime": self.scheduled_at}
        if self.channel == "sms_chat":
            return self._sms_state(now)
        return self._call_state(now)

    def _sms_state(self, now: datetime) -> dict[str, Any]:
        state: dict[str, Any] = {
            "scheduled_at_fixed_datetime": self.scheduled_at,
            "conversation_id": self.conversation_id,
        }
        if now < self.ended_at:
            return {**state, "status": "in_progress"}
        return {**state, "status": self.final_status, "errors": list(self.final_errors)}

    def _call_state(self, now: datetime) -> dict[str, Any]:
        state: dict[str, Any] = {"conversation_id": self.conversation_id, "dispatched_at": self.scheduled_at}
        if not self.attempts:  # the dispatch failed at once
            return {**state, "status": "failed", "errors": list(self.final_errors), "call_status": "failed"}
        done = [attempt for attempt in self.attempts if attempt.ended_at <= now]
        state["call_attempts"] = [_attempt_json(attempt) for attempt in done]
        state["retry_count"] = max(len(done) - (0 if len(done) < len(self.attempts) else 1), 0)
        if len(done) == len(self.attempts):
            last = self.attempts[-1]
            final = {
                **state,
                "status": self.final_status,
                "errors": list(self.final_errors),
                "call_status": last.call_status,
                "dispatched_at": last.dispatched_at,
                "scheduled_at_fixed_datetime": last.dispatched_at,
            }
            if last.call_duration is not None:  # the spec types it integer: omit rather than send null
                final["call_duration"] = last.call_duration
            return final
        current = self.attempts[len(done)]
        if now < current.dispatched_at:  # between attempts: waiting for the retry
            return {
                **state,
                "status": "pending",
                "call_status": done[-1].call_status,
                "dispatched_at": done[-1].dispatched_at,
                "scheduled_at_fixed_datetime": current.dispatched_at,
            }
        answered = current.call_status == "completed"
        ring_end = current.dispatched_at + timedelta(seconds=RING_SECONDS.get(current.call_status, 5))
        live = "in-progress" if answered and now >= ring_end else "ringing"
        return {
            **state,
            "status": "in_progress",
            "call_status": live,
            "dispatched_at": current.dispatched_at,
            "scheduled_at_fixed_datetime": current.dispatched_at,
        }


def _attempt_json(attempt: Attempt) -> dict[str, Any]:
    body: dict[str, Any] = {
        "attempt_number": attempt.number,
        "attempted_at": attempt.dispatched_at,
        "call_status": attempt.call_status,
        "telnyx_call_control_id": attempt.call_control_id,
    }
    if attempt.call_duration is not None:  # the spec types it integer: omit rather than send null
        body["call_duration"] = attempt.call_duration
    return body


def plan_timeline(body: Mapping[str, Any], scheduled_at: datetime, time_scale: float) -> Timeline:
    """Plan an event's whole life from its create body.

    :param body: the validated create body.
    :param scheduled_at: its ``scheduled_at_fixed_datetime``.
    :param time_scale: how much faster the event clock runs after dispatch.
    """
    channel = body["telnyx_conversation_channel"]
    outcome = outcome_for(body["telnyx_end_user_target"])
    conversation_id = str(uuid.uuid4())
    if channel == "sms_chat":
        ended = scheduled_at + timedelta(seconds=SMS_DELIVERY_SECONDS)
        failed = outcome.sms_error is not None
        return Timeline(
            scheduled_at=scheduled_at,
            time_scale=time_scale,
            attempts=(),
            final_status="failed" if failed else "completed",
            final_errors=(outcome.sms_error,) if outcome.sms_error else (),
            conversation_id=conversation_id,
            retry_interval=None,
            channel=channel,
            ended_at=ended,
        )
    if outcome.dispatch_error:
        return Timeline(
            scheduled_at=scheduled_at,
            time_scale=time_scale,
            attempts=(),
            final_status="failed",
            final_errors=(outcome.dispatch_error,),
            conversation_id=conversation_id,
            retry_interval=None,
            channel=channel,
            ended_at=scheduled_at,
        )
    max_retries = int(body.get("max_retries_client_errors") or 0)
    interval = body.get("retry_interval_secs")
    attempts: list[Attempt] = []
    start = scheduled_at
    for number in range(1, max_retries + 2):
        status = outcome.call_statuses[min(number - 1, len(outcome.call_statuses) - 1)]
        ring = RING_SECONDS.get(status, 5)
        duration = outcome.call_duration if status == "completed" else None
        ended = start + timedelta(seconds=ring + (duration or 0))
        attempts.append(Attempt(number, start, ended, status, duration, f"v3:{uuid.uuid4().hex}"))
        if status not in RETRYABLE_CALL_STATUSES or number > max_retries or interval is None:
            break
        start = ended + timedelta(seconds=int(interval))
    last = attempts[-1]
    failed = last.call_status != "completed"
    errors: tuple[str, ...] = ()
    if failed:
        exhausted = f"Client-error retry budget exhausted after {len(attempts)} attempt(s)"
        errors = (f"{exhausted}; last call status: {last.call_status}",)
    return Timeline(
        scheduled_at=scheduled_at,
        time_scale=time_scale,
        attempts=tuple(attempts),
        final_status="failed" if failed else "completed",
        final_errors=errors,
        conversation_id=conversation_id,
        retry_interval=int(interval) if interval is not None else None,
        channel=channel,
        ended_at=last.ended_at,
    )
