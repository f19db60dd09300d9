"""Layers import only downward: every import of every module, read with ``ast``.

The layers are declared in :mod:`marsutils.core.layers`. An import counts wherever it is written
(top level, inside a function, under ``if TYPE_CHECKING``), absolute or relative; importing
``marsutils.a.b`` also imports the package ``marsutils.a`` (its ``__init__`` runs first).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from marsutils.core.layers import LAYER_NAMES, LAYERS, layer_of

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "marsutils"


def module_name(path: Path, package_dir: Path = PACKAGE_DIR) -> str:
    """``marsutils/study/xai/report.py`` -> ``…study.xai.report`` (``__init__``: the package)."""
    parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules(package_dir: Path = PACKAGE_DIR) -> dict[str, tuple[str, bool]]:
    """Every module of the package: dotted name -> (source, is a package ``__init__``)."""
    return {
        module_name(path, package_dir): (
            path.read_text(encoding="utf-8"),
            path.name == "__init__.py",
        )
        for path in sorted(package_dir.rglob("*.py"))
    }


def imported_modules(
    module: str, source: str, *, is_package: bool, known: Callable[[str], bool]
) -> list[tuple[str, int]]:
    """The ``marsutils`` modules that ``source`` imports, with the line of each import.

    ``from X import name`` imports the module ``X.name`` when ``known`` says it is one, else ``X``.
    The packages above every imported module are imported too (their ``__init__`` runs first),
    except the importing module's own packages, which are already loaded.
    """
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(source)):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            targets = [
                f"{origin}.{alias.name}" if known(f"{origin}.{alias.name}") else origin
                for alias in node.names
            ]
        for target in targets:
            if target != "marsutils" and not target.startswith("marsutils."):
                continue
            parts = target.split(".")
            for end in range(2, len(parts) + 1):
                name = ".".join(parts[:end])
                own_package = module == name or module.startswith(name + ".")
                if not own_package:
                    found.append((name, node.lineno))
    return sorted(set(found))


def layer_violations(
    sources: Mapping[str, tuple[str, bool]],
    layer: Callable[[str], int | None] = layer_of,
) -> list[str]:
    """One message per import from a layer above the importing module's own, and per module with
    no layer (``module -> imported (layer a name imports layer b name)``)."""
    problems = []
    for module, (source, is_package) in sorted(sources.items()):
        own = layer(module)
        if own is None:
            problems.append(f"{module} has no layer: add it to marsutils/core/layers.py LAYERS")
            continue
        for target, line in imported_modules(
            module, source, is_package=is_package, known=sources.__contains__
        ):
            theirs = layer(target)
            if theirs is None:
                problems.append(f"{module}:{line} -> {target}, which has no layer")
            elif theirs > own:
                problems.append(
                    f"{module}:{line} -> {target} (layer {own} {LAYER_NAMES[own]} imports layer "
                    f"{theirs} {LAYER_NAMES[theirs]})"
                )
    return problems


def test_every_module_imports_only_downward():
    problems = layer_violations(package_modules())
    assert not problems, "upward or undeclared imports:\n" + "\n".join(problems)


def test_figures_are_built_without_pyplot():
    """Every plot is a pyplot-free ``Figure``: no module of the figures layer imports pyplot."""
    offenders = []
    for module, (source, _) in package_modules().items():
        if layer_of(module) != 4:
            continue
        for node in ast.walk(ast.parse(source)):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            names += [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            if any(name.startswith("matplotlib.pyplot") for name in names):
                offenders.append(f"{module}:{node.lineno}")
    assert not offenders, f"pyplot imported by the figures layer: {offenders}"


def test_every_declared_layer_names_an_existing_module():
    modules = set(package_modules())
    stale = sorted(name for name in LAYERS if f"marsutils.{name}" not in modules)
    assert not stale, f"marsutils/core/layers.py declares modules that do not exist: {stale}"
    assert set(LAYERS.values()) <= set(LAYER_NAMES)


# --------------------------------------------------------------------------------------------
# the checker itself catches what it must (synthetic sources)
# --------------------------------------------------------------------------------------------

_LAYERS = {"marsutils": 1, "marsutils.low": 1, "marsutils.pkg": 2, "marsutils.pkg.mid": 2}
_LAYERS |= {"marsutils.pkg.study": 3, "marsutils.figs": 4}


def _check(sources: dict[str, str]) -> list[str]:
    modules = {"marsutils": ("", True), "marsutils.pkg": ("", True)}
    modules |= {name: ("", False) for name in _LAYERS if name not in modules}
    modules |= {
        name: (text, name in ("marsutils", "marsutils.pkg")) for name, text in sources.items()
    }
    return layer_violations(modules, lambda name: _LAYERS.get(name))


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        (
            "marsutils.low",
            "import numpy\n\ndef f():\n    from marsutils.figs import plot\n",
            "marsutils.low:4 -> marsutils.figs (layer 1 core imports layer 4 figures)",
        ),
        (
            "marsutils.pkg.mid",
            "from . import study\n",
            "marsutils.pkg.mid:1 -> marsutils.pkg.study (layer 2 library imports layer 3 study)",
        ),
        (
            "marsutils.pkg.mid",
            "from ..figs import plot\n",
            "marsutils.pkg.mid:1 -> marsutils.figs (layer 2 library imports layer 4 figures)",
        ),
        (
            "marsutils.pkg",
            "from .study import run\n",
            "marsutils.pkg:1 -> marsutils.pkg.study (layer 2 library imports layer 3 study)",
        ),
        (
            "marsutils.low",
            "import marsutils.pkg.mid as m\n",
            "marsutils.low:1 -> marsutils.pkg (layer 1 core imports layer 2 library)",
        ),
        (
            "marsutils.low",
            "if TYPE_CHECKING:\n    from marsutils.pkg.mid import X\n",
            "marsutils.low:2 -> marsutils.pkg.mid (layer 1 core imports layer 2 library)",
        ),
    ],
)
def test_the_checker_catches_a_planted_upward_import(module, source, expected):
    assert expected in _check({module: source})


def test_the_checker_accepts_downward_and_same_layer_imports():
    sources = {
        "marsutils.figs": "from marsutils.pkg import study\nfrom .low import x\n",
        "marsutils.pkg.study": "from . import mid\nfrom ..low import x\nimport marsutils.pkg.mid\n",
        "marsutils.pkg.mid": "from marsutils.pkg import something\nimport os\n",
    }
    assert _check(sources) == []


def test_the_checker_names_a_module_without_a_layer():
    modules = {"marsutils": ("", True), "marsutils.new": ("import marsutils.low\n", False)}
    modules["marsutils.low"] = ("", False)
    problems = layer_violations(modules, lambda name: _LAYERS.get(name))
    assert problems == ["marsutils.new has no layer: add it to marsutils/core/layers.py LAYERS"]


def test_layer_of_is_the_layer_of_the_first_folder():
    assert layer_of("marsutils.xai.methods") == LAYERS["xai"] == 2
    assert layer_of("marsutils.figures.xai") == LAYERS["figures"] == 4
    assert layer_of("marsutils.study.xai.report") == 3
    assert layer_of("marsutils.no_such_module") is None
    assert layer_of("marsutils") == 1


def test_no_module_sits_at_the_top_of_the_package():
    """The tree is the architecture: every module is in a layer's folder (issue 24)."""
    top = sorted(path.name for path in PACKAGE_DIR.glob("*.py"))
    assert top == ["__init__.py", "__main__.py"], top
    assert (PACKAGE_DIR / "__init__.py").read_text(encoding="utf-8").strip() == ""


def import_cycles(sources: Mapping[str, tuple[str, bool]]) -> list[list[str]]:
    """The import circles among ``sources``: each strongly connected component of two or more
    modules of the import graph (every import, wherever it is written), sorted."""
    graph = {
        module: {
            target
            for target, _ in imported_modules(
                module, source, is_package=is_package, known=sources.__contains__
            )
            if target in sources
        }
        for module, (source, is_package) in sources.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(cycles)


def test_no_two_modules_import_each_other():
    """Issue 24: ``cli_train`` and ``pipeline`` imported each other, and so did ``reporting`` and
    ``summary``. The notebook list lives in ``book.chapters`` and the badge in ``book.reporting``:
    the import graph has no circle, lazy imports included."""
    assert import_cycles(package_modules()) == []


def test_the_cycle_finder_catches_a_planted_circle():
    sources = {
        "marsutils.a": ("from marsutils import b\n", False),
        "marsutils.b": ("def f():\n    from marsutils.c import x\n", False),
        "marsutils.c": ("from . import a\n", False),
        "marsutils.d": ("from marsutils import a\n", False),
    }
    assert import_cycles(sources) == [["marsutils.a", "marsutils.b", "marsutils.c"]]
