"""Everything that differs between the Airflow versions we support (3.0 to 3.3), decided here and nowhere else.

The rest of the package imports Airflow's moving parts from this module, the way in-tree providers use
``airflow.providers.common.compat``; each fallback is documented in ``docs/compatibility.md``:

- ``BaseHook`` (``airflow.sdk`` from 3.1; ``airflow.hooks.base`` on 3.0) and ``conf`` (``airflow.sdk`` from 3.2).
- The task exceptions (``airflow.sdk.exceptions`` from 3.2; ``airflow.exceptions`` before; the same classes).
- ``ResumableJobMixin`` (3.3): before it, a stand-in with the same interface that submits on every try, and the
  operators reattach by their tag lookup and the deterministic idempotency key (with the connection's
  ``idempotency_namespace`` making keys unique per deployment).
- Secret masking and async connection access: ``amask_secret`` / ``Connection.aextra_dejson`` (3.3) and
  ``BaseHook.aget_connection`` (3.1); before them, the sync call (masking is in-process and cheap; the connection
  lookup runs in a worker thread so that it never blocks the triggerer's event loop).
- Whether the triggerer calls a trigger's ``on_kill`` when its task is killed (3.3): :data:`TRIGGER_ON_KILL`.

It imports nothing of ours, so every layer may use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow import __version__ as _airflow_version_text
from packaging.version import Version

__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_V_3_1_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "TRIGGER_ON_KILL",
    "AirflowException",
    "AirflowFailException",
    "AirflowRescheduleException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "BaseHook",
    "ResumableJobMixin",
    "TaskDeferred",
    "aextra_dejson",
    "aget_connection",
    "amask_secret",
    "conf",
    "mask_secret",
]

#: The running Airflow, as a comparable version (pre-releases compare below the release).
AIRFLOW_VERSION = Version(Version(_airflow_version_text).base_version)
AIRFLOW_V_3_1_PLUS = Version("3.1.0") <= AIRFLOW_VERSION
AIRFLOW_V_3_2_PLUS = Version("3.2.0") <= AIRFLOW_VERSION
AIRFLOW_V_3_3_PLUS = Version("3.3.0") <= AIRFLOW_VERSION
#: Whether the triggerer calls ``BaseTrigger.on_kill`` when a deferred task is killed (Airflow 3.3 and later).
TRIGGER_ON_KILL = AIRFLOW_V_3_3_PLUS

if TYPE_CHECKING or AIRFLOW_V_3_2_PLUS:
    from airflow.sdk import conf
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowRescheduleException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )
else:
    from airflow.configuration import conf
    from airflow.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowRescheduleException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )

if TYPE_CHECKING or AIRFLOW_V_3_1_PLUS:
    from airflow.sdk import BaseHook
else:
    from airflow.hooks.base import BaseHook

if TYPE_CHECKING:
    from airflow.sdk import Connection


if TYPE_CHECKING or AIRFLOW_V_3_3_PLUS:
    from airflow.sdk import ResumableJobMixin
else:

    class ResumableJobMixin:  # type: ignore[no-redef]
        """Stand-in for Airflow 3.3's mixin where there is no task state store: submit, then wait.

        The operator's own ``submit_job`` reattaches on a retry (tag lookup, deterministic idempotency key), so
        what is lost is only the shortcut of reading the event id back from the task state store.
        """

        external_id_key: str = "remote_job_id"

        def execute_resumable(self, context: Any) -> Any:
            """Submit the job, wait for it, return its result."""
            external_id = self.submit_job(context)  # type: ignore[attr-defined]
            self.poll_until_complete(external_id, context)  # type: ignore[attr-defined]
            return self.get_job_result(external_id, context)  # type: ignore[attr-defined]


def mask_secret(secret: str) -> None:
    """Register ``secret`` with Airflow's secret masker (the function moved in 3.1).

    :param secret: the value to hide in logs.
    """
    if AIRFLOW_V_3_1_PLUS:
        from airflow.sdk.log import mask_secret as mask
    else:
        from airflow.sdk.execution_time.secrets_masker import mask_secret as mask  # type: ignore[no-redef]
    mask(secret)


async def amask_secret(secret: str) -> None:
    """Async :func:`mask_secret`: Airflow 3.3's ``amask_secret``, else the in-process sync call.

    :param secret: the value to hide in logs.
    """
    try:
        from airflow.sdk.log import amask_secret as _amask
    except ImportError:
        mask_secret(secret)
        return
    await _amask(secret)


async def aget_connection(hook: BaseHook, conn_id: str) -> Connection:
    """The connection, looked up without blocking the event loop (``aget_connection`` from 3.1, else a thread).

    :param hook: the hook asking (its class's lookup is used).
    :param conn_id: the connection id.
    :return: the connection.
    """
    lookup = getattr(hook, "aget_connection", None)
    if lookup is not None:
        return await lookup(conn_id)  # type: ignore[no-any-return]
    from asgiref.sync import sync_to_async

    return await sync_to_async(hook.get_connection)(conn_id)


async def aextra_dejson(conn: Connection) -> Mapping[str, Any]:
    """The connection's extras as a dictionary (``aextra_dejson`` from 3.3, else the sync property).

    :param conn: the connection.
    :return: its extras.
    """
    read = getattr(conn, "aextra_dejson", None)
    if read is not None:
        return await read()  # type: ignore[no-any-return]
    return conn.extra_dejson


# -- Event-driven scheduling (AssetWatcher) ------------------------------------------------------------------------
# ``BaseEventTrigger`` marks a trigger an ``AssetWatcher`` accepts (3.0 to 3.2 check it in ``AssetWatcher``, 3.2+ as
# an attrs validator). It lives in ``airflow.triggers.base`` on every version we support (3.0.6, 3.1.8, 3.2.2, 3.3.2;
# also 3.4.0b2), with ``TriggerEvent`` beside it: imported here so that a future move touches this module only.
from airflow.triggers.base import BaseEventTrigger, TriggerEvent  # noqa: E402

__all__ += ["BaseEventTrigger", "TriggerEvent"]
