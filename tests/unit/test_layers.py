"""The layers of docs/ARCHITECTURE.md, checked on the source: every import of a rockd module by
another package is one its package's rule allows, and no two packages import each other, even
only for typing. `python scripts/imports.py` prints the same graph."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("imports", ROOT / "scripts" / "imports.py")
imports = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(imports)

BASE = {"core", "config"}
ALLOWED = {  # package (or top-level module) -> the packages it may import
    "core": set(),
    "config": {"core"},
    "storage": BASE,
    "jobs": BASE | {"storage"},
    "watchers": BASE,
    "accounts": BASE | {"watchers"},
    "services": BASE | {"storage", "watchers", "accounts"},
    "apps": BASE | {"storage", "jobs", "watchers"},
    "transfer": BASE | {"storage", "jobs"},
    "system": BASE,
    "system_metrics": BASE,
    "notify": BASE,
    "tls": BASE,
    "alerts": BASE,
    "events": BASE,
    "host": BASE | {"watchers", "storage", "system"},
    "network": BASE | {"watchers"},
    "ups": BASE | {"watchers"},
    "backup": BASE | {"storage", "jobs", "watchers", "accounts", "services", "apps", "transfer"},
    "handlers": BASE | {"storage", "jobs", "watchers", "accounts", "services", "apps",
                        "transfer", "system", "system_metrics", "tls", "alerts", "events",
                        "backup", "network", "host", "ups"},
}
TOP = {"app", "cli", "demo"}  # they build the daemon from everything


def test_every_import_is_one_its_layer_allows():
    graph = imports.package_graph(imports.edges())
    wrong = {package: sorted(set(deps) - ALLOWED[package])
             for package, deps in graph.items()
             if package not in TOP and set(deps) - ALLOWED.get(package, set())}
    assert wrong == {}, "\n".join(
        f"{source} -> {target}" for source, target, _ in imports.edges()
        if imports.package_of(target) in wrong.get(imports.package_of(source), ()))


def test_every_package_has_a_rule():
    packages = {imports.package_of(imports.module_name(p))
                for p in (ROOT / "rockd").rglob("*.py")} - {"rockd"}
    assert packages - TOP - set(ALLOWED) == set()


def test_no_package_cycles():
    assert imports.cycles(imports.package_graph(imports.edges())) == []


def test_typing_only_imports_count():
    graph = imports.package_graph([("rockd.a.x", "rockd.b.y", True)])
    assert graph == {"a": {"b": True}}
