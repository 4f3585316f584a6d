"""Apache Airflow provider for Telnyx AI Assistants scheduled events."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
