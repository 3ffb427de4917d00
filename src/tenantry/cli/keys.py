"""Key rotation: optionally add a key to the key file, re-encrypt everything, drop old keys."""

from __future__ import annotations

import os

import typer

from tenantry.cli.common import fail, open_db, settings


async def rotate(*, generate: bool, drop_old: bool) -> None:
    from cryptography.fernet import Fernet

    from tenantry.core import secrets
    from tenantry.core.config import get_settings, set_settings
    from tenantry.models import metadata

    s = get_settings()
    key_file = s.data_dir / "encryption_keys"
    file_managed = not s.encryption_keys
    if (generate or drop_old) and not file_managed:
        fail(
            "keys come from TENANTRY_ENCRYPTION_KEYS: put the new key first in that variable "
            "(`tenantry secrets new-key`), run `tenantry secrets rotate`, then remove the old keys"
        )
    if generate:
        keys = [Fernet.generate_key().decode(), *s.fernet_keys]
        _write_keys(key_file, keys)
        set_settings(None)
        s = settings()
    secrets.configure(s.fernet_keys)
    db = await open_db(s)
    try:
        async with db.session() as session:
            count = await secrets.rotate_all(session, metadata)
    finally:
        await db.dispose()
    if drop_old:
        _write_keys(key_file, s.fernet_keys[:1])
    kept = 1 if drop_old else len(s.fernet_keys)
    typer.echo(
        f"Re-encrypted {count} secret value(s) under the newest key; {kept} key(s) configured."
    )


def _write_keys(path, keys: list[str]) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(keys) + "\n")
    os.replace(tmp, path)  # atomic: a crash leaves the old file or the new one, never half
