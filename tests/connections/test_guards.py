"""The network guard and the file-storage boundary."""

from __future__ import annotations

import os

import pytest

from tenantry.connections.netguard import resolve_allowed
from tenantry.connections.storage import inside
from tenantry.core.errors import ValidationFailed


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("localhost", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("10.1.2.3", "private-network"),
        ("192.168.0.10", "private-network"),
        ("0.0.0.0", "reserved"),
    ],
)
def test_internal_addresses_are_refused_by_default(host, why):
    with pytest.raises(ValidationFailed, match=why) as err:
        resolve_allowed(host, 5432, allowed=None)
    assert "TENANTRY_ALLOWED_PRIVATE_NETWORKS" in err.value.detail
    assert err.value.errors[0]["field"] == "host"


def test_the_operator_can_allow_networks():
    assert resolve_allowed("127.0.0.1", 5432, allowed="127.0.0.0/8") == "127.0.0.1"
    with pytest.raises(ValidationFailed):
        resolve_allowed("10.0.0.1", 5432, allowed="127.0.0.0/8")
    assert resolve_allowed("10.0.0.1", 5432, allowed="127.0.0.0/8, 10.0.0.0/8") == "10.0.0.1"


def test_public_addresses_pass_and_unknown_names_are_clear():
    assert resolve_allowed("8.8.8.8", 53, allowed=None) == "8.8.8.8"
    with pytest.raises(ValidationFailed, match="does not resolve"):
        resolve_allowed("no-such-host.invalid", 5432, allowed=None)


def test_paths_stay_inside_the_organization_storage(tmp_path):
    root = tmp_path / "files"
    (root / "sub").mkdir(parents=True)
    assert inside(root, "sub/data.csv") == root / "sub" / "data.csv"
    for bad in ("/etc/passwd", "../other-org/files/x.db", "sub/../../x", ""):
        with pytest.raises(ValidationFailed):
            inside(root, bad)
    os.symlink("/etc", root / "escape")
    with pytest.raises(ValidationFailed, match="outside"):
        inside(root, "escape/passwd")
