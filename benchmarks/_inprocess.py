"""The platform inside a benchmark's own process: self-contained settings (whatever TENANTRY_*
says), the app behind a TestClient, and one signed-up user."""

from __future__ import annotations

import sys
import uuid
import warnings
from pathlib import Path


class InProcessApp:
    def __init__(self, data_dir: Path, email: str):
        from cryptography.fernet import Fernet

        # starlette's TestClient still rides on httpx; nothing for a benchmark to change.
        warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
        from fastapi.testclient import TestClient

        from tenantry.app import create_app
        from tenantry.core import secrets
        from tenantry.core.config import Settings, set_settings

        data_dir.mkdir(parents=True, exist_ok=True)
        self.settings = Settings(
            _env_file=None,
            data_dir=data_dir,
            secret_key="bench-" + uuid.uuid4().hex,
            encryption_keys=Fernet.generate_key().decode(),
            bcrypt_rounds=4,
            base_url="http://testserver",
            log_level="WARNING",
            # Runs execute here and the metadata stays in data_dir.
            database_url=None,
            redis_url=None,
            executor="inline",
            warehouse_kind="duckdb",
        )
        set_settings(self.settings)
        secrets.configure(self.settings.fernet_keys)
        self.client = TestClient(create_app(self.settings))
        self.client.__enter__()
        r = self._ok(
            self.client.post(
                "/api/v1/auth/signup", json={"email": email, "password": "bench-password"}
            ),
            201,
        )
        self.h = {"Authorization": f"Bearer {r.json()['access_token']}"}

    def close(self) -> None:
        from tenantry.core.config import set_settings

        self.client.__exit__(None, None, None)
        set_settings(None)

    @staticmethod
    def _ok(r, status: int):
        if r.status_code != status:
            sys.exit(f"{r.request.method} {r.request.url.path} → {r.status_code}: {r.text}")
        return r
