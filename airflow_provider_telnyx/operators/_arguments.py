"""Operator arguments into API requests: the create operators' shared rules, without I/O.

* :func:`build_request` turns operator-style fields (``end_user_target``, ``scheduled_at``, ...) into a
  :class:`~airflow_provider_telnyx.models.ScheduledEventRequest`. It checks everything that does not depend on the
  clock, so a retry can reattach to what an earlier try created before any time-dependent rule is applied.
  The time-dependent rule is :class:`~airflow_provider_telnyx.operators._late.LateSendRule`, applied at the moment
  an event is about to be sent.
* :class:`TaskIdentity`, :func:`task_instance_tags` and :func:`default_idempotency_key` identify a task instance's
  events across tries.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from airflow_provider_telnyx._common import parse_iso_datetime
from airflow_provider_telnyx.exceptions import TelnyxInvalidInputError

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_telnyx.models import ScheduledEventRequest

__all__ = [
    "REQUEST_PARAMETERS",
    "TaskIdentity",
    "build_request",
    "default_idempotency_key",
    "resolve_scheduled_at",
    "task_instance_tags",
]

#: Operator parameters that make up one create body (the batch operator's item keys, less ``idempotency_key``).
REQUEST_PARAMETERS = (
    "end_user_target",
    "agent_target",
    "scheduled_at",
    "conversation_channel",
    "text",
    "conversation_metadata",
    "dynamic_variables",
    "max_retries_client_errors",
    "retry_interval_secs",
    "call_settings",
)
#: Task-state-store key of the :class:`TaskIdentity` (a random scope and the first try's start).
STATE_IDENTITY = "telnyx_task_identity"

#: Operator parameter for each API field, so that errors name what the user wrote.
_PARAMETER_FOR_FIELD = {
    "telnyx_conversation_channel": "conversation_channel",
    "telnyx_end_user_target": "end_user_target",
    "telnyx_agent_target": "agent_target",
    "scheduled_at_fixed_datetime": "scheduled_at",
}
_INTEGER_FIELDS = ("max_retries_client_errors", "retry_interval_secs")


def task_instance_tags(context: Context, scope: str | None = None) -> dict[str, str | int]:
    """The ``conversation_metadata`` tags that identify a task instance (dag, run, task, map index, scope).

    :param context: the task's context.
    :param scope: what tells this deployment's task instance apart from another deployment's with the same ids
        (see :class:`TaskIdentity`); tagged as ``airflow_scope`` when set.
    """
    ti = context["ti"]
    tags: dict[str, str | int] = {
        "airflow_dag_id": ti.dag_id,
        "airflow_run_id": ti.run_id,
        "airflow_task_id": ti.task_id,
        "airflow_map_index": ti.map_index if ti.map_index is not None else -1,
    }
    if scope:
        tags["airflow_scope"] = scope
    return tags


def default_idempotency_key(context: Context, salt: str = "", scope: str | None = None) -> str:
    """A key that is stable across the tries of one task instance and unique between task instances.

    :param context: the task's context.
    :param salt: distinguishes several events created by one task instance (the batch operator's items).
    :param scope: distinguishes deployments (see :class:`TaskIdentity`).
    :return: ``airflow-`` and 56 hex digits of a SHA-256, within the API's ``^[A-Za-z0-9_:-]{1,255}$``.
    """
    tags = task_instance_tags(context, scope)
    material = "\x1f".join(str(tags[name]) for name in sorted(tags)) + f"\x1f{salt}"
    return "airflow-" + hashlib.sha256(material.encode()).hexdigest()[:56]


@dataclass(frozen=True)
class TaskIdentity:
    """What identifies one task instance's events on every try: its tags, its idempotency keys and the moment its
    relative times count from.

    The Telnyx API keeps idempotency records per organization (not per API key): two Airflow deployments sharing an
    organization and running the same DAG would produce the same ``scheduled__...`` run ids, so dag, run, task and
    map index alone could collide. On its first try a task instance therefore stores a random ``scope`` in the task
    state store (with the anchor), and every try reuses it: keys and tags differ between deployments and stay the
    same between tries. Without a task state store (Airflow before 3.3), the connection's ``idempotency_namespace``
    extra is the scope; without either, keys are derived from the ids alone (and the operator says so).

    :param context: the task's context.
    :param scope: the random value and/or the namespace; ``None`` when there is neither.
    :param anchor: the first try's start (relative ``scheduled_at`` values count from it).
    """

    context: Context
    scope: str | None
    anchor: datetime

    @classmethod
    def of(
        cls, context: Context, *, clock: Callable[[], datetime], namespace: Callable[[], str | None]
    ) -> TaskIdentity:
        """Read (or, on the first try, create and store) the identity: one task-state-store round trip.

        :param context: the task's context.
        :param clock: the wall clock.
        :param namespace: returns the connection's ``idempotency_namespace`` (read only without a state store).
        """
        store = context.get("task_state_store")
        kept = store.get(STATE_IDENTITY) if store is not None else None
        nonce: str | None = None
        kept_anchor = kept.get("anchor") if isinstance(kept, dict) else None
        if isinstance(kept, dict) and isinstance(kept_anchor, str):
            kept_nonce = kept.get("nonce")
            nonce = kept_nonce if isinstance(kept_nonce, str) else None
            anchor = parse_iso_datetime(kept_anchor)
        else:
            anchor = clock()
            if store is not None:
                nonce = secrets.token_hex(8)
                store.set(STATE_IDENTITY, {"nonce": nonce, "anchor": anchor.isoformat()})
        scope = nonce if store is not None else namespace()
        return cls(context, scope or None, anchor)

    def tags(self, **more: str | int) -> dict[str, str | int]:
        """The ``conversation_metadata`` tags of this task instance.

        :param more: further tags (the batch operator's ``airflow_item``).
        """
        return {**task_instance_tags(self.context, self.scope), **more}

    def owns(self, metadata: Mapping[str, Any] | None) -> bool:
        """Whether an event's ``conversation_metadata`` carries this task instance's tags (an earlier try made it).

        :param metadata: the event's metadata.
        """
        return all((metadata or {}).get(name) == value for name, value in self.tags().items())

    def idempotency_key(self, salt: str = "") -> str:
        """The default ``Idempotency-Key`` of one of this task instance's events.

        :param salt: distinguishes several events of one task instance.
        """
        return default_idempotency_key(self.context, salt, self.scope)


def resolve_scheduled_at(value: Any, anchor: datetime) -> datetime:
    """Turn a ``scheduled_at`` argument into an aware datetime.

    :param value: an aware datetime, an ISO 8601 string with offset, or a ``timedelta`` after ``anchor``.
    :param anchor: the moment a ``timedelta`` counts from.
    :raises ValueError: naming what is wrong with the value.
    """
    if isinstance(value, timedelta):
        return anchor + value
    if isinstance(value, str):
        try:
            value = parse_iso_datetime(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 date-time") from None
    if not isinstance(value, datetime):
        raise ValueError("must be a datetime, an ISO 8601 string or a timedelta")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must carry a UTC offset (a naive time is never assumed to be UTC)")
    return value


def build_request(
    fields: Mapping[str, Any],
    *,
    anchor: datetime,
    tags: Mapping[str, str | int] | None,
    subject: str,
    prefix: str = "",
) -> ScheduledEventRequest:
    """Validate operator-style fields (``end_user_target``, ``scheduled_at``, ...) into a create body.

    Every rule is checked except "``scheduled_at`` is in the future": that one depends on the clock, and a retry
    must first look for what an earlier try created; :func:`send_time` applies it when the event is sent.
    ``end_user_target`` and ``agent_target`` written with separators (``+44 20 7946 0958``) are made E.164 first
    (:func:`~airflow_provider_telnyx.models.normalize_target`); the request carries the number as sent.

    :param fields: the operator parameters of one event.
    :param anchor: the moment a relative ``scheduled_at`` counts from.
    :param tags: task-instance tags merged under ``conversation_metadata`` (the user's keys win), or ``None``.
    :param subject: what is validated, for the error message.
    :param prefix: prepended to every field name in errors (``events[3].``).
    :return: the request, carrying the intended time.
    :raises TelnyxInvalidInputError: naming every bad field.
    """
    from airflow_provider_telnyx.models import ScheduledEventRequest, field_errors, normalize_target

    problems: list[tuple[str, str]] = []
    targets: dict[str, Any] = {}
    for parameter in ("end_user_target", "agent_target"):
        try:
            targets[parameter] = normalize_target(fields.get(parameter))
        except ValueError as error:
            problems.append((f"{prefix}{parameter}", str(error)))
            targets[parameter] = fields.get(parameter)
    try:
        scheduled_at: datetime | None = resolve_scheduled_at(fields.get("scheduled_at"), anchor)
    except ValueError as error:
        raise TelnyxInvalidInputError([*problems, (f"{prefix}scheduled_at", str(error))], subject=subject) from None
    metadata = fields.get("conversation_metadata")
    if tags is not None:
        if metadata is not None and not isinstance(metadata, Mapping):
            problems.append((f"{prefix}conversation_metadata", "must be a mapping"))
            raise TelnyxInvalidInputError(problems, subject=subject)
        metadata = {**tags, **(metadata or {})}
    data: dict[str, Any] = {
        "telnyx_conversation_channel": fields.get("conversation_channel") or "phone_call",
        "telnyx_end_user_target": targets["end_user_target"],
        "telnyx_agent_target": targets["agent_target"],
        "scheduled_at_fixed_datetime": scheduled_at,
        "text": fields.get("text"),
        "conversation_metadata": metadata,
        "dynamic_variables": fields.get("dynamic_variables"),
        "max_retries_client_errors": fields.get("max_retries_client_errors"),
        "retry_interval_secs": fields.get("retry_interval_secs"),
        "call_settings": fields.get("call_settings"),
    }
    for name in _INTEGER_FIELDS:  # a Jinja-rendered number arrives as a string
        if isinstance(data[name], str) and data[name].strip().isascii() and data[name].strip().isdigit():
            data[name] = int(data[name])
    try:
        request = ScheduledEventRequest.model_validate(
            {k: v for k, v in data.items() if v is not None}, context={"check_future": False}
        )
    except ValidationError as error:
        named = {field for field, _ in problems}  # a refused number is reported once, with its own reason
        problems += [
            (field, message)
            for field, message in ((prefix + _parameter_name(name), message) for name, message in field_errors(error))
            if field not in named
        ]
        raise TelnyxInvalidInputError(problems, subject=subject) from None
    if problems:
        raise TelnyxInvalidInputError(problems, subject=subject)
    return request


def _parameter_name(field: str) -> str:
    head, dot, rest = field.partition(".")
    return _PARAMETER_FOR_FIELD.get(head, head) + dot + rest
