"""The main job: run the example call DAG end to end, against the embedded simulator or the real API.

    make demo                      # simulator (nothing to set up)
    TELNYX_API_KEY=KEY... TELNYX_ASSISTANT_ID=assistant-... TELNYX_AGENT_TARGET=+1... \\
        TELNYX_END_USER_TARGET=+1... make demo      # the real Telnyx API: places a real call

Uses a throwaway Airflow home (SQLite) in ``.airflow-demo/``, runs ``airflow dags test
example_telnyx_scheduled_call``, prints a short summary of the event, then runs ``airflow dags test
example_telnyx_export_calls`` for today (the export example: calls with transcripts and insights to a file under
``.airflow-demo/exports/``) and prints the call's transcript from that file. Exits non-zero unless the call
completed and its record was exported.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / ".airflow-demo"
#: ``python scripts/demo.py example_telnyx_scheduled_sms`` runs another example DAG the same way.
DAG_ID = sys.argv[1] if len(sys.argv) > 1 else "example_telnyx_scheduled_call"
BIN = Path(sys.executable).parent


def log(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def start_simulator(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port_file = Path(tempfile.mkdtemp()) / "port"
    key = "KEYdemo_simulator_only"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_telnyx.testing.simulator",
            "--port",
            "0",
            "--port-file",
            str(port_file),
            "--api-key",
            key,
            "--assistant",
            env.get("TELNYX_ASSISTANT_ID", "assistant-demo"),
            "--time-scale",
            "60",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not (port_file.exists() and port_file.read_text()):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("[demo] the simulator did not start")
        time.sleep(0.05)
    base_url = f"http://127.0.0.1:{port_file.read_text()}/v2"
    env["AIRFLOW_CONN_TELNYX_DEFAULT"] = json.dumps({"conn_type": "telnyx", "password": key, "host": base_url})
    log(f"simulator listening on {base_url} (event clock 60x after dispatch)")
    return process, base_url


def summarise(env: dict[str, str]) -> tuple[int, str | None]:
    os.environ.update(env)
    from airflow_provider_telnyx.hooks.telnyx import TelnyxHook
    from airflow_provider_telnyx.models import EventStatus

    assistant = env.get("TELNYX_ASSISTANT_ID", "assistant-demo")
    ours = [
        e
        for e in TelnyxHook().list_scheduled_events(assistant)
        if (e.conversation_metadata or {}).get("airflow_dag_id") == DAG_ID
    ]
    if not ours:
        log("no scheduled event was found for the demo DAG")
        return 1, None
    event = max(ours, key=lambda e: e.created_at or e.scheduled_at_fixed_datetime)
    print()
    print(f"  event id      {event.event_id}")
    print(f"  to            {event.telnyx_end_user_target} ({event.telnyx_conversation_channel})")
    print(f"  final status  {event.status_text}")
    for attempt in event.attempts:
        duration = f"{attempt.call_duration} s" if attempt.call_duration is not None else "-"
        print(f"  attempt {attempt.attempt_number}     {attempt.call_status:<10} duration {duration}")
    for error in event.errors or []:
        print(f"  error         {error}")
    print()
    return (0 if event.known_status is EventStatus.COMPLETED else 1), event.event_id


def airflow_dags_test(env: dict[str, str], *args: str) -> bool:
    """``airflow dags test ARGS`` with its output in the demo home; print its tail when it fails."""
    output = HOME / f"dags-test-{args[0]}.log"
    with output.open("wb") as sink:
        result = subprocess.run(
            [str(BIN / "airflow"), "dags", "test", *args], check=False, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    if result.returncode != 0:
        print(output.read_text()[-4000:])
        log(f"the DAG run failed (exit {result.returncode}); full log: {output}")
    return result.returncode == 0


def export_and_show(env: dict[str, str], event_id: str) -> int:
    """Run the export example over today and print the demo call's transcript from the file it wrote."""
    today = datetime.now(timezone.utc).date()
    # A manual run of a data-interval DAG exports the last whole day before its date: tomorrow's run covers today.
    run_date = (today + timedelta(days=1)).isoformat()
    log(f"running: airflow dags test example_telnyx_export_calls {run_date} (exports today's calls)")
    if not airflow_dags_test(env, "example_telnyx_export_calls", run_date):
        return 1
    path = HOME / "exports" / "calls" / today.isoformat() / "calls.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    record = next((r for r in records if r["scheduled_event_id"] == event_id), None)
    if record is None:
        log(f"the demo call is not in {path}")
        return 1
    log(f"exported {len(records)} call record(s) to {path}; the demo call's transcript:")
    print()
    for message in record["messages"] or []:
        said = message["text"] or ", ".join(f"calls {c['name']}({c['arguments']})" for c in message["tool_calls"])
        print(f"  {message['role']:>9}: {said}")
    for insight in record["insights"] or []:
        for result in insight["results"]:
            print(f"  {'insight':>9}: {result['insight_id']} = {result['result']}")
    print()
    return 0


def main() -> int:
    started = time.monotonic()
    shutil.rmtree(HOME, ignore_errors=True)
    HOME.mkdir()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "TELNYX_EXPORT_ROOT": f"file://{HOME / 'exports'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO"),
    }
    log(f"throwaway Airflow home: {HOME}")
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True)
    simulator = None
    if env.get("TELNYX_API_KEY"):
        base_url = env.get("TELNYX_BASE_URL", "https://api.telnyx.com/v2")
        for name in ("TELNYX_ASSISTANT_ID", "TELNYX_AGENT_TARGET", "TELNYX_END_USER_TARGET"):
            if not env.get(name):
                raise SystemExit(f"[demo] {name} must be set to run against the real API")
        env["AIRFLOW_CONN_TELNYX_DEFAULT"] = json.dumps(
            {"conn_type": "telnyx", "password": env["TELNYX_API_KEY"], "host": base_url}
        )
        log(f"using the real Telnyx API at {base_url}: this places a real call")
    else:
        simulator, _ = start_simulator(env)
    try:
        log(f"running: airflow dags test {DAG_ID}")
        if not airflow_dags_test(env, DAG_ID):
            return 1
        code, event_id = summarise(env)
        if code == 0 and event_id is not None and DAG_ID == "example_telnyx_scheduled_call":
            code = export_and_show(env, event_id)
    finally:
        if simulator is not None:
            simulator.terminate()
            simulator.wait(timeout=30)
    log(f"{'done' if code == 0 else 'FAILED'} in {time.monotonic() - started:.1f} s (logs: {HOME}/dags-test-*.log)")
    return code


if __name__ == "__main__":
    sys.exit(main())
