"""dlt's and the drivers' failures, turned into terminal/transient errors a user can act on."""

from __future__ import annotations

from tenantry.core.errors import TenantryError
from tenantry.orchestration.control import RunCancelled


class LoadFailed(TenantryError):
    status, title, code = 422, "Load failed", "load-failed"


class TransientLoadFailure(LoadFailed):
    transient = True


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        inner = getattr(exc, "exception", None)  # dlt's PipelineStepFailed keeps it here
        exc = inner if isinstance(inner, BaseException) else (exc.__cause__ or exc.__context__)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:600] if text else type(exc).__name__


_TRANSIENT_NAMES = {
    "OperationalError",  # SQLAlchemy / psycopg2 / pymysql: connection refused, server gone
    "InterfaceError",
    "ConnectError",
    "ConnectTimeout",
    "ReadTimeout",
    "RemoteProtocolError",
    "DestinationTransientException",
    "LoadClientJobRetry",
}


def translate(exc: BaseException, step: str) -> BaseException:
    """The error to record for ``exc`` raised at ``step`` (extract, normalize or load)."""
    chain = list(_chain(exc))
    for e in chain:
        if isinstance(e, RunCancelled):
            return e
    for e in chain:
        if isinstance(e, TenantryError):
            return e
    for e in chain:
        name = type(e).__name__
        if name == "DataValidationError":
            return LoadFailed(_contract_message(e))
        if name == "HTTPError" and getattr(e, "response", None) is not None:
            code = e.response.status_code
            message = f"The API answered HTTP {code} for {e.response.url}"
            if code in (429,) or code >= 500:
                return TransientLoadFailure(message + "; it may succeed later.")
            if code in (401, 403):
                return LoadFailed(message + "; check the connection's credentials.")
            return LoadFailed(message + "; check the connection's resources.")
        if name in _TRANSIENT_NAMES or isinstance(e, (ConnectionError, TimeoutError)):
            return TransientLoadFailure(
                f"{step.capitalize()} could not reach a database or API: {_first_line(e)}"
            )
    root = chain[-1]
    return LoadFailed(f"{step.capitalize()} failed: {type(root).__name__}: {_first_line(root)}")


def _contract_message(e: BaseException) -> str:
    table = getattr(e, "table_name", None) or "a table"
    column = getattr(e, "column_name", None)
    mode = getattr(e, "contract_mode", "freeze")
    entity = getattr(e, "schema_entity", "columns")
    what = f"a new column '{column}'" if column and entity == "columns" else None
    if entity == "data_type":
        what = f"a different type for column '{column}'"
    what = what or f"a change to {entity}"
    return (
        f"The schema contract ({mode}) refused {what} in table '{table}'. The table keeps its "
        "shape; to accept the change, set the pipeline's schema contract to evolve "
        "(or discard_row / discard_value to drop what does not fit)."
    )
