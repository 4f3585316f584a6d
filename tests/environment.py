"""The test environment, set before Airflow is imported: a throwaway AIRFLOW_HOME, its DAG bundles, and a
``telnyx_default`` connection defined by environment.

Imported first by both ``conftest.py`` (the documentation's code blocks) and ``tests/conftest.py``; importing it
again is a no-op, so the whole session shares one home.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).parent.parent

# Airflow reads its home and config at import time, so this runs before any test module imports it.
HOME = Path(tempfile.mkdtemp(prefix="telnyx-airflow-home-"))
#: The bundle the documentation's DAG blocks are written to (tests/docs.py): ``dag.test()`` needs a DAG's file to
#: live in a bundle from Airflow 3.1 on.
DOCS_DAGS = HOME / "docs_dags"
DOCS_DAGS.mkdir()
os.environ["AIRFLOW_HOME"] = str(HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "example_dags")
# Three bundles: the shipped examples, the DAGs only the tests use and the documentation's DAG blocks.
os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(
    [
        {
            "name": name,
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(path), "refresh_interval": 0},
        }
        for name, path in (
            ("examples", ROOT / "example_dags"),
            ("test_dags", ROOT / "tests" / "dags"),
            ("docs", DOCS_DAGS),
        )
    ]
)
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{HOME / 'airflow.db'}"
os.environ.pop("TELNYX_API_KEY", None)
# One export root for the whole session: the example DAGs' Asset URI is built from it, and Airflow keeps an asset
# inactive when another URI already holds its name (a per-test root would register a second one).
os.environ["TELNYX_EXPORT_ROOT"] = f"file://{HOME / 'exports'}"
# The example DAGs schedule their calls this many seconds after their task starts (10 by default, a margin for a slow
# start): 3 keeps a run short and still clear of MIN_LEAD (2 s), under which an event counts as late.
os.environ["TELNYX_CALL_DELAY_SECONDS"] = "3"
os.environ["TELNYX_BATCH_DELAY_SECONDS"] = "3"

API_KEY = "KEYtest_4f7c1d2e9a8b_SECRET"
BASE_URL = "https://telnyx.test/v2"
os.environ["AIRFLOW_CONN_TELNYX_DEFAULT"] = (
    '{"conn_type": "telnyx", "password": "%s", "host": "%s"}' % (API_KEY, BASE_URL)  # noqa: UP031
)


#: A metadata database as ``airflow db migrate`` leaves it, made once per test process (a migration costs 10-20 s, a
#: copy milliseconds): the session's home and every test that runs Airflow in a home of its own start from a copy.
_PRISTINE_DB = HOME.parent / f"{HOME.name}-pristine" / "airflow.db"


def migrated_db(home: Path) -> Path:
    """Give ``home`` a freshly migrated metadata database, ``home/airflow.db`` (a copy of this process's one
    migration; nothing in it depends on the home or the configuration it is used with).

    :return: the database file.
    """
    import shutil
    import subprocess
    import sys

    if not _PRISTINE_DB.exists():
        made = _PRISTINE_DB.with_name("migrating.db")
        made.parent.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(made.parent),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{made}",
        }
        airflow = Path(sys.executable).with_name("airflow")
        subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, env=env, timeout=300)
        made.rename(_PRISTINE_DB)  # whole or absent: a migration cut short is never copied
    target = home / "airflow.db"
    shutil.copyfile(_PRISTINE_DB, target)
    return target


def migrate_airflow_db() -> None:
    """Give the session's throwaway AIRFLOW_HOME a migrated metadata database (needed by ``dag.test()``)."""
    migrated_db(HOME)
