"""Cube's ``/meta`` body: the cubes and views a caller may query, members it may see only."""

from __future__ import annotations

from typing import Any

from tenantry.semantic.compiler.access import Access
from tenantry.semantic.compiler.context import SecurityContext
from tenantry.semantic.compiler.members import Ref
from tenantry.semantic.compiler.result import drill_members, member_titles, titleize
from tenantry.semantic.schema.model import Cube, DataModel, Dimension, Measure, Segment, View


def _extras(info: dict[str, Any], member) -> dict[str, Any]:
    if getattr(member, "description", None):
        info["description"] = member.description
    if getattr(member, "format", None):
        info["format"] = member.format
    if getattr(member, "meta", None):
        info["meta"] = member.meta
    return info


def _member(model: DataModel, ref: Ref) -> tuple[str, dict[str, Any]]:
    title, short = member_titles(model, ref)
    base: dict[str, Any] = {"name": ref.name, "title": title, "shortTitle": short}
    member = ref.member
    if isinstance(member, Measure):
        drills = drill_members(model, ref.cube, member, ref.view)
        info = {
            **base,
            "type": "number",
            "aggType": member.type,
            "cumulative": False,
            "cumulativeTotal": False,
            "drillMembers": drills,
            "drillMembersGrouped": {"measures": [], "dimensions": drills},
        }
        kind = "measures"
    elif isinstance(member, Dimension):
        info = {
            **base,
            "type": member.type,
            "suggestFilterValues": True,
            "primaryKey": member.primary_key,
        }
        kind = "dimensions"
    else:
        info, kind = dict(base), "segments"
    info = _extras(info, member)
    info.update({"isVisible": True, "public": True})
    return kind, info


def _entry(name: str, title: str, kind: str, owner: Cube | View) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "title": title, "type": kind}
    if owner.description:
        entry["description"] = owner.description
    if owner.meta:
        entry["meta"] = owner.meta
    entry.update(
        {
            "isVisible": True,
            "public": True,
            "measures": [],
            "dimensions": [],
            "segments": [],
            "hierarchies": [],
            "folders": [],
            "nestedFolders": [],
        }
    )
    return entry


def _allowed(access: Access, cube: Cube, member: str) -> bool:
    if not access.allows(cube):
        return False
    names = access.members(cube)
    return names is None or member in names


def meta(model: DataModel, context: SecurityContext) -> dict:
    """``{"cubes": [...]}`` for cubes and views (``type`` tells which)."""
    access = Access(model, context)
    out = []
    for cube in model.cubes.values():
        if not cube.public or not access.allows(cube):
            continue
        entry = _entry(cube.name, cube.title or titleize(cube.name), "cube", cube)
        members: list[Dimension | Measure | Segment] = [
            *cube.measures.values(),
            *cube.dimensions.values(),
            *cube.segments.values(),
        ]
        for m in members:
            if not m.public or not _allowed(access, cube, m.name):
                continue
            kind = (
                "measure"
                if isinstance(m, Measure)
                else ("dimension" if isinstance(m, Dimension) else "segment")
            )
            section, info = _member(model, Ref(m.path, cube, m, kind))
            entry[section].append(info)
        out.append(entry)
    for view in model.views.values():
        if not view.public:
            continue
        entry = _entry(view.name, view.title or titleize(view.name), "view", view)
        for name, vm in view.members.items():
            cube = model.cubes[vm.cube]
            member = cube.member(vm.member)
            if member is None or not member.public:
                continue
            path = [model.cubes[c] for c in vm.join_path if c in model.cubes]
            if not all(access.allows(c) for c in path) or not _allowed(access, cube, vm.member):
                continue
            ref = Ref(f"{view.name}.{name}", cube, member, vm.kind, view, list(vm.join_path))
            section, info = _member(model, ref)
            entry[section].append(info)
        if entry["measures"] or entry["dimensions"] or entry["segments"]:
            out.append(entry)
    return {"cubes": out}
