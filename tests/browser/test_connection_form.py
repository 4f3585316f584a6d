"""The ``telnyx`` connection form, in a real browser, as a user fills it in.

Starts ``airflow api-server`` on loopback (simple auth manager, every user an admin, a throwaway SQLite home),
drives Debian's ``chromium`` with Playwright (``executable_path``: nothing is downloaded) through
Admin → Connections → Add Connection → type Telnyx, checks the labels and the hidden Login field, saves a
connection pointing at the simulator and presses its Test button (Airflow 3.0's UI has none: the test calls the
endpoint that button calls in 3.1+). Runs in ``make test-compat`` on the oldest and
the newest Airflow; the screenshot of the filled form goes to ``docs/_static/connection-form-<airflow>.png``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from airflow_provider_telnyx.testing.simulator import Simulator

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
STATIC = Path(__file__).resolve().parents[2] / "docs" / "_static"
#: What the probe of this machine kind found Chromium needs on a closed network (no background calls home).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _airflow_version() -> str:
    from importlib.metadata import version

    return version("apache-airflow-core")


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed (scripts/install-chromium.sh could not install it here)")
    pytest.importorskip(
        "playwright", reason="the browser dependency group is not installed (uv pip install --group browser)"
    )
    home = tmp_path_factory.mktemp("airflow-home")
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": "browser-test-secret-not-for-production",
        # Airflow 3.0 leaves the issuer unset, which the PyJWT its constraints resolve to refuses (500 on every call).
        "AIRFLOW__API_AUTH__JWT_ISSUER": "airflow",
    }
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True, timeout=600)
    log = (home / "api-server.log").open("w")
    server = subprocess.Popen(
        [airflow, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # bounded: the api-server's start-up on a loaded 2-core machine
        while True:
            try:
                if httpx.get(f"{url}/api/v2/monitor/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"api-server did not start:\n{(home / 'api-server.log').read_text()[-3000:]}")
            time.sleep(0.5)  # polling a subprocess's readiness, not timing a behaviour
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_add_connection_form_labels_save_and_test(api_server: str, telnyx_simulator: Simulator) -> None:
    from playwright.sync_api import expect, sync_playwright

    # Filled as a user would: the Base URL without the port, the port in its own field (Airflow's UI sends a blank
    # port as 0 when testing a saved connection, and refuses a test whose port differs from the stored one).
    base_url = telnyx_simulator.base_url or ""
    port = str(httpx.URL(base_url).port)
    host_only = base_url.replace(f":{port}", "", 1)
    api_key = telnyx_simulator.api_key
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.set_default_timeout(60_000)
        page.goto(api_server)
        page.get_by_role("button", name=re.compile("^Admin$")).click()
        page.get_by_role("menuitem", name=re.compile("Connections")).click()
        page.get_by_role("button", name=re.compile("Add Connection")).click()

        page.get_by_label(re.compile("Connection ID")).fill("telnyx_browser")
        type_box = page.get_by_role("combobox").first
        type_box.click()
        type_box.fill("Telnyx")
        page.get_by_role("option", name="Telnyx").click()

        expect(page.get_by_text("API key", exact=True)).to_be_visible()
        expect(page.get_by_text("Base URL", exact=True)).to_be_visible()
        expect(page.get_by_text("Port", exact=True)).to_be_visible()
        expect(page.get_by_text("Login", exact=True)).to_have_count(0)
        page.get_by_label(re.compile("^Base URL")).fill(host_only)
        page.get_by_label(re.compile("^Port", re.I)).fill(port)
        page.get_by_label(re.compile("^API key")).fill(api_key)
        STATIC.mkdir(parents=True, exist_ok=True)
        shot = STATIC / f"connection-form-{_airflow_version()[:3]}"
        page.screenshot(path=f"{shot}.png", full_page=True)

        page.get_by_role("button", name=re.compile("^Extra Fields$")).click()  # (closes the standard fields)
        for label in ("Timeout (seconds)", "Max retries", "Proxy URL", "Idempotency namespace"):
            expect(page.get_by_text(label, exact=True)).to_be_visible()
        page.screenshot(path=f"{shot}-extras.png", full_page=True)
        page.get_by_role("button", name=re.compile("^Save$")).click()

        row = page.get_by_role("row").filter(has_text="telnyx_browser")
        expect(row).to_be_visible()
        before = len(telnyx_simulator.journal)
        test_button = row.get_by_role("button", name=re.compile("Test", re.I))
        if _airflow_version().startswith("3.0"):
            # Airflow 3.0's UI has no Test button: call the endpoint the 3.1+ button calls, with the saved fields.
            expect(test_button).to_have_count(0)
            token = httpx.get(f"{api_server}/auth/token", timeout=30).json()["access_token"]
            answer = httpx.post(
                f"{api_server}/api/v2/connections/test",
                headers={"Authorization": f"Bearer {token}"},
                json={
                    "connection_id": "telnyx_browser",
                    "conn_type": "telnyx",
                    "host": host_only,
                    "port": int(port),
                    "password": api_key,
                },
                timeout=60,
            ).json()
            assert answer["status"] is True
            assert answer["message"].startswith("Connected to the Telnyx API at")
        else:
            test_button.click()
            expect(page.get_by_text(re.compile("Connected to the Telnyx API at"))).to_be_visible()
        browser.close()

    # The Test button reached the simulator, with one read-only request.
    assert [(e.method, e.path, e.status) for e in telnyx_simulator.journal[before:]] == [
        ("GET", "/v2/ai/assistants", 200)
    ]
