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
    "exceptions": 0,
    "models": 1,
    "hooks": 2,
    "utils": 3,
    "triggers": 4,
    "sensors": 5,
    "operators": 6,
    # Notifiers build their requests with the operators' argument rules (operators/_arguments.py).
    "notifications": 6,
    # Old import paths kept working and the provider's metadata: they only re-export.
    "batch": 7,
    "waiting": 7,
    "get_provider_info": 7,
}

#: Deliberate exceptions, each with its reason.
ALLOWED = {
    # Lazy (PEP 562 ``__getattr__``) re-export of the error decoding that used to live in exceptions.py.
    ("exceptions", "hooks"): "old import path, resolved on first use only",
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
    upward = {
        name
        for name in imports(path)
        if LAYERS[name] > LAYERS[layer] and (layer, name) not in ALLOWED and name != layer
    }
    assert upward == set()


def test_the_simulator_shares_nothing_with_the_client() -> None:
    """testing/ answers as the API does from its own rules: it imports no model, hook or operator of ours."""
    for path in (PACKAGE / "testing").rglob("*.py"):
        assert imports(path) <= {"testing"}, path


def test_the_layer_check_sees_upward_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from airflow_provider_telnyx.operators.batch import X\nimport airflow_provider_telnyx.utils\n")
    assert imports(sample) == {"operators", "utils"}
