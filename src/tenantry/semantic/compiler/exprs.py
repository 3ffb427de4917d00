"""Model SQL snippets → sqlglot expressions, with their ``{CUBE}``/``{member}``/``{cube.member}``
references resolved on the tree (never by pasting text), and cube sources with logical schemas
mapped to physical ones."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from tenantry.semantic.compiler.errors import QueryError
from tenantry.semantic.schema.model import Cube, DataModel, Dimension, Measure, Segment
from tenantry.semantic.schema.refs import REF

PLACEHOLDER = "__tref_"
ATOMS = (exp.Column, exp.Literal, exp.Func, exp.Paren, exp.Boolean, exp.Null, exp.Cast)

MemberFn = Callable[[Cube, str], exp.Expression]


def sqlglot_dialect(dialect: str) -> str:
    return {"postgresql": "postgres", "pg": "postgres"}.get(dialect, dialect)


def ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def wrap(node: exp.Expression) -> exp.Expression:
    return node if isinstance(node, ATOMS) else exp.Paren(this=node)


@lru_cache(maxsize=4096)
def _parse(sql: str, dialect: str, statement: bool) -> tuple[exp.Expression, tuple[str, ...]]:
    refs: list[str] = []

    def placeholder(match) -> str:
        refs.append(match.group(1))
        return f"{PLACEHOLDER}{len(refs) - 1}"

    text = REF.sub(placeholder, sql)
    tree = sqlglot.parse_one(text if statement else f"SELECT {text}", read=dialect)
    if not statement:
        selects = tree.expressions if isinstance(tree, exp.Select) else []
        if len(selects) != 1 or tree.args.get("from"):
            raise ParseError(f"'{sql}' is not one SQL expression")
        tree = selects[0]
    return tree, tuple(refs)


class Exprs:
    """Resolves one query's model SQL. ``cubes`` collects every cube the SQL touched."""

    def __init__(self, model: DataModel, dialect: str, schemas: dict[str, str] | None):
        self.model = model
        self.dialect = sqlglot_dialect(dialect)
        self.schemas = schemas or {}
        self.cubes: list[str] = []
        # Cubes whose `original_sql` pre-aggregation is built: read from that table instead.
        self.materialized: dict[str, str] = {}
        self._dims: dict[str, exp.Expression] = {}
        self._stack: list[str] = []

    def touch(self, cube: str) -> None:
        if cube not in self.cubes:
            self.cubes.append(cube)

    def parse(self, sql: str, where: str, statement: bool = False):
        try:
            tree, refs = _parse(sql, self.dialect, statement)
        except ParseError as exc:
            first = str(exc).splitlines()[0] if str(exc) else "syntax error"
            raise QueryError(f"the SQL of {where} does not parse: {first}") from None
        return tree.copy(), refs

    def snippet(self, cube: Cube, sql: str, where: str, member_fn: MemberFn) -> exp.Expression:
        tree, refs = self.parse(sql, where)
        self.touch(cube.name)

        def replace(node: exp.Expression) -> exp.Expression:
            if not isinstance(node, exp.Column):
                return node
            table = node.table
            if table.startswith(PLACEHOLDER):
                ref = refs[int(table[len(PLACEHOLDER) :])]
                target = cube.name if ref == "CUBE" else ref
                if target not in self.model.cubes:
                    raise QueryError(f"{where}: '{{{ref}}}' is not a cube")
                self.touch(target)
                return exp.Column(this=node.this.copy(), table=ident(target))
            if not table and node.name.startswith(PLACEHOLDER):
                ref = refs[int(node.name[len(PLACEHOLDER) :])]
                return wrap(self._member_ref(cube, ref, where, member_fn))
            if not table and node.find_ancestor(exp.Select) is None:
                # A bare column is the cube's own (Cube prefixes it with the cube's alias too).
                return exp.Column(this=node.this.copy(), table=ident(cube.name))
            return node

        return tree.transform(replace)

    def _member_ref(self, cube: Cube, ref: str, where: str, member_fn: MemberFn):
        head, _, tail = ref.partition(".")
        if not tail:
            if cube.member(head) is not None:
                return member_fn(cube, head)
            if head in self.model.cubes or head == "CUBE":
                raise QueryError(f"{where}: '{{{ref}}}' names a cube where a value is expected")
            raise QueryError(f"{where}: '{{{ref}}}' is not a member of {cube.name}")
        target = cube if head == "CUBE" else self.model.cubes.get(head)
        if target is None or target.member(tail) is None:
            raise QueryError(f"{where}: '{{{ref}}}' is not a member")
        return member_fn(target, tail)

    # -- members -------------------------------------------------------------------------

    def dimension(self, dim: Dimension) -> exp.Expression:
        path = dim.path
        if path in self._dims:
            return self._dims[path].copy()
        if path in self._stack:
            chain = " → ".join([*self._stack[self._stack.index(path) :], path])
            raise QueryError(f"the SQL of {path} refers to itself ({chain})")
        self._stack.append(path)
        try:
            cube = self.model.cubes[dim.cube]
            found = self.snippet(cube, dim.sql, path, self.row_member)
        finally:
            self._stack.pop()
        self._dims[path] = found
        return found.copy()

    def segment(self, seg: Segment) -> exp.Expression:
        return self.snippet(self.model.cubes[seg.cube], seg.sql, seg.path, self.row_member)

    def row_member(self, cube: Cube, name: str) -> exp.Expression:
        """A reference inside row-level SQL (dimensions, segments, measure arguments)."""
        member = cube.member(name)
        if isinstance(member, Dimension):
            return self.dimension(member)
        if isinstance(member, Segment):
            return self.segment(member)
        raise QueryError(
            f"{cube.name}.{name} is a measure; only a number measure may refer to measures"
        )

    def measure_arg(self, measure: Measure) -> exp.Expression | None:
        if not measure.sql:
            return None
        cube = self.model.cubes[measure.cube]
        return self.snippet(cube, measure.sql, measure.path, self.row_member)

    def measure_filter(self, measure: Measure) -> exp.Expression | None:
        cube = self.model.cubes[measure.cube]
        parts = [self.snippet(cube, f, measure.path, self.row_member) for f in measure.filters]
        return exp.and_(*[wrap(p) for p in parts]) if parts else None

    def primary_keys(self, cube: Cube) -> list[exp.Expression]:
        return [self.dimension(d) for d in cube.primary_keys]

    # -- sources -------------------------------------------------------------------------

    def source(self, cube: Cube) -> exp.Expression:
        """The cube's table (``sql_table``) or its query (``sql``) as a subquery, schemas mapped."""
        if cube.name in self.materialized:
            return exp.to_table(self.materialized[cube.name], dialect=self.dialect)
        if cube.sql_table:
            try:
                table = exp.to_table(cube.sql_table, dialect=self.dialect)
            except (ParseError, ValueError):
                problem = f"{cube.name}: sql_table '{cube.sql_table}' is not a table"
                raise QueryError(problem) from None
            return self._map_schemas(table)
        tree, refs = self.parse(cube.sql or "", f"cube {cube.name}", statement=True)
        if refs:
            raise QueryError(f"cube {cube.name}: references inside a cube's sql are not supported")
        if not isinstance(tree, exp.Query):
            raise QueryError(f"cube {cube.name}: its sql must be a SELECT query")
        return exp.Subquery(this=self._map_schemas(tree))

    def source_for(self, name: str) -> exp.Expression:
        """The FROM item for the cube (or stand-in) ``name`` of a join tree, unaliased."""
        return self.source(self.model.cubes[name])

    def _map_schemas(self, tree: exp.Expression) -> exp.Expression:
        if not self.schemas:
            return tree
        for table in tree.find_all(exp.Table):
            db = table.args.get("db")
            if db is not None and db.name in self.schemas:
                table.set("db", ident(self.schemas[db.name]))
        return tree
