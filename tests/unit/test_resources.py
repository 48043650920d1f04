"""rockd.core.resources: every resource type is exported from the package and refuses keys it
does not name (what lets a test of a running rockd's tree catch an undeclared field)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from pydantic import TypeAdapter, ValidationError
from typing_extensions import is_typeddict

from rockd.core import resources


def _typeddicts() -> dict[str, type]:
    found = {}
    for info in pkgutil.iter_modules(resources.__path__):
        module = importlib.import_module(f"{resources.__name__}.{info.name}")
        found |= {name: value for name, value in vars(module).items()
                  if is_typeddict(value) and value.__module__ == module.__name__}
    return found


def test_every_resource_type_is_exported_and_exact():
    kinds = _typeddicts()
    assert len(kinds) > 40
    assert set(kinds) <= set(resources.__all__)
    for name, kind in [*kinds.items(), ("State", resources.State)]:
        assert kind.__pydantic_config__ == {"extra": "forbid"}, name


def test_an_undeclared_field_is_refused():
    group = {"name": "staff", "gid": 50, "members": [], "system": True}
    assert TypeAdapter(resources.Group).validate_python(group) == group
    with pytest.raises(ValidationError, match="extra_forbidden"):
        TypeAdapter(resources.Group).validate_python({**group, "extra": 1})
