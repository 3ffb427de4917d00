"""Files → ``DataModel``: parse each file, then check what spans files (references, joins,
views, pre-aggregations). Every problem is reported at once; nothing is half-built."""

from __future__ import annotations

from tenantry.semantic.schema import parse
from tenantry.semantic.schema.errors import ModelError, ModelInvalid
from tenantry.semantic.schema.model import Cube, DataModel, View, ViewMember
from tenantry.semantic.schema.refs import references, substitute
from tenantry.semantic.schema.yaml_lines import Node, YamlSyntaxError, load

SQL_CHECK_DIALECT = "duckdb"


def _check_sql(out: parse.Collector, sql: str, *, cube: str, member=None, line=None, query=False):
    """Model SQL must parse once its references are replaced by placeholders."""
    import sqlglot
    from sqlglot.errors import ParseError

    text = substitute(sql, lambda ref: "__ref_" + ref.replace(".", "__"))
    try:
        sqlglot.parse_one(text if query else f"SELECT {text}", read=SQL_CHECK_DIALECT)
    except ParseError as exc:
        error = exc.errors[0] if exc.errors else {}
        first = str(error.get("description") or exc).splitlines()[0].split(" but got <")[0]
        near = f" near '{error['highlight']}'" if error.get("highlight") else ""
        out.add(f"SQL does not parse: {first}{near}", cube=cube, member=member, line=line)


def _check_refs(out, model: DataModel, cube: Cube, sql: str, *, member=None, line=None) -> None:
    for ref in references(sql):
        if ref == "CUBE" or ref in model.cubes:
            continue
        head, _, tail = ref.partition(".")
        if not tail:
            if cube.member(head) is None:
                out.add(
                    f"'{{{ref}}}' is neither a member of {cube.name} nor a cube",
                    cube=cube.name,
                    member=member,
                    line=line,
                )
            continue
        target = cube if head == "CUBE" else model.cubes.get(head)
        if target is None:
            out.add(
                f"'{{{ref}}}' names an unknown cube '{head}'",
                cube=cube.name,
                member=member,
                line=line,
            )
        elif target.member(tail) is None:
            out.add(
                f"'{{{ref}}}': {target.name} has no member '{tail}'",
                cube=cube.name,
                member=member,
                line=line,
            )


def _resolve(cube: Cube, ref: str) -> str:
    """'CUBE.x', 'orders.x' or 'x' → 'orders.x'."""
    head, _, tail = ref.partition(".")
    if not tail:
        return f"{cube.name}.{head}"
    return f"{cube.name}.{tail}" if head == "CUBE" else ref


def _check_cube(out: parse.Collector, model: DataModel, cube: Cube) -> None:
    if cube.sql:
        _check_sql(out, cube.sql, cube=cube.name, line=cube.line, query=True)
        _check_refs(out, model, cube, cube.sql, line=cube.line)
    for members in (cube.dimensions, cube.measures, cube.segments):
        for m in members.values():
            snippets = [m.sql] if m.sql else []
            snippets += getattr(m, "filters", [])
            for sql in snippets:
                _check_sql(out, sql, cube=cube.name, member=m.name, line=m.line)
                _check_refs(out, model, cube, sql, member=m.name, line=m.line)
    for measure in cube.measures.values():
        for drill in measure.drill_members:
            path = _resolve(cube, drill)
            head, _, tail = path.partition(".")
            target = model.cubes.get(head)
            if target is None or tail not in target.dimensions:
                out.add(
                    f"drill member '{drill}' is not a dimension",
                    cube=cube.name,
                    member=measure.name,
                    line=measure.line,
                )
    for j in cube.joins.values():
        if j.target not in model.cubes:
            out.add(
                f"joins an unknown cube '{j.target}'", cube=cube.name, member=j.target, line=j.line
            )
            continue
        _check_sql(out, j.sql, cube=cube.name, member=j.target, line=j.line)
        _check_refs(out, model, cube, j.sql, member=j.target, line=j.line)
    for pre in cube.pre_aggregations.values():
        _check_pre_aggregation(out, model, cube, pre)
    for policy in cube.access_policy:
        names = (policy.member_includes or []) + policy.member_excludes
        for name in names:
            if cube.member(name.split(".")[-1]) is None:
                out.add(
                    f"access_policy names an unknown member '{name}'",
                    cube=cube.name,
                    line=policy.line,
                )
        stack = list(policy.row_filters or [])
        while stack:
            f = stack.pop()
            stack += f.and_ + f.or_
            if f.member is not None:
                f.member = _resolve(cube, f.member)
                head, _, tail = f.member.partition(".")
                target = model.cubes.get(head)
                if target is None or target.member(tail) is None:
                    out.add(
                        f"row_level filter names an unknown member '{f.member}'",
                        cube=cube.name,
                        line=policy.line,
                    )


def _check_pre_aggregation(out, model: DataModel, cube: Cube, pre) -> None:
    def member(ref: str, kinds: str):
        path = _resolve(cube, ref)
        head, _, tail = path.partition(".")
        target = model.cubes.get(head)
        found = getattr(target, kinds).get(tail) if target else None
        if found is None:
            out.add(
                f"pre-aggregation names '{ref}', which is not one of the {kinds} of "
                f"{head if target else 'any cube'}",
                cube=cube.name,
                member=pre.name,
                line=pre.line,
            )
        return path

    pre.measures = [member(m, "measures") for m in pre.measures]
    pre.dimensions = [member(d, "dimensions") for d in pre.dimensions]
    pre.segments = [member(s, "segments") for s in pre.segments]
    if pre.time_dimension:
        pre.time_dimension = member(pre.time_dimension, "dimensions")
        head, _, tail = pre.time_dimension.partition(".")
        dim = model.cubes[head].dimensions.get(tail) if head in model.cubes else None
        if dim is not None and dim.type != "time":
            out.add(
                f"time_dimension '{pre.time_dimension}' is a {dim.type} dimension, not time",
                cube=cube.name,
                member=pre.name,
                line=pre.line,
            )


def _path_ok(model: DataModel, a: str, b: str) -> bool:
    return b in model.cubes[a].joins or a in model.cubes.get(b, Cube("", "")).joins


def _build_view(out: parse.Collector, model: DataModel, view: View, entries: list[Node]) -> None:
    for entry in entries:
        path = [p.strip() for p in str(entry["join_path"]).split(".") if p.strip()]
        unknown = [p for p in path if p not in model.cubes]
        if unknown:
            out.add(f"join_path names an unknown cube '{unknown[0]}'", node=entry, cube=view.name)
            continue
        broken = next(
            (i for i in range(1, len(path)) if not _path_ok(model, path[i - 1], path[i])), None
        )
        if broken is not None:
            out.add(
                f"join_path: no join between {path[broken - 1]} and {path[broken]}",
                node=entry,
                cube=view.name,
            )
            continue
        cube = model.cubes[path[-1]]
        includes = entry.get("includes", "*")
        excludes = set(entry.get("excludes") or [])
        prefix = bool(entry.get("prefix"))
        alias_prefix = str(entry.get("alias") or cube.name)
        if includes == "*":
            wanted = [(n, n) for n in (*cube.dimensions, *cube.measures, *cube.segments)]
        elif isinstance(includes, list):
            wanted = []
            for item in includes:
                if isinstance(item, Node):
                    wanted.append(
                        (str(item.get("name")), str(item.get("alias") or item.get("name")))
                    )
                else:
                    wanted.append((str(item), str(item)))
        else:
            out.add("includes must be '*' or a list", node=entry, key="includes", cube=view.name)
            continue
        for source, alias in wanted:
            if source in excludes:
                continue
            member = cube.member(source)
            if member is None:
                out.add(
                    f"includes '{source}', which is not a member of {cube.name}",
                    node=entry,
                    cube=view.name,
                    member=source,
                )
                continue
            name = f"{alias_prefix}_{alias}" if prefix else alias
            if name in view.members:
                out.add(
                    f"'{name}' is included twice; use prefix: true or an alias",
                    node=entry,
                    cube=view.name,
                    member=name,
                )
                continue
            kind = (
                "dimension"
                if source in cube.dimensions
                else "measure"
                if source in cube.measures
                else "segment"
            )
            view.members[name] = ViewMember(name, kind, cube.name, source, path)


SECTIONS = ("joins", "dimensions", "measures", "segments", "pre_aggregations")


def _extend(out: parse.Collector, node: Node, base: Node) -> Node:
    """Cube's ``extends``: the base cube's properties and members, the extending cube's own
    properties and same-named members winning."""
    merged = Node({k: v for k, v in base.items() if k not in ("name", "public", "extends")})
    merged.line, merged.lines = node.line, {**base.lines, **node.lines}
    for key, value in node.items():
        if key in SECTIONS and isinstance(value, list) and isinstance(base.get(key), list):
            own = {item.get("name") for item in value if isinstance(item, Node)}
            inherited = [i for i in base[key] if not (isinstance(i, Node) and i.get("name") in own)]
            merged[key] = inherited + value
        elif key != "extends":
            merged[key] = value
    if "sql" in node and "sql_table" in merged and "sql_table" not in node:
        del merged["sql_table"]
    if "sql_table" in node and "sql" in merged and "sql" not in node:
        del merged["sql"]
    return merged


def _resolve_extends(found: dict[str, tuple[parse.Collector, Node]]) -> None:
    done: set[str] = set()

    def visit(name: str, trail: tuple[str, ...]) -> None:
        out, node = found[name]
        base_name = node.get("extends")
        if name in done or not base_name:
            done.add(name)
            return
        if base_name not in found:
            out.add(f"extends an unknown cube '{base_name}'", node=node, key="extends", cube=name)
        elif base_name in trail:
            out.add(
                f"extends itself through {' → '.join((*trail, base_name))}", node=node, cube=name
            )
        else:
            visit(base_name, (*trail, base_name))
            found[name] = (out, _extend(out, node, found[base_name][1]))
        done.add(name)

    for name in list(found):
        visit(name, (name,))


def build_model(files: dict[str, str]) -> DataModel:
    """Validate and build a data model from ``{file name: YAML text}``. Raises ``ModelInvalid``."""
    model = DataModel()
    owners: dict[str, str] = {}
    cube_nodes: dict[str, tuple[parse.Collector, Node]] = {}
    view_nodes: list[tuple[parse.Collector, Node]] = []
    collectors: dict[str, parse.Collector] = {}
    for file, text in sorted(files.items()):
        out = collectors[file] = parse.Collector(file)
        try:
            doc = load(text) or Node()
        except YamlSyntaxError as exc:
            out.add(f"YAML syntax: {exc}", line=exc.line)
            continue
        if not isinstance(doc, Node) or doc.keys() - {"cubes", "views"}:
            extra = sorted(doc.keys() - {"cubes", "views"}) if isinstance(doc, Node) else []
            what = f"unknown top-level key '{extra[0]}'" if extra else "must be a mapping"
            out.add(f"{what}; a model file holds 'cubes' and 'views'", line=getattr(doc, "line", 1))
            continue
        for key in ("cubes", "views"):
            for node in parse._mappings(out, doc, key, None):
                name = node["name"]
                if name in owners:
                    out.add(f"'{name}' is already defined in {owners[name]}", node=node, cube=name)
                    continue
                owners[name] = file
                if key == "cubes":
                    cube_nodes[name] = (out, node)
                else:
                    view_nodes.append((out, node))
    _resolve_extends(cube_nodes)
    for name, (out, node) in cube_nodes.items():
        built = parse.cube(out, node)
        if built is not None:
            model.cubes[name] = built
    for cube in model.cubes.values():
        _check_cube(collectors[cube.file], model, cube)
    for out, node in view_nodes:
        view, entries = parse.view_stub(out, node)
        _build_view(out, model, view, entries)
        model.views[view.name] = view
    problems: list[ModelError] = [p for out in collectors.values() for p in out.problems]
    if problems:
        raise ModelInvalid(problems)
    return model
