"""Which domain carries out each kind of run. Orchestration imports no data domain, so the
composition root (the app, the worker, the CLI) registers them here."""

from __future__ import annotations


def register_all() -> None:
    from tenantry.orchestration import registry
    from tenantry.pipelines import service as pipelines
    from tenantry.pipelines.jobs import prepare_pipeline_run
    from tenantry.semantic.preaggs import jobs as preaggs
    from tenantry.transforms import service as transforms
    from tenantry.transforms.jobs import prepare_dbt_run, prepare_transformation_run

    registry.register("pipeline", prepare_pipeline_run)
    registry.register("transformation", prepare_transformation_run)
    registry.register("dbt", prepare_dbt_run)
    registry.register_target("pipeline", pipelines.as_target)
    registry.register_target("transformation", transforms.as_target)
    registry.register_nodes("pipeline", pipelines.dag_nodes)
    registry.register_nodes("transformation", transforms.dag_nodes)
    registry.register(preaggs.KIND, preaggs.prepare_preagg_run)
    registry.register_target(preaggs.KIND, preaggs.as_target)
    registry.register_finished(preaggs.KIND, preaggs.on_finished)
