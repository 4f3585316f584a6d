"""A real Airflow deployment on one machine, for ``make test-deployment``.

PostgreSQL (installed from the system's packages when missing) in a throwaway data directory on loopback, a
throwaway ``AIRFLOW_HOME`` pointing at it, the simulator, and ``airflow scheduler`` (LocalExecutor),
``airflow triggerer``, ``airflow dag-processor`` and ``airflow api-server`` as separate processes. Every process
is started here and stopped here by its own pid, also on failure; logs are kept under the run's directory.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bin() -> Path:
    """The directory of PostgreSQL's server binaries, installing PostgreSQL from the system's packages if needed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "postgresql"],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent


def _as_postgres(*command: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path


@dataclass
class Cluster:
    """The running deployment: URLs, environment and the processes it started."""

    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, Process] = field(default_factory=dict)
    api_url: str = ""
    simulator_url: str = ""
    pg_data: Path | None = None
    pg_bin: Path | None = None

    # -- processes -------------------------------------------------------------------------------------------

    def start(self, name: str, *command: str) -> Process:
        log = self.workdir / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as handle:  # the child holds its own copy of the descriptor
            popen = subprocess.Popen(
                command, env=self.env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
            )
        process = Process(name, popen, log)
        self.processes[name] = process
        return process

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.popen.pid, sig)
        process.popen.wait(timeout=60)

    def stop_all(self) -> None:
        for name in list(self.processes):
            process = self.processes[name]
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.popen.pid, signal.SIGTERM)
            try:
                process.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.popen.pid, signal.SIGKILL)
                process.popen.wait(timeout=30)
            del self.processes[name]
        if self.pg_data is not None and self.pg_bin is not None:
            subprocess.run(
                _as_postgres(str(self.pg_bin / "pg_ctl"), "-D", str(self.pg_data), "-m", "fast", "stop"),
                check=False,
                capture_output=True,
            )

    # -- REST API -----------------------------------------------------------------------------------------------

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, f"{self.api_url}/api/v2{path}", timeout=60, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any] | None = None) -> None:
        self.api(
            "POST", f"/dags/{dag_id}/dagRuns", json={"dag_run_id": run_id, "logical_date": None, "conf": conf or {}}
        )

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        tis = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {ti["task_id"]: ti["state"] for ti in tis}

    def wait_runs(self, dag_id: str, run_ids: list[str], timeout: float = 600) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            states = {run_id: self.run_state(dag_id, run_id) for run_id in run_ids}
            if all(state in ("success", "failed") for state in states.values()):
                return states
            time.sleep(2)  # polling the deployment for a state, bounded by the deadline
        raise TimeoutError(f"runs not finished after {timeout}s: {states}")

    def sim(self, method: str, path: str, **kwargs: Any) -> Any:
        base = self.simulator_url.removesuffix("/v2")
        return httpx.request(method, f"{base}/_sim{path}", timeout=30, **kwargs).json()

    def wait_dag(self, dag_id: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = httpx.get(f"{self.api_url}/api/v2/dags/{dag_id}", timeout=30)
            if response.status_code == 200:
                self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
                return
            time.sleep(2)  # polling the deployment for a state, bounded by the deadline
        raise TimeoutError(f"DAG {dag_id} was never parsed")


def _wait_for(check: Any, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(1)  # polling a starting component, bounded by the deadline
    raise TimeoutError(f"{what} not ready after {timeout}s")


def redis_server() -> str:
    """The ``redis-server`` binary, installing Redis from the system's packages if needed."""
    found = shutil.which("redis-server")
    if found is None:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "redis-server"],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        found = shutil.which("redis-server") or "/usr/bin/redis-server"
    return found


@contextlib.contextmanager
def deployment(
    workdir: Path, dags_folder: Path, extra_env: dict[str, str] | None = None, executor: str = "LocalExecutor"
) -> Iterator[Cluster]:
    """Bring the deployment up, yield it, and always take it down.

    With ``executor="CeleryExecutor"``: Redis (from the system's packages) as broker, PostgreSQL as result
    backend, and two ``airflow celery worker`` processes.
    """
    cluster = Cluster(workdir=workdir)
    try:
        pg_bin = postgres_bin()
        pg_port = free_port()
        pg_data = workdir / "pgdata"
        pg_data.mkdir(parents=True)
        shutil.chown(pg_data, "postgres", "postgres") if os.geteuid() == 0 else None
        (workdir / "logs").mkdir(exist_ok=True)
        os.chmod(workdir, 0o755)
        subprocess.run(
            _as_postgres(str(pg_bin / "initdb"), "-D", str(pg_data), "-U", "airflow", "--auth=trust"),
            check=True,
            capture_output=True,
        )
        cluster.pg_bin, cluster.pg_data = pg_bin, pg_data
        subprocess.run(
            _as_postgres(
                str(pg_bin / "pg_ctl"),
                "-D",
                str(pg_data),
                "-l",
                str(pg_data / "server.log"),
                "-w",
                "-o",
                f"-p {pg_port} -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=300",
                "start",
            ),
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [str(pg_bin / "createdb"), "-h", "127.0.0.1", "-p", str(pg_port), "-U", "airflow", "airflow"],
            check=True,
            capture_output=True,
        )
        api_port = free_port()
        home = workdir / "airflow-home"
        home.mkdir()
        cluster.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))},
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://airflow@127.0.0.1:{pg_port}/airflow",
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__PARALLELISM": "48",
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "64",
            "AIRFLOW__CORE__MAX_ACTIVE_RUNS_PER_DAG": "32",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
            "AIRFLOW__API_AUTH__JWT_SECRET": "deployment-test-secret-not-for-production",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__TRIGGERER__CAPACITY": "1000",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            **(extra_env or {}),
        }
        airflow = str(BIN / "airflow")
        if executor == "CeleryExecutor":
            redis_port = free_port()
            cluster.start(
                "redis",
                redis_server(),
                "--port",
                str(redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            )
            cluster.env["AIRFLOW__CELERY__BROKER_URL"] = f"redis://127.0.0.1:{redis_port}/0"
            cluster.env["AIRFLOW__CELERY__RESULT_BACKEND"] = (
                f"db+postgresql+psycopg2://airflow@127.0.0.1:{pg_port}/airflow"
            )
            cluster.env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] = "16"
        migrate = subprocess.run(
            [airflow, "db", "migrate"], env=cluster.env, capture_output=True, text=True, timeout=600, check=False
        )
        (workdir / "logs" / "db-migrate.log").write_text(migrate.stdout + migrate.stderr)
        if migrate.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{(migrate.stdout + migrate.stderr)[-3000:]}")
        port_file = workdir / "simulator.port"
        cluster.start(
            "simulator",
            sys.executable,
            "-m",
            "airflow_provider_telnyx.testing.simulator",
            "--port",
            "0",
            "--port-file",
            str(port_file),
            "--api-key",
            "KEYdeployment_test",
            "--time-scale",
            "60",
        )
        _wait_for(lambda: port_file.exists() and port_file.read_text(), "simulator", 60)
        cluster.simulator_url = f"http://127.0.0.1:{port_file.read_text()}/v2"
        cluster.env["AIRFLOW_CONN_TELNYX_DEFAULT"] = json.dumps(
            {"conn_type": "telnyx", "password": "KEYdeployment_test", "host": cluster.simulator_url}
        )
        cluster.api_url = f"http://127.0.0.1:{api_port}"
        for name in ("scheduler", "triggerer", "dag-processor", "api-server"):
            cluster.start(name, airflow, name)
        if executor == "CeleryExecutor":
            for worker in ("celery-worker-1", "celery-worker-2"):
                cluster.start(
                    worker, airflow, "celery", "worker", "--celery-hostname", f"{worker}@%h", "--skip-serve-logs"
                )

            def workers_ready() -> bool:
                logs = [
                    cluster.processes[w].log.read_text(errors="replace") for w in ("celery-worker-1", "celery-worker-2")
                ]
                return all(" ready." in log for log in logs)

            _wait_for(workers_ready, "two celery workers", 180)
        _wait_for(
            lambda: httpx.get(f"{cluster.api_url}/api/v2/monitor/health", timeout=5).status_code == 200,
            "api-server",
            180,
        )

        def healthy() -> bool:
            health = httpx.get(f"{cluster.api_url}/api/v2/monitor/health", timeout=5).json()
            return all(
                health.get(part, {}).get("status") == "healthy"
                for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
            )

        _wait_for(healthy, "scheduler, triggerer and dag-processor heartbeats", 180)
        yield cluster
    finally:
        cluster.stop_all()
