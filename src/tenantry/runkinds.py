"""Which domain carries out each kind of run. Orchestration imports no data domain, so the
composition root (the app, the worker, the CLI) registers them here."""

from __future__ import annotations


def register_all() -> None:
    from tenantry.orchestration import registry
    from tenantry.pipelines.jobs import prepare_pipeline_run

    registry.register("pipeline", prepare_pipeline_run)
