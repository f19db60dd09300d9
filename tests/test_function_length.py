"""Small functions (issue 24): none in the core, library or study layers exceeds 80 lines.

A function's length is the span of its ``def`` to its last line, docstring and comments included
(``ast``'s ``lineno`` to ``end_lineno``); nested functions count inside their parent too.
"""

from __future__ import annotations

import ast

from marsutils.core.layers import layer_of
from tests.test_layers import package_modules

MAX_LINES = 80


def long_functions(sources: dict[str, tuple[str, bool]], limit: int = MAX_LINES) -> list[str]:
    """``module:line name (N lines)`` for every function of layers 1-3 longer than ``limit``."""
    found = []
    for module, (source, _) in sorted(sources.items()):
        layer = layer_of(module)
        if layer is None or layer > 3:
            continue
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    found.append(f"{module}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_function_of_the_core_library_or_study_layers_exceeds_80_lines():
    found = long_functions(package_modules())
    assert not found, "functions over 80 lines:\n" + "\n".join(found)


def test_the_length_check_catches_a_long_function_and_spares_the_book():
    body = "def f():\n" + "    x = 1\n" * 80
    sources = {"marsutils.stats.big": (body, False), "marsutils.book.big": (body, False)}
    assert long_functions(sources) == ["marsutils.stats.big:1 f (81 lines)"]
    assert long_functions({"marsutils.stats.ok": ("def f():\n" + "    x = 1\n" * 79, False)}) == []
