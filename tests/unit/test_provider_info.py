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
    for path in [*info["extra-links"], *info["notifications"], info["connection-types"][0]["hook-class-name"]]:
        module, _, name = path.rpartition(".")
        assert hasattr(importlib.import_module(module), name), path


def test_connection_form_seen_by_the_api_server() -> None:
    """What the UI's Add Connection form receives, on every Airflow we support (3.2+ reads ``conn-fields``;
    3.0 and 3.1 call the hook's ``get_connection_form_widgets`` / ``get_ui_field_behaviour``)."""
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
    from airflow.providers_manager import ProvidersManager

    assert ProvidersManager().providers["airflow-provider-telnyx"].version == __version__
    HookMetaService.hook_meta_data.cache_clear()
    (meta,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "telnyx"]
    assert (meta.hook_name, meta.hook_class_name) == ("Telnyx", "airflow_provider_telnyx.hooks.telnyx.TelnyxHook")
    standard = meta.standard_fields
    assert standard is not None
    assert standard.login is not None
    assert standard.login.hidden
    assert standard.password is not None
    assert standard.password.title == "API key"
    assert standard.host is not None
    assert standard.host.title == "Base URL"
    assert standard.host.placeholder == "https://api.telnyx.com/v2"
    extras = meta.extra_fields or {}
    assert sorted(extras) == ["idempotency_namespace", "max_retries", "proxy", "timeout"]
    titles = {name: field["schema"]["title"] for name, field in extras.items()}
    assert titles == {
        "timeout": "Timeout (seconds)",
        "max_retries": "Max retries",
        "proxy": "Proxy URL",
        "idempotency_namespace": "Idempotency namespace",
    }
    assert "integer" in extras["max_retries"]["schema"]["type"]
    assert extras["timeout"]["description"].startswith("Total time allowed for one request")


def test_hook_form_methods_match_the_declarative_form() -> None:
    """Airflow 3.0/3.1's hook methods and 3.2+'s provider info are built from one declaration."""
    from airflow_provider_telnyx.hooks.telnyx import TelnyxHook

    info = get_provider_info()["connection-types"][0]
    behaviour = TelnyxHook.get_ui_field_behaviour()
    assert behaviour["hidden_fields"] == info["ui-field-behaviour"]["hidden-fields"] == ["login"]
    assert behaviour["relabeling"] == info["ui-field-behaviour"]["relabeling"]
    widgets = TelnyxHook.get_connection_form_widgets()
    assert sorted(widgets) == sorted(info["conn-fields"])
    assert {name: w.args[0] for name, w in widgets.items()} == {
        name: field["label"] for name, field in info["conn-fields"].items()
    }


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
