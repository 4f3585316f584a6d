"""The built distributions install into a fresh venv and Airflow lists the provider with the right version."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from airflow_provider_telnyx import __version__

#: Integration: builds and installs the wheel in a fresh venv.
pytestmark = [pytest.mark.integration, pytest.mark.long_running]

ROOT = Path(__file__).parents[2]
#: The constraints the fresh venv is pinned by: ``make test-compat`` sets the Airflow 3.0 file, to prove the wheel
#: installs into (and registers with) the oldest Airflow we support.
CONSTRAINTS = ROOT / os.environ.get("TELNYX_WHEEL_CONSTRAINTS", "constraints.txt")


def _pinned(name: str) -> str:
    for line in CONSTRAINTS.read_text().splitlines():
        if line.startswith(f"{name}=="):
            return line.split("==")[1].split()[0].rstrip(";")
    raise AssertionError(f"{name} is not pinned in {CONSTRAINTS}")


def _uv() -> str:
    uv = Path(sys.executable).with_name("uv")
    return str(uv) if uv.exists() else shutil.which("uv") or "uv"


def test_wheel_and_sdist_install_and_register(tmp_path: Path) -> None:
    dist = ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    subprocess.run([_uv(), "build", "--out-dir", str(dist), str(ROOT)], check=True, capture_output=True, timeout=600)
    wheel = next(dist.glob("airflow_provider_telnyx-*.whl"))
    sdist = next(dist.glob("airflow_provider_telnyx-*.tar.gz"))
    assert wheel.name == f"airflow_provider_telnyx-{__version__}-py3-none-any.whl"
    assert sdist.name == f"airflow_provider_telnyx-{__version__}.tar.gz"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(f"airflow_provider_telnyx-{__version__}.dist-info/entry_points.txt").decode()
    assert "airflow_provider_telnyx/py.typed" in names
    assert "airflow_provider_telnyx/testing/simulator.py" in names
    assert not any(name.startswith(("tests/", "example_dags/")) for name in names)
    assert "provider_info = airflow_provider_telnyx.get_provider_info:get_provider_info" in metadata

    venv = tmp_path / "venv"
    subprocess.run([_uv(), "venv", "--python", sys.executable, str(venv)], check=True, capture_output=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [_uv(), "pip", "install", "--python", str(python), "-c", str(CONSTRAINTS), str(wheel)],
        check=True,
        capture_output=True,
        timeout=900,
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "home"), "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR"}
    env.pop("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", None)
    listed = subprocess.run(
        [str(venv / "bin" / "airflow"), "providers", "list", "--output", "json"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    (ours,) = [p for p in json.loads(listed.stdout) if p["package_name"] == "airflow-provider-telnyx"]
    assert ours["version"] == __version__
    core = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('apache-airflow-core'))"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert core.stdout.strip() == _pinned("apache-airflow-core")
    imported = subprocess.run(
        [str(python), "-c", "from airflow_provider_telnyx.hooks.telnyx import TelnyxHook; print(TelnyxHook.conn_type)"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    assert imported.stdout.strip() == "telnyx"
