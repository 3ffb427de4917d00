"""dbt's failures as terminal/transient errors that name the model or test."""

from __future__ import annotations

from tenantry.core.errors import TenantryError


class TransformFailed(TenantryError):
    status, title, code = 422, "Transformation failed", "transform-failed"


class TransientTransformFailure(TransformFailed):
    transient = True


_TRANSIENT_HINTS = (
    "could not connect",
    "connection refused",
    "connection timed out",
    "server closed the connection",
    "could not set lock",
    "conflicting lock",
)


def from_output(lines: list[str], returncode: int) -> TransformFailed:
    """dbt stopped before running nodes (a parse or connection error): its error lines."""
    errors = [ln.strip() for ln in lines if ln.strip()]
    start = next((i for i, ln in enumerate(errors) if "error" in ln.lower()), None)
    text = " ".join(errors[start : start + 6]) if start is not None else " ".join(errors[-4:])
    text = text[:1500] or f"dbt exited with code {returncode}"
    if any(h in text.lower() for h in _TRANSIENT_HINTS):
        return TransientTransformFailure(f"dbt could not reach the warehouse: {text}")
    return TransformFailed(f"dbt failed: {text}")
