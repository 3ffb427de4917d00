"""Encrypted, write-only secret fields — the helper every capability uses for credentials.

* ``EncryptedJSON`` is a column type: values are Fernet-encrypted at rest through a MultiFernet,
  so keys can rotate (`tenantry secrets rotate` re-encrypts every such column under the newest key).
* ``mask`` / ``redact`` turn secrets into placeholders for responses, audit entries and logs.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, get_args

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import BaseModel, SecretStr, WithJsonSchema

from tenantry.core.errors import ConfigurationError

MASK = "********"
_SECRET_KEY_PATTERN = re.compile(
    r"(password|passwd|secret|token|api[_-]?key|private[_-]?key|credential|authorization)", re.I
)

_box: MultiFernet | None = None


def configure(keys: list[str]) -> None:
    global _box
    try:
        _box = MultiFernet([Fernet(k.encode()) for k in keys])
    except (ValueError, TypeError):
        raise ConfigurationError(
            "TENANTRY_ENCRYPTION_KEYS holds a key that is not a Fernet key "
            "(32 url-safe base64-encoded bytes); generate one with `tenantry secrets new-key`."
        ) from None


def box() -> MultiFernet:
    if _box is None:
        raise ConfigurationError("encryption keys are not configured")
    return _box


def encrypt(value: Any) -> str:
    return box().encrypt(json.dumps(value).encode()).decode()


def decrypt(token: str) -> Any:
    try:
        return json.loads(box().decrypt(token.encode()))
    except InvalidToken:
        raise ConfigurationError(
            "A stored secret cannot be decrypted with the configured keys; "
            "keep the old key in TENANTRY_ENCRYPTION_KEYS until `tenantry secrets rotate` has run."
        ) from None


def rotate_token(token: str) -> str:
    try:
        return box().rotate(token.encode()).decode()
    except InvalidToken:
        raise ConfigurationError(
            "A stored secret cannot be decrypted with any configured key, so it cannot be "
            "re-encrypted. Put the key it was written with back into TENANTRY_ENCRYPTION_KEYS "
            "(after the new one) and run `tenantry secrets rotate` again; nothing was changed."
        ) from None


class EncryptedJSON(sa.TypeDecorator):
    """A JSON value stored encrypted. Mark secret columns with this type and nothing else."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else encrypt(value)

    def process_result_value(self, value, dialect):
        return None if value is None else decrypt(value)


def mask(value: Any) -> str | None:
    """What a client sees for a secret: whether it is set, never any part of it."""
    return MASK if value not in (None, "") else None


def is_secret_key(name: str) -> bool:
    return bool(_SECRET_KEY_PATTERN.search(name))


def redact(value: Any, secret_fields: frozenset[str] = frozenset()) -> Any:
    """Recursively replace secret-looking keys (and the named ones) with the mask."""
    if isinstance(value, dict):
        return {
            k: (
                mask(v)
                if (k in secret_fields or is_secret_key(str(k)))
                else redact(v, secret_fields)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v, secret_fields) for v in value]
    return value


async def rotate_all(session, metadata) -> int:
    """Re-encrypt every ``EncryptedJSON`` column under the newest key; returns values rewritten."""
    count = 0
    for table in metadata.sorted_tables:
        cols = [c for c in table.columns if isinstance(c.type, EncryptedJSON)]
        if not cols:
            continue
        pk = list(table.primary_key.columns)[0]
        for col in cols:
            raw = sa.type_coerce(col, sa.Text)
            rows = (await session.execute(sa.select(pk, raw).where(col.is_not(None)))).all()
            for ident, token in rows:
                await session.execute(
                    sa.update(table)
                    .where(pk == ident)
                    .values({col.name: sa.type_coerce(rotate_token(token), sa.Text)})
                )
                count += 1
    return count


# --- Pydantic side: mark secret fields once, mask and redact them everywhere ------------------


Secret = Annotated[
    SecretStr, WithJsonSchema({"type": "string", "format": "password", "writeOnly": True})
]
"""A write-only string field: hidden in repr, logs and validation errors; documented as such."""


def secret_fields(model: type[BaseModel]) -> frozenset[str]:
    """Names of a schema's ``Secret`` fields (also when optional)."""

    def is_secret(annotation) -> bool:
        return annotation is SecretStr or any(is_secret(a) for a in get_args(annotation))

    return frozenset(n for n, f in model.model_fields.items() if is_secret(f.annotation))


def reveal(value: BaseModel) -> dict[str, Any]:
    """Plain values, secrets included — only to store them encrypted or hand them to a driver."""
    data = value.model_dump()
    for name in secret_fields(type(value)):
        if isinstance(data.get(name), SecretStr):
            data[name] = data[name].get_secret_value()
    return data


def masked(value: BaseModel) -> dict[str, Any]:
    """What an API response or audit entry shows: every secret field as the mask."""
    data = value.model_dump()
    for name in secret_fields(type(value)):
        data[name] = mask(data.get(name) and "set")
    return data
