"""Test-wide set-up: a throwaway AIRFLOW_HOME and a `telnyx_default` connection defined by environment."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Airflow reads its home and config at import time, so this runs before any test module imports it.
_HOME = Path(tempfile.mkdtemp(prefix="telnyx-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(Path(__file__).parent.parent / "example_dags"))
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME / 'airflow.db'}"
os.environ.pop("TELNYX_API_KEY", None)

API_KEY = "KEYtest_4f7c1d2e9a8b_SECRET"
BASE_URL = "http://telnyx.test/v2"
os.environ["AIRFLOW_CONN_TELNYX_DEFAULT"] = (
    '{"conn_type": "telnyx", "password": "%s", "host": "%s"}' % (API_KEY, BASE_URL)  # noqa: UP031
)
