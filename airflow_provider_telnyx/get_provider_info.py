"""Provider metadata read by Airflow's ``ProvidersManager`` through the ``apache_airflow_provider`` entry point.

Kept free of heavy imports: Airflow calls this for every provider at start-up.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_telnyx import __version__
from airflow_provider_telnyx._common import DEFAULT_BASE_URL


def get_provider_info() -> dict[str, Any]:
    """Return the provider description Airflow validates against ``provider_info.schema.json``.

    :return: the provider info dictionary (hooks, operators, sensors, triggers, extra links and the
        declarative ``telnyx`` connection form).
    """
    return {
        "package-name": "airflow-provider-telnyx",
        "name": "Telnyx",
        "description": "`Telnyx <https://telnyx.com/>`__ AI Assistants scheduled events: calls and SMS "
        "placed by an AI assistant at a set time.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Telnyx",
                "external-doc-url": "https://developers.telnyx.com/docs/inference/ai-assistants/scheduled-events",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {"integration-name": "Telnyx", "python-modules": ["airflow_provider_telnyx.hooks.telnyx"]},
        ],
        "operators": [
            {
                "integration-name": "Telnyx",
                "python-modules": [
                    "airflow_provider_telnyx.operators.scheduled_event",
                    "airflow_provider_telnyx.operators.batch",
                ],
            },
        ],
        "sensors": [
            {
                "integration-name": "Telnyx",
                "python-modules": ["airflow_provider_telnyx.sensors.scheduled_event"],
            },
        ],
        "triggers": [
            {
                "integration-name": "Telnyx",
                "python-modules": ["airflow_provider_telnyx.triggers.scheduled_event"],
            },
        ],
        "extra-links": ["airflow_provider_telnyx.operators.links.TelnyxScheduledEventLink"],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_telnyx.hooks.telnyx.TelnyxHook",
                "connection-type": "telnyx",
                "hook-name": "Telnyx",
                "ui-field-behaviour": {
                    "hidden-fields": ["login"],
                    "relabeling": {"password": "API key", "host": "Base URL", "schema": "Scheme (http or https)"},
                    "placeholders": {
                        "host": DEFAULT_BASE_URL,
                        "schema": "https",
                        "port": "443",
                        "password": "KEY0123456789ABCDEF_...",
                        "timeout": "60",
                        "max_retries": "3",
                        "idempotency_namespace": "production",
                    },
                },
                "conn-fields": {
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "description": "Total time allowed for one request (connect, send, read the whole "
                        "answer), in seconds.",
                        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 3600},
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "description": "Retries for connection errors, timeouts, 408, 429 and 5xx answers.",
                        "schema": {"type": ["integer", "null"], "minimum": 0, "maximum": 20},
                    },
                    "proxy": {
                        "label": "Proxy URL",
                        "description": "Optional HTTP(S) proxy, e.g. http://proxy.internal:3128",
                        "schema": {"type": ["string", "null"]},
                    },
                    "idempotency_namespace": {
                        "label": "Idempotency namespace",
                        "description": "Names this Airflow deployment in idempotency keys and tags when Airflow has "
                        "no task state store (before 3.3); set a different one per deployment sharing a Telnyx "
                        "organization.",
                        "schema": {"type": ["string", "null"], "pattern": "^[A-Za-z0-9_.-]{1,64}$"},
                    },
                },
            }
        ],
    }
