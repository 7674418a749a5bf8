"""The import graph of the product (auditor/, checks/, reports/): layers only point down.

Read with the standard library's ``ast`` (nothing is imported, so a module that would
import something at call time is seen too): module-level and function-level imports both
count. Imports under ``if TYPE_CHECKING:`` never run; they count for the layer rules (a
layer must not even name a type of the layer above) but not for cycles (naming a type is
how a cycle is avoided).

The rules (docs/ARCHITECTURE.md):

(a) no import cycles anywhere;
(b) the probes and the protocol layer import nothing from ``checks``;
(c) the protocol layer is pure: it imports only the standard library, third-party
    libraries, ``auditor.protocol``, ``auditor.text``, ``auditor.model`` and the
    observation data classes (``auditor.obs``), never probes, engine, store, checks or
    reports;
(d) reports use the store through its public names only (``from auditor.store import
    Store``), never a store submodule nor a database driver;
(e) no database driver (``sqlite3``, ``sqlalchemy``) outside the store;
(f) Celery, kombu and redis only inside ``auditor.distributed`` (an optional extra: the
    core works without it).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("auditor", "checks", "reports")
DRIVERS = ("sqlite3", "sqlalchemy")
PROTOCOL_MAY_IMPORT = ("auditor.protocol", "auditor.text", "auditor.model", "auditor.obs")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module (a package's __init__ when a name of it is imported)
    line: int
    type_only: bool  # under ``if TYPE_CHECKING:``


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, type_only: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    """Every node below ``node``, with whether it sits under ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield stmt, True
                yield from _walk(stmt, True)
            for stmt in child.orelse:
                yield stmt, type_only
                yield from _walk(stmt, type_only)
            continue
        yield child, type_only
        yield from _walk(child, type_only)


def _base(module: str, path: Path, level: int, name: str | None) -> str:
    """The absolute module a (possibly relative) ``from ... import`` names."""
    if level == 0:
        return name or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    package = package[: len(package) - (level - 1)]
    return ".".join(package + ([name] if name else []))


def imports_of(module: str) -> list[Import]:
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: list[Import] = []
    for node, type_only in _walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                out.append(Import(module, alias.name, node.lineno, type_only))
        elif isinstance(node, ast.ImportFrom):
            base = _base(module, path, node.level, node.module)
            for alias in node.names:
                # "from auditor.probes import zone": the submodule; "from auditor.obs
                # import HostObservations": the package itself
                sub = f"{base}.{alias.name}"
                out.append(Import(module, sub if sub in MODULES else base, node.lineno, type_only))
    return out


GRAPH: dict[str, list[Import]] = {m: imports_of(m) for m in MODULES}


def _first_party(target: str) -> bool:
    return target.split(".")[0] in PACKAGES


def _within(target: str, prefix: str) -> bool:
    return target == prefix or target.startswith(prefix + ".")


def _violations(sources: str, rule: Callable[[str], bool]) -> list[str]:
    """``module:line imports target`` for every import of a module under ``sources``
    that ``rule(target)`` refuses."""
    bad = [
        f"{imp.source}:{imp.line} imports {imp.target}"
        for module, imps in GRAPH.items()
        if _within(module, sources)
        for imp in imps
        if not rule(imp.target)
    ]
    return sorted(set(bad))


def runtime_edges() -> dict[str, list[str]]:
    """module -> the first-party modules it imports at run time."""
    return {
        m: sorted({i.target for i in imps if not i.type_only and i.target in MODULES})
        for m, imps in GRAPH.items()
    }


def import_cycles(edges: dict[str, list[str]]) -> list[tuple[list[str], list[str]]]:
    """Every strongly connected component of an import graph (Tarjan's algorithm) with a
    shortest cycle (``[a, b, ..., a]``) through its first module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component: list[str] = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges[v]:
                components.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            strongconnect(v)
    return [(c, _cycle_in(c, edges)) for c in sorted(components)]


def _cycle_in(component: list[str], edges: dict[str, list[str]]) -> list[str]:
    """A shortest cycle through the first module of a strongly connected component."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt: list[str] = []
        for v in frontier:
            for w in edges[v]:
                if w not in members:
                    continue
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if w not in previous:
                    previous[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle through {start} in {component}")  # pragma: no cover


# ---------------------------------------------------------------------------------------
# the rules


def test_no_import_cycles() -> None:
    found = import_cycles(runtime_edges())
    lines: list[str] = []
    for component, cycle in found:
        lines.append(f"modules importing each other: {', '.join(component)}")
        lines.append("  e.g. " + " -> ".join(cycle))
        # every run-time import inside the component: where it can be cut
        members = set(component)
        lines += dict.fromkeys(
            f"  {i.source}:{i.line} imports {i.target}"
            for m in component
            for i in GRAPH[m]
            if i.target in members and not i.type_only
        )
    assert not found, "import cycles:\n" + "\n".join(lines)


def test_probes_and_protocol_import_no_checks() -> None:
    for layer in ("auditor.probes", "auditor.protocol"):
        bad = _violations(layer, lambda t: not _within(t, "checks"))
        assert not bad, f"{layer} imports checks:\n" + "\n".join(bad)


def test_protocol_layer_is_pure() -> None:
    def allowed(target: str) -> bool:
        if not _first_party(target):
            return target.split(".")[0] not in DRIVERS
        return any(_within(target, p) for p in PROTOCOL_MAY_IMPORT)

    bad = _violations("auditor.protocol", allowed)
    assert not bad, "auditor.protocol imports above its layer:\n" + "\n".join(bad)


def test_reports_use_only_the_store_interface() -> None:
    def allowed(target: str) -> bool:
        if target.split(".")[0] in DRIVERS:
            return False
        return not (_within(target, "auditor.store") and target != "auditor.store")

    bad = _violations("reports", allowed)
    assert not bad, "reports reach into the store:\n" + "\n".join(bad)


def test_no_database_driver_outside_the_store() -> None:
    bad = sorted(
        f"{imp.source}:{imp.line} imports {imp.target}"
        for module, imps in GRAPH.items()
        if not _within(module, "auditor.store")
        for imp in imps
        if imp.target.split(".")[0] in DRIVERS
    )
    assert not bad, "database drivers outside auditor.store:\n" + "\n".join(bad)


# ---------------------------------------------------------------------------------------
# the reader itself: a rule that can never fail would prove nothing


def test_the_reader_sees_function_level_and_from_imports() -> None:
    engine = {i.target for i in GRAPH["auditor.engine"]}
    assert "auditor.probes.zone" in engine  # "from auditor.probes import zone" in a function
    assert "auditor.probes.tls" in engine  # function-level "from auditor.probes.tls import"
    assert "auditor.obs" in engine  # "from auditor.obs import (...)": the package itself
    assert "anyio" in engine  # third-party imports are seen too
    typed = [i for i in GRAPH["auditor.selfcheck"] if i.type_only]
    assert any(i.target == "auditor.probes.context" for i in typed)


def test_a_refused_import_is_reported_with_its_line() -> None:
    bad = _violations("checks", lambda t: not _within(t, "auditor.registry"))
    assert any(v.startswith("checks.dns:") and v.endswith(" imports auditor.registry") for v in bad)
    assert _violations("checks", lambda t: True) == []


def test_cycle_finder_reports_the_path() -> None:
    edges = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": [], "x": ["x"], "y": ["d"]}
    assert import_cycles(edges) == [(["a", "b", "c"], ["a", "b", "c", "a"]), (["x"], ["x", "x"])]
    assert import_cycles({"a": ["b"], "b": ["c"], "c": [], "d": ["a", "c"]}) == []
    # a shortest way round, not the first one found depth-first
    edges = {"a": ["b", "c"], "b": ["c"], "c": ["a"]}
    assert import_cycles(edges) == [(["a", "b", "c"], ["a", "c", "a"])]


def test_relative_imports_resolve() -> None:
    path = ROOT / "auditor" / "probes" / "dns.py"
    assert _base("auditor.probes.dns", path, 1, "tcp") == "auditor.probes.tcp"
    assert _base("auditor.probes.dns", path, 2, "model") == "auditor.model"
    init = ROOT / "auditor" / "probes" / "__init__.py"
    assert _base("auditor.probes", init, 1, "dns") == "auditor.probes.dns"



def test_celery_and_redis_only_in_the_distributed_package() -> None:
    bad = sorted(
        f"{imp.source}:{imp.line} imports {imp.target}"
        for module, imps in GRAPH.items()
        if not _within(module, "auditor.distributed")
        for imp in imps
        if imp.target.split(".")[0] in ("celery", "kombu", "redis")
    )
    assert not bad, "Celery or redis outside auditor.distributed:\n" + "\n".join(bad)
    # and the rule sees them where they are (function-level imports included)
    inside = {imp.target.split(".")[0] for imp in GRAPH["auditor.distributed.app"]}
    assert "celery" in inside
