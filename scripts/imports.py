#!/usr/bin/env python3
"""Print the import graph between rockd's packages: `python scripts/imports.py [--modules]`.

Each line is `package -> packages it imports`, from the source's import statements (those
under `if TYPE_CHECKING:` included, marked `(typing)`), so anyone can see how the layers
depend on each other; `--modules` lists the module-level edges that cross packages.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "rockd"


def package_of(module: str) -> str:
    """rockd.storage.pools -> storage; rockd.app -> app (top-level modules stand alone)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _typing_only(tree: ast.Module) -> set[int]:
    """Line numbers of imports under `if TYPE_CHECKING:`."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    lines.add(inner.lineno)
    return lines


def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported rockd module, typing only) for each import of rockd in a file."""
    tree = ast.parse(path.read_text(), str(path))
    typing = _typing_only(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno in typing) for a in node.names
                      if a.name.startswith("rockd.")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rockd"):
            base = node.module
            for alias in node.names:
                full = f"{base}.{alias.name}"
                target = full if (ROOT.parent / full.replace(".", "/")).with_suffix(".py").exists() \
                    or (ROOT.parent / full.replace(".", "/")).is_dir() else base
                found.append((target, node.lineno in typing))
    return found


def edges() -> list[tuple[str, str, bool]]:
    """(importing module, imported module, typing only) for all of rockd."""
    result = []
    for path in sorted(ROOT.rglob("*.py")):
        source = module_name(path)
        result += [(source, target, typing) for target, typing in imports(path)]
    return result


def package_graph(found: list[tuple[str, str, bool]]) -> dict[str, dict[str, bool]]:
    """package -> {imported package: typing only}."""
    graph: dict[str, dict[str, bool]] = defaultdict(dict)
    for source, target, typing in found:
        a, b = package_of(source), package_of(target)
        if a != b and b != "rockd":
            graph[a][b] = graph[a].get(b, True) and typing
    return graph


def cycles(graph: dict[str, dict[str, bool]]) -> list[list[str]]:
    """The package cycles (runtime imports only), each as the packages on it."""
    runtime = {a: {b for b, typing in deps.items() if not typing} for a, deps in graph.items()}
    found: set[tuple[str, ...]] = set()

    def walk(node: str, path: list[str]) -> None:
        for nxt in sorted(runtime.get(node, ())):
            if nxt == path[0]:
                start = path.index(min(path))
                found.add(tuple(path[start:] + path[:start]))
            elif nxt not in path and nxt > path[0]:
                walk(nxt, [*path, nxt])

    for node in sorted(runtime):
        walk(node, [node])
    return [list(c) for c in sorted(found)]


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--modules", action="store_true", help="module edges across packages")
    opts = args.parse_args()
    found = edges()
    graph = package_graph(found)
    for package in sorted(graph):
        deps = ", ".join(f"{d}{' (typing)' if t else ''}" for d, t in sorted(graph[package].items()))
        print(f"{package} -> {deps}")
    loops = cycles(graph)
    print(f"\n{len(loops)} package cycles" + (":" if loops else ""))
    for loop in loops:
        print("  " + " -> ".join([*loop, loop[0]]))
    if opts.modules:
        print()
        for source, target, typing in sorted(set(found)):
            if package_of(source) != package_of(target):
                print(f"{source} -> {target}{' (typing)' if typing else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
