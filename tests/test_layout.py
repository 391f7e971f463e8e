"""The package's layout: no import cycle between ilsim's modules (counting imports inside
functions too: a lazy import that breaks a cycle is still a cycle), and no module far over
~500 lines."""

from __future__ import annotations

from pathlib import Path

from ilsim import deps

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ilsim"


def import_graph() -> dict[str, set[str]]:
    """ilsim module -> the ilsim modules it imports (anywhere in its code): the graph the
    workflow's dependencies come from (``ilsim.deps``), without the package root."""
    return {m: set(ns) - {"ilsim"} for m, ns in deps.import_graph().items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph (as a path that returns to its start), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    graph = import_graph()
    assert "ilsim.learners.base" in graph["ilsim.learners.bc"]  # the graph sees the imports


# "~500 lines": a module may run a little over (a long function kept whole) but not far over.
MAX_LINES = 560


def test_no_module_far_over_500_lines():
    long = {
        name: n
        for name, path in sorted((deps.module_name(p), p) for p in PACKAGE.rglob("*.py"))
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines (split them by idea): {long}"
