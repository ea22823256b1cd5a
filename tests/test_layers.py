"""The package layering of DESIGN.md, enforced: arrows point down only.

scenario → targets → sim / voicemail / peers → core → sip / media / smdi. The simulator never
imports the server (every server is a black box to it), the server never imports the simulator
or the scenario layer, report renders records and knows no scenario, and the protocol layers know
no application. Every import counts, including those under ``TYPE_CHECKING`` and inside
functions: a cycle hidden from the interpreter is still a cycle for the reader.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

HARNESS = Path(__file__).resolve().parent.parent / "harness"

PROTOCOL = frozenset({"sip", "media", "smdi"})
#: What each package may import besides itself (``harness`` alone is the package's version).
ALLOWED: dict[str, frozenset[str]] = {
    "sip": PROTOCOL,
    "media": PROTOCOL,
    "smdi": PROTOCOL,
    "core": PROTOCOL,
    "yaml_problems": frozenset(),
    "library": frozenset(),
    "voicemail": PROTOCOL | {"core"},
    "sim": PROTOCOL | {"core", "yaml_problems"},
    "peers": PROTOCOL | {"core"},
    "report": PROTOCOL | {"core"},
    "targets": PROTOCOL | {"core", "voicemail", "sim", "peers", "report"},
    "scenario": PROTOCOL | {"core", "sim", "peers", "targets", "report", "yaml_problems", "load"},
    "load": PROTOCOL | {"core", "sim", "targets", "report"},
    "cli": PROTOCOL | {"core", "voicemail", "report", "scenario", "targets", "library", "load"},
    "pytest_plugin": PROTOCOL | {"core", "peers", "report", "scenario", "targets"},
}

#: Names that say nothing about what a module holds.
VAGUE_NAMES = frozenset({"utils", "util", "helpers", "helper", "common", "misc", "manager"})


def _package(module: str) -> str:
    """``harness.sim.proxy`` → ``sim``; ``harness.targets`` → ``targets``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _module_name(path: Path) -> str:
    parts = path.relative_to(HARNESS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """Each ``harness`` module ``path`` imports, with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "harness":
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            where = f"{path}:{node.lineno}"
            assert node.level == 0, f"{where}: relative import; the project imports by full name"
            if node.module is None or node.module.split(".")[0] != "harness":
                continue
            if node.module == "harness":
                # ``from harness import x``: x is a top-level module (or the version).
                for alias in node.names:
                    yield node.lineno, f"harness.{alias.name}"
            else:
                yield node.lineno, node.module


def _sources() -> list[Path]:
    return sorted(HARNESS.rglob("*.py"))


def _edges() -> dict[str, dict[str, str]]:
    """Package → imported package → the first place (``file:line``) that imports it."""
    edges: dict[str, dict[str, str]] = {}
    for path in _sources():
        source = _package(_module_name(path))
        for line, module in _imports(path):
            target = _package(module)
            if target in (source, "harness", "__version__"):
                continue
            edges.setdefault(source, {}).setdefault(
                target, f"{path.relative_to(HARNESS.parent)}:{line}"
            )
    return edges


def test_every_package_has_a_place_in_the_layers() -> None:
    packages = {_package(_module_name(path)) for path in _sources()} - {"harness"}
    unplaced = sorted(packages - ALLOWED.keys())
    assert not unplaced, f"packages with no place in the layer table: {unplaced}"


def _crossings(edges: dict[str, dict[str, str]]) -> list[str]:
    return sorted(
        f"{where}: {source} imports {target}"
        for source, targets in edges.items()
        for target, where in targets.items()
        if target not in ALLOWED.get(source, frozenset())
    )


def _cycle(edges: dict[str, dict[str, str]]) -> list[str] | None:
    """The first import cycle between packages, as a path that ends where it starts."""
    visiting: list[str] = []
    done: set[str] = set()

    def visit(package: str) -> list[str] | None:
        if package in visiting:
            return [*visiting[visiting.index(package) :], package]
        if package in done:
            return None
        visiting.append(package)
        for target in sorted(edges.get(package, {})):
            found = visit(target)
            if found:
                return found
        visiting.pop()
        done.add(package)
        return None

    for package in sorted(edges):
        found = visit(package)
        if found:
            return found
    return None


def test_imports_point_down_only() -> None:
    crossings = _crossings(_edges())
    assert not crossings, "imports across a layer boundary:\n" + "\n".join(crossings)


def test_no_import_cycle_between_packages() -> None:
    cycle = _cycle(_edges())
    assert cycle is None, "import cycle: " + " → ".join(cycle or ())


def test_modules_are_named_after_what_they_hold() -> None:
    vague = [
        str(path.relative_to(HARNESS.parent)) for path in _sources() if path.stem in VAGUE_NAMES
    ]
    assert not vague, f"modules named for nothing in particular: {vague}"


def test_the_checks_catch_a_simulator_importing_the_server_and_a_cycle() -> None:
    edges = {
        "sim": {"voicemail": "harness/sim/phone.py:34"},
        "report": {"scenario": "harness/report/trace.py:34"},
        "scenario": {"report": "harness/scenario/runner.py:37"},
    }
    assert _crossings(edges) == [
        "harness/report/trace.py:34: report imports scenario",
        "harness/sim/phone.py:34: sim imports voicemail",
    ]
    assert _cycle(edges) == ["report", "scenario", "report"]
