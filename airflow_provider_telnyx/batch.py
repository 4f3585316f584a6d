"""Old import path of the batch helpers; they live in :mod:`airflow_provider_telnyx.utils` now."""

from __future__ import annotations

from airflow_provider_telnyx.utils.pool import Progress, run_pool
from airflow_provider_telnyx.utils.rate_limit import INITIAL_RATE, AdaptiveRateLimiter

__all__ = ["INITIAL_RATE", "AdaptiveRateLimiter", "Progress", "run_pool"]
