"""Settings, read once from the environment (prefix ``TENANTRY_``) and an optional ``.env``.

Every field is documented in the README's configuration reference; a test keeps them in sync.
"""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TENANTRY_", env_file=".env", extra="ignore", validate_default=True
    )

    data_dir: Path = Field(
        default=Path(".tenantry"),
        description="Where the embedded metadata database, keys and tenant files live.",
    )
    database_url: str | None = Field(
        default=None,
        description="Metadata database URL. Unset: SQLite in the data dir. "
        "PostgreSQL: postgresql+asyncpg://user:pass@host/db",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis URL for shared login throttling (and later caches/queues). "
        "Unset: in-process memory.",
    )
    secret_key: str | None = Field(
        default=None,
        description="Root signing key (JWTs, sessions, CSRF, API-key pepper). "
        "Unset: generated into <data_dir>/secret_key (mode 0600).",
    )
    encryption_keys: str | None = Field(
        default=None,
        description="Comma-separated Fernet keys; the first encrypts, all decrypt. "
        "Unset: generated into <data_dir>/encryption_keys.",
    )
    base_url: str = Field(
        default="http://127.0.0.1:8000", description="Public URL, used in invitation links."
    )
    host: str = Field(default="127.0.0.1", description="Address `tenantry serve` binds to.")
    port: int = Field(default=8000, description="Port `tenantry serve` listens on.")
    access_token_ttl_seconds: int = Field(default=900, ge=30, description="Access JWT lifetime.")
    refresh_token_ttl_days: int = Field(default=30, ge=1, description="Refresh token lifetime.")
    session_ttl_hours: int = Field(default=168, ge=1, description="Web session lifetime.")
    invitation_ttl_hours: int = Field(default=168, ge=1, description="Invitation link lifetime.")
    cookie_secure: bool = Field(
        default=False, description="Mark the session cookie Secure (set this behind HTTPS)."
    )
    bcrypt_rounds: int = Field(default=12, ge=4, le=16, description="bcrypt cost factor.")
    login_max_failures_per_account: int = Field(
        default=5, ge=1, description="Failed logins per account within the window before 429."
    )
    login_max_failures_per_address: int = Field(
        default=20, ge=1, description="Failed logins per client address within the window."
    )
    login_window_seconds: int = Field(
        default=900, ge=1, description="Throttling window (and lock-out length) in seconds."
    )
    trust_proxy_headers: bool = Field(
        default=False,
        description="Take the client address from X-Forwarded-For (only behind a trusted proxy).",
    )
    auth_cache_seconds: float = Field(
        default=10.0,
        ge=0,
        description="How long a resolved credential may be reused without a query. Every change "
        "to members, keys or organizations clears it at once (across replicas through Redis); "
        "0 turns the cache off.",
    )
    allowed_private_networks: str | None = Field(
        default=None,
        description="Comma-separated networks (CIDR) that tenants' connections may reach even "
        "though they are loopback, link-local or private, e.g. 10.20.0.0/16. Unset: none.",
    )
    connection_test_timeout_seconds: float = Field(
        default=10.0, gt=0, description="How long a connection test may take."
    )
    upload_max_bytes: int = Field(
        default=200 * 1024 * 1024, ge=1, description="Largest file an organization may upload."
    )
    warehouse_kind: str = Field(
        default="duckdb",
        description="Warehouse of new organizations: `duckdb` (a file each) or `postgres` "
        "(a schema set and role each on TENANTRY_WAREHOUSE_POSTGRES_URL).",
    )
    warehouse_postgres_url: str | None = Field(
        default=None,
        description="Admin URL of the PostgreSQL server holding organizations' warehouses.",
    )
    warehouse_query_max_rows: int = Field(
        default=10_000, ge=1, description="Most rows one read-only warehouse query may return."
    )
    warehouse_query_timeout_seconds: float = Field(
        default=30.0, gt=0, description="A read-only warehouse query is stopped after this long."
    )
    executor: Literal["inline", "celery"] = Field(
        default="inline",
        description="Where runs execute: `inline` (threads in `tenantry serve`) or `celery` "
        "(`tenantry worker` processes).",
    )
    celery_broker_url: str | None = Field(
        default=None,
        description="Celery broker (`redis://…` or `amqp://…`); defaults to `TENANTRY_REDIS_URL`.",
    )
    run_max_concurrency: int = Field(
        default=4, ge=1, le=64, description="Runs executing at once per server or worker."
    )
    run_max_concurrency_per_org: int = Field(
        default=2, ge=1, le=64, description="Runs of one organization executing at once."
    )
    run_heartbeat_seconds: float = Field(
        default=5, gt=0, description="How often a running run reports that it is alive."
    )
    run_stale_after_seconds: float = Field(
        default=60,
        gt=0,
        description="A running run silent this long is marked failed (worker lost) and retried.",
    )
    scheduler_enabled: bool = Field(
        default=True, description="Run schedules in this server process (APScheduler)."
    )
    schedule_sync_seconds: float = Field(
        default=15,
        gt=0,
        description="How often the scheduler re-reads schedules changed by other processes.",
    )
    schedule_default_grace_seconds: int = Field(
        default=300,
        ge=0,
        description="Grace of new schedules: a fire time later than this is recorded as missed.",
    )
    dbt_threads: int = Field(
        default=4, ge=1, le=32, description="Models dbt builds at once within one run."
    )
    dbt_lock_timeout_seconds: float = Field(
        default=600,
        gt=0,
        description="How long a dbt run waits for another dbt command of its organization.",
    )
    semantic_templates_dir: Path | None = Field(
        default=None,
        description="A folder of semantic model templates (one sub-folder each) added to the "
        "built-in ones.",
    )
    semantic_sql_dialect: str | None = Field(
        default=None,
        description="sqlglot dialect for semantic queries; unset: the warehouse's own.",
    )
    semantic_cache_max_mb: float = Field(
        default=256, gt=0, description="Memory the in-process semantic result cache may use."
    )
    semantic_cache_ttl_seconds: float = Field(
        default=86400, gt=0, description="Longest a cached semantic result is kept."
    )
    semantic_model_cache_size: int = Field(
        default=2000, ge=1, description="Compiled organization models kept in memory (LRU)."
    )
    semantic_continue_wait_seconds: float = Field(
        default=5,
        gt=0,
        description="A semantic query still running after this long answers `Continue wait` "
        "(the client asks again and gets the same execution).",
    )
    semantic_query_timeout_seconds: float = Field(
        default=120, gt=0, description="A semantic query is stopped after this long."
    )
    semantic_cors_origins: str = Field(
        default="",
        description="Comma-separated origins allowed to call /cubejs-api from a browser "
        "(`*` for any).",
    )
    semantic_token_max_ttl_seconds: int = Field(
        default=86400, ge=60, description="Longest lifetime of a minted embed token."
    )
    preagg_refresh_seconds: float = Field(
        default=60,
        gt=0,
        description="How often the background refresh looks for pre-aggregations to build.",
    )
    preagg_refresh_concurrency: int = Field(
        default=2, ge=1, le=32, description="Pre-aggregation builds running at once per server."
    )
    llm_timeout_seconds: float = Field(
        default=60, gt=0, description="How long one LLM provider request may take."
    )
    llm_max_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Retries of an LLM call on 429, 5xx or a lost connection.",
    )
    prompt_default_max_tokens: int = Field(
        default=1024,
        ge=1,
        description="max_tokens sent (and reserved against quotas) when a prompt sets none.",
    )
    prompt_render_max_chars: int = Field(
        default=100_000, ge=1000, description="Largest rendered prompt, in characters."
    )
    prompt_render_timeout_seconds: float = Field(
        default=2.0, gt=0, description="Longest time one prompt render may take."
    )
    prompt_execution_retention_days: int = Field(
        default=0,
        ge=0,
        description="Days executions are kept (0: forever); an organization may keep fewer.",
    )
    demo_llm_base_url: str = Field(
        default="http://127.0.0.1:11434/v1",
        description="OpenAI-compatible endpoint of the demo organizations' `local` LLM provider "
        "(Ollama's by default); `tenantry demo` allows its host for its own server.",
    )
    log_level: str = Field(default="INFO", description="Log level.")
    log_format: str = Field(default="text", description="`text` or `json`.")
    allow_signup: bool = Field(default=True, description="Allow anyone to create an account.")

    @field_validator("warehouse_kind")
    @classmethod
    def _warehouse_kind(cls, value: str) -> str:
        if value not in {"duckdb", "postgres"}:
            raise ValueError("TENANTRY_WAREHOUSE_KIND must be `duckdb` or `postgres`")
        return value

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value not in {"text", "json"}:
            raise ValueError("TENANTRY_LOG_FORMAT must be `text` or `json`")
        return value

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite+aiosqlite:///{(self.data_dir / 'tenantry.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @field_validator("secret_key")
    @classmethod
    def _secret_key(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 32:
            raise ValueError(
                "TENANTRY_SECRET_KEY must be at least 32 characters; generate one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        return value

    @cached_property
    def root_key(self) -> bytes:
        return (
            self.secret_key or _read_or_create(self.data_dir / "secret_key", _new_root)
        ).encode()

    @cached_property
    def fernet_keys(self) -> list[str]:
        raw = self.encryption_keys or _read_or_create(
            self.data_dir / "encryption_keys", _new_fernet
        )
        keys = [k.strip() for k in raw.replace("\n", ",").split(",") if k.strip()]
        if not keys:
            raise ValueError("TENANTRY_ENCRYPTION_KEYS is set but holds no key")
        return keys


def normalize_database_url(url: str) -> str:
    """Accept the URLs people paste (postgres://, postgresql://) and pick the async driver."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


def _new_root() -> str:
    return secrets.token_urlsafe(48)


def _new_fernet() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def _read_or_create(path: Path, make) -> str:
    """Read a generated key, or create it: written in full to a temporary file, then linked into
    place, so no process ever reads a half-written (or empty) key, and two starting at once
    agree on one."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(make() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # fails if another process won the race: then use theirs
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    value = path.read_text().strip()
    if not value:
        raise ValueError(f"{path} is empty; delete it to generate a new key, or restore it")
    return value


_settings: Settings | None = None


def get_settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = Settings()
    return _settings


def set_settings(settings: Settings | None) -> None:
    """Replace the process settings (the CLI and tests build their own)."""
    global _settings
    _settings = settings
