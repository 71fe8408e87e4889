"""The import direction is the architecture: read from the source, not from memory.

core/ is the rules and imports no front end and no framework; the front ends (dashboard,
webhook, cli, mcpserver) submit through the queue port (queueing) and import neither the worker nor
each other (web/, the one address, puts the dashboard and the webhook together and starts
the worker as a process of its own);
no module imports itself back through others (an import circle); every concept package
in core/ says what it is, its part of the glossary.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = (
    "core",
    "asgi",
    "queueing",
    "worker",
    "webhook",
    "web",
    "dashboard",
    "cli",
    "mcpserver",
)
FRAMEWORKS = ("streamlit", "huey", "starlette", "uvicorn", "mcp")
FRONT_ENDS = ("dashboard", "webhook", "cli", "mcpserver")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for top in FIRST_PARTY for path in (ROOT / top).rglob("*.py")}


def imported(path: Path) -> set[str]:
    """Every module this file imports, wherever the import stands (a lazy import inside a
    function is a dependency all the same); `from package import module` names the module."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                names.add(submodule if submodule in MODULES else node.module)
    return names


GRAPH = {
    name: {other for other in imported(path) if other in MODULES and other != name}
    for name, path in MODULES.items()
}


def top(name: str) -> str:
    return name.partition(".")[0]


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        for other in sorted(graph[name]):
            if other not in index:
                visit(other)
                low[name] = min(low[name], low[other])
            elif other in stack:
                low[name] = min(low[name], index[other])
        if low[name] == index[name]:
            group = []
            while (member := stack.pop()) != name:
                group.append(member)
            group.append(name)
            if len(group) > 1:
                found.append(sorted(group))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return found


def test_core_imports_no_front_end_and_no_framework():
    crossings = {
        (name, other)
        for name, path in MODULES.items()
        if top(name) == "core"
        for other in imported(path)
        if top(other) in (*FIRST_PARTY[1:], *FRAMEWORKS)
    }
    assert crossings == set()


def test_front_ends_submit_through_the_queue_port_and_never_import_the_worker():
    crossings = {
        (name, other)
        for name, others in GRAPH.items()
        if top(name) in (*FRONT_ENDS, "web")
        for other in others
        if top(other) == "worker"
        or (top(name) in FRONT_ENDS and top(other) != top(name) and top(other) in FRONT_ENDS)
    }
    assert crossings == set()


def test_no_module_imports_itself_back_through_others():
    assert circles(GRAPH) == []


def test_the_circle_finder_finds_a_circle():
    """The check above can fail: a made-up graph with one circle of three."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]


def test_every_package_of_core_says_what_it_is():
    packages = [path for path in (ROOT / "core").glob("*/__init__.py")]
    assert len(packages) >= 10
    silent = [
        str(path.relative_to(ROOT))
        for path in [ROOT / "core" / "__init__.py", *packages]
        if not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert silent == []
