"""The import graph of DataWiz's own packages has no cycle, counting imports inside functions.

grimp reads every import statement, including the late ones inside functions and under
TYPE_CHECKING, so an import that was moved into a function to dodge a circular import still
counts. `make lint` (lint-imports) checks the layers; this test keeps `make test` honest too.
"""

from __future__ import annotations

from collections.abc import Iterator

import grimp

PACKAGES = ("datawiz", "blocks", "tasks", "flows", "deployments")


def strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every group of two or more modules that import one another, directly or around a loop (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def enter(module: str, work: list[tuple[str, Iterator[str]]]) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        work.append((module, iter(sorted(graph.find_modules_directly_imported_by(module)))))

    def visit(module: str) -> None:
        # Iterative Tarjan: a deep chain of imports must not hit Python's recursion limit.
        work: list[tuple[str, Iterator[str]]] = []
        enter(module, work)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    enter(child, work)
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return sorted(groups)


def describe(graph: grimp.ImportGraph, group: list[str]) -> str:
    """One cycle's modules and the import lines that tie them (file line numbers), for the failure message."""
    members = set(group)
    lines = [" <-> ".join(group)]
    for importer in group:
        for imported in sorted(graph.find_modules_directly_imported_by(importer) & members):
            for detail in graph.get_import_details(importer=importer, imported=imported):
                lines.append(f"    {importer}:{detail['line_number']}: {detail['line_contents']}")
    return "\n".join(lines)


def test_strongly_connected_finds_a_loop_and_ignores_a_chain() -> None:
    graph = grimp.ImportGraph()
    for module in ("a", "b", "c", "d"):
        graph.add_module(module)
    graph.add_import(importer="a", imported="b")
    graph.add_import(importer="b", imported="c")
    graph.add_import(importer="c", imported="a")  # a -> b -> c -> a
    graph.add_import(importer="c", imported="d")  # d hangs off the loop without closing another
    assert strongly_connected(graph) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False)
    cycles = strongly_connected(graph)
    assert not cycles, "import cycles (move the shared piece down a layer):\n" + "\n".join(
        describe(graph, group) for group in cycles
    )
