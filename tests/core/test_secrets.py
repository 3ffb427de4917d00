"""The secret-field helper later capabilities build on: encrypted columns, marked schema fields."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import BaseModel, ValidationError

from tenantry.core import secrets
from tenantry.core.errors import ConfigurationError
from tenantry.core.secrets import Secret, masked, reveal, secret_fields


class ExampleConfig(BaseModel):
    host: str
    user: str
    password: Secret
    token: Secret | None = None


def test_secret_fields_are_found_hidden_and_masked():
    assert secret_fields(ExampleConfig) == {"password", "token"}
    cfg = ExampleConfig(host="db", user="app", password="hunter22-x")
    assert "hunter22-x" not in repr(cfg) and "hunter22-x" not in str(cfg.model_dump())
    assert reveal(cfg) == {"host": "db", "user": "app", "password": "hunter22-x", "token": None}
    assert masked(cfg) == {"host": "db", "user": "app", "password": "********", "token": None}
    schema = ExampleConfig.model_json_schema()["properties"]["password"]
    assert schema["writeOnly"] is True and schema["format"] == "password"


def test_validation_errors_do_not_carry_the_secret_into_our_responses():
    with pytest.raises(ValidationError) as err:
        ExampleConfig(host="db", password="hunter22-x")  # user missing
    assert [e["loc"] for e in err.value.errors()] == [("user",)]


def test_encrypt_round_trip_and_rotation_across_keys():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    secrets.configure([old])
    token = secrets.encrypt({"password": "p"})
    secrets.configure([new, old])
    assert secrets.decrypt(token) == {"password": "p"}
    rotated = secrets.rotate_token(token)
    secrets.configure([new])
    assert secrets.decrypt(rotated) == {"password": "p"}
    with pytest.raises(ConfigurationError, match="cannot be decrypted"):
        secrets.decrypt(token)


def test_a_bad_key_is_a_clear_configuration_error():
    with pytest.raises(ConfigurationError, match="not a Fernet key"):
        secrets.configure(["not-a-key"])
