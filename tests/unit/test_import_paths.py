"""Names are contracts: every import path a user may have written keeps working after code moved."""

from __future__ import annotations

import importlib

import pytest

OLD_PATHS = [
    ("airflow_provider_telnyx.operators.scheduled_event", "TelnyxCreateScheduledEventsOperator"),
    ("airflow_provider_telnyx.operators.scheduled_event", "TelnyxBatchError"),
    ("airflow_provider_telnyx.operators.scheduled_event", "default_idempotency_key"),
    ("airflow_provider_telnyx.operators.scheduled_event", "TelnyxScheduledEventLink"),
    ("airflow_provider_telnyx.operators.scheduled_event", "PORTAL_ASSISTANT_URL"),
    ("airflow_provider_telnyx.waiting", "EventWaiter"),
    ("airflow_provider_telnyx.waiting", "ManyEventsWaiter"),
    ("airflow_provider_telnyx.hooks.telnyx", "TelnyxClientConfig"),
    ("airflow_provider_telnyx.hooks.telnyx", "RateLimitObservation"),
    ("airflow_provider_telnyx.hooks.telnyx", "MAX_RETRY_AFTER"),
    ("airflow_provider_telnyx.exceptions", "error_for_status"),
    ("airflow_provider_telnyx.exceptions", "parse_error_body"),
    ("airflow_provider_telnyx.batch", "AdaptiveRateLimiter"),
    ("airflow_provider_telnyx.batch", "Progress"),
    ("airflow_provider_telnyx.batch", "run_pool"),
]


@pytest.mark.parametrize(("module", "name"), OLD_PATHS)
def test_old_import_paths_keep_working(module: str, name: str) -> None:
    assert getattr(importlib.import_module(module), name) is not None
