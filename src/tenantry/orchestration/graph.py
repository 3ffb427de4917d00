"""Pure graph functions over ``{node: set(upstream nodes)}``: cycles, order, reach, layers."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import TypeVar

N = TypeVar("N", bound=Hashable)
Graph = Mapping[N, Iterable[N]]  # node → the nodes it depends on


def find_cycle(upstream: Graph) -> list | None:
    """A cycle as a path that ends where it starts ([a, b, a]), or None."""
    state: dict = {}  # 1: on the current path, 2: done
    path: list = []

    def visit(node) -> list | None:
        state[node] = 1
        path.append(node)
        for dep in sorted(upstream.get(node, ()), key=str):
            if state.get(dep) == 1:
                return path[path.index(dep) :] + [dep]
            if dep not in state and (found := visit(dep)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(upstream, key=str):
        if node not in state and (found := visit(node)) is not None:
            # Reported in the direction work flows: upstream first.
            return list(reversed(found))
    return None


def downstream_map(upstream: Graph) -> dict:
    down: dict = {n: set() for n in upstream}
    for node, deps in upstream.items():
        for dep in deps:
            down.setdefault(dep, set()).add(node)
    return down


def reach(start, edges: Mapping) -> set:
    """``start`` and every node reachable from it along ``edges``."""
    seen, stack = {start}, [start]
    while stack:
        for nxt in edges.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def layers(upstream: Graph) -> list[list]:
    """Nodes by depth (longest path from a root); each layer's nodes can run together."""
    depth: dict = {}

    def level(node, trail=()) -> int:
        if node in depth:
            return depth[node]
        deps = [d for d in upstream.get(node, ()) if d in upstream and d not in trail]
        depth[node] = 1 + max((level(d, (*trail, node)) for d in deps), default=-1)
        return depth[node]

    for node in upstream:
        level(node)
    out: list[list] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for node in sorted(upstream, key=str):
        out[depth[node]].append(node)
    return out
