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


def test_empty_or_short_keys_are_refused(tmp_path):
    import pytest
    from pydantic import ValidationError

    (tmp_path / "secret_key").write_text("\n")
    with pytest.raises(ValueError, match="is empty"):
        _ = Settings(_env_file=None, data_dir=tmp_path).root_key
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(_env_file=None, data_dir=tmp_path, secret_key="short")


def test_concurrent_first_starts_agree_on_one_key(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    def read(_):
        return Settings(_env_file=None, data_dir=tmp_path).root_key

    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(read, range(16)))
    assert len(keys) == 1 and len(next(iter(keys))) >= 32
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret_key"]
