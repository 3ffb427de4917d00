"""The Celery executor: the server sends run ids, ``tenantry worker`` executes them.

``acks_late`` with ``reject_on_worker_lost``: a message is acknowledged only once its run has
finished, so a worker killed mid-run leaves it to be redelivered; the run's guarded claim and
the reaper decide what happens to the run itself (never executed twice at once).
"""

from __future__ import annotations

from functools import cache

from tenantry.core.config import Settings

TASK = "tenantry.execute_run"


def broker_url(settings: Settings) -> str:
    url = settings.celery_broker_url or settings.redis_url
    if not url:
        from tenantry.core.errors import ConfigurationError

        raise ConfigurationError(
            "TENANTRY_EXECUTOR=celery needs a broker: set TENANTRY_CELERY_BROKER_URL "
            "(redis://… or amqp://…) or TENANTRY_REDIS_URL."
        )
    return url


@cache
def make_app(url: str):
    from celery import Celery

    app = Celery("tenantry", broker=url)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        result_backend=None,
        task_ignore_result=True,
    )
    app.task(name=TASK, bind=True, acks_late=True)(_execute_task)
    return app


def _execute_task(self, run_id: str) -> str | None:  # noqa: ARG001 - Celery's bound signature
    from tenantry.orchestration.worker import run_in_worker

    return run_in_worker(run_id)


def send(settings: Settings, run_id: str, delay: float) -> None:
    app = make_app(broker_url(settings))
    app.send_task(TASK, args=[run_id], countdown=max(delay, 0) or None)
