"""Helpers for tests that run DAGs for real (``dag.test()`` against a migrated SQLite metadata DB)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

EXAMPLE_DAGS = Path(__file__).parents[1] / "example_dags"
TEST_DAGS = Path(__file__).parent / "dags"


def dag_bag(dag_folder: str) -> Any:
    """A real ``DagBag`` (it moved to ``airflow.dag_processing.dagbag`` in Airflow 3.1)."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.0
        from airflow.models.dagbag import DagBag
    return DagBag(dag_folder=dag_folder)


def load_dag(dag_id: str, folder: Path = EXAMPLE_DAGS, file: str | None = None) -> Any:
    """Parse a DAG file with a real ``DagBag`` and return the DAG."""
    bag = dag_bag(str(folder / f"{file or dag_id}.py"))
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag(dag_id)


def task_states(run: Any) -> dict[str, str]:
    """Task id to state for a finished DAG run (mapped tasks appear once per map index)."""
    return {
        f"{ti.task_id}[{ti.map_index}]" if ti.map_index >= 0 else ti.task_id: ti.state
        for ti in run.get_task_instances()
    }
