"""``make test-compat``: the unit tests and the example DAGs on every supported Airflow minor, each in its own venv.

Each target is an Airflow minor on one Python. A venv per target is built in ``.venv-compat/`` from that
target's committed constraints file (``constraints/airflow-3.X.txt``, or ``constraints.txt`` for 3.3), with the
uv of the main venv, then runs

- ``pytest tests/unit -m "not integration"`` (every pure unit test),
- the simulator-backed tests each row of the compatibility page names (``tests/compat_matrix.py``) and
  ``tests/integration/test_example_dags.py`` (every example DAG under ``dag.test()`` against the simulator),
- on the oldest and the newest Airflow, ``tests/browser`` (the connection form in a real Chromium).

A Python that is not installed skips its target with one ``SKIPPED`` line; a target that fails fails the run.
The results (one line per test, written by tests/conftest.py) become ``docs/compatibility.md``: a feature
table whose every cell names the tests that passed on that target. ``--only 3.0`` runs one target; ``--jobs``
sets how many run at once.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENVS = ROOT / ".venv-compat"
FIND_PYTHON = ROOT / "scripts" / "find-python.sh"
REPORT = ROOT / "docs" / "compatibility.md"
UV = Path(sys.executable).parent / "uv"
SELF_CHECK = "tests/unit/test_compatibility_page.py::test_the_committed_page_is_the_generated_one"
sys.path.insert(0, str(ROOT))

from tests.compat_matrix import FEATURES, Target, targets  # noqa: E402


@dataclass
class Outcome:
    target: Target
    python: str | None = None
    status: str = "skipped"  # skipped | passed | failed
    detail: str = ""
    seconds: float = 0.0
    passed: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    skipped: set[str] = field(default_factory=set)
    airflow: str = ""


def find_python(versions: tuple[str, ...]) -> str | None:
    found = subprocess.run([str(FIND_PYTHON), *versions], capture_output=True, text=True, check=False)
    return found.stdout.strip() or None


def run(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> int:
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        return subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env, check=False).returncode


def read_results(path: Path, outcome: Outcome) -> None:
    """Lines ``<outcome> <node id>`` written by tests/conftest.py (``TELNYX_COMPAT_RESULTS``)."""
    if not path.exists():
        return
    for line in path.read_text().splitlines():
        result, _, node = line.partition(" ")
        {"passed": outcome.passed, "skipped": outcome.skipped}.get(result, outcome.failed).add(node)
    outcome.passed -= outcome.failed


def run_target(target: Target, browser: bool) -> Outcome:
    outcome = Outcome(target)
    python = find_python(target.pythons)
    if python is None:
        outcome.detail = f"no Python {' or '.join(target.pythons)} on this machine"
        return outcome
    outcome.python = python
    started = time.monotonic()
    venv = VENVS / target.name
    log = VENVS / f"{target.name}.log"
    log.parent.mkdir(exist_ok=True)
    log.write_text(f"{target.name}: {python}\n")
    stamp = venv / ".installed"
    constraints = ROOT / target.constraints
    groups = ["dev", "browser"] if browser and target.browser else ["dev"]
    wanted = f"{constraints.read_text()}\n{groups}\n{python}"
    if not stamp.exists() or stamp.read_text() != wanted:
        shutil.rmtree(venv, ignore_errors=True)
        steps = [
            [python, "-m", "venv", "--without-pip", str(venv)],
            [
                str(UV),
                "pip",
                "install",
                "--quiet",
                "--python",
                str(venv / "bin" / "python"),
                "-c",
                str(constraints),
                "-e",
                ".[testing,parquet,openlineage]",
                *(option for group in groups for option in ("--group", group)),
            ],
        ]
        for step in steps:
            if run(step, log) != 0:
                outcome.status, outcome.detail = "failed", f"install failed (see {log.relative_to(ROOT)})"
                return outcome
        stamp.write_text(wanted)
    bin_dir = venv / "bin"
    outcome.airflow = subprocess.run(
        [str(bin_dir / "python"), "-c", "import importlib.metadata as m; print(m.version('apache-airflow-core'))"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    # The main venv's bin last: its pinned uv builds the wheel of tests/packaging.
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}:{UV.parent}", "VIRTUAL_ENV": str(venv)}
    env.pop("AIRFLOW_HOME", None)
    feature_tests = sorted({test for feature in FEATURES for test in feature.tests})
    suites = [
        # The committed-page check belongs to make test: here the page is the output being written.
        ("unit", ["tests/unit", "-m", "not integration", "--deselect", SELF_CHECK]),
        ("features", [*feature_tests, "tests/integration/test_example_dags.py"]),
    ]
    if browser and target.browser:
        suites.append(("browser", ["tests/browser", "-m", "browser"]))
    if target.wheel:  # the built wheel installs into a fresh venv of this Airflow and registers there
        suites.append(("wheel", ["tests/packaging"]))
        env["TELNYX_WHEEL_CONSTRAINTS"] = target.constraints
    codes = []
    # Warnings are errors in `make test` (the pinned stack, where every warning is ours to fix or to name in
    # pyproject.toml); here they are reported, not raised: older Airflow releases warn about their own deprecated
    # internals (Connection.get_connection_from_secrets, Starlette's status names, ...).
    python = str(bin_dir / "python")
    pytest = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=-ra", "-W", "default"]
    for suite, args in suites:
        results = VENVS / f"{target.name}-{suite}.txt"
        results.unlink(missing_ok=True)
        code = run(
            [*pytest, *args],
            log,
            {**env, "TELNYX_COMPAT_RESULTS": str(results)},
        )
        read_results(results, outcome)
        codes.append(code)
    outcome.seconds = time.monotonic() - started
    ok = all(code == 0 for code in codes)
    outcome.status = "passed" if ok else "failed"
    outcome.detail = f"{len(outcome.passed)} passed, {len(outcome.failed)} failed, {len(outcome.skipped)} skipped"
    if not ok:
        outcome.detail += f" (see {log.relative_to(ROOT)})"
    return outcome


def passed(test: str, outcome: Outcome) -> bool:
    """Whether ``test`` passed on the target (for a parametrized test: every case ran and passed)."""
    cases = [node for node in outcome.passed | outcome.failed if node == test or node.startswith(test + "[")]
    return bool(cases) and all(node in outcome.passed for node in cases)


def cell(feature_tests: tuple[str, ...], note: str, outcome: Outcome) -> str:
    if outcome.status == "skipped":
        return "not run"
    missing = [t for t in feature_tests if not passed(t, outcome)]
    if missing:
        return "**FAILED**: " + ", ".join(f"`{t}`" for t in missing)
    return "yes, with the fallback below" if note else "yes"


def report(outcomes: list[Outcome]) -> str:
    ran = [o for o in outcomes if o.status != "skipped"]
    head = "| Feature | " + " | ".join(f"Airflow {o.airflow or o.target.airflow} / {py_label(o)}" for o in ran) + " |"
    lines = [
        "# Compatibility",
        "",
        "Generated by `make test-compat` (`scripts/test_compat.py`) from the tests that passed on each Airflow and",
        "Python; do not edit by hand. `tests/unit/test_compatibility_page.py` checks that every test it names exists.",
        "",
        "Supported: Apache Airflow 3.0.6 and later 3.x (3.0, 3.1, 3.2, 3.3), Python 3.10 to 3.13 (Airflow 3.0 does",
        "not support Python 3.13). Where a feature is newer than the Airflow running it, "
        "`airflow_provider_telnyx._compat` picks the fallback described below; nothing else in the package checks "
        "versions.",
        "",
        head,
        "|" + "---|" * (len(ran) + 1),
    ]
    for feature in FEATURES:
        cells = [cell(feature.tests, feature.note_for(o.airflow or o.target.airflow), o) for o in ran]
        lines.append(f"| {feature.name} | " + " | ".join(cells) + " |")
    lines += ["", "## Targets", "", "| Target | Python | Result | Time |", "|---|---|---|---|"]
    for o in outcomes:
        when = f"{o.seconds:.0f} s" if o.seconds else ""
        lines.append(f"| {o.target.name} | {py_label(o)} | {o.status}: {o.detail} | {when} |")
    lines += ["", "## What each feature is checked by", ""]
    for feature in FEATURES:
        lines.append(f"- **{feature.name}**: {feature.summary}")
        lines += [f"  - `{test}`" for test in feature.tests]
        for since, note in feature.fallbacks:
            lines.append(f"  - before Airflow {since}: {note}")
    return "\n".join(lines) + "\n"


def py_label(outcome: Outcome) -> str:
    if outcome.python is None:
        return f"Python {'/'.join(outcome.target.pythons)} (not installed)"
    version = subprocess.run(
        [outcome.python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"Python {version}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="run only these targets (e.g. 3.0, 3.3-py3.13)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-browser", action="store_true", help="skip the connection-form browser test")
    parser.add_argument("--report", default=str(REPORT), help="where to write the compatibility page ('' for none)")
    args = parser.parse_args()
    chosen = [t for t in targets() if not args.only or t.name in args.only or t.airflow in args.only]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        outcomes = list(pool.map(lambda t: run_target(t, browser=not args.no_browser), chosen))
    for o in outcomes:
        label = "SKIPPED" if o.status == "skipped" else o.status.upper()
        print(f"{label:8} {o.target.name:16} {o.python or '-'}: {o.detail} ({o.seconds:.0f} s)")
    if args.report and not args.only:
        Path(args.report).write_text(report(outcomes))
        print(f"wrote {args.report}")
    return 1 if any(o.status == "failed" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
