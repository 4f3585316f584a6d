from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points, version
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest

from airflow_provider_telnyx import __version__
from airflow_provider_telnyx.get_provider_info import get_provider_info


def test_entry_point_points_at_get_provider_info() -> None:
    (entry,) = [e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_provider")]
    assert entry.name == "provider_info"
    assert entry.value == "airflow_provider_telnyx.get_provider_info:get_provider_info"
    assert entry.load() is get_provider_info


def test_validates_against_the_schema_shipped_with_airflow_core() -> None:
    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    assert info["package-name"] == "airflow-provider-telnyx" == "airflow-provider-telnyx"
    assert version(info["package-name"]) == __version__
    assert info["versions"] == [__version__]


def test_every_declared_module_and_class_imports() -> None:
    import importlib

    info = get_provider_info()
    for kind in ("hooks", "operators", "sensors", "triggers"):
        for group in info[kind]:
            for module in group["python-modules"]:
                importlib.import_module(module)
    for path in [*info["extra-links"], info["connection-types"][0]["hook-class-name"]]:
        module, _, name = path.rpartition(".")
        assert hasattr(importlib.import_module(module), name), path


def test_connection_form_seen_by_providers_manager() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert manager.providers["airflow-provider-telnyx"].version == __version__
    behaviour = manager.field_behaviours["telnyx"]
    assert sorted(behaviour["hidden_fields"]) == ["login"]
    assert behaviour["relabeling"] == {"password": "API key", "host": "Base URL", "schema": "Scheme (http or https)"}
    assert behaviour["placeholders"]["host"] == "https://api.telnyx.com/v2"
    widgets = {k: v for k, v in manager.connection_form_widgets.items() if k.startswith("extra__telnyx__")}
    assert sorted(widgets) == [
        "extra__telnyx__idempotency_namespace",
        "extra__telnyx__max_retries",
        "extra__telnyx__proxy",
        "extra__telnyx__timeout",
    ]
    assert widgets["extra__telnyx__timeout"].field["schema"]["title"] == "Timeout (seconds)"
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    hook = ProvidersManagerTaskRuntime().hooks["telnyx"]
    assert hook is not None
    assert (hook.hook_name, hook.connection_id_attribute_name) == ("Telnyx", "telnyx_conn_id")
    assert hook.connection_testable


def _airflow_cli(*args: str) -> str:
    env = {**os.environ, "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR"}
    airflow = Path(sys.executable).with_name("airflow")
    result = subprocess.run([str(airflow), *args], capture_output=True, text=True, env=env, check=True, timeout=120)
    return result.stdout


@pytest.mark.integration
def test_cli_lists_provider_and_connection_type() -> None:
    providers = _airflow_cli("providers", "list", "--output", "json")
    (ours,) = [p for p in json.loads(providers) if p["package_name"] == "airflow-provider-telnyx"]
    assert ours["version"] == __version__
    hooks = _airflow_cli("providers", "hooks", "--output", "json")
    (telnyx,) = [h for h in json.loads(hooks) if h["connection_type"] == "telnyx"]
    assert telnyx["class"] == "airflow_provider_telnyx.hooks.telnyx.TelnyxHook"
    assert telnyx["package_name"] == "airflow-provider-telnyx"
    assert telnyx["hook_name"] == "Telnyx"
