"""The layers' import graph, beyond what import-linter's contracts say: no cycles in the core."""

from __future__ import annotations

import grimp
import pytest


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("domain", "application", cache_dir=None)


@pytest.mark.parametrize("package", ["domain", "application"])
def test_no_module_of_the_core_imports_itself_back(graph: grimp.ImportGraph, package: str) -> None:
    cycles = set()
    for module in sorted(graph.find_descendants(package) | {package}):
        for imported in graph.find_modules_directly_imported_by(module):
            if not imported.startswith(package):
                continue
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back is not None:
                cycles.add(" -> ".join((module, *back)))
    assert sorted(cycles) == []
