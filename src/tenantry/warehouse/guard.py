"""The read-only SQL guard: one gate for every piece of user SQL run against a warehouse.

A query passes when it parses (sqlglot) as exactly one SELECT / WITH … SELECT / set operation,
contains no statement that writes or configures anything, reads only tables (no file paths, no
file-, network- or extension-reading functions) and carries a row limit no larger than allowed.
The warehouse connection adds a second layer (read-only, external access off), so a gap here is
never the only line of defence.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from tenantry.core.errors import ValidationFailed

# Table-valued functions that only compute (no I/O, no SQL from strings).
SAFE_TABLE_FUNCTIONS = {"generate_series", "range", "unnest", "generate_subscripts", "explode"}

# Function names (lower-case, unquoted) or prefixes that read files, reach the network or other
# databases, run SQL given as text, load code, reveal or change server state, take locks,
# signal other sessions, or stall the server.
FORBIDDEN_FUNCTION_PREFIXES = (
    # files, other databases, extensions (DuckDB)
    "read_",
    "parquet_",
    "sqlite_",
    "postgres_",
    "mysql_",
    "iceberg_",
    "delta_",
    "duckdb_",
    "glob",
    "sniff_csv",
    "csv_",
    "json_read",
    "http_",
    "load_",
    "install_",
    "which_secret",
    # SQL from strings, internals, state (DuckDB)
    "query",
    "json_execute_serialized_sql",
    "json_serialize_sql",
    "pragma_",
    "checkpoint",
    "force_checkpoint",
    "repeat_row",
    "test_",
    "getvariable",
    "getenv",
    "current_setting",
    # PostgreSQL: files, settings, sessions, locks, notifications, sequences, SQL from strings
    "pg_read",
    "pg_ls_",
    "pg_stat_file",
    "pg_stat_reset",
    "pg_sleep",
    "pg_terminate",
    "pg_cancel",
    "pg_reload",
    "pg_rotate",
    "pg_file",
    "pg_advisory",
    "pg_try_advisory",
    "pg_notify",
    "pg_current_xact",
    "pg_switch",
    "pg_create",
    "pg_drop",
    "pg_log",
    "lo_",
    "dblink",
    "set_config",
    "txid_",
    "nextval",
    "setval",
    "currval",
    "lastval",
    "version",
    "current_version",
    "inet_server",
    "inet_client",
)
FORBIDDEN_FUNCTION_PARTS = ("_to_xml",)  # query_to_xml runs SQL text; table_to_xml reads tables

# Unqualified names with these prefixes resolve to system catalogs, not the warehouse's tables.
SYSTEM_TABLE_PREFIXES = ("pg_", "duckdb_", "sqlite_", "information_schema", "sys")

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


def _function_name(node: exp.Func) -> str:
    """The function's name as the engine resolves it: unquoted, lower-case."""
    if isinstance(node, exp.Anonymous):
        this = node.this
        return (this.name if isinstance(this, exp.Identifier) else str(this)).lower()
    return node.sql_name().lower()


def _is_forbidden(name: str) -> bool:
    return name.startswith(FORBIDDEN_FUNCTION_PREFIXES) or any(
        part in name for part in FORBIDDEN_FUNCTION_PARTS
    )


def _check_function(node: exp.Func) -> None:
    name = _function_name(node)
    if isinstance(node.parent, exp.Dot):
        raise _refuse(f"schema-qualified function calls are not allowed; call {name}() by name")
    if isinstance(node.parent, (exp.Table, exp.Lateral)):  # used as a table
        if name in SAFE_TABLE_FUNCTIONS or isinstance(node, (exp.GenerateSeries, exp.Explode)):
            return
        raise _refuse(f"the table function {name}() is not allowed; query tables instead.")
    if isinstance(node, (exp.ReadCSV, exp.ReadParquet)) or _is_forbidden(name):
        raise _refuse(
            f"the function {name}() is not allowed here: it reads files, other databases, "
            "server state or SQL text. Query the warehouse's tables instead."
        )


def _check_table(table: exp.Table, allowed_schemas: frozenset[str], ctes: set[str]) -> str | None:
    """The table's name (None for a CTE or a computing table function); refuses the rest."""
    source = table.this
    if isinstance(source, exp.Func):
        _check_function(source)
        return None
    if not isinstance(source, exp.Identifier):
        raise _refuse("only tables, subqueries and VALUES can appear in FROM")
    name = source.name
    if _PATHLIKE.search(name):
        raise _refuse(
            f"'{name}' looks like a file path or URL; only the warehouse's tables can be "
            "queried (write schema.table, without quotes around the pair)."
        )
    if table.catalog:
        raise _refuse(f"'{table.sql()}' names another database; use schema.table")
    schema = table.db
    if schema:
        if schema.lower() not in allowed_schemas:
            choices = ", ".join(sorted(allowed_schemas))
            raise _refuse(f"schema '{schema}' is not part of this warehouse; use {choices}")
        return f"{schema}.{name}"
    if name in ctes:
        return None
    if name.lower().startswith(SYSTEM_TABLE_PREFIXES):
        raise _refuse(f"'{name}' is a system catalog, not a table of this warehouse")
    return name


def _apply_limit(query: exp.Expression, limit: int) -> exp.Expression:
    current = query.args.get("limit")
    if isinstance(query, exp.Select) and current is None:
        return query.limit(limit)
    # Kept only when it is a plain "LIMIT <n>" with n small enough (no PERCENT, no WITH TIES).
    if isinstance(current, exp.Limit) and set(k for k, v in current.args.items() if v) == {
        "expression"
    }:
        value = current.expression
        if isinstance(value, exp.Literal) and value.is_int and int(value.name) <= limit:
            return query
    # An expression limit, a larger one, or a set operation: cap it from outside.
    return exp.select("*").from_(query.subquery("guarded")).limit(limit)


def guard(
    sql: str, *, dialect: str, limit: int, max_limit: int, schemas: Collection[str]
) -> GuardedQuery:
    """Check ``sql`` and return it ready to run with at most ``limit`` rows, reading only
    tables in ``schemas`` (or unqualified names the connection's search path resolves there)."""
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
    allowed = frozenset(s.lower() for s in schemas)
    ctes = {cte.alias_or_name for cte in query.find_all(exp.CTE)}
    tables = [
        name
        for table in query.find_all(exp.Table)
        if (name := _check_table(table, allowed, ctes)) is not None
    ]
    limited = _apply_limit(query, limit)
    return GuardedQuery(limited.sql(dialect=dialect), limit, tuple(dict.fromkeys(tables)))
