"""Member names in a query → the cube member they mean (through a view when they name one)."""

from __future__ import annotations

from dataclasses import dataclass

from tenantry.semantic.compiler.errors import QueryError
from tenantry.semantic.compiler.query import MEMBER
from tenantry.semantic.schema.model import Cube, DataModel, Dimension, Measure, Segment, View

KIND_WORDS = {"dimension": "a dimension", "measure": "a measure", "segment": "a segment"}


@dataclass
class Ref:
    name: str  # as the query names it: cube.member or view.member
    cube: Cube  # the cube that defines the member
    member: Dimension | Measure | Segment
    kind: str  # dimension | measure | segment
    view: View | None = None
    join_path: list[str] | None = None  # cubes from the view's root to ``cube``

    @property
    def path(self) -> str:
        return f"{self.cube.name}.{self.member.name}"

    @property
    def type(self) -> str:
        return getattr(self.member, "type", "boolean")


def kind_of(cube: Cube, name: str) -> str | None:
    if name in cube.dimensions:
        return "dimension"
    if name in cube.measures:
        return "measure"
    if name in cube.segments:
        return "segment"
    return None


def resolve(
    model: DataModel,
    name: str,
    *,
    where: str,
    kinds: tuple[str, ...] | None = None,
    public_only: bool = True,
) -> Ref:
    """``name`` → ``Ref``; unknown, hidden or wrong-kind members raise ``QueryError``.
    ``public_only=False`` (the model's own pre-aggregations) also reaches hidden members."""
    if not isinstance(name, str) or not MEMBER.match(name):
        raise QueryError(
            f"Unknown member: {name} — '{name}' is not a member name like 'cube.member'",
            field=where,
        )
    head, tail = name.split(".")
    view = model.views.get(head)
    if view is not None:
        vm = view.members.get(tail)
        if vm is None or (public_only and not view.public):
            raise QueryError(
                f"Unknown member: {name} — '{name}' is not a member of view '{head}'", field=where
            )
        cube = model.cubes[vm.cube]
        member = cube.member(vm.member)
        if member is None or (public_only and not member.public):
            raise QueryError(f"Unknown member: {name} — '{name}' is not public", field=where)
        ref = Ref(name, cube, member, vm.kind, view, list(vm.join_path))
    else:
        cube = model.cubes.get(head)
        if cube is None:
            raise QueryError(
                f"Unknown member: {name} — '{name}': '{head}' is not a cube or view",
                field=where,
            )
        member = cube.member(tail)
        if member is None:
            raise QueryError(
                f"Unknown member: {name} — '{name}' is not a member of cube '{head}'",
                field=where,
            )
        if public_only and (not cube.public or not member.public):
            raise QueryError(
                f"Unknown member: {name} — '{name}' is not public; query it through a view",
                field=where,
            )
        ref = Ref(name, cube, member, kind_of(cube, tail) or "dimension")
    if kinds and ref.kind not in kinds:
        wanted = " or ".join(KIND_WORDS[k] for k in kinds)
        raise QueryError(f"'{name}' is {KIND_WORDS[ref.kind]}; {where} needs {wanted}", field=where)
    return ref


def resolve_path(model: DataModel, cube: Cube, ref: str) -> str:
    """'x', 'CUBE.x' or 'other.x' (as written in a model) → 'cube.x'."""
    head, _, tail = ref.partition(".")
    if not tail:
        return f"{cube.name}.{head}"
    return f"{cube.name}.{tail}" if head == "CUBE" else ref


def view_name_for(view: View | None, path: str) -> str | None:
    """The view member that exposes cube member ``path`` (for drill members through a view)."""
    if view is None:
        return path
    for name, vm in view.members.items():
        if vm.target == path:
            return f"{view.name}.{name}"
    return None
