"""No module imports from a layer above its own (docs/architecture.md draws the layers)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "airflow_provider_telnyx"

#: Lowest first: a module may import from its own layer and the layers below it, never from one above.
LAYERS: dict[str, int] = {
    "__init__": 0,
    "_common": 0,
    "_compat": 0,
    "_connection_form": 0,
    "_checks": 0,
    "exceptions": 0,
    "models": 1,
    "hooks": 2,
    "utils": 3,
    "triggers": 4,
    "sensors": 5,
    "operators": 6,
    # Notifiers build their requests with the operators' argument rules (operators/_arguments.py).
    "notifications": 6,
    # The provider's metadata.
    "get_provider_info": 7,
}


def top(module: str) -> str:
    return module.removeprefix("airflow_provider_telnyx").lstrip(".").split(".")[0] or "__init__"


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("airflow_provider_telnyx"):
            found.add(top(node.module))
        elif isinstance(node, ast.Import):
            found |= {top(alias.name) for alias in node.names if alias.name.startswith("airflow_provider_telnyx")}
    return found


def modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if top(path.relative_to(PACKAGE).parts[0]) != "testing")


def own_layer(path: Path) -> str:
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_import_from_a_higher_layer(path: Path) -> None:
    layer = own_layer(path)
    assert layer in LAYERS, f"{layer} has no layer: add it to LAYERS and docs/architecture.md"
    upward = {name for name in imports(path) if LAYERS[name] > LAYERS[layer] and name != layer}
    assert upward == set()


def test_the_simulator_shares_nothing_with_the_client() -> None:
    """testing/ answers as the API does from its own rules: it imports no model, hook or operator of ours."""
    for path in (PACKAGE / "testing").rglob("*.py"):
        assert imports(path) <= {"testing"}, path


def test_the_layer_check_sees_upward_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from airflow_provider_telnyx.operators.batch import X\nimport airflow_provider_telnyx.utils\n")
    assert imports(sample) == {"operators", "utils"}


def module_name(path: Path) -> str:
    if not path.is_relative_to(PACKAGE.parent):
        return path.stem
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_time_edges(path: Path) -> set[str]:
    """The modules of ours ``path`` imports when it is imported: module level, outside ``if TYPE_CHECKING:``."""
    found: set[str] = set()
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If):
                checking = "TYPE_CHECKING" in ast.unparse(node.test)
                visit(node.orelse if checking else node.body + node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body + node.orelse + node.finalbody + [n for h in node.handlers for n in h.body])
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
                if base.startswith("airflow_provider_telnyx"):
                    found.add(base)
                    found.update(f"{base}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("airflow_provider_telnyx"))

    visit(ast.parse(path.read_text()).body)
    return found


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle a depth-first walk meets (each as the modules along it, the first repeated at the end)."""
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def walk(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                walk(target, [*trail, target])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name, [name])
    return cycles


def test_no_import_cycle_anywhere_in_the_package() -> None:
    names = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {name: {e for e in import_time_edges(path) if e in names and e != name} for name, path in names.items()}
    assert find_cycles(graph) == []


def test_the_cycle_check_sees_a_cycle(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "if TYPE_CHECKING:\n    from airflow_provider_telnyx.hooks import x\n"
        "from airflow_provider_telnyx.models import y\n"
    )
    assert import_time_edges(sample) == {"airflow_provider_telnyx.models", "airflow_provider_telnyx.models.y"}
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
