"""The ``pytest11`` entry point loads our plugin into every pytest run of every user who installs the provider:
it must not import the simulator (Starlette, uvicorn) until a test asks for the fixture."""

from __future__ import annotations

import json
import subprocess
import sys

#: Heavy modules the plugin must leave alone at import.
HEAVY = ("starlette", "uvicorn", "airflow_provider_telnyx.testing.simulator", "airflow")


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    code = (
        "import json, sys, pytest\n"
        "before = set(sys.modules)\n"
        "import airflow_provider_telnyx.testing.pytest_plugin\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    loaded = json.loads(done.stdout)
    assert "airflow_provider_telnyx.testing.pytest_plugin" in loaded  # the probe saw the import happen
    assert [name for name in loaded if name.split(".")[0] in HEAVY or name in HEAVY] == []
