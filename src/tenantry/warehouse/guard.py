"""The read-only SQL guard: one gate for every piece of user SQL run against a warehouse.

A query passes when it parses (sqlglot) as exactly one SELECT / WITH … SELECT / set operation,
contains no statement that writes or configures anything, reads only tables (no file paths, no
file-, network- or extension-reading functions) and carries a row limit no larger than allowed.
The warehouse connection adds a second layer (read-only, external access off), so a gap here is
never the only line of defence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from tenantry.core.errors import ValidationFailed

# Table-valued functions that only compute (no I/O).
SAFE_TABLE_FUNCTIONS = {"generate_series", "range", "unnest", "generate_subscripts"}

# Function names (lower-case) or prefixes that read files, reach the network, load code,
# reveal or change server settings, or stall the server.
FORBIDDEN_FUNCTION_PREFIXES = (
    "read_",
    "parquet_",
    "sqlite_",
    "postgres_",
    "mysql_",
    "iceberg_",
    "delta_",
    "duckdb_",
    "pg_read",
    "pg_ls_",
    "pg_stat_file",
    "pg_sleep",
    "pg_terminate",
    "pg_cancel",
    "pg_reload",
    "pg_rotate",
    "pg_file",
    "lo_",
    "dblink",
    "glob",
    "query",
    "load_",
    "install_",
    "getenv",
    "current_setting",
    "set_config",
    "txid_",
    "pg_advisory",
    "http_",
    "json_read",
    "csv_",
)

WRITING_NODES = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.Command,
    exp.Copy,
    exp.Attach,
    exp.Detach,
    exp.Pragma,
    exp.Set,
    exp.Into,
    exp.Lock,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.Use,
    exp.TruncateTable,
    exp.Install,
)
QUERY_ROOTS = (exp.Select, exp.SetOperation, exp.Subquery)
_PATHLIKE = re.compile(r"[./\\:*?]")


@dataclass(frozen=True)
class GuardedQuery:
    sql: str  # what will run: the user's query with the row limit applied
    limit: int
    tables: tuple[str, ...]


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed.field("sql", message)


def _function_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    return (node.sql_name() if isinstance(node, exp.Func) else type(node).__name__).lower()


def _check_function(node: exp.Func) -> None:
    name = _function_name(node)
    if isinstance(node, (exp.ReadCSV, exp.ReadParquet)) or name.startswith(
        FORBIDDEN_FUNCTION_PREFIXES
    ):
        raise _refuse(
            f"the function {name}() is not allowed here: it reads files, other databases or "
            "server settings. Query the warehouse's tables instead."
        )


def _check_table(table: exp.Table) -> str | None:
    """The table's name, None for a safe table function; refuses anything else."""
    source = table.this
    if isinstance(source, exp.Identifier):
        name = source.name
        if _PATHLIKE.search(name):
            raise _refuse(
                f"'{name}' looks like a file path or URL; only the warehouse's tables can be "
                "queried (write schema.table, without quotes around the pair)."
            )
        return ".".join(p for p in (table.db, name) if p)
    if isinstance(source, exp.Func):
        name = _function_name(source)
        if name in SAFE_TABLE_FUNCTIONS or isinstance(source, exp.GenerateSeries):
            return None
        raise _refuse(f"the table function {name}() is not allowed; query tables instead.")
    raise _refuse("only tables, subqueries and VALUES can appear in FROM")


def _apply_limit(query: exp.Expression, limit: int) -> exp.Expression:
    current = query.args.get("limit")
    if isinstance(query, exp.Select) and current is None:
        return query.limit(limit)
    if current is not None:
        value = current.expression if isinstance(current, exp.Limit) else None
        if isinstance(value, exp.Literal) and value.is_int and int(value.name) <= limit:
            return query
    # An expression limit, a larger one, or a set operation: cap it from outside.
    return exp.select("*").from_(query.subquery("guarded")).limit(limit)


def guard(sql: str, *, dialect: str, limit: int, max_limit: int) -> GuardedQuery:
    """Check ``sql`` and return it ready to run with at most ``limit`` rows."""
    if limit < 1 or limit > max_limit:
        raise ValidationFailed.field("limit", f"must be between 1 and {max_limit}")
    if not sql or not sql.strip():
        raise _refuse("is empty; write a SELECT query")
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = f" at line {first.get('line')}, column {first.get('col')}" if first else ""
        what = first.get("description") or "syntax error"
        if "<class" in what or "missing for" in what:  # sqlglot internals mean nothing to users
            what = "the statement is incomplete or malformed"
        raise _refuse(f"does not parse{where}: {what}") from None
    if len(statements) != 1:
        raise _refuse(f"holds {len(statements)} statements; send exactly one SELECT")
    query = statements[0]
    if not isinstance(query, QUERY_ROOTS):
        kind = query.key.upper()
        raise _refuse(f"is a {kind} statement; only SELECT (or WITH … SELECT) is allowed")
    for node in query.walk():
        if isinstance(node, WRITING_NODES):
            raise _refuse(f"contains {node.key.upper()}; previews can only read")
        if isinstance(node, exp.Func) and not isinstance(node.parent, exp.Table):
            _check_function(node)
    tables = []
    ctes = {cte.alias_or_name for cte in query.find_all(exp.CTE)}
    for table in query.find_all(exp.Table):
        name = _check_table(table)
        if name is not None and name not in ctes:
            tables.append(name)
    limited = _apply_limit(query, limit)
    return GuardedQuery(limited.sql(dialect=dialect), limit, tuple(dict.fromkeys(tables)))
