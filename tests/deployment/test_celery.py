"""The first scenario again on CeleryExecutor: Redis as broker, PostgreSQL as result backend, two workers."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deployment.cluster import ROOT, Cluster, deployment
from tests.deployment.report import FIGURES
from tests.deployment.test_deployment import CALL_DAG, twenty_runs_deferred_then_triggerer_restarted

pytestmark = pytest.mark.deployment


@pytest.fixture(scope="module")
def celery_cluster() -> Iterator[Cluster]:
    workdir = Path(tempfile.mkdtemp(prefix="telnyx-deployment-celery-"))
    workdir.chmod(0o755)
    print(f"deployment logs: {workdir / 'logs'}")
    started = time.monotonic()
    extra = {"TELNYX_CALL_DELAY_SECONDS": "40", "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "3"}
    with deployment(workdir, ROOT / "example_dags", extra, executor="CeleryExecutor") as running:
        FIGURES["CeleryExecutor deployment"] = {
            "seconds to bring every component up (Redis, PostgreSQL, 2 celery workers)": round(
                time.monotonic() - started, 1
            )
        }
        running.wait_dag(CALL_DAG)
        yield running


def test_20_runs_on_celery_with_a_triggerer_restart(celery_cluster: Cluster) -> None:
    twenty_runs_deferred_then_triggerer_restarted(celery_cluster, "CeleryExecutor")
    workers = [
        celery_cluster.processes[w].log.read_text(errors="replace") for w in ("celery-worker-1", "celery-worker-2")
    ]
    shares = [log.count(" received") for log in workers]
    FIGURES[
        "CeleryExecutor: 20 concurrent runs, triggerer killed (SIGKILL) and restarted while 20 sensors were deferred"
    ]["task workloads run by each celery worker"] = shares
