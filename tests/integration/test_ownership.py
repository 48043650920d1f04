"""A running rockd's state tree: every subtree has one owner, as docs/ARCHITECTURE.md's table
says, and a write from anyone else is refused."""

import pytest

from rockd.core.tree import OwnershipError

OWNERS = {
    "/disks": "disks", "/pools": "pools", "/shares": "shares", "/snapshots": "shares",
    "/jobs": "jobs", "/schedules": "schedules", "/services": "services",
    "/exports": "exports", "/configs/smb": "services.smb", "/configs/nfs": "services.nfs",
    "/configs/sftp": "services.sftp", "/users": "accounts", "/groups": "accounts",
    "/system": "system", "/system/metrics": "system_metrics", "/system/uptime": "system_metrics",
    "/system/tls": "tls", "/system/time": "host.clock", "/system/power": "host.power",
    "/apps": "apps", "/apps-engine": "apps", "/replication": "replication",
    "/network": "network",
}


async def test_every_subtree_has_its_owner(rockd):
    daemon = (await rockd(login=False)).daemon
    tree = daemon.tree
    assert {path: tree.owner_of(path) for path in OWNERS} == OWNERS
    unowned = [key for key in tree.get("") if tree.owner_of(f"/{key}") is None]
    assert unowned == ["configs"]  # only a folder for the export kinds' entries
    for path in OWNERS:
        with pytest.raises(OwnershipError):
            tree.set(f"{path}/intruder", 1)
    assert all(tree.get(f"{path}/intruder") is None for path in OWNERS)
