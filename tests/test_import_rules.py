"""The import rule, read from the source: which of our packages each package may import.

Why: the layering is what lets a backend install skip the simulator's pandas, networkx and SimPy, lets the model
stay the oracle nobody can bend from above, and keeps each part testable alone. A rule only in prose erodes one
convenient import at a time, so this test parses every module (a static AST scan: nothing is imported) and fails
naming the module, the line and the import that breaks it.

The layers, bottom up (README, "Layout"): `choir_model` and `choir_dask` (the LocalCluster builder) import nothing
of ours; `programs` imports `choir_model`; `sim` imports `choir_model` and `choir_dask`; `properties` imports
`choir_model`, `choir_dask` and the program driver only lazily (inside a function, or for type checking);
`reference_backend` imports `choir_model` and `programs`; `loadtest` joins the simulator, the property suite's
comparisons and the backend's client; `choir` (the command line) may import everything.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

ALLOWED: dict[str, frozenset[str]] = {
    "choir_model": frozenset(),
    "choir_dask": frozenset(),
    "programs": frozenset({"choir_model"}),
    "sim": frozenset({"choir_model", "choir_dask"}),
    "properties": frozenset({"choir_model", "choir_dask", "programs"}),
    "reference_backend": frozenset({"choir_model", "programs"}),
    "loadtest": frozenset({"choir_model", "choir_dask", "sim", "properties", "reference_backend"}),
    "choir": frozenset({"choir_model", "choir_dask", "programs", "sim", "properties", "reference_backend", "loadtest"}),
}
"""Package -> the packages of ours it may import."""

LAZY_ONLY: dict[str, frozenset[str]] = {"properties": frozenset({"programs"})}
"""Package -> packages it may import only inside a function or under `if TYPE_CHECKING:` (the property suite
runs on the model alone; the program's driver is loaded when a campaign targets it)."""

OURS = frozenset(ALLOWED)


@dataclass(frozen=True)
class Import:
    module: str  # the importing module's path, relative to the repository
    line: int
    target: str  # the imported top-level package
    eager: bool  # at module level, outside `if TYPE_CHECKING:`

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}" + ("" if self.eager else " (lazily)")


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, eager: bool = True) -> Iterator[tuple[ast.stmt, str, bool]]:
    """Every import statement under `tree` with each top-level module it names and whether it runs on import."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name.split(".")[0], eager
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                yield node, node.module.split(".")[0], eager
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _imports(node, eager=False)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from _imports(ast.Module(body=[child], type_ignores=[]), eager=False)
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]), eager=eager)
        else:
            yield from _imports(node, eager)


def package_imports(package: str) -> list[Import]:
    """Every import of one of our other packages by a module of `package`."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, target, eager in _imports(tree):
            if target in OURS and target != package:
                found.append(Import(str(path.relative_to(ROOT)), node.lineno, target, eager))
    return found


def violations(package: str) -> list[str]:
    allowed, lazy_only = ALLOWED[package], LAZY_ONLY.get(package, frozenset())
    return [
        f"{found}: {package} may import only {', '.join(sorted(allowed)) or 'nothing of ours'}"
        + (f" ({', '.join(sorted(lazy_only))} lazily)" if lazy_only else "")
        for found in package_imports(package)
        if found.target not in allowed or (found.eager and found.target in lazy_only)
    ]


def test_every_package_of_the_wheel_has_a_rule() -> None:
    """A new package must say where it sits before it can be shipped."""
    import tomllib

    wheel = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert set(wheel["packages"]) == OURS


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_the_package_imports_only_what_its_layer_allows(package: str) -> None:
    assert package_imports(package) or not ALLOWED[package], f"no import of ours found in {package}: is the scan blind?"
    problems = violations(package)
    assert not problems, "\n".join(problems)


def test_the_scan_sees_lazy_and_type_checking_imports() -> None:
    """The classifier itself: a function-level or TYPE_CHECKING import is lazy, a module-level one eager, and an
    `else:` branch of `if TYPE_CHECKING:` runs on import."""
    source = (
        "import sim.engine\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import properties\n"
        "else:\n    import programs\ndef f():\n    from reference_backend import app\n"
    )
    found = {(target, eager) for _, target, eager in _imports(ast.parse(source))}
    assert {("sim", True), ("properties", False), ("programs", True), ("reference_backend", False)} <= found


def module_graph(package: str) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports, lazily or not (a package's `__init__` excluded: it
    re-exports, and importing any submodule runs it)."""
    paths = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
        for path in (ROOT / package).rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets.add(node.module)
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
        graph[module] = {t for t in targets if t in paths and t not in (module, package)}
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph` (depth-first search), or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[module] = 2
        return None

    return next((found for module in sorted(graph) if module not in state and (found := visit(module))), None)


# `properties` (campaign, units, cluster; attacks, lockstep, coverage) and `reference_backend` (search and its two
# engines) still import each other lazily in places; their owners untangle them, then they join this list.
@pytest.mark.parametrize("package", ["choir_model", "programs", "sim", "loadtest", "choir"])
def test_no_import_cycle_inside_the_package(package: str) -> None:
    """Modules of one package import each other one way too, counting lazy imports (a cycle that only a
    function-level import hides is still a cycle: the simulator's agents, engine and scenario loader had one)."""
    found = cycle(module_graph(package))
    assert found is None, " -> ".join(found or [])


def test_the_cycle_search_finds_a_cycle() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None
