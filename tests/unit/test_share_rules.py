"""The share rules without root: what a share request may say, and how a pool's subvolumes
sort into shares and snapshots (on real folders, with the user running the tests)."""

from __future__ import annotations

import grp
import os
import pwd
from pathlib import Path

import pytest

from rockd.core.errors import BadRequest, Unprocessable
from rockd.storage.share_input import attributes
from rockd.storage.share_probe import sort

POOL = "d7258f6d-e96b-401c-a4e9-a58de85a65ab"


def test_attributes_are_looked_up_and_checked():
    me = pwd.getpwuid(os.getuid())
    my_group = grp.getgrgid(os.getgid())
    assert attributes(me.pw_name, my_group.gr_name, "0750", "zstd:3") == {
        "uid": me.pw_uid, "gid": my_group.gr_gid, "mode": 0o750, "compression": "zstd"}
    assert attributes(None, None, "755", "no") == {"mode": 0o755, "compression": "none"}
    assert attributes(None, None, None, None) == {}


@pytest.mark.parametrize(("given", "error", "code"), [
    ({"owner": "no-such-user-here"}, Unprocessable, "unknown_user"),
    ({"group": "no-such-group-here"}, Unprocessable, "unknown_group"),
    ({"mode": "0855"}, BadRequest, "invalid_field"),
    ({"mode": "0755\n"}, BadRequest, "invalid_field"),
    ({"mode": "\u0667\u0665\u0665"}, BadRequest, "invalid_field"),
    ({"compression": "zstd:16"}, BadRequest, "invalid_field"),
])
def test_refused_attributes(given, error, code):
    with pytest.raises(error) as raised:
        attributes(given.get("owner"), given.get("group"), given.get("mode"),
                   given.get("compression"))
    assert raised.value.code == code


def subvolume(sub_id: int, path: str, **fields) -> dict:
    return {"id": sub_id, "uuid": f"uuid-{sub_id}", "path": path, "read_only": False,
            "received_uuid": None, "created": None, **fields}


def test_subvolumes_sort_into_shares_and_snapshots(tmp_path: Path):
    (tmp_path / "data").mkdir(mode=0o750)
    os.chmod(tmp_path / "data", 0o750)
    subvolumes = [
        subvolume(256, "data"),
        subvolume(257, ".hidden"),
        subvolume(258, ".snapshots/data/monday", read_only=True, created="2026-01-05T00:00:00Z"),
        subvolume(259, ".snapshots/gone/old"),
        subvolume(260, "data/nested"),
        subvolume(261, ".snapshots/data/monday/deeper"),
    ]
    qgroups = {"0/256": {"referenced": 10, "exclusive": 5, "max_referenced": 1 << 20,
                         "max_exclusive": None}}
    asked = []

    def replica_of(pool_id: str, name: str) -> dict | None:
        asked.append((pool_id, name))
        return {"peer": "box-b"} if name == "data" else None

    shares, snapshots = sort(POOL, str(tmp_path), subvolumes, qgroups,
                             {"uuid-258": {"visible": True}}, replica_of)
    assert set(shares) == {"uuid-256"} and set(snapshots) == {"uuid-258", "uuid-259"}
    data = shares["uuid-256"]
    assert data == {
        "id": "uuid-256", "pool": POOL, "name": "data", "path": str(tmp_path / "data"),
        "subvolume_id": 256, "quota": 1 << 20, "usage": {"referenced": 10, "exclusive": 5},
        "compression": None, "owner": pwd.getpwuid(os.getuid()).pw_name,
        "group": grp.getgrgid(os.getgid()).gr_name, "mode": "0750", "read_only": False,
        "received_uuid": None, "created": None, "replica": {"peer": "box-b"}}
    assert asked == [(POOL, "data")]
    monday, old = snapshots["uuid-258"], snapshots["uuid-259"]
    assert (monday["share"], monday["share_name"], monday["name"]) == ("uuid-256", "data",
                                                                        "monday")
    assert monday["visible"] and monday["read_only"] and monday["usage"] is None
    assert monday["path"] == f"{tmp_path}/.snapshots/data/monday"
    assert (old["share"], old["share_name"], old["visible"]) == (None, "gone", False)


def test_without_quotas_nothing_has_usage(tmp_path: Path):
    shares, snapshots = sort(POOL, str(tmp_path), [subvolume(256, "gone-folder"),
                                                   subvolume(257, ".snapshots/x/y")],
                             None, {}, lambda pool_id, name: None)
    share = shares["uuid-256"]
    assert (share["usage"], share["quota"], share["owner"], share["mode"]) == (None,) * 4
    assert snapshots["uuid-257"]["usage"] is None
