"""NFS exports through the real API on a real share.

There is no kernel NFS server on these machines, so nothing is served: the tests check the
exports file rockd writes (to a temporary path), that bad input leaves it byte for byte as it
was, that a hand edit shows as drift, and that exportfs' own parser reads the file as meant.
exportfs runs in a private mount and network namespace with a temporary file bound over
/etc/exports and a temporary folder over /var/lib/nfs, so the machine's own files are never
read or written.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rockd.services.nfs import NfsExports, kernel_server
from tests.support.exporting import register
from tests.support.rig import wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for loop devices")

OPTIONS = "no_subtree_check"


@pytest.fixture
async def nfs(rockd, tmp_path, monkeypatch):
    """An in-process rockd with a pool "tank" under a mount root with a space in its name, and
    its exports file in the test's folder: (daemon, api, pool)."""
    register(monkeypatch, NfsExports)
    box = await rockd(devices=1, pool="single", mount_root=tmp_path / "mnt x",
                      nfs_exports=tmp_path / "etc" / "exports.d" / "rockd.exports")
    return box.daemon, box.api, box.pool


async def share(api, pool, name: str) -> dict:
    status, made = await api.call("POST", "/api/v1/shares", {"pool": pool["id"], "name": name})
    assert status == 201, made
    return made


def export_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line and not line.startswith("#")]


def escaped(path: str) -> str:
    return path.replace(" ", "\\040")


async def test_exports_are_written_checked_and_replaced(nfs):
    daemon, api, pool = nfs
    live = daemon.settings.nfs_exports
    data, media = await share(api, pool, "data"), await share(api, pool, "media")
    assert " " in data["path"]
    assert not live.exists()  # no NFS export yet: no file, not even its folder's content
    assert (await api.state("/configs/nfs"))["value"] == {
        "path": str(live), "drift": False, "applied": False, "reason": "no kernel NFS server"}

    status, made = await api.call("POST", "/api/v1/exports/nfs", {"share": data["id"], "clients": [
        {"host": "10.0.0.0/24"},
        {"host": "*.example.com", "rw": False, "sync": False, "root_squash": False},
        {"host": "@trusted", "root_squash": False},
        {"host": "fd00::/64"},
        {"host": "nas-client.lan"},
    ]})
    assert status == 201, made
    assert made["share"] == data["id"] and made["kind"] == "nfs"
    fsid = f"fsid={data['id']}"
    assert export_lines(live) == [
        f"{escaped(data['path'])} 10.0.0.0/24(rw,sync,root_squash,{OPTIONS},{fsid}) "
        f"*.example.com(ro,async,no_root_squash,{OPTIONS},{fsid}) "
        f"@trusted(rw,sync,no_root_squash,{OPTIONS},{fsid}) "
        f"fd00::/64(rw,sync,root_squash,{OPTIONS},{fsid}) "
        f"nas-client.lan(rw,sync,root_squash,{OPTIONS},{fsid})"]
    assert (live.stat().st_mode & 0o777, live.stat().st_uid) == (0o644, 0)
    assert sorted(p.name for p in live.parent.iterdir()) == ["rockd.exports"]  # no temp left
    assert (await api.state("/configs/nfs"))["value"] == {
        "path": str(live), "drift": False, "applied": False, "reason": "no kernel NFS server"}
    status, listed = await api.call("GET", "/api/v1/exports/nfs")
    assert status == 200 and [e["id"] for e in listed] == [made["id"]]

    status, other = await api.call("POST", "/api/v1/exports/nfs", {
        "share": media["id"], "clients": [{"host": "192.0.2.7", "sync": False}]})
    assert status == 201, other
    lines = export_lines(live)
    assert len(lines) == 2
    assert (f"{escaped(media['path'])} 192.0.2.7(rw,async,root_squash,{OPTIONS},"
            f"fsid={media['id']})") in lines

    # bad input of every kind: refused, and the live file stays byte for byte as it was
    before = live.read_bytes()
    inode = live.stat().st_ino
    bad_hosts = ["10.0.0.0/24 rw", "a(b)", "a,b", 'a"b', "a\nb", "10.0.0.1/24", "", "-x",
                 "host_name", "10.0.0.0/24(rw,no_root_squash)", "fe80::1%eth0", "a b"]
    for host in bad_hosts:
        status, answer = await api.call("POST", "/api/v1/exports/nfs", {
            "share": data["id"], "clients": [{"host": host}]})
        assert (status, answer["error"]["code"]) == (400, "invalid_field"), (host, answer)
        status, answer = await api.call("PATCH", f"/api/v1/exports/nfs/{made['id']}", {
            "clients": [{"host": "10.0.0.0/24"}, {"host": host}]})
        assert (status, answer["error"]["code"]) == (400, "invalid_field"), (host, answer)
    cases = [
        ({"share": "0b8e2a4c-1f0e-4a3b-9c1d-2e3f4a5b6c7d", "clients": [{"host": "*"}]}, 404,
         "not_found"),
        ({"share": data["id"], "clients": []}, 400, "invalid_field"),
        ({"share": data["id"]}, 400, "invalid_field"),
        ({"share": data["id"], "clients": [{"host": "*", "options": "rw"}]}, 400,
         "invalid_field"),
        ({"share": data["id"], "clients": [{"host": "*", "rw": "yes"}]}, 400, "invalid_field"),
        ({"share": data["id"], "clients": [{"host": "1.2.3.4"}, {"host": "1.2.3.4"}]}, 400,
         "invalid_field"),
        ({"share": data["id"], "clients": [{"host": "1.2.3.4"}]}, 409, "exists"),
    ]
    for body, code, error in cases:
        status, answer = await api.call("POST", "/api/v1/exports/nfs", body)
        assert (status, answer["error"]["code"]) == (code, error), (body, answer)
    status, answer = await api.call("PATCH", "/api/v1/exports/nfs/nosuch", {"clients": [
        {"host": "*"}]})
    assert status == 404, answer
    for clients in (None, []):
        status, answer = await api.call("PATCH", f"/api/v1/exports/nfs/{made['id']}", {
            "clients": clients})
        assert (status, answer["error"]["code"]) == (400, "invalid_field"), answer
    assert live.read_bytes() == before and live.stat().st_ino == inode
    status, listed = await api.call("GET", "/api/v1/exports/nfs")
    assert sorted(e["id"] for e in listed) == sorted([made["id"], other["id"]])

    # a change, then a deletion, each rewrites the whole file
    status, changed = await api.call("PATCH", f"/api/v1/exports/nfs/{made['id']}", {
        "clients": [{"host": "client.lan", "rw": False}]})
    assert status == 200, changed
    assert (f"{escaped(data['path'])} client.lan(ro,sync,root_squash,{OPTIONS},{fsid})"
            in export_lines(live))
    assert (await api.call("DELETE", f"/api/v1/exports/nfs/{other['id']}"))[0] == 204
    assert export_lines(live) == [
        f"{escaped(data['path'])} client.lan(ro,sync,root_squash,{OPTIONS},{fsid})"]
    assert (await api.call("DELETE", f"/api/v1/exports/nfs/{made['id']}"))[0] == 204
    assert export_lines(live) == []
    assert live.read_text().startswith("# NFS exports of rockd's shares")


async def test_a_hand_edit_shows_as_drift_until_rockd_writes_again(nfs):
    daemon, api, pool = nfs
    live = daemon.settings.nfs_exports
    data = await share(api, pool, "data")
    status, made = await api.call("POST", "/api/v1/exports/nfs", {
        "share": data["id"], "clients": [{"host": "10.1.0.0/16"}]})
    assert status == 201, made
    assert daemon.tree.get("/configs/nfs/drift") is False

    with live.open("a") as f:
        f.write("/srv *(rw,no_root_squash)\n")

    async def drifted():
        return daemon.tree.get("/configs/nfs/drift") is True

    await wait_for(drifted, timeout=2.0)
    assert (await api.state("/configs/nfs"))["value"]["drift"] is True

    status, _ = await api.call("PATCH", f"/api/v1/exports/nfs/{made['id']}", {
        "clients": [{"host": "10.2.0.0/16"}]})
    assert status == 200
    assert "/srv" not in live.read_text()

    async def clean():
        return daemon.tree.get("/configs/nfs/drift") is False

    await wait_for(clean, timeout=2.0)
    live.unlink()  # removed by hand: drift too
    await wait_for(drifted, timeout=2.0)


NAMESPACED_EXPORTFS = textwrap.dedent("""
    import os, subprocess, sys
    exports, lib, empty = sys.argv[1:4]
    def bind(source, target):
        subprocess.run(["mount", "--bind", source, target], check=True)
    bind(exports, "/etc/exports")
    bind(lib, "/var/lib/nfs")
    if os.path.isdir("/etc/exports.d"):
        bind(empty, "/etc/exports.d")
    done = subprocess.run(["exportfs", "-ra"], capture_output=True, text=True)
    sys.stderr.write(done.stderr)
    with open("/var/lib/nfs/etab") as f:
        sys.stdout.write(f.read())
    sys.exit(done.returncode)
""")


def exportfs_reads(exports: Path, scratch: Path) -> tuple[list[str], str]:
    """exportfs -ra on `exports` as if it were /etc/exports, in namespaces of its own: the
    etab it writes (one line per path and client) and what it said."""
    lib, empty = scratch / "var-lib-nfs", scratch / "exports.d"
    lib.mkdir()
    empty.mkdir()
    done = subprocess.run(
        ["unshare", "--mount", "--net", "--propagation", "private", "--", sys.executable, "-c",
         NAMESPACED_EXPORTFS, str(exports), str(lib), str(empty)],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines(), done.stderr


@pytest.mark.skipif(shutil.which("exportfs", path="/usr/sbin:/sbin") is None
                    or shutil.which("unshare") is None or not os.path.isfile("/etc/exports")
                    or not os.path.isdir("/var/lib/nfs") or kernel_server(),
                    reason="needs exportfs (nfs-kernel-server), unshare, and no kernel NFS "
                           "server running (exportfs would change its table)")
async def test_exportfs_reads_the_file_as_meant(nfs, tmp_path):
    daemon, api, pool = nfs
    data, media = await share(api, pool, "data"), await share(api, pool, "media")
    for body in ({"share": data["id"], "clients": [
                     {"host": "127.0.0.0/8"},
                     {"host": "*.example.com", "rw": False, "sync": False, "root_squash": False},
                     {"host": "@trusted"}, {"host": "::1", "root_squash": False}]},
                 {"share": media["id"], "clients": [{"host": "127.0.0.1", "rw": False}]}):
        status, made = await api.call("POST", "/api/v1/exports/nfs", body)
        assert status == 201, made
    etab, said = exportfs_reads(daemon.settings.nfs_exports, tmp_path)
    assert said == ""  # not even a warning (say, for a missing no_subtree_check)
    entries = {}
    for line in etab:
        path, client = line.split("\t")
        host, options = client.rstrip(")").split("(")
        entries[path, host] = options.split(",")
    expected = {
        (escaped(data["path"]), "127.0.0.0/8"): ("rw", "sync", "root_squash", data["id"]),
        (escaped(data["path"]), "*.example.com"): ("ro", "async", "no_root_squash",
                                                    data["id"]),
        (escaped(data["path"]), "@trusted"): ("rw", "sync", "root_squash", data["id"]),
        (escaped(data["path"]), "::1"): ("rw", "sync", "no_root_squash", data["id"]),
        (escaped(media["path"]), "127.0.0.1"): ("ro", "sync", "root_squash", media["id"]),
    }
    assert set(entries) == set(expected), etab
    for key, (rw, sync, squash, fsid) in expected.items():
        options = entries[key]
        assert options[0] == rw and sync in options and squash in options, (key, options)
        assert "no_subtree_check" in options and f"fsid={fsid}" in options, (key, options)
