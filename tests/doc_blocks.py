"""Every code block of README.md and docs/ runs in the test suite, with Sybil (collected by the root conftest.py).

- ``python``: executed in the page's namespace (a page's blocks share it, as a reader reads them in order). A block
  that builds a DAG (calls ``DAG(...)`` or uses ``@dag``) must be a complete DAG file: it is written to the
  ``docs`` DAG bundle, parsed with a ``DagBag``, and every DAG in it runs with ``dag.test()`` against the simulator
  (the ``telnyx_simulator`` fixture), in a process of its own (tests/run_dags.py) killed after ``DAG_RUN_SECONDS``;
  each run must succeed. A DAG that waits an hour cannot pass; an operator built outside a DAG fails too.
- ``python`` whose first line names a file (``# conftest.py``, ``# dags/my_dag.py``, ``# tests/test_my_dag.py``):
  a file of a sample project. It is only compiled here; a project file that defines ``test_`` functions runs with
  pytest in a new process, in an empty directory holding the page's project files up to it, with none of this
  suite's environment: what a new user who copies the page gets.
- ``bash``: run in bash, in an empty directory, with only ``PATH`` and ``HOME``. Every ``AIRFLOW_CONN_<ID>`` value
  it exports, one after another, must parse with ``TelnyxHook(telnyx_conn_id="<id>").get_config()``. A block that
  defines no connection (``pip install``, ``make demo``...) must be skipped.
- ``text``: sample output: it fails unless skipped (and said where it is checked, if anywhere).
- Skip a block with ``<!-- skip: next "the reason, shown in the test report" -->`` on the line before it;
  ``<!-- clear-namespace -->`` starts a page's namespace afresh.
- MyST directive blocks (``{literalinclude}``, ``{eval-rst}``, ``{toctree}``, ``{include}``) are not code: Sybil does
  not collect them (what they include is tested where it lives, e.g. the example DAGs).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sybil import Document, Example, Sybil
from sybil.evaluators.python import PythonEvaluator, pad
from sybil.parsers.markdown import ClearNamespaceParser, CodeBlockParser, SkipParser

from tests.environment import DOCS_DAGS, ROOT

#: The pages whose blocks run, relative to the repository root.
PAGES = ("README.md", "docs/*.md", "docs/howto/*.md")
#: Pages written by scripts from measured figures; they hold no code block (tests/unit/test_doc_blocks.py checks).
GENERATED = ("docs/benchmarks.md", "docs/compatibility.md", "docs/production-figures.md", "docs/reliability.md")
#: Seconds the DAGs of a block may take under ``dag.test()`` against the simulator, and a sample project's tests
#: (a new interpreter, Airflow's import and ``airflow db migrate`` in a new home first): each runs in a process of
#: its own, killed past them. The items' pytest timeouts (a little longer) bound the rest.
DAG_RUN_SECONDS = 120
PROJECT_RUN_SECONDS = 210
DAG_TIMEOUT = DAG_RUN_SECONDS + 60
PROJECT_TIMEOUT = PROJECT_RUN_SECONDS + 30

#: ``# path/to/file.py`` on a block's first line: the block is that file of a sample project.
FILE_HEADER = re.compile(r"#\s*(?P<path>[\w.-]+(?:/[\w.-]+)*\.py)\b")


@dataclass(frozen=True)
class PythonBlock:
    """What a ``python`` block is, read from its source (not run).

    :param file: the project file its first line names, if any.
    :param builds_dag: it calls ``DAG(...)`` or decorates a function with ``@dag``.
    :param tests: the ``test_`` functions it defines at top level.
    """

    file: str | None
    builds_dag: bool
    tests: tuple[str, ...]

    @classmethod
    def read(cls, source: str) -> PythonBlock:
        first = source.lstrip("\n").split("\n", 1)[0]
        header = FILE_HEADER.match(first)
        try:
            tree = ast.parse(source)
        except SyntaxError:  # executing it reports the error where it is
            return cls(file=header["path"] if header else None, builds_dag=False, tests=())
        tests = tuple(
            node.name
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
        )
        return cls(file=header["path"] if header else None, builds_dag=_builds_dag(tree), tests=tests)


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _builds_dag(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node.func) == "DAG":
            return True
        if isinstance(node, ast.FunctionDef) and any(_name(d) == "dag" for d in node.decorator_list):
            return True
    return False


class PythonBlocks:
    """Evaluator of ``python`` blocks (see the module's docstring)."""

    def __init__(self) -> None:
        self.python = PythonEvaluator()

    def __call__(self, example: Example) -> None:
        block = PythonBlock.read(str(example.parsed))
        if block.file is not None:
            compile(pad(str(example.parsed), example.line + example.parsed.line_offset), example.path, "exec")
            if block.tests:
                run_project(example, self)
            return
        if block.tests:
            raise AssertionError(
                f"{example.path}, line {example.line}: a block defining {', '.join(block.tests)} is a test file: name"
                " it on its first line (`# tests/test_my_dag.py`) so that it runs with pytest in a sample project"
            )
        before = {name: id(value) for name, value in example.namespace.items()}
        self.python(example)
        loose = [
            name
            for name, value in example.namespace.items()
            if before.get(name) != id(value) and _is_operator(value) and not value.has_dag()
        ]
        assert not loose, (
            f"{example.path}, line {example.line}: {', '.join(loose)} built outside a DAG: show it in a complete DAG"
            " (`with DAG(...):`), which the test suite then runs"
        )
        if block.builds_dag:
            run_dags(example)


def _is_operator(value: object) -> bool:
    from airflow.sdk import BaseOperator

    return isinstance(value, BaseOperator)


def _request(example: Example) -> pytest.FixtureRequest:
    request = example.namespace["request"]
    assert isinstance(request, pytest.FixtureRequest), "the Sybil of tests/doc_blocks.py requests `request`"
    return request


def run_dags(example: Example) -> None:
    """Write the block to the ``docs`` bundle (alone: earlier blocks' DAGs are removed), then, in a process of its
    own killed after ``DAG_RUN_SECONDS``, parse it with a DagBag and run every DAG in it with ``dag.test()`` against
    the simulator; each run must succeed."""
    request = _request(example)
    request.getfixturevalue("airflow_db")
    request.getfixturevalue("telnyx_simulator")  # sets AIRFLOW_CONN_TELNYX_DEFAULT, which the process inherits
    for old in DOCS_DAGS.glob("*.py"):
        old.unlink()
    stem = re.sub(r"\W", "_", str(Path(example.path).relative_to(ROOT).with_suffix("")))
    path = DOCS_DAGS / f"{stem}_line_{example.line}.py"
    # Padded so that a traceback's line numbers are the page's.
    path.write_text(pad(str(example.parsed), example.line + example.parsed.line_offset))
    with tempfile.TemporaryDirectory(prefix="telnyx-docs-dags-") as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, "-m", "tests.run_dags", str(path), str(out)]
        try:
            process = subprocess.run(
                command,
                cwd=ROOT,
                env=dict(os.environ),
                capture_output=True,
                text=True,
                timeout=DAG_RUN_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired as timeout:
            raise AssertionError(
                f"{example.path}, line {example.line}: the block's DAGs did not finish within {DAG_RUN_SECONDS} s"
                " under dag.test() against the simulator: show a DAG that ends soon (a near scheduled_at, short"
                " poll intervals) and its production values in comments"
            ) from timeout
        output = (process.stdout + process.stderr)[-6000:]
        assert process.returncode == 0, f"python -m tests.run_dags {path.name}:\n{output}"
        result = json.loads(out.read_text())
    assert not result["import_errors"], f"a DAG block must be a complete DAG file: {result['import_errors']}"
    assert result["runs"] or result["with_deadline"], f"{example.path}, line {example.line}: no DAG a DagBag finds"
    failed = [run for run in result["runs"] if run["state"] != "success"]
    assert not failed, f"dag.test() runs that did not succeed: {failed}\n{output}"
    if result["with_deadline"]:
        from importlib.metadata import version

        pytest.skip(
            f"the block ran and its DAGs parsed, but dag.test() of Airflow {version('apache-airflow-core')} cannot"
            f" finish a run of a DAG with a deadline ({', '.join(result['with_deadline'])}): DagRun.update_state"
            " looks its alerts up by their serialized form (a scheduler looks them up by id)"
        )


def project_files(example: Example, evaluator: PythonBlocks) -> dict[str, str]:
    """The page's project files (blocks naming a file) up to and including ``example``; a later block naming the
    same file replaces it."""
    files: dict[str, str] = {}
    for other in example.document.examples():
        if other.region.evaluator is not evaluator or other.start > example.start:
            continue
        block = PythonBlock.read(str(other.parsed))
        if block.file is not None:
            files[block.file] = str(other.parsed)
    return files


def run_project(example: Example, evaluator: PythonBlocks) -> None:
    """Run the page's sample project with pytest in a new process; every test it defines must pass."""
    files = project_files(example, evaluator)
    with tempfile.TemporaryDirectory(prefix="telnyx-docs-project-") as tmp:
        project = Path(tmp) / "project"
        for name, source in files.items():
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            (project / name).write_text(source)
        report = Path(tmp) / "report.xml"
        # A new user's environment: none of this suite's Airflow, Telnyx or pytest settings. PYTHONPATH makes the
        # package under test the checkout's, whichever copy the virtualenv installed.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "TELNYX_", "PYTEST_"))}
        env["PYTHONPATH"] = str(ROOT)
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"]
        command += ["--tb=short", "--show-capture=no"]  # a failure's assertion, not Airflow's logs
        result = subprocess.run(
            command, cwd=project, env=env, capture_output=True, text=True, timeout=PROJECT_RUN_SECONDS, check=False
        )
        output = (result.stdout + result.stderr)[-6000:]
        assert result.returncode == 0, f"pytest in the page's sample project ({', '.join(files)}):\n{output}"
        suite = ET.parse(report).getroot().find("testsuite")
        assert suite is not None, output
        counts = {key: int(suite.get(key, "0")) for key in ("tests", "failures", "errors", "skipped")}
        expected = sum(len(PythonBlock.read(source).tests) for name, source in files.items())
        assert counts == {"tests": expected, "failures": 0, "errors": 0, "skipped": 0}, (
            f"pytest in the page's sample project: {counts}, expected {expected} tests, all passed:\n{output}"
        )


def run_shell(example: Example) -> None:
    """Run the block in bash; check every ``AIRFLOW_CONN_*`` value it exports, in turn, with the hook."""
    with tempfile.TemporaryDirectory(prefix="telnyx-docs-shell-") as tmp:
        record = Path(tmp) / "environments"
        # Before each command (and once more at the end), the environment so far is recorded.
        script = f"set -e\ntrap 'env -0 >> {shlex.quote(str(record))}' DEBUG\n{example.parsed}\n:\n"
        result = subprocess.run(
            ["bash", "-c", script],
            cwd=tmp,
            env={"PATH": os.environ["PATH"], "HOME": tmp},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, f"bash exited {result.returncode}: {result.stderr}"
        entries = record.read_text().split("\0") if record.exists() else []
    connections = dict.fromkeys(entry for entry in entries if entry.startswith("AIRFLOW_CONN_"))
    assert connections, (
        f"{example.path}, line {example.line}: a shell block that defines no connection cannot be checked here:"
        ' precede it with <!-- skip: next "why it is not run" -->'
    )
    for entry in connections:
        name, _, value = entry.partition("=")
        check_connection(name, value)


def check_connection(name: str, value: str) -> None:
    """The connection ``name=value`` (an ``AIRFLOW_CONN_*`` variable) is one the hook accepts."""
    from airflow_provider_telnyx.hooks.telnyx import TelnyxHook

    conn_id = name.removeprefix("AIRFLOW_CONN_").lower()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(name, value)
        try:
            config = TelnyxHook(telnyx_conn_id=conn_id).get_config()
        except Exception as error:
            raise AssertionError(f"{name}={value}: {error}") from error
    assert config.api_key, value
    assert config.base_url.startswith(("https://", "http://")), (value, config.base_url)


def sample_output(example: Example) -> None:
    """A ``text`` block is sample output: nothing here can check it."""
    raise AssertionError(
        f"{example.path}, line {example.line}: a text block is sample output: check it in a test, or precede it"
        ' with <!-- skip: next "sample output" -->'
    )


PYTHON = PythonBlocks()
PARSERS: list[Any] = [
    SkipParser(),
    ClearNamespaceParser(),
    CodeBlockParser("python", PYTHON),
    CodeBlockParser("bash", run_shell),
    CodeBlockParser("text", sample_output),
]
#: Sybil for the root conftest.py; ``request`` lets an evaluator ask for the fixtures a block needs, only then.
DOCS = Sybil(parsers=PARSERS, path=str(ROOT), patterns=PAGES, excludes=GENERATED, fixtures=["request"], name="docs")


def parse(page: str) -> Document:
    """The page (relative to the repository root) as Sybil parses it."""
    return DOCS.parse(ROOT / page)


def marks(example: Example) -> list[pytest.MarkDecorator]:
    """The marks of a block's test item: a timeout for every one; ``integration`` when it runs Airflow or a
    process (``make unit`` keeps the blocks that run in-process and fast)."""
    evaluator = example.region.evaluator
    if evaluator is PYTHON:
        block = PythonBlock.read(str(example.parsed))
        if block.file is not None and block.tests:
            return [pytest.mark.timeout(PROJECT_TIMEOUT), pytest.mark.integration]
        if block.file is None and block.builds_dag:
            return [pytest.mark.timeout(DAG_TIMEOUT), pytest.mark.integration]
    if evaluator is run_shell:
        return [pytest.mark.timeout(DAG_TIMEOUT), pytest.mark.integration]
    return [pytest.mark.timeout(DAG_TIMEOUT)]
