"""The ``telnyx`` connection form, declared once: Airflow 3.2+ reads it from the provider info (``conn-fields``,
``ui-field-behaviour``); Airflow 3.0 and 3.1 ask the hook (``get_connection_form_widgets``,
``get_ui_field_behaviour``), which build their answers from the same declaration. No heavy import at module level.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_telnyx._common import DEFAULT_BASE_URL

__all__ = ["CONN_FIELDS", "UI_FIELD_BEHAVIOUR", "form_widgets", "ui_field_behaviour"]

#: Standard fields: hidden, relabelled, with placeholders (provider-info spelling, dashes).
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["login"],
    "relabeling": {"password": "API key", "host": "Base URL", "port": "Port", "schema": "Scheme (http or https)"},
    "placeholders": {
        "host": DEFAULT_BASE_URL,
        "schema": "https",
        "port": "443",
        "password": "KEY0123456789ABCDEF_...",
        "timeout": "60",
        "max_retries": "3",
        "idempotency_namespace": "production",
    },
}

#: The extras, as JSON-schema typed fields (the declarative form of Airflow 3.2+).
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "timeout": {
        "label": "Timeout (seconds)",
        "description": "Total time allowed for one request (connect, send, read the whole answer), in seconds.",
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
        "description": "Names this Airflow deployment in idempotency keys and tags when Airflow has no task state "
        "store (before 3.3); set a different one per deployment sharing a Telnyx organization.",
        "schema": {"type": ["string", "null"], "pattern": "^[A-Za-z0-9_.-]{1,64}$"},
    },
}


def ui_field_behaviour() -> dict[str, Any]:
    """:data:`UI_FIELD_BEHAVIOUR` in the hook method's spelling (underscores), for Airflow 3.0 and 3.1."""
    return {key.replace("-", "_"): value for key, value in UI_FIELD_BEHAVIOUR.items()}


def form_widgets() -> dict[str, Any]:
    """:data:`CONN_FIELDS` as the wtforms fields Airflow 3.0 and 3.1 turn into the form (wtforms imported here)."""
    from wtforms import IntegerField, StringField
    from wtforms.validators import NumberRange, Optional

    fields: dict[str, Any] = {}
    for name, field in CONN_FIELDS.items():
        kind = field["schema"]["type"][0]
        cls = IntegerField if kind == "integer" else StringField
        validators = [Optional(), NumberRange(min=0)] if kind == "integer" else [Optional()]
        fields[name] = cls(field["label"], validators=validators, description=field["description"])
    return fields
