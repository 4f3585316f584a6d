"""Provider metadata read by Airflow's ``ProvidersManager`` through the ``apache_airflow_provider`` entry point.

Kept free of heavy imports: Airflow calls this for every provider at start-up.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_telnyx import __version__
from airflow_provider_telnyx._connection_form import CONN_FIELDS, UI_FIELD_BEHAVIOUR


def get_provider_info() -> dict[str, Any]:
    """Return the provider description Airflow validates against ``provider_info.schema.json``.

    :return: the provider info dictionary (hooks, operators, sensors, triggers, extra links, notifications and
        the declarative ``telnyx`` connection form).
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
                    "airflow_provider_telnyx.operators.delete",
                    "airflow_provider_telnyx.operators.export",
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
                "python-modules": [
                    "airflow_provider_telnyx.triggers.scheduled_event",
                    "airflow_provider_telnyx.triggers.finished_events",
                ],
            },
        ],
        "extra-links": ["airflow_provider_telnyx.operators.links.TelnyxScheduledEventLink"],
        "notifications": ["airflow_provider_telnyx.notifications.telnyx.TelnyxNotifier"],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_telnyx.hooks.telnyx.TelnyxHook",
                "connection-type": "telnyx",
                "hook-name": "Telnyx",
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
                "conn-fields": CONN_FIELDS,
            }
        ],
    }
