"""The import graph of monitor/: the configuration (monitor.config) sits below the components
it feeds, module by module and package by package.

The graph is read from the source with ``ast``: every ``import`` and ``from ... import`` of a
``monitor`` module, at module level and inside functions (a deferred import still runs), except
under ``if TYPE_CHECKING:``; importing ``monitor.a.b`` also runs ``monitor/a/__init__.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import monitor

ROOT = Path(monitor.__file__).resolve().parent

CONFIG = "monitor.config"
#: what the configuration feeds (and so may not import)
CONSUMERS = (
    "monitor.daemon",
    "monitor.sources",
    "monitor.notify",
    "monitor.render",
    "monitor.engine",
    "monitor.runtime",
    "monitor.pipeline",
    "monitor.commands",
    "monitor.cli",
    "monitor.demo",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    own = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
    out: set[str] = set()
    for name in found:
        parts = name.split(".")
        # importing a.b.c runs a, a.b and a.b.c (a module's own packages are already running)
        out.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return {m for m in out if m in known and m != module and m not in own}


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in ROOT.rglob("*.py")}
    known = set(files)
    return {
        name: _imports(
            ast.parse(path.read_text(encoding="utf-8")), name, path.stem == "__init__", known
        )
        for name, path in files.items()
    }


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The same imports between monitor's packages (monitor.daemon, monitor.config, ...) and
    top-level modules (monitor.pipeline, ...)."""
    out: dict[str, set[str]] = {}
    for module, deps in graph.items():
        here = _package(module)
        out.setdefault(here, set()).update(_package(d) for d in deps if _package(d) != here)
    return out


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def reachable(graph: dict[str, set[str]], start: str) -> dict[str, list[str]]:
    """Every module ``start`` imports, directly or not, with one chain that leads there."""
    chains = {start: [start]}
    todo = [start]
    while todo:
        current = todo.pop()
        for nxt in sorted(graph.get(current, ())):
            if nxt not in chains:
                chains[nxt] = [*chains[current], nxt]
                todo.append(nxt)
    return chains


def test_the_graph_sees_deferred_imports() -> None:
    """The graph is not blind: runner imports config at module level, the pipeline imports
    reconcile inside a function, and an import under TYPE_CHECKING is left out."""
    graph = import_graph()
    assert "monitor.config" in graph["monitor.daemon.runner"]
    assert "monitor.notify.reconcile" in graph["monitor.pipeline"]
    assert "monitor.config.sources" not in graph["monitor.daemon.ops"]


def test_the_graph_finds_a_package_cycle() -> None:
    """A package that imports one that imports it back is on a cycle, so the checks below can
    fail: two modules of different packages importing each other make their packages a cycle."""
    graph = {"monitor.a.x": {"monitor.b.y"}, "monitor.b.y": {"monitor.a.x"}}
    packages = package_graph(graph)
    assert "monitor.b" in reachable(packages, "monitor.a")
    assert "monitor.a" in reachable(packages, "monitor.b")


def test_the_runner_does_not_import_the_service() -> None:
    """The service runs its jobs on the runner's components; the runner reaches nothing of the
    service, so the two do not import each other."""
    chains = reachable(import_graph(), "monitor.daemon.runner")
    assert "monitor.daemon.service" not in chains, " -> ".join(chains["monitor.daemon.service"])


def test_render_and_notify_do_not_import_each_other() -> None:
    """Channels (notify) use the renderer; the renderer reaches nothing of notify, directly or
    not: what both need (Notice, Digest) is in monitor.notice below them."""
    packages = package_graph(import_graph())
    chains = reachable(packages, "monitor.render")
    assert "monitor.notify" not in chains, " -> ".join(chains["monitor.notify"])


def test_config_is_on_no_import_cycle() -> None:
    """Nothing monitor.config imports, directly or not, imports monitor.config back: neither
    between modules nor between packages (config imports no part of the daemon)."""
    graph = import_graph()
    for modules in (graph, package_graph(graph)):
        for module in sorted(m for m in modules if _package(m) == CONFIG):
            chains = reachable(modules, module)
            back = [
                chains[m]
                for m in sorted(chains)
                if _package(m) != CONFIG and CONFIG in {_package(d) for d in modules[m]}
            ]
            assert not back, f"{module} is on an import cycle: {' -> '.join(back[0])} -> config"


def test_config_imports_none_of_its_consumers() -> None:
    """monitor.config never reaches the daemon, sources, channels, engine or commands."""
    graph = import_graph()
    for module in sorted(m for m in graph if _package(m) == CONFIG):
        chains = reachable(graph, module)
        reached = sorted(m for m in chains if m.startswith(CONSUMERS))
        assert not reached, f"{module} imports {' -> '.join(chains[reached[0]])}"


FOUNDATIONS = {
    "monitor",
    "monitor.errors",
    "monitor.clock",
    "monitor.model",
    "monitor.notice",
    "monitor.yamlload",
    "monitor.http",
    "monitor.resources",
    "monitor.countries",
}
_BELOW_PIPELINE = {
    "monitor.store",
    "monitor.config",
    "monitor.config_checks",
    "monitor.sources",
    "monitor.render",
    "monitor.engine",
    "monitor.notify",
}
_BELOW_DAEMON = _BELOW_PIPELINE | {"monitor.pipeline", "monitor.runtime"}
#: what each package may import besides the foundations (docs/ARCHITECTURE.md, bottom to top)
ALLOWED = {
    "monitor.store": set(),
    "monitor.config_checks": {"monitor.store"},
    "monitor.config": {"monitor.config_checks", "monitor.store"},
    "monitor.sources": {"monitor.config", "monitor.config_checks"},
    "monitor.render": {"monitor.config_checks"},
    "monitor.engine": {"monitor.config_checks", "monitor.render"},
    "monitor.notify": {
        "monitor.config",
        "monitor.config_checks",
        "monitor.store",
        "monitor.render",
    },
    "monitor.runtime": _BELOW_PIPELINE,
    "monitor.pipeline": _BELOW_PIPELINE | {"monitor.runtime"},
    "monitor.daemon": _BELOW_DAEMON,
    "monitor.web": _BELOW_DAEMON | {"monitor.daemon"},
    "monitor.demo": _BELOW_DAEMON | {"monitor.daemon"},
    "monitor.commands": _BELOW_DAEMON | {"monitor.daemon", "monitor.web", "monitor.demo"},
    "monitor.cli": {"monitor.commands"},
    "monitor.__main__": {"monitor.cli"},
}


def test_foundations_import_only_foundations() -> None:
    """errors, clock, model, notice, yamlload, http, resources and countries import nothing of
    the program but each other."""
    packages = package_graph(import_graph())
    for module in sorted(FOUNDATIONS):
        outside = sorted(packages.get(module, set()) - FOUNDATIONS)
        assert not outside, f"{module} imports {', '.join(outside)}"


def test_every_package_is_in_the_table() -> None:
    """A new package gets its row in ALLOWED (and docs/ARCHITECTURE.md), not a free pass."""
    packages = package_graph(import_graph())
    unknown = sorted(set(packages) - FOUNDATIONS - set(ALLOWED))
    assert not unknown, f"packages with no import rule: {', '.join(unknown)}"


def test_packages_import_only_what_the_architecture_allows() -> None:
    """Each package imports only the packages below it (docs/ARCHITECTURE.md): sources ->
    store -> engine -> notify -> channels, with pipeline, daemon, web and commands on top."""
    graph = import_graph()
    packages = package_graph(graph)
    wrong = []
    for package, allowed in sorted(ALLOWED.items()):
        for dep in sorted(packages.get(package, set()) - allowed - FOUNDATIONS):
            module, target = next(
                (m, d)
                for m, deps in sorted(graph.items())
                if _package(m) == package
                for d in sorted(deps)
                if _package(d) == dep
            )
            wrong.append(f"{package} may not import {dep} ({module} imports {target})")
    assert not wrong, "\n".join(wrong)


def test_no_package_is_on_an_import_cycle() -> None:
    """No package reaches itself again through the packages it imports."""
    packages = package_graph(import_graph())
    for package in sorted(packages):
        for dep in sorted(packages[package]):
            chains = reachable(packages, dep)
            assert package not in chains, f"cycle: {package} -> {' -> '.join(chains[package])}"
