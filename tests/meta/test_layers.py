"""The architecture, pinned: the order of the layers, no import cycle, no module over 600 lines.

The import graph is read from the source with ``ast`` (nothing is imported), each edge
classified as *runtime* (at module level), *lazy* (inside a function) or *typing* (under
``if TYPE_CHECKING:``). ``docs/internals.md`` draws the same layers.
"""

from __future__ import annotations

import ast
import pathlib
from collections import defaultdict

SRC = pathlib.Path(__file__).resolve().parents[2] / "src"

# Bottom to top. A module may import (at run time or lazily) only from its own layer or
# below. Layers of more than one package are side by side and must not import each other.
LAYERS: list[tuple[str, ...]] = [
    ("triomas._messages",),
    ("triomas._time",),
    ("triomas._agent",),
    ("triomas._supervision",),
    ("triomas._runtime",),
    ("triomas._net",),
    ("triomas.bdi",),
    ("triomas._open",),
    ("triomas._node",),
    ("triomas.mosaik", "triomas.otel"),
    ("triomas.testing",),
    ("triomas._cli",),
    ("triomas", "triomas.__main__"),
]

# Typing-only edges that point up or sideways across subpackages, each with why.
ALLOWED_TYPING_BACK_EDGES: dict[tuple[str, str], str] = {
    ("triomas._agent.agent", "triomas._runtime.container"): (
        "Agent.container is public API and returns the Container; the agent never calls it"
    ),
    ("triomas._agent.context", "triomas._runtime.container"): (
        "the context hands the agent its Container for Agent.container, and nothing else"
    ),
    ("triomas._agent.context", "triomas._supervision.spec"): (
        "supervise() passes a Supervisor's settings (Strategy, Backoff, ...) through untouched"
    ),
    ("triomas._messages.ref", "triomas._runtime.cell"): (
        "AgentRef carries the cell it was made for, opaque to everything but the runtime, "
        "so that a tell by reference needs no lookup (live fan-out in benchmarks/run.py)"
    ),
}

MAX_LINES = 600


def _modules() -> dict[str, pathlib.Path]:
    mods = {}
    for path in (SRC / "triomas").rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        mods[name] = path
    return mods


MODULES = _modules()


def _targets(current: str, node: ast.ImportFrom) -> list[str]:
    is_package = MODULES[current].name == "__init__.py"
    package = current if is_package else current.rpartition(".")[0]
    if node.level:
        parts = package.split(".")
        base = ".".join(parts[: len(parts) - node.level + 1])
    else:
        base = ""
    module = ".".join(x for x in (base, node.module) if x)
    found = []
    for alias in node.names:
        sub = f"{module}.{alias.name}"
        found.append(sub if sub in MODULES else module)
    return found


def _edges() -> dict[tuple[str, str], set[str]]:
    edges: dict[tuple[str, str], set[str]] = defaultdict(set)

    def visit(current: str, node: ast.AST, kind: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for stmt in child.body:
                    visit(current, ast.Module([stmt], []), "typing")
                continue
            is_function = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            sub = "lazy" if kind == "runtime" and is_function else kind
            if isinstance(child, ast.ImportFrom):
                for target in _targets(current, child):
                    if target in MODULES and target != current:
                        edges[current, target].add(sub)
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name in MODULES and alias.name != current:
                        edges[current, alias.name].add(sub)
            visit(current, child, sub)

    for name, path in MODULES.items():
        visit(name, ast.parse(path.read_text()), "runtime")
    return edges


EDGES = _edges()


def _layer(module: str) -> int:
    best = -1
    best_len = -1
    for index, packages in enumerate(LAYERS):
        for package in packages:
            if (module == package or module.startswith(package + ".")) and len(package) > best_len:
                best, best_len = index, len(package)
    assert best >= 0, f"{module} is in no layer: add it to LAYERS"
    return best


def _package(module: str) -> str:
    """The subpackage a module belongs to (the top-level package for top-level modules)."""
    parts = module.split(".")
    return (
        ".".join(parts[:2]) if len(parts) > 2 or MODULES[module].name == "__init__.py" else module
    )


def test_every_module_is_in_a_layer() -> None:
    for module in MODULES:
        _layer(module)


def test_imports_point_down_the_layers() -> None:
    wrong = []
    for (a, b), kinds in sorted(EDGES.items()):
        if kinds - {"typing"} and _layer(b) > _layer(a):
            wrong.append(f"{a} -> {b} ({', '.join(sorted(kinds))})")
        elif (
            kinds - {"typing"}
            and _layer(b) == _layer(a)
            and _package(a) != _package(b)
            and a not in ("triomas", "triomas.__main__")
        ):
            wrong.append(f"{a} -> {b}: side by side layers must not import each other")
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def _cycles(kinds: set[str]) -> list[set[str]]:
    adjacent: dict[str, set[str]] = defaultdict(set)
    for (a, b), found in EDGES.items():
        if found & kinds:
            adjacent[a].add(b)
    reach: dict[str, set[str]] = {}
    for module in MODULES:
        seen: set[str] = set()
        todo = list(adjacent[module])
        while todo:
            other = todo.pop()
            if other not in seen:
                seen.add(other)
                todo.extend(adjacent[other])
        reach[module] = seen
    cycles = []
    for module in MODULES:
        if module in reach[module]:
            cycle = {other for other in reach[module] if module in reach[other]} | {module}
            if cycle not in cycles:
                cycles.append(cycle)
    return cycles


def test_no_import_cycle_at_run_time() -> None:
    # Module-level and function-level imports alike.
    assert _cycles({"runtime", "lazy"}) == []


def test_typing_back_edges_stay_inside_one_subpackage() -> None:
    wrong = []
    for (a, b), kinds in sorted(EDGES.items()):
        if kinds != {"typing"} or (_layer(b) <= _layer(a) and _package(a) == _package(b)):
            continue
        if _layer(b) < _layer(a):
            continue  # a typing edge downward is an ordinary edge
        if _package(a) != _package(b) and (a, b) not in ALLOWED_TYPING_BACK_EDGES:
            wrong.append(f"{a} -> {b}")
    assert not wrong, "typing-only imports up across subpackages:\n" + "\n".join(wrong)


def test_the_allowed_back_edges_are_all_still_needed() -> None:
    for edge in ALLOWED_TYPING_BACK_EDGES:
        assert EDGES.get(edge) == {"typing"}, f"{edge} is no longer a typing-only edge"


def test_no_module_over_600_lines() -> None:
    long = {
        name: count
        for name, path in MODULES.items()
        if (count := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"
