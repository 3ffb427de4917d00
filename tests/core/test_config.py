"""Configuration: every setting documented; keys generated once with safe permissions."""

from __future__ import annotations

import stat
from pathlib import Path

from tenantry.core.config import Settings, normalize_database_url

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_documented_in_the_readme():
    text = README.read_text()
    missing = [
        f"TENANTRY_{name.upper()}"
        for name in Settings.model_fields
        if f"TENANTRY_{name.upper()}" not in text
    ]
    assert not missing, f"README lacks: {missing}"


def test_keys_are_generated_once_with_mode_0600(tmp_path):
    s = Settings(_env_file=None, data_dir=tmp_path)
    root, fernet = s.root_key, s.fernet_keys
    for name in ("secret_key", "encryption_keys"):
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))
    again = Settings(_env_file=None, data_dir=tmp_path)
    assert again.root_key == root and again.fernet_keys == fernet


def test_database_urls_people_paste_are_accepted():
    assert normalize_database_url("postgres://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert normalize_database_url("postgresql://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert normalize_database_url("sqlite:////tmp/x.db") == "sqlite+aiosqlite:////tmp/x.db"
