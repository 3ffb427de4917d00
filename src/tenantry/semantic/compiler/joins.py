"""The join graph: which cubes a query joins, from which root, along which declared joins, and
which cubes' rows a one-to-many join multiplies."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from tenantry.semantic.compiler.errors import QueryError
from tenantry.semantic.schema.model import DataModel, Join


@dataclass
class Edge:
    parent: str
    child: str
    join: Join  # as declared (join.cube → join.target), whichever way the tree walks it

    @property
    def fans_out_child(self) -> bool:
        """Many child rows per parent row."""
        rel = self.join.relationship
        return rel == "one_to_many" if self.join.cube == self.parent else rel == "many_to_one"

    @property
    def fans_out_parent(self) -> bool:
        """Many parent rows per child row."""
        rel = self.join.relationship
        return rel == "many_to_one" if self.join.cube == self.parent else rel == "one_to_many"


@dataclass
class JoinTree:
    root: str
    edges: list[Edge] = field(default_factory=list)  # parents come before their children

    @property
    def cubes(self) -> list[str]:
        return [self.root, *(e.child for e in self.edges)]

    def subtree(self, cube: str) -> set[str]:
        out = {cube}
        for e in self.edges:  # parents first: one pass collects every descendant
            if e.parent in out:
                out.add(e.child)
        return out

    def multiplied(self) -> set[str]:
        """Cubes whose rows repeat: every cube on the 'one' side of a one-to-many join."""
        everything = set(self.cubes)
        out: set[str] = set()
        for e in self.edges:
            below = self.subtree(e.child)
            if e.fans_out_child:
                out |= everything - below
            if e.fans_out_parent:
                out |= below
        return out


def _neighbors(model: DataModel, cube: str, directed: bool) -> list[tuple[str, Join]]:
    found = [(j.target, j) for j in model.cubes[cube].joins.values() if j.target in model.cubes]
    if not directed:
        for other in model.cubes.values():
            j = other.joins.get(cube)
            if j is not None and other.name != cube:
                found.append((other.name, j))
    return found


def _bfs(model: DataModel, starts: list[str], directed: bool) -> dict[str, tuple[str, Join]]:
    parents: dict[str, tuple[str, Join]] = {}
    seen = set(starts)
    queue = deque(starts)
    while queue:
        cube = queue.popleft()
        for other, join in _neighbors(model, cube, directed):
            if other not in seen:
                seen.add(other)
                parents[other] = (cube, join)
                queue.append(other)
    return parents


def _grow(tree: JoinTree, parents: dict[str, tuple[str, Join]], target: str) -> None:
    chain = []
    have = set(tree.cubes)
    while target not in have:
        parent, join = parents[target]
        chain.append(Edge(parent, target, join))
        target = parent
    tree.edges += reversed(chain)


def _from_root(model: DataModel, root: str, cubes: list[str], directed: bool) -> JoinTree | None:
    parents = _bfs(model, [root], directed)
    if any(c != root and c not in parents for c in cubes):
        return None
    tree = JoinTree(root)
    for cube in cubes:
        _grow(tree, parents, cube)
    return tree


def plan(model: DataModel, cubes: list[str], view_paths: list[list[str]] | None = None) -> JoinTree:
    """The join tree over ``cubes`` (in the order the query names them).

    Through a view, the tree is the union of the members' join paths. Otherwise the root is the
    first cube from which declared joins reach every other cube along the fewest joins (any
    direction when no root reaches them all)."""
    if view_paths:
        tree = JoinTree(view_paths[0][0])
        for path in view_paths:
            for parent, child in zip(path, path[1:], strict=False):
                if child in tree.cubes:
                    continue
                if parent not in tree.cubes:
                    break
                join = model.cubes[parent].joins.get(child) or model.cubes[child].joins[parent]
                tree.edges.append(Edge(parent, child, join))
        missing = [c for c in cubes if c not in tree.cubes]
        if missing:
            parents = _bfs(model, tree.cubes, directed=False)
            for cube in missing:
                if cube not in parents:
                    raise QueryError(f"Can't find a join path from view members to '{cube}'")
                _grow(tree, parents, cube)
        return tree
    if not cubes:
        raise QueryError("the query names no members")
    best: JoinTree | None = None
    for root in cubes:
        found = _from_root(model, root, cubes, directed=True)
        if found is not None and (best is None or len(found.edges) < len(best.edges)):
            best = found
    if best is None:
        best = _from_root(model, cubes[0], cubes, directed=False)
    if best is None:
        names = ", ".join(f"'{c}'" for c in cubes)
        raise QueryError(f"Can't find a join path to join {names}: declare joins between them")
    return best
