"""The semantic compiler: Cube-compatible queries → SQL (as sqlglot trees) for a tenant's
warehouse, with access policies, Cube-shaped results and ``/meta``."""

from tenantry.semantic.compiler.compile import CompiledQuery, compile_query
from tenantry.semantic.compiler.context import SecurityContext
from tenantry.semantic.compiler.errors import AccessDenied, QueryError
from tenantry.semantic.compiler.meta import meta
from tenantry.semantic.compiler.query import DEFAULT_LIMIT, MAX_LIMIT, expand_query
from tenantry.semantic.compiler.result import shape_rows

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "AccessDenied",
    "CompiledQuery",
    "QueryError",
    "SecurityContext",
    "compile_query",
    "expand_query",
    "meta",
    "shape_rows",
]
