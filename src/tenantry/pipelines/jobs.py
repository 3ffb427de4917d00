"""Prepare a pipeline run from the store: its source, its destination, its secrets to mask."""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.connections import service as connections
from tenantry.connections.models import Connection
from tenantry.connections.netguard import resolve_allowed
from tenantry.connections.storage import inside, org_files
from tenantry.core.config import Settings
from tenantry.orchestration.control import Job
from tenantry.orchestration.models import Run
from tenantry.pipelines.destinations import DestinationPlan, connection_credentials
from tenantry.pipelines.errors import LoadFailed
from tenantry.pipelines.models import Pipeline
from tenantry.pipelines.runner import LoadPlan, run_load
from tenantry.pipelines.schemas import PipelineSpec
from tenantry.pipelines.sources import SourcePlan
from tenantry.warehouse import service as warehouse


def pipelines_dir(settings: Settings, org_id: str):
    return settings.data_dir.resolve() / "orgs" / org_id / "pipelines"


def dlt_name(org_id: str, pipeline_id: str) -> str:
    return f"org_{org_id}__{pipeline_id}"


def _secret_values(config) -> list[str]:
    return [v.get_secret_value() for v in config.__dict__.values() if isinstance(v, SecretStr)]


async def _live_connection(session: AsyncSession, org_id: str, connection_id: str, role: str):
    conn = await session.scalar(
        sa.select(Connection).where(Connection.id == connection_id, Connection.org_id == org_id)
    )
    if conn is None or conn.deleted_at is not None:
        raise LoadFailed(
            f"The pipeline's {role} connection was deleted; restore it or edit the pipeline."
        )
    return conn


def _destination_from(conn: Connection, config: Any, settings: Settings, spec: PipelineSpec):
    label = f"connection '{conn.name}' ({conn.kind})"
    if conn.kind in ("duckdb", "sqlite"):
        path = inside(org_files(settings, conn.org_id), config.path, field="config.path")
        lock = path.with_suffix(".lock") if conn.kind == "duckdb" else None
        return DestinationPlan(conn.kind, label, spec.dataset, path=path, lock_path=lock)
    host = None
    if conn.kind in ("postgres", "mysql", "redshift"):
        host = resolve_allowed(
            config.host, config.port, allowed=settings.allowed_private_networks, field="host"
        )
    credentials = connection_credentials(conn.kind, config, host)
    return DestinationPlan(
        conn.kind,
        label,
        spec.dataset,
        credentials=credentials,
        # The key inside a BigQuery key file is masked on its own too.
        secrets=(
            *_secret_values(config),
            credentials.get("password"),
            credentials.get("private_key"),
        ),
    )


async def prepare_pipeline_run(session: AsyncSession, settings: Settings, run: Run) -> Job:
    p = await session.scalar(
        sa.select(Pipeline).where(Pipeline.id == run.target_id, Pipeline.org_id == run.org_id)
    )
    if p is None or p.deleted_at is not None:
        raise LoadFailed("The pipeline was deleted before this run started.")
    spec = PipelineSpec.model_validate(p.spec)
    source_conn = await _live_connection(session, run.org_id, p.source_id, "source")
    source_config = connections.full_config(source_conn)
    secrets = _secret_values(source_config)
    if p.destination_id:
        dest_conn = await _live_connection(session, run.org_id, p.destination_id, "destination")
        dest_config = connections.full_config(dest_conn)
        destination = _destination_from(dest_conn, dest_config, settings, spec)
    else:
        from tenantry.tenancy.models import Organization

        org = await session.get(Organization, run.org_id)
        target = await warehouse.load_target(session, settings, org)
        destination = DestinationPlan(
            target.kind,
            target.label,
            target.datasets[spec.dataset],
            path=target.path,
            lock_path=target.lock_path,
            credentials=target.credentials,
            secrets=((target.credentials or {}).get("password") or "",),
        )
    secrets += [s for s in destination.secrets if s]
    plan = LoadPlan(
        org_id=run.org_id,
        pipeline_id=p.id,
        dlt_name=dlt_name(run.org_id, p.id),
        pipelines_dir=pipelines_dir(settings, run.org_id),
        source=SourcePlan(
            kind=source_conn.kind,
            config=source_config,
            files_root=org_files(settings, run.org_id),
            allowed_networks=settings.allowed_private_networks,
            spec=spec,
        ),
        destination=destination,
    )
    return Job(execute=functools.partial(run_load, plan), secrets=secrets)
