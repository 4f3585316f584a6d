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


#: A module only a running task needs: what the check must see (a check that sees nothing passes for nothing).
HEAVY = "airflow_provider_telnyx.hooks.telnyx"

#: One interpreter imports what every DAG file imports, then forks a child per module: each child imports that one
#: module into exactly the state a new interpreter would be in, for a fraction of an interpreter's start-up.
PROBE = """
import json, os, sys
import airflow.sdk
from airflow.sdk import BaseOperator, BaseSensorOperator
before = set(sys.modules)
found = {}
for module in sys.argv[1:]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        __import__(module)
        os.write(write, json.dumps(sorted(set(sys.modules) - before)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        text = pipe.read()
    assert os.waitpid(pid, 0)[1] == 0, module
    found[module] = json.loads(text)
print(json.dumps(found))
"""


@pytest.fixture(scope="module")
def imported() -> dict[str, set[str]]:
    """What importing each public module (and :data:`HEAVY`) adds to what a DAG file has already imported."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *PUBLIC, HEAVY], capture_output=True, text=True, check=True, timeout=300
    )
    return {module: set(names) for module, names in json.loads(out.stdout.strip().splitlines()[-1]).items()}


@pytest.mark.parametrize("module", PUBLIC)
def test_a_public_module_imports_nothing_only_a_running_task_needs(module: str, imported: dict[str, set[str]]) -> None:
    loaded = imported[module]
    others = {name for name in PUBLIC if name != module}
    assert loaded & others == set(), "imports another operator's or sensor's module"
    heavy = sorted(name for name in loaded if any(name == p or name.startswith(p + ".") for p in RUNTIME_ONLY))
    assert heavy == [], f"{module} imports at parse time what only a running task needs"


def test_the_check_sees_a_heavy_import(imported: dict[str, set[str]]) -> None:
    assert HEAVY in imported[HEAVY]
