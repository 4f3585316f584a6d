"""Run every DAG of one file with ``dag.test()`` and write what happened as JSON: ``python -m tests.run_dags FILE OUT``.

tests/doc_blocks.py runs it in a process of its own, killed past a deadline: Airflow's own timeouts (a DagBag
parse, ``dag.test()``'s bundle sync) reset the process's SIGALRM timer, so pytest-timeout's signal cannot bound a
``dag.test()`` in the test process. It inherits the caller's environment: AIRFLOW_HOME with its migrated database,
the DAG bundles, and the connection to the simulator the caller serves.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.dagrun import dag_bag, task_states


def run(file: str) -> dict[str, Any]:
    """Parse ``file`` and run each of its DAGs but those with a deadline (``dag.test()`` cannot finish them, see
    tests/doc_blocks.py).

    :return: ``import_errors``, ``runs`` (``dag_id``, ``state``, ``tasks``) and ``with_deadline`` (ids not run).
    """
    bag = dag_bag(file)
    result: dict[str, Any] = {
        "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
        "runs": [],
        "with_deadline": sorted(dag_id for dag_id, dag in bag.dags.items() if dag.deadline),
    }
    for dag_id, dag in bag.dags.items():
        if dag_id not in result["with_deadline"]:
            dag_run = dag.test()
            state = getattr(dag_run.state, "value", dag_run.state)
            result["runs"].append({"dag_id": dag_id, "state": state, "tasks": task_states(dag_run)})
    return result


if __name__ == "__main__":
    Path(sys.argv[2]).write_text(json.dumps(run(sys.argv[1]), default=str))
