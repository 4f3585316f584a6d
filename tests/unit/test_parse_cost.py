"""What a DAG file pays for our operators and sensors at parse time: their modules import none of the code that only
a running task needs (another operator's module, the triggers, the hook, the models, conversations, the export's
machinery, OpenLineage). Measured in milliseconds by benchmark B3; checked here by what is imported, which does not
depend on the machine's speed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PUBLIC = (
    "airflow_provider_telnyx.operators.scheduled_event",
    "airflow_provider_telnyx.operators.batch",
    "airflow_provider_telnyx.operators.export",
    "airflow_provider_telnyx.operators.delete",
    "airflow_provider_telnyx.sensors.scheduled_event",
    "airflow_provider_telnyx.notifications.telnyx",
)
#: Modules only a running task needs (prefixes).
RUNTIME_ONLY = (
    "airflow_provider_telnyx.triggers",
    "airflow_provider_telnyx.hooks",
    "airflow_provider_telnyx.models",
    "airflow_provider_telnyx.utils.export_files",
    "airflow_provider_telnyx.utils.pool",
    "airflow_provider_telnyx.utils.rate_limit",
    "airflow_provider_telnyx.utils.waiting",
    "airflow_provider_telnyx.operators._export_run",
    "airflow.triggers.base",
    "openlineage",
    "airflow.providers.openlineage",
    "pyarrow",
    "phonenumbers",
)


def imported_by(module: str) -> set[str]:
    probe = (
        "import sys, json, airflow.sdk\n"
        "from airflow.sdk import BaseOperator, BaseSensorOperator\n"
        "before = set(sys.modules)\n"
        f"import {module}\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("module", PUBLIC)
def test_a_public_module_imports_nothing_only_a_running_task_needs(module: str) -> None:
    loaded = imported_by(module)
    others = {name for name in PUBLIC if name != module}
    assert loaded & others == set(), "imports another operator's or sensor's module"
    heavy = sorted(name for name in loaded if any(name == p or name.startswith(p + ".") for p in RUNTIME_ONLY))
    assert heavy == [], f"{module} imports at parse time what only a running task needs"


def test_the_check_sees_a_heavy_import() -> None:
    assert "airflow_provider_telnyx.hooks.telnyx" in imported_by("airflow_provider_telnyx.hooks.telnyx")
