"""What a callback's context says happened, read the same way for every callback Airflow runs.

A task callback (``on_failure_callback``, ``on_retry_callback``, ``on_success_callback``, ...) gets the task's
context, whose ``ti`` has the state that decided which callback runs; a DAG callback gets ``reason`` and, when
Airflow knows it, the ``ti`` of the task that decided the run's state; a deadline callback gets only ``dag_run``
(the API's dag-run record) and ``deadline``. :class:`CallbackFacts` reads all three into one shape: the ids the
assistant reads out, the kind of callback, a one-line reason with secrets masked, and the idempotency key that
makes each callback of one try notify at most once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from airflow_provider_telnyx._common import StrEnum, parse_iso_datetime
from airflow_provider_telnyx._compat import redact
from airflow_provider_telnyx.operators._arguments import default_idempotency_key

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["MAX_REASON", "CallbackFacts", "CallbackKind", "one_line_reason"]

#: The longest reason sent (characters, after masking).
MAX_REASON = 300
#: How much of an exception's first line is read at all (a message can be megabytes).
MAX_REASON_INPUT = 10_000


class CallbackKind(StrEnum):
    """Which callback runs: the ``callback_kind`` variable, and part of the idempotency key."""

    FAILURE = "failure"
    RETRY = "retry"
    SUCCESS = "success"
    SKIPPED = "skipped"
    EXECUTE = "execute"
    DAG_FAILURE = "dag_failure"
    DAG_SUCCESS = "dag_success"
    DEADLINE = "deadline"


#: A task instance's state when each task callback runs (the task runner sets it before the callbacks).
_KIND_OF_STATE = {
    "failed": CallbackKind.FAILURE,
    "up_for_retry": CallbackKind.RETRY,
    "success": CallbackKind.SUCCESS,
    "skipped": CallbackKind.SKIPPED,
    "running": CallbackKind.EXECUTE,
}


@dataclass(frozen=True)
class _Ids:
    """The four ids :func:`~airflow_provider_telnyx.operators._arguments.default_idempotency_key` reads from a
    context's ``ti`` (a DAG or deadline callback may have no task instance)."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int


@dataclass(frozen=True)
class CallbackFacts:
    """What happened, as one callback's context says it.

    :param kind: which callback runs.
    :param dag_id: the DAG.
    :param run_id: the DAG run.
    :param task_id: the task (for a DAG callback, the task that decided the run's state), or ``None``.
    :param map_index: the task's map index (-1 when not mapped or no task).
    :param try_number: the task's try, or ``None`` without a task.
    :param reason: one line, secrets masked, at most :data:`MAX_REASON` characters (may be empty).
    :param anchor: when the outcome was decided (the try's end, the deadline), else the moment of reading: a
        relative ``scheduled_at`` counts from it, so that a second run of the same callback sends the same body.
    :param deadline_id: the missed deadline's id (deadline callbacks).
    :param run_attempt: for a callback without a task try, which run of the DAG run it is (its ``clear_number``, or
        its start when the Airflow version has no clear number): a run cleared and failing again notifies again.
    """

    kind: CallbackKind
    dag_id: str
    run_id: str
    task_id: str | None
    map_index: int
    try_number: int | None
    reason: str
    anchor: datetime
    deadline_id: str | None = None
    run_attempt: str = ""

    @classmethod
    def of(cls, context: Context | Mapping[str, Any], *, now: datetime) -> CallbackFacts:
        """Read a callback's context.

        :param context: what Airflow passed to the callback.
        :param now: the current time (the anchor when the context has no better one).
        """
        values: Mapping[str, Any] = cast("Mapping[str, Any]", context)
        deadline = values.get("deadline")
        if isinstance(deadline, Mapping):
            return cls._of_deadline(values, deadline, now)
        ti = values.get("ti")
        if "reason" in values:
            reason = str(values.get("reason") or "")
            kind = CallbackKind.DAG_SUCCESS if reason == "success" else CallbackKind.DAG_FAILURE
        else:
            state = getattr(ti, "state", None)
            state = str(getattr(state, "value", state) or "")
            kind = _KIND_OF_STATE.get(state) or (
                CallbackKind.FAILURE if values.get("exception") else CallbackKind.SUCCESS
            )
            reason = _describe(values.get("exception")) if kind in (CallbackKind.FAILURE, CallbackKind.RETRY) else ""
        dag = values.get("dag")
        dag_id = getattr(ti, "dag_id", None) or getattr(dag, "dag_id", None) or ""
        run_id = getattr(ti, "run_id", None) or values.get("run_id") or ""
        map_index = getattr(ti, "map_index", None)
        try_number = getattr(ti, "try_number", None)
        return cls(
            run_attempt=_run_attempt(values.get("dag_run")) if ti is None else "",
            kind=kind,
            dag_id=str(dag_id),
            run_id=str(run_id),
            task_id=str(ti.task_id) if ti is not None and getattr(ti, "task_id", None) else None,
            map_index=map_index if isinstance(map_index, int) else -1,
            try_number=try_number if isinstance(try_number, int) else None,
            reason=one_line_reason(reason),
            anchor=_aware(getattr(ti, "end_date", None)) or now,
        )

    @classmethod
    def _of_deadline(cls, values: Mapping[str, Any], deadline: Mapping[str, Any], now: datetime) -> CallbackFacts:
        run = values.get("dag_run")
        run = run if isinstance(run, Mapping) else {}
        due = _aware(deadline.get("deadline_time"))
        return cls(
            kind=CallbackKind.DEADLINE,
            dag_id=str(run.get("dag_id") or ""),
            run_id=str(run.get("dag_run_id") or run.get("run_id") or ""),
            task_id=None,
            map_index=-1,
            try_number=None,
            reason=one_line_reason(f"deadline missed (due {due.isoformat()})" if due else "deadline missed"),
            anchor=due or now,
            deadline_id=str(deadline.get("id") or "") or None,
        )

    def dynamic_variables(self) -> dict[str, str]:
        """The variables the assistant can read out (every value a string, as the API requires)."""
        return {
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "task_id": self.task_id or "",
            "map_index": str(self.map_index),
            "try_number": "" if self.try_number is None else str(self.try_number),
            "callback_kind": self.kind.value,
            "reason": self.reason,
        }

    def tags(self) -> dict[str, str | int]:
        """``conversation_metadata`` naming the callback.

        Not the create operators' ``airflow_dag_id``... tags: a retry of a create operator adopts an event carrying
        its task instance's tags, and must never adopt the notification sent by its own ``on_retry_callback``.
        """
        tags: dict[str, str | int] = {
            "airflow_callback": self.kind.value,
            "airflow_callback_dag_id": self.dag_id,
            "airflow_callback_run_id": self.run_id,
            "airflow_callback_map_index": self.map_index,
        }
        if self.task_id is not None:
            tags["airflow_callback_task_id"] = self.task_id
        if self.try_number is not None:
            tags["airflow_callback_try_number"] = self.try_number
        return tags

    def idempotency_key(self, namespace: str | None, recipient: str = "") -> str:
        """The ``Idempotency-Key`` of this callback's notification: the same for every run of this callback for this
        try, different for another callback, try, task instance, run (or clearing of it), deadline, recipient or
        deployment.

        :param namespace: the connection's ``idempotency_namespace`` (two deployments never share a key).
        :param recipient: what tells two notifiers of one callback apart (the assistant, channel and targets): the
            on-call and their manager are each paged once.
        :return: ``airflow-`` and 56 hex digits, within the endpoint's ``^[A-Za-z0-9_-]{1,255}$``.
        """
        ids = _Ids(self.dag_id, self.run_id, self.task_id or "", self.map_index)
        parts = (
            "telnyx_notifier",
            self.kind.value,
            str(self.try_number or 0),
            self.deadline_id or "",
            self.run_attempt,
            recipient,
        )
        # default_idempotency_key reads only the context's ``ti`` ids: a stand-in carries them for callbacks
        # without a task instance.
        return default_idempotency_key(cast("Context", {"ti": ids}), "\x1f".join(parts), namespace)

    def where(self) -> str:
        """``DAG d, run r, task t[2], try 1`` (the parts the context has)."""
        where = f"DAG {self.dag_id}, run {self.run_id}"
        if self.task_id is not None:
            where += f", task {self.task_id}"
            if self.map_index >= 0:
                where += f"[{self.map_index}]"
        if self.try_number is not None:
            where += f", try {self.try_number}"
        return where

    def summary(self) -> str:
        """The default SMS text: what happened, where, and why."""
        text = f"Airflow {self.kind.value.replace('_', ' ')}: {self.where()}."
        return f"{text} {self.reason}" if self.reason else text


def _run_attempt(run: Any) -> str:
    """Which run of a DAG run this is: ``clear_number`` (Airflow 3), else its start (a cleared run starts again)."""

    def read(name: str) -> Any:
        return run.get(name) if isinstance(run, Mapping) else getattr(run, name, None)

    number = read("clear_number")
    if isinstance(number, int) and not isinstance(number, bool):
        return f"clear-{number}"
    started = _aware(read("start_date"))
    return started.isoformat() if started else ""


def one_line_reason(text: str) -> str:
    """The first line of ``text``, with every secret Airflow's masker knows replaced by ``***``, cut to
    :data:`MAX_REASON` characters (masked before it is cut, so that no part of a secret survives the cut).

    :param text: a reason, or an exception's description.
    :return: one line (empty when ``text`` is blank).
    """
    lines = text[:MAX_REASON_INPUT].strip().splitlines()
    line = redact(lines[0].strip()) if lines else ""
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 1] + "…"


def _describe(error: object) -> str:
    if isinstance(error, BaseException):
        message = str(error).strip()
        return f"{type(error).__name__}: {message}" if message else type(error).__name__
    return str(error) if error else ""


def _aware(value: object) -> datetime | None:
    if isinstance(value, str):
        try:
            value = parse_iso_datetime(value)
        except ValueError:
            return None
    if isinstance(value, datetime) and value.tzinfo is not None and value.utcoffset() is not None:
        return value
    return None
