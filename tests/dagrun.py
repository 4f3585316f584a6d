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
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]  # the same class, before it moved
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


def activate_assets(*assets: Any) -> None:
    """Mark assets active as the DAG processor would: Airflow 3.0's ``dag.test()`` leaves a DAG's assets inactive,
    so a task with an outlet fails there ("inactive assets in inlets or outlets"); 3.1+ activates them itself."""
    from airflow_provider_telnyx._compat import AIRFLOW_V_3_1_PLUS

    if AIRFLOW_V_3_1_PLUS:
        return
    from airflow.models.asset import AssetActive, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        for asset in assets:
            model = session.scalar(select(AssetModel).where(AssetModel.name == asset.name, AssetModel.uri == asset.uri))
            if model is None:
                model = AssetModel.from_public(asset)
                session.add(model)
                session.flush()
            active = select(AssetActive).where(AssetActive.name == asset.name, AssetActive.uri == asset.uri)
            if session.scalar(active) is None:
                session.add(AssetActive.for_asset(model))
