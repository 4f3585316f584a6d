"""A batch's results, one per input row, and its summary (what the batch operator returns and logs)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_telnyx._common import StrEnum
from airflow_provider_telnyx._compat import AirflowFailException
from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError

if TYPE_CHECKING:
    from airflow.sdk import Context
    from pydantic import JsonValue

    from airflow_provider_telnyx.models import ScheduledEventRequest

__all__ = [
    "MAX_ERROR_TEXT",
    "MAX_FIELD_TEXT",
    "MAX_ROW_PROBLEMS",
    "OUTCOMES",
    "STATE_REJECTED",
    "BatchItem",
    "InvalidItemPolicy",
    "ItemResult",
    "Outcome",
    "bounded",
    "bounded_name",
    "check_on_invalid_item",
    "rejected_before",
    "remember_rejected",
    "summarize",
    "summary_line",
]

#: Longest error text kept per item in the summary.
MAX_ERROR_TEXT = 300
#: Most problems kept per invalid row in the summary (the exception keeps them all).
MAX_ROW_PROBLEMS = 10
#: Longest target as written kept per row in the summary.
MAX_INPUT_TEXT = 100
#: Longest field name kept per problem (a column name is the user's text: a CSV whose header line is data).
MAX_FIELD_TEXT = 100

Outcome = Literal["created", "reused", "skipped", "failed", "invalid", "not_sent"]
#: Every outcome, in the order the summary counts them.
OUTCOMES: tuple[Outcome, ...] = ("created", "reused", "skipped", "failed", "invalid", "not_sent")


class InvalidItemPolicy(StrEnum):
    """What the batch operator does when some input rows are invalid (``on_invalid_item``)."""

    #: Send nothing; fail with every bad row named (the summary, all rows ``invalid`` or ``not_sent``, is pushed).
    FAIL = "fail"
    #: Report the bad rows ``invalid`` and send the others; invalid rows alone do not fail the task.
    SKIP = "skip"


def check_on_invalid_item(value: Any) -> InvalidItemPolicy:
    """Validate ``on_invalid_item`` (as rendered).

    :param value: ``"fail"`` or ``"skip"``.
    :raises TelnyxInvalidInputError: naming the parameter.
    """
    try:
        return InvalidItemPolicy(value)
    except (ValueError, TypeError):
        raise TelnyxInvalidInputError(
            [("on_invalid_item", "must be 'fail' or 'skip'")], subject="operator argument"
        ) from None


@dataclass(frozen=True)
class BatchItem:
    """One validated input row: its request (with the intended time) and its idempotency key.

    :param index: the row's position in ``events``.
    :param request: the create body (its targets as sent: normalised to E.164).
    :param key: the ``Idempotency-Key``.
    :param target_input: the row's ``end_user_target`` as written, when it was a string.
    """

    index: int
    request: ScheduledEventRequest
    key: str
    target_input: str | None = None


@dataclass
class ItemResult:
    """What happened to one input row.

    :param index: the row's position in ``events``.
    :param outcome: ``created``, ``reused`` (an earlier try created it), ``skipped`` (late, ``late_policy="skip"``),
        ``failed``, ``invalid`` (refused before any request) or ``not_sent`` (valid, but the batch was refused for
        its invalid rows under ``on_invalid_item="fail"``).
    :param scheduled_event_id: the event, when there is one.
    :param scheduled_at: when it was sent for (differs from the intended time for a late ``send_now``); for a
        ``reused`` row, the event's time when it was found (a wait's listing starts at the earliest of them).
    :param end_user_target: the target as sent (E.164 once normalised).
    :param end_user_target_input: the target as written, when it differs from what was sent or the row is invalid.
    :param error_class: the exception's class name, when it failed or is invalid.
    :param error: the exception's message (bounded), when it failed or is invalid.
    :param retryable: whether a task retry may fix the failure (and will send the item again).
    :param problems: an invalid row's ``{"field", "reason"}`` pairs (fields relative to the row, each bounded).
    """

    index: int
    outcome: Outcome
    scheduled_event_id: str | None = None
    scheduled_at: str | None = None
    end_user_target: str | None = None
    end_user_target_input: str | None = None
    error_class: str | None = None
    error: str | None = None
    retryable: bool | None = None
    problems: list[dict[str, str]] | None = None

    @classmethod
    def failure(cls, index: int, error: BaseException) -> ItemResult:
        """The result of an item whose send raised.

        :param index: the row.
        :param error: what it raised (any exception: one odd answer never aborts the batch).
        """
        return cls(
            index,
            "failed",
            error_class=type(error).__name__,
            error=bounded(str(error) or type(error).__name__),
            # A task retry may fix anything but what Airflow itself would not retry (400/401/403/404/422, late).
            retryable=not isinstance(error, AirflowFailException),
        )

    @classmethod
    def invalid(cls, index: int, problems: list[tuple[str, str]], target_input: Any) -> ItemResult:
        """The result of a row refused before any request.

        :param index: the row.
        :param problems: its ``(field, reason)`` pairs, fields as the exception names them (``events[3].text``).
        :param target_input: its ``end_user_target`` as written.
        """
        prefix = f"events[{index}]"
        pairs = [
            {"field": bounded_name(field.removeprefix(prefix).removeprefix(".") or "item"), "reason": bounded(reason)}
            for field, reason in problems[:MAX_ROW_PROBLEMS]
        ]
        return cls(
            index,
            "invalid",
            end_user_target_input=target_input[:MAX_INPUT_TEXT] if isinstance(target_input, str) else None,
            error_class="TelnyxInvalidInputError",
            error=bounded("; ".join(f"{pair['field']}: {pair['reason']}" for pair in pairs)),
            retryable=False,
            problems=pairs,
        )

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON-safe dictionary, unset fields left out."""
        return {name: value for name, value in self.__dict__.items() if value is not None}


def bounded(text: str, limit: int = MAX_ERROR_TEXT) -> str:
    """``text`` cut to ``limit`` characters (the cut marked ``...``)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def bounded_name(name: str) -> str:
    """A field name cut to :data:`MAX_FIELD_TEXT` characters: column names are the user's text."""
    return bounded(name, MAX_FIELD_TEXT)


def summarize(results: list[ItemResult], requests: int, throttled: int, seconds: float) -> dict[str, Any]:
    ordered = sorted(results, key=lambda r: r.index)
    counts = {name: sum(r.outcome == name for r in ordered) for name in OUTCOMES}
    elapsed = max(seconds, 1e-9)
    return {
        "total": len(ordered),
        "counts": counts,
        "created": counts["created"],
        "already_existed": counts["reused"],
        "skipped": counts["skipped"],
        "failed": counts["failed"],
        "invalid": counts["invalid"],
        "retryable_failures": sum(bool(r.retryable) for r in ordered if r.outcome == "failed"),
        "items": [r.to_json() for r in ordered],
        "scheduled_event_ids": [r.scheduled_event_id for r in ordered],
        "requests": requests,
        "rate_limited": throttled,
        "seconds": round(seconds, 3),
        "requests_per_second": round(requests / elapsed, 2),
    }


def summary_line(summary: Mapping[str, Any]) -> str:
    """The batch summary in one bounded line (counts, traffic, the first failure and the first invalid row; never
    the list of ids).

    :param summary: the summary the batch operator returns.
    """
    counts = summary["counts"]
    line = (
        f"{summary['total']} items: {counts['created']} created, {counts['reused']} reused, "
        f"{counts['skipped']} skipped, {counts['failed']} failed ({summary['retryable_failures']} retryable), "
        f"{counts.get('invalid', 0)} invalid; "
        f"{summary['requests']} requests ({summary['rate_limited']} rate-limited) in {summary['seconds']:.1f} s, "
        f"{summary['requests_per_second']:.1f}/s"
    )
    for outcome, label in (("failed", "First failure"), ("invalid", "First invalid row")):
        first = next((item for item in summary["items"] if item["outcome"] == outcome), None)
        if first is not None:
            line += f". {label}: events[{first['index']}]: {first.get('error_class')}: {first.get('error')}"
    return line


#: Task-state-store key of the items an earlier try of this clear refused for good (not re-sent by a retry).
STATE_REJECTED = "telnyx_batch_rejected"


def _clear_number(context: Context) -> int:
    return int(getattr(context.get("dag_run"), "clear_number", 0) or 0)


def rejected_before(context: Context) -> dict[int, dict[str, Any]]:
    """Items an earlier try of this run (same clear) refused for good: a retry does not send them again.

    :return: ``{index: {"error_class", "error"}}``.
    """
    store = context.get("task_state_store")
    if store is None or (context["ti"].try_number or 1) <= 1:
        return {}
    kept = store.get(STATE_REJECTED)
    if not isinstance(kept, dict) or kept.get("clear_number") != _clear_number(context):
        return {}
    items = kept.get("items")
    if not isinstance(items, dict):
        return {}
    return {int(index): value for index, value in items.items() if isinstance(value, dict)}


def remember_rejected(context: Context, results: list[ItemResult]) -> None:
    """Keep the items refused for good in the task state store (for :func:`rejected_before` on a retry)."""
    store = context.get("task_state_store")
    rejected: dict[str, JsonValue] = {
        str(r.index): {"error_class": r.error_class, "error": r.error}
        for r in results
        if r.outcome == "failed" and r.retryable is False
    }
    if store is not None and rejected:
        store.set(STATE_REJECTED, {"clear_number": _clear_number(context), "items": rejected})
