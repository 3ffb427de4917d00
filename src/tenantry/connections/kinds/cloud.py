"""Cloud warehouses as destinations: BigQuery, Snowflake, Redshift.

Their configs are validated and wired to dlt's destinations. Testing one checks that its
endpoint answers on the network (through the network guard); the credentials themselves are
checked by the first load. The client libraries are installed with ``dlt[bigquery]``,
``dlt[snowflake]`` or ``dlt[redshift]`` where they are needed.
"""

from __future__ import annotations

import asyncio
import json

from pydantic import BaseModel, Field, field_validator

from tenantry.connections.kinds.base import Kind, TestContext
from tenantry.connections.netguard import resolve_allowed
from tenantry.core.errors import ValidationFailed
from tenantry.core.secrets import Secret


class BigQueryConfig(BaseModel):
    project_id: str = Field(min_length=1, max_length=100, title="Project id")
    location: str = Field(default="US", max_length=50, description="Dataset location, e.g. EU")
    service_account_json: Secret = Field(
        title="Service account key (JSON)", description="The key file's whole content"
    )

    @field_validator("service_account_json")
    @classmethod
    def _key(cls, value):
        try:
            key = json.loads(value.get_secret_value())
        except ValueError:
            raise ValueError("must be the service account key file's JSON") from None
        missing = [k for k in ("client_email", "private_key") if not key.get(k)]
        if missing:
            raise ValueError(f"the key lacks {', '.join(missing)}")
        return value


class SnowflakeConfig(BaseModel):
    account: str = Field(
        min_length=1, max_length=200, description="Account identifier, e.g. xy12345.eu-central-1"
    )
    user: str = Field(min_length=1, max_length=200)
    password: Secret
    database: str = Field(min_length=1, max_length=255)
    warehouse: str | None = Field(default=None, max_length=255)
    role: str | None = Field(default=None, max_length=255)


class RedshiftConfig(BaseModel):
    host: str = Field(min_length=1, max_length=255)
    port: int = Field(default=5439, ge=1, le=65535)
    database: str = Field(min_length=1, max_length=127)
    user: str = Field(min_length=1, max_length=127)
    password: Secret


async def _reach(host: str, port: int, ctx: TestContext, field: str) -> str:
    address = resolve_allowed(
        host, port, allowed=ctx.settings.allowed_private_networks, field=field
    )
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), ctx.timeout)
    except (OSError, TimeoutError):
        raise ValidationFailed.field(
            field, f"{host}:{port} did not answer; check the name and that this server may reach it"
        ) from None
    writer.close()
    return address


async def test_bigquery(config: BigQueryConfig, ctx: TestContext) -> str:
    await _reach("bigquery.googleapis.com", 443, ctx, "project_id")
    return "BigQuery's endpoint answers; the key is checked by the first load"


async def test_snowflake(config: SnowflakeConfig, ctx: TestContext) -> str:
    await _reach(f"{config.account}.snowflakecomputing.com", 443, ctx, "account")
    return "The Snowflake account answers; the credentials are checked by the first load"


async def test_redshift(config: RedshiftConfig, ctx: TestContext) -> str:
    await _reach(config.host, config.port, ctx, "host")
    return "The Redshift endpoint answers; the credentials are checked by the first load"


BIGQUERY = Kind(
    "bigquery", "BigQuery", "destination", BigQueryConfig, test_bigquery, reachable=False
)
SNOWFLAKE = Kind(
    "snowflake", "Snowflake", "destination", SnowflakeConfig, test_snowflake, reachable=False
)
REDSHIFT = Kind(
    "redshift", "Amazon Redshift", "destination", RedshiftConfig, test_redshift, reachable=False
)
