"""Every public class documents every constructor argument (``:param name:``), as the official providers do."""

from __future__ import annotations

import importlib
import inspect

import pytest

MODULES = [
    "airflow_provider_telnyx.hooks.telnyx",
    "airflow_provider_telnyx.operators.scheduled_event",
    "airflow_provider_telnyx.sensors.scheduled_event",
    "airflow_provider_telnyx.triggers.scheduled_event",
    "airflow_provider_telnyx.models",
    "airflow_provider_telnyx.exceptions",
    "airflow_provider_telnyx.waiting",
    "airflow_provider_telnyx.batch",
    "airflow_provider_telnyx.testing.simulator",
    "airflow_provider_telnyx.testing.clock",
]


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
    doc = inspect.getdoc(cls) or ""
    assert doc, f"{cls.__qualname__} has no docstring"
    plain_data = "pydantic" in str(cls.__mro__) or "Enum" in str(cls.__mro__) or hasattr(cls, "__total__")
    if issubclass(cls, BaseException) or plain_data:
        return  # exceptions take a message; models and enums document their fields
    params = [
        p
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)  # **kwargs: BaseOperator's
    ]
    missing = [p.name for p in params if f":param {p.name}:" not in doc]
    assert missing == [], f"{cls.__qualname__}: undocumented {missing}"


def test_public_functions_have_docstrings() -> None:
    for name in MODULES:
        module = importlib.import_module(name)
        for attribute in getattr(module, "__all__", []):
            obj = getattr(module, attribute)
            if inspect.isfunction(obj):
                assert inspect.getdoc(obj), f"{name}.{attribute} has no docstring"
