"""Build the dlt destination of a pipeline: the organization's warehouse or a destination
connection. One function per destination kind; credentials are objects for this run only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tenantry.core.errors import ValidationFailed


@dataclass(frozen=True)
class DestinationPlan:
    kind: str  # duckdb | postgres | mysql | sqlite | bigquery | snowflake | redshift
    label: str
    dataset: str  # the physical dataset (schema) name
    path: Path | None = None
    lock_path: Path | None = None  # DuckDB: writers serialize on it
    credentials: dict[str, Any] | None = None
    secrets: tuple[str, ...] = ()


def _duckdb(plan: DestinationPlan):
    import dlt

    return dlt.destinations.duckdb(credentials=str(plan.path))


def _postgres(plan: DestinationPlan):
    import dlt
    from dlt.destinations.impl.postgres.configuration import PostgresCredentials

    c = dict(plan.credentials or {})
    creds = PostgresCredentials()
    creds.drivername = "postgresql"
    creds.host, creds.port = c["host"], c["port"]
    creds.username, creds.password, creds.database = c["username"], c["password"], c["database"]
    creds.connect_timeout = 15
    return dlt.destinations.postgres(credentials=creds)


def _sqlalchemy(plan: DestinationPlan):
    import dlt
    import sqlalchemy as sa

    c = dict(plan.credentials or {})
    if plan.kind == "sqlite":
        url = sa.URL.create("sqlite", database=str(plan.path))
    else:
        url = sa.URL.create(
            "mysql+pymysql",
            username=c["username"],
            password=c["password"],
            host=c["host"],
            port=c["port"],
            database=c["database"],
        )
    return dlt.destinations.sqlalchemy(credentials=sa.create_engine(url))


def _bigquery(plan: DestinationPlan):
    import dlt

    c = dict(plan.credentials or {})
    location = c.pop("location", "US")
    return dlt.destinations.bigquery(credentials=c, location=location)


def _snowflake(plan: DestinationPlan):
    import dlt

    return dlt.destinations.snowflake(credentials=dict(plan.credentials or {}))


def _redshift(plan: DestinationPlan):
    import dlt

    return dlt.destinations.redshift(credentials=dict(plan.credentials or {}))


BUILDERS = {
    "duckdb": _duckdb,
    "postgres": _postgres,
    "mysql": _sqlalchemy,
    "sqlite": _sqlalchemy,
    "bigquery": _bigquery,
    "snowflake": _snowflake,
    "redshift": _redshift,
}


def build_destination(plan: DestinationPlan):
    builder = BUILDERS.get(plan.kind)
    if builder is None:
        raise ValidationFailed.field(
            "destination_id", f"a {plan.kind} connection cannot be a destination"
        )
    return builder(plan)


def _secret(value) -> str:
    return value.get_secret_value() if value is not None else ""


def connection_credentials(kind: str, config: Any, host: str | None) -> dict[str, Any]:
    """dlt's credential fields for a destination connection (``host``: the guarded address)."""
    if kind in ("postgres", "mysql", "redshift"):
        return {
            "host": host,
            "port": config.port,
            "username": config.user,
            "password": _secret(config.password),
            "database": config.database,
        }
    if kind == "bigquery":
        import json

        key = json.loads(_secret(config.service_account_json))
        return {
            "project_id": config.project_id,
            "client_email": key["client_email"],
            "private_key": key["private_key"],
            "location": config.location,
        }
    if kind == "snowflake":
        creds = {
            "host": config.account,
            "username": config.user,
            "password": _secret(config.password),
            "database": config.database,
        }
        return creds | {k: getattr(config, k) for k in ("warehouse", "role") if getattr(config, k)}
    raise ValidationFailed.field("destination_id", f"a {kind} connection cannot be a destination")
