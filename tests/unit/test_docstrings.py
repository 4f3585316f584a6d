"""The public operators, sensors, triggers and the hook document every constructor argument (``:param name:``), as
the official providers do, and no docstring in the package repeats a parameter's name as its description."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

MODULES = [
    "airflow_provider_telnyx.hooks.telnyx",
    "airflow_provider_telnyx.operators.base",
    "airflow_provider_telnyx.operators.scheduled_event",
    "airflow_provider_telnyx.operators.batch",
    "airflow_provider_telnyx.operators.delete",
    "airflow_provider_telnyx.operators.export",
    "airflow_provider_telnyx.notifications.telnyx",
    "airflow_provider_telnyx.sensors.scheduled_event",
    "airflow_provider_telnyx.triggers.scheduled_event",
    "airflow_provider_telnyx.triggers.finished_events",
]
PACKAGE = Path(__file__).parents[2] / "airflow_provider_telnyx"


def public_classes() -> list[type]:
    found = []
    for name in MODULES:
        module = importlib.import_module(name)
        for attribute in getattr(module, "__all__", []):
            obj = getattr(module, attribute)
            if inspect.isclass(obj) and obj.__module__ == name:
                found.append(obj)
    return found


@pytest.mark.parametrize("cls", public_classes(), ids=lambda c: c.__qualname__)
def test_every_constructor_argument_is_documented(cls: type) -> None:
    """Every constructor argument is documented: on the class, or on a public base class it names."""
    doc = inspect.getdoc(cls) or ""
    assert doc, f"{cls.__qualname__} has no docstring"
    plain_data = "pydantic" in str(cls.__mro__) or "Enum" in str(cls.__mro__) or hasattr(cls, "__total__")
    if issubclass(cls, BaseException) or plain_data:
        return  # exceptions take a message; models and enums document their fields
    missing = []
    for owner in cls.__mro__:
        if not owner.__module__.startswith("airflow_provider_telnyx") or "__init__" not in vars(owner):
            continue
        public_base = owner is not cls and not owner.__name__.startswith("_")
        if public_base:
            assert f"{owner.__name__}`" in doc, f"{cls.__qualname__} does not name {owner.__name__}"
        # A private base's arguments are documented on the public class (its reader never sees the base).
        own_doc = (inspect.getdoc(owner) or "") if public_base else doc
        params = [
            p
            for p in inspect.signature(vars(owner)["__init__"]).parameters.values()  # the owner's own
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)  # **kwargs: the base's
        ]
        missing += [f"{owner.__name__}.{p.name}" for p in params if f":param {p.name}:" not in own_doc]
    assert missing == [], f"{cls.__qualname__}: undocumented {missing}"


def test_public_functions_have_docstrings() -> None:
    for name in MODULES:
        module = importlib.import_module(name)
        for attribute in getattr(module, "__all__", []):
            obj = getattr(module, attribute)
            if inspect.isfunction(obj):
                assert inspect.getdoc(obj), f"{name}.{attribute} has no docstring"


def test_no_parameter_is_described_by_its_own_name() -> None:
    """``:param hook: the hook.`` says nothing a reader could not guess: leave the parameter to the signature."""
    filler = re.compile(r":param (\w+): (?:the |an? )?([\w ]+?)\.?\s*$")
    found = []
    for path in PACKAGE.rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = filler.search(line)
            if match and match.group(1).replace("_", " ") == match.group(2).strip():
                found.append(f"{path.name}:{number}: {line.strip()}")
    assert found == []
