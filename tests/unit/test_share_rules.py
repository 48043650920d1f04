"""The share rules without root: what a share request may say, how a pool's subvolumes sort
into shares and snapshots (on real folders, with the user running the tests), and what the
actions on shares refuse, on a real Tree, before they touch a disk."""

from __future__ import annotations

import grp
import os
import pwd
from pathlib import Path

import pytest

from rockd.core.errors import BadRequest, Conflict, NotFound, Unprocessable
from rockd.core.rescan import Rescanner
from rockd.core.tree import Tree
from rockd.storage.pools import Pools
from rockd.storage.share_input import attributes
from rockd.storage.share_probe import sort
from rockd.storage.shares import Shares

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


SHARE, OTHER, SNAP = "uuid-256", "uuid-300", "uuid-258"


class Exports:
    """A referrer to shares, as the exports are: so many exports of each share."""

    refers_as = "exports"

    def __init__(self, counts: dict[str, int]):
        self.counts = counts
        self.removed: list[str] = []

    def count_of_share(self, share_id: str) -> int:
        return self.counts.get(share_id, 0)

    async def remove_of_share(self, share_id: str) -> None:
        self.removed.append(share_id)


def share(share_id: str, name: str, path: str) -> dict:
    return {"id": share_id, "pool": POOL, "name": name, "path": path}


@pytest.fixture
def shares(tmp_path: Path) -> tuple[Tree, Shares, Exports]:
    """A mounted pool with the shares "data" (a snapshot, two exports) and "other", and
    "data/nested" below "data", on a Tree whose parts own what rockd's own do."""
    tree = Tree()
    point = str(tmp_path / "tank")
    tree.own("/pools", "pools").set("/pools", {POOL: {
        "id": POOL, "name": "tank", "mounted": True, "mount_point": point}})
    owned = tree.own(["/shares", "/snapshots"], "shares")
    owned.set("/shares", {SHARE: share(SHARE, "data", f"{point}/data"),
                          OTHER: share(OTHER, "other", f"{point}/other"),
                          "uuid-301": share("uuid-301", "nested", f"{point}/data/nested")})
    owned.set("/snapshots", {SNAP: {"id": SNAP, "pool": POOL, "share": SHARE, "name": "monday",
                                    "path": f"{point}/.snapshots/data/monday"}})
    pools = Pools(tree.own("/pools", "pools"), store=None, mount_root=tmp_path,
                  disk_rescans=Rescanner("disk", lambda name: None))
    made = Shares(owned, store=None, pools=pools)
    exports = Exports({SHARE: 2})
    made.refer(exports)
    return tree, made, exports


async def test_a_share_in_use_is_deleted_only_with_force(shares):
    tree, made, exports = shares
    rev = tree.rev
    with pytest.raises(Conflict) as raised:
        await made.delete(SHARE, force=False)
    assert raised.value.code == "not_empty"
    assert raised.value.detail == {"snapshots": 1, "exports": 2}
    assert "1 snapshots and 2 exports" in raised.value.message
    assert (tree.rev, exports.removed) == (rev, [])  # nothing changed, nothing ended


async def test_a_rollback_is_refused_before_it_touches_anything(shares):
    tree, made, _ = shares
    rev = tree.rev
    with pytest.raises(Unprocessable) as raised:  # a snapshot of another share
        await made.rollback(OTHER, SNAP)
    assert raised.value.code == "wrong_share"
    with pytest.raises(Conflict) as raised:  # a subvolume inside the share
        await made.rollback(SHARE, SNAP)
    assert raised.value.code == "busy"
    tree.own("/pools", "pools").set(("pools", POOL, "mounted"), False)
    rev = tree.rev
    with pytest.raises(Conflict) as raised:
        await made.rollback(SHARE, SNAP)
    assert raised.value.code == "not_mounted"
    assert tree.rev == rev


async def test_what_is_not_there_is_404(shares):
    tree, made, _ = shares
    rev = tree.rev
    for ask in (lambda: made.delete("uuid-404", force=True),
                lambda: made.snapshot("uuid-404", "s"),
                lambda: made.set_visible("uuid-404", True),
                lambda: made.delete_snapshot("uuid-404"),
                lambda: made.rollback(SHARE, "uuid-404"),
                lambda: made.create("no-such-pool", "new"),
                lambda: made.update("uuid-404", {"mode": "0700"})):
        with pytest.raises(NotFound):
            await ask()
    assert tree.rev == rev


async def test_nothing_is_made_on_an_unmounted_pool(shares):
    tree, made, _ = shares
    tree.own("/pools", "pools").set(("pools", POOL, "mounted"), False)
    rev = tree.rev
    for ask in (lambda: made.create(POOL, "new"), lambda: made.snapshot(SHARE, "s"),
                lambda: made.clone(tree.get(("shares", SHARE)), "copy"),
                lambda: made.update(SHARE, {"mode": "0700"})):
        with pytest.raises(Conflict) as raised:
            await ask()
        assert raised.value.code == "not_mounted"
    assert tree.rev == rev
