"""Old import path of the waiting helpers; they live in :mod:`airflow_provider_telnyx.utils.waiting` and
:mod:`airflow_provider_telnyx.utils.waiting_many` now."""

from __future__ import annotations

from airflow_provider_telnyx.utils.waiting import (
    DEFAULT_MAX_TRANSIENT_ERRORS,
    EventWaiter,
    WaitPayload,
    apoll,
    failure_summary,
    poll,
    resolve,
    wait_blocking,
)
from airflow_provider_telnyx.utils.waiting_many import (
    ManyEventsWaiter,
    ManyPayload,
    apoll_many,
    poll_many,
    resolve_many,
)

__all__ = [
    "DEFAULT_MAX_TRANSIENT_ERRORS",
    "EventWaiter",
    "ManyEventsWaiter",
    "ManyPayload",
    "WaitPayload",
    "apoll",
    "apoll_many",
    "failure_summary",
    "poll",
    "poll_many",
    "resolve",
    "resolve_many",
    "wait_blocking",
]
