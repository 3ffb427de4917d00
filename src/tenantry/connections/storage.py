"""Each organization's own file storage; file-based connections may only point inside it."""

from __future__ import annotations

from pathlib import Path

from tenantry.core.config import Settings
from tenantry.core.errors import ValidationFailed


def org_files(settings: Settings, org_id: str) -> Path:
    root = settings.data_dir.resolve() / "orgs" / org_id / "files"
    root.mkdir(parents=True, exist_ok=True)
    return root


def inside(root: Path, relative: str, *, field: str = "path") -> Path:
    """``relative`` resolved under ``root``; refuses absolute paths, ``..`` and symlinks out."""
    if not relative or not relative.strip():
        raise ValidationFailed.field(field, "is required")
    candidate = Path(relative.strip())
    if candidate.is_absolute():
        raise ValidationFailed.field(
            field, "must be a path inside your organization's files, not an absolute server path"
        )
    resolved = (root / candidate).resolve()
    if resolved != root and root not in resolved.parents:
        raise ValidationFailed.field(field, "points outside your organization's files")
    return resolved
