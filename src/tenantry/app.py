"""Builds the FastAPI app: runtime state, middleware, error handling, every domain's routers."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tenantry import __version__
from tenantry.connections import file_pages
from tenantry.connections import pages as connection_pages
from tenantry.connections import views as connection_views
from tenantry.core import migrate, secrets
from tenantry.core.config import Settings, get_settings
from tenantry.core.db import Database, SessionCloseMiddleware
from tenantry.core.errors import TenantryError, Unavailable
from tenantry.core.http import (
    PrefixCORS,
    RequestContextMiddleware,
    error_response,
    install_api_error_handlers,
)
from tenantry.core.logging import configure_logging
from tenantry.core.ratelimit import make_counter
from tenantry.core.security import AccessTokenVerifier, Keys
from tenantry.llm import pages as llm_pages
from tenantry.llm import views as llm_views
from tenantry.orchestration import dag_pages, dag_views, executors, schedule_pages, schedule_views
from tenantry.orchestration import pages as run_pages
from tenantry.orchestration import views as run_views
from tenantry.pipelines import pages as pipeline_pages
from tenantry.pipelines import views as pipeline_views
from tenantry.prompts import pages as prompt_pages
from tenantry.prompts import registry_views as prompt_registry_views
from tenantry.prompts import views as prompt_views
from tenantry.runkinds import register_all
from tenantry.semantic import cube_api
from tenantry.semantic import pages as semantic_pages
from tenantry.semantic import views as semantic_views
from tenantry.tenancy import admin_pages, auth_views, org_pages, pages, views
from tenantry.tenancy.authcache import AuthCache, RedisInvalidation
from tenantry.tenancy.deps import public
from tenantry.transforms import pages as transform_pages
from tenantry.transforms import views as transform_views
from tenantry.warehouse import pages as warehouse_pages
from tenantry.warehouse import views as warehouse_views
from tenantry.web import render

log = logging.getLogger("tenantry.app")


async def start_runtime(app: FastAPI, settings: Settings) -> None:
    """Open what the app needs; refuse to start on an out-of-date shared database."""
    secrets.configure(settings.fernet_keys)
    db = Database(settings.resolved_database_url)
    try:
        await migrate.ensure_current(db.engine, auto_upgrade=settings.is_sqlite)
    except TenantryError:
        await db.dispose()
        raise
    app.state.settings = settings
    app.state.db = db
    app.state.keys = Keys(settings.root_key)
    app.state.token_verifier = AccessTokenVerifier(app.state.keys.jwt)
    app.state.counter = make_counter(settings.redis_url)
    app.state.auth_cache = AuthCache(settings.auth_cache_seconds)
    app.state.invalidation = None
    if settings.redis_url:
        app.state.invalidation = RedisInvalidation(settings.redis_url)
        await app.state.invalidation.start()
    register_all()
    app.state.executor = _executor(db, settings)
    executors.install(app.state.executor)
    await app.state.executor.start()
    app.state.scheduler = None
    if settings.scheduler_enabled:
        from tenantry.orchestration.scheduler import Scheduler

        app.state.scheduler = Scheduler(db, settings)
        await app.state.scheduler.start()
    from tenantry.semantic.preaggs.refresh import Refresher
    from tenantry.semantic.runtime import SemanticRuntime

    app.state.semantic = SemanticRuntime(settings)
    app.state.preagg_refresher = None
    if settings.scheduler_enabled:  # background work runs where schedules run
        app.state.preagg_refresher = Refresher(db, settings)
        await app.state.preagg_refresher.start()


def _executor(db: Database, settings: Settings) -> executors.Executor:
    if settings.executor == "celery":
        return executors.CeleryExecutor(settings, db)
    return executors.InlineExecutor(db, settings)


async def stop_runtime(app: FastAPI) -> None:
    if getattr(app.state, "preagg_refresher", None) is not None:
        await app.state.preagg_refresher.stop()
    if getattr(app.state, "scheduler", None) is not None:
        await app.state.scheduler.stop()
    await app.state.executor.stop()
    if executors.current() is app.state.executor:
        executors.install(None)
    if app.state.invalidation is not None:
        await app.state.invalidation.stop()
    await app.state.counter.close()
    if getattr(app.state, "semantic", None) is not None:
        await app.state.semantic.aclose()
    await app.state.db.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        configure_logging(settings.log_level, settings.log_format)
        await start_runtime(app, settings)
        log.info(
            "Tenantry %s ready (%s)", __version__, "sqlite" if settings.is_sqlite else "postgresql"
        )
        yield
        await stop_runtime(app)

    app = FastAPI(
        title="Tenantry",
        version=__version__,
        summary="Multi-tenant data and analytics platform",
        lifespan=lifespan,
        docs_url=None,  # served below from local assets
        redoc_url=None,
    )
    app.add_middleware(SessionCloseMiddleware)
    origins = [o.strip() for o in settings.semantic_cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(PrefixCORS, prefix="/cubejs-api/", origins=origins)
    app.add_middleware(RequestContextMiddleware)
    install_api_error_handlers(app, page_handler=pages.page_error)

    @app.get("/healthz", tags=["health"])
    async def healthz(_=public()):
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz(request: Request, _=public()):
        """The metadata database answers and its schema is current."""
        try:
            async with request.app.state.db.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
            current, head = await migrate.check_current(request.app.state.db.engine)
        except TenantryError as exc:
            return error_response(Unavailable(exc.detail))
        if current != head:
            return error_response(
                Unavailable(f"Migrations pending ({current} → {head}); run `tenantry db upgrade`.")
            )
        # "health" is what Cube's readiness probe answers; its clients and charts read it.
        body = {"status": "ready", "database": "ok", "revision": current, "health": "HEALTH"}
        return JSONResponse(body)

    @app.get("/docs", include_in_schema=False)
    async def api_docs(_=public()):
        return render.api_docs_page()

    app.include_router(auth_views.router)
    app.include_router(views.router)
    app.include_router(warehouse_views.router)
    app.include_router(connection_views.router)
    app.include_router(pipeline_views.router)
    app.include_router(run_views.router)
    app.include_router(schedule_views.router)
    app.include_router(transform_views.router)
    app.include_router(dag_views.router)
    app.include_router(semantic_views.router)
    app.include_router(cube_api.router)
    app.include_router(cube_api.health)
    app.include_router(llm_views.router)
    app.include_router(prompt_views.router)
    app.include_router(prompt_registry_views.parts_router)
    app.include_router(prompt_registry_views.log_router)
    app.include_router(prompt_registry_views.settings_router)
    render.mount_static(app)
    app.include_router(pages.router)
    app.include_router(org_pages.router)
    app.include_router(admin_pages.router)
    app.include_router(warehouse_pages.router)
    app.include_router(connection_pages.router)
    app.include_router(file_pages.router)
    app.include_router(pipeline_pages.router)
    app.include_router(run_pages.router)
    app.include_router(schedule_pages.router)
    app.include_router(transform_pages.router)
    app.include_router(dag_pages.router)
    app.include_router(semantic_pages.router)
    app.include_router(prompt_pages.router)
    app.include_router(llm_pages.router)
    return app
