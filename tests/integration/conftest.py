"""Integration fixtures: a migrated SQLite metadata database for real ``dag.test()`` runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

EXAMPLE_DAGS = Path(__file__).parents[2] / "example_dags"
TEST_DAGS = Path(__file__).parents[2] / "tests" / "dags"


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Run ``airflow db migrate`` once for the session's throwaway AIRFLOW_HOME."""
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy(), timeout=300)


def load_dag(dag_id: str, folder: Path = EXAMPLE_DAGS, file: str | None = None) -> Any:
    """Parse a DAG file with a real ``DagBag`` and return the DAG."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(folder / f"{file or dag_id}.py"))
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag(dag_id)
