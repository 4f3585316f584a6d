"""The documentation's code blocks are collected and run as tests/doc_blocks.py says (README.md and docs/)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from unittest import SkipTest

import pytest
from sybil import Document
from sybil.parsers.markdown.lexers import RawFencedCodeBlockLexer

from tests.doc_blocks import (
    DAG_TIMEOUT,
    DOCS,
    GENERATED,
    PROJECT_TIMEOUT,
    PYTHON,
    PythonBlock,
    marks,
    parse,
    run_shell,
    sample_output,
)

ROOT = Path(__file__).parents[2]
#: Every Markdown page of the documentation, the generated ones included.
PAGES = sorted(
    str(path.relative_to(ROOT))
    for path in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]
    if "_build" not in path.parts
)
#: Every fenced block, whatever its info string (``language`` is the whole info string).
FENCES = RawFencedCodeBlockLexer(info_pattern=re.compile(r"(?P<language>[^\n]*)$\n", re.MULTILINE))


def fences(page: str) -> list[str]:
    """The info strings of a page's fenced blocks, in order."""
    document = Document((ROOT / page).read_text(), str(ROOT / page))
    return [region.lexemes["language"].strip() for region in FENCES(document)]


def test_the_suite_collects_the_readme_and_docs(pytestconfig: pytest.Config) -> None:
    assert {"tests", "README.md", "docs"} <= set(pytestconfig.getini("testpaths"))
    collected = [page for page in PAGES if DOCS.should_parse(ROOT / page)]
    assert collected == [page for page in PAGES if page not in GENERATED]
    assert {"README.md", "docs/simulator.md", "docs/quickstart.md", "docs/howto/notify.md"} <= set(collected)
    assert not DOCS.should_parse(ROOT / "docs" / "_build" / "html" / "_sources" / "index.md")


@pytest.mark.parametrize("page", ["README.md", "docs/simulator.md"])
def test_python_blocks_are_found(page: str) -> None:
    python = [e for e in parse(page).examples() if e.region.evaluator is PYTHON]
    assert len(python) >= 1
    assert any(PythonBlock.read(str(e.parsed)).builds_dag for e in python)


@pytest.mark.parametrize("page", PAGES)
def test_every_fenced_block_runs_or_is_a_myst_directive(page: str) -> None:
    """No fence is silently left out: each is a language a parser runs, or a MyST directive (``{literalinclude}``,
    ``{eval-rst}``...), which is not code. Generated pages hold none (they are not collected)."""
    infos = fences(page)
    code = [info for info in infos if not info.startswith("{")]
    assert set(code) <= {"python", "bash", "text"}, code
    if page in GENERATED:
        assert infos == []
    else:
        runs = [e for e in parse(page).examples() if e.region.evaluator in (PYTHON, run_shell, sample_output)]
        assert len(runs) == len(code)


@pytest.mark.integration
def test_pytest_collects_an_item_per_block_and_directive() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "README.md", "docs"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    items = Counter(line.split("::")[0] for line in result.stdout.splitlines() if "::sybil:docs," in line)
    for page in ("README.md", "docs/simulator.md", "docs/quickstart.md", "docs/connection.md"):
        assert items[page] == len(list(parse(page).examples())) > 0, page


def test_blocks_are_told_apart_by_their_source() -> None:
    assert PythonBlock.read("with DAG('x'):\n    pass\n") == PythonBlock(file=None, builds_dag=True, tests=())
    assert PythonBlock.read("from airflow.sdk import dag\n@dag()\ndef x(): ...\n").builds_dag
    assert PythonBlock.read("import airflow.sdk\n@airflow.sdk.dag\ndef x(): ...\n").builds_dag
    assert not PythonBlock.read("page = TelnyxNotifier(assistant_id='a')\n").builds_dag
    project_test = PythonBlock.read("# tests/test_x.py\nimport pytest\n\ndef test_a(): ...\ndef helper(): ...\n")
    assert project_test == PythonBlock(file="tests/test_x.py", builds_dag=False, tests=("test_a",))
    assert PythonBlock.read("{'a': 1, ...: 2, ...}\n[").file is None  # a syntax error is the run's to report


def test_the_readme_dag_and_the_sample_project_are_bounded_and_integration() -> None:
    examples = {e.line: e for e in parse("README.md").examples() if e.region.evaluator is PYTHON}
    (use,) = examples.values()
    assert [(m.name, m.args) for m in marks(use)] == [("timeout", (DAG_TIMEOUT,)), ("integration", ())]
    (project_test,) = (e for e in parse("docs/simulator.md").examples() if PythonBlock.read(str(e.parsed)).tests)
    assert [(m.name, m.args) for m in marks(project_test)] == [("timeout", (PROJECT_TIMEOUT,)), ("integration", ())]


def page(tmp_path: Path, text: str) -> Document:
    path = tmp_path / "page.md"
    path.write_text(text)
    return DOCS.parse(path)


def evaluate_all(document: Document) -> None:
    for example in document.examples():
        example.evaluate()


def test_an_operator_outside_a_dag_fails(tmp_path: Path) -> None:
    document = page(
        tmp_path,
        "```python\nfrom airflow_provider_telnyx.operators.delete import TelnyxDeleteScheduledEventOperator\n"
        "cancel = TelnyxDeleteScheduledEventOperator(task_id='c', assistant_id='a', scheduled_event_id='e')\n```\n",
    )
    with pytest.raises(AssertionError, match="cancel built outside a DAG"):
        evaluate_all(document)


def test_test_functions_must_belong_to_a_named_file(tmp_path: Path) -> None:
    document = page(tmp_path, "```python\ndef test_it():\n    assert False\n```\n")
    with pytest.raises(AssertionError, match="test_it is a test file: name it on its first line"):
        evaluate_all(document)


def test_sample_output_must_be_skipped(tmp_path: Path) -> None:
    (example,) = page(tmp_path, "```text\n  event id  123\n```\n").examples()
    assert example.region.evaluator is sample_output
    with pytest.raises(AssertionError, match="sample output"):
        example.evaluate()
    directive, skipped = page(tmp_path, '<!-- skip: next "sample" -->\n```text\n  event id  123\n```\n').examples()
    directive.evaluate()
    with pytest.raises(SkipTest, match="sample"):
        skipped.evaluate()


@pytest.mark.integration
def test_a_shell_block_checks_each_connection_it_exports(tmp_path: Path) -> None:
    good = "export AIRFLOW_CONN_TELNYX_DEFAULT='telnyx://:KEYabc123@api.telnyx.com/v2?timeout=30'\n"
    (example,) = page(tmp_path, f"```bash\n{good}```\n").examples()
    assert example.region.evaluator is run_shell
    example.evaluate()
    # The second export replaces the first in the shell; both are checked.
    bad = 'export AIRFLOW_CONN_TELNYX_DEFAULT=\'{"conn_type": "telnyx", "password": "<API key>"}\'\n'
    with pytest.raises(AssertionError, match="whitespace or non-ASCII"):
        evaluate_all(page(tmp_path, f"```bash\n{bad}{good}```\n"))
    with pytest.raises(AssertionError, match="bash exited 3"):
        evaluate_all(page(tmp_path, f"```bash\n{good}exit 3\n```\n"))


@pytest.mark.integration
def test_a_shell_block_without_a_connection_must_be_skipped(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="defines no connection cannot be checked here"):
        evaluate_all(page(tmp_path, "```bash\necho make demo\n```\n"))


@pytest.mark.integration
def test_a_sample_project_passes_only_if_every_test_it_defines_passes(tmp_path: Path) -> None:
    conftest = "```python\n# conftest.py\nimport pytest\n\n@pytest.fixture\ndef answer():\n    return 42\n```\n"
    passing = "```python\n# tests/test_a.py\ndef test_a(answer):\n    assert answer == 42\n```\n"
    evaluate_all(page(tmp_path, conftest + passing))
    wrong = "```python\n# tests/test_a.py\ndef test_a(answer):\n    assert answer == 41\n```\n"
    with pytest.raises(AssertionError, match="assert 42 == 41"):
        evaluate_all(page(tmp_path, conftest + wrong))
    skipped = "```python\n# tests/test_a.py\nimport pytest\n\ndef test_a():\n    pytest.skip('later')\n```\n"
    with pytest.raises(AssertionError, match="1 skipped"):
        evaluate_all(page(tmp_path, skipped))
