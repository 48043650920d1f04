"""SMB exports with a real smbd (run by rockd, on a test port on loopback) and a real smbclient.

A user made through the API logs in, writes, and the file is on the share's subvolume; wrong
passwords and users not in `valid users` are refused; snapshots appear as previous versions;
input that would inject into smb.conf is refused with the live file unchanged; a hand edit is
drift until rockd writes the file again.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from rockd.services.previous import gmt_token
from tests.support.rig import wait_for
from tests.support.samba import smbclient

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


async def smb(settings, share, user, password, command, expect_ok=True, wait=10.0):
    """smbclient in a thread; while smbd is still coming up, a refused connection is retried
    (for `wait` seconds)."""
    deadline = time.monotonic() + wait
    while True:
        result = await asyncio.to_thread(smbclient, settings, share, user, password, command)
        said = result.stdout + result.stderr
        if "NT_STATUS_CONNECTION_REFUSED" not in said or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    if expect_ok:
        assert result.returncode == 0 and "NT_STATUS" not in said, said
    return said


async def user_with_password(api, accounts) -> tuple[str, str]:
    name, password = accounts.user(), f"pw-{secrets.token_hex(6)}"
    status, user = await api.call("POST", "/api/v1/users", {"name": name, "password": password})
    assert status == 201 and user["samba"], user
    return name, password


async def test_smb_export_serves_a_share_to_its_users(rockd, accounts, tmp_path):
    box = await rockd(devices=1, pool="single", sharing=True)  # Samba reaches its shares
    daemon, api, tank = box.daemon, box.api, box.pool
    settings = daemon.settings
    conf = settings.samba_dir / "smb.conf"
    alice, alice_pw = await user_with_password(api, accounts)
    bob, bob_pw = await user_with_password(api, accounts)
    status, share = await api.call("POST", "/api/v1/shares", {
        "pool": tank["id"], "name": "docs", "owner": alice})
    assert status == 201, share
    status, export = await api.call("POST", "/api/v1/exports/smb", {
        "share": share["id"], "comment": "Alice's documents", "valid_users": [alice]})
    assert status == 201, export
    assert export["share"] == share["id"] and export["valid_users"] == [alice]
    text = conf.read_text()
    assert "[docs]" in text and f"path = {share['path']}" in text
    assert f"valid users = {alice}" in text and f"smb ports = {settings.smb_port}" in text
    assert daemon.tree.get("/configs/smb") == {"path": str(conf), "managed": True,
                                               "drift": False}
    assert daemon.tree.get(("services", "smbd", "active")) == "active"

    # alice writes; the file is on the share's subvolume, hers
    local = tmp_path / "hello.txt"
    local.write_text("hello over SMB\n")
    await smb(settings, "docs", alice, alice_pw, f"put {local} hello.txt")
    written = Path(share["path"]) / "hello.txt"
    assert written.read_text() == "hello over SMB\n"
    assert written.stat().st_uid == pwd.getpwnam(alice).pw_uid
    listing = await smb(settings, "docs", alice, alice_pw, "ls")
    assert "hello.txt" in listing

    # a wrong password, and a user who is not in valid users, are refused
    said = await smb(settings, "docs", alice, "wrong-" + alice_pw, "ls", expect_ok=False)
    assert "NT_STATUS_LOGON_FAILURE" in said, said
    said = await smb(settings, "docs", bob, bob_pw, f"put {local} bob.txt", expect_ok=False)
    assert "NT_STATUS_ACCESS_DENIED" in said, said
    assert not (Path(share["path"]) / "bob.txt").exists()

    # snapshots (one named like a scheduled one, one by hand) are previous versions
    status, manual = await api.call("POST", f"/api/v1/shares/{share['id']}/snapshots",
                                    {"name": "before-edit"})
    assert status == 201, manual
    written.write_text("edited\n")
    await asyncio.sleep(1.1)  # another second: another @GMT name
    status, auto = await api.call("POST", f"/api/v1/shares/{share['id']}/snapshots",
                                  {"name": "auto-0badcafe-20240101T000000Z"})
    assert status == 201, auto
    tokens = [gmt_token(manual["created"]), gmt_token(auto["created"])]
    assert None not in tokens and tokens[0] != tokens[1]

    async def versions():
        said = await smb(settings, "docs", alice, alice_pw, "allinfo hello.txt")
        return said if all(t in said for t in tokens) else None

    await wait_for(versions, timeout=10, interval=0.2)
    old = tmp_path / "old.txt"
    await smb(settings, "docs", alice, alice_pw, f"get {tokens[0]}/hello.txt {old}")
    assert old.read_text() == "hello over SMB\n"
    links = Path(tank["mount_point"]) / ".snapshots" / ".previous-versions" / "docs"
    assert sorted(p.name for p in links.iterdir()) == sorted(tokens)
    assert os.readlink(links / tokens[0]) == "../../docs/before-edit"

    # a snapshot deleted goes from the previous versions
    assert (await api.call("DELETE", f"/api/v1/snapshots/{auto['id']}"))[0] == 204

    async def one_left():
        return sorted(p.name for p in links.iterdir()) == tokens[:1]

    await wait_for(one_left, timeout=5)

    # changed: bob may read too; then the export is deleted and the share is not served
    status, changed = await api.call("PATCH", f"/api/v1/exports/smb/{export['id']}",
                                     {"valid_users": [alice, bob], "read_only": True})
    assert status == 200 and changed["read_only"], changed
    assert "hello.txt" in await smb(settings, "docs", bob, bob_pw, "ls")
    said = await smb(settings, "docs", alice, alice_pw, f"put {local} again.txt",
                     expect_ok=False)
    assert "NT_STATUS_ACCESS_DENIED" in said or "NT_STATUS_MEDIA_WRITE_PROTECTED" in said, said
    assert (await api.call("DELETE", f"/api/v1/exports/smb/{export['id']}"))[0] == 204
    assert "[docs]" not in conf.read_text()
    said = await smb(settings, "docs", alice, alice_pw, "ls", expect_ok=False)
    assert "NT_STATUS_BAD_NETWORK_NAME" in said, said
    assert not links.exists()


async def test_bad_exports_leave_smb_conf_unchanged(rockd, accounts):
    box = await rockd(devices=1, pool="single", sharing=True)  # Samba reaches its shares
    daemon, api, tank = box.daemon, box.api, box.pool
    conf = daemon.settings.samba_dir / "smb.conf"
    alice, _ = await user_with_password(api, accounts)
    _, share = await api.call("POST", "/api/v1/shares", {"pool": tank["id"], "name": "media"})
    status, first = await api.call("POST", "/api/v1/exports/smb", {"share": share["id"]})
    assert status == 201 and first["previous_versions"], first
    before = conf.read_bytes()
    # a subvolume made by hand whose name would be a Samba macro in smb.conf
    subprocess.run(["btrfs", "subvolume", "create", f"{tank['mount_point']}/odd%name"],
                   check=True, capture_output=True)

    async def odd():
        return next((s for s in daemon.tree.get("/shares").values()
                     if s["name"] == "odd%name"), None)

    odd_share = await wait_for(odd)
    cases = [
        ({"share": "no-such-share"}, 404, "not_found"),
        ({"share": share["id"], "name": "x\n[global]"}, 400, "invalid_name"),
        ({"share": share["id"], "name": "a[b]"}, 400, "invalid_name"),
        ({"share": share["id"], "name": "50%"}, 400, "invalid_name"),
        ({"share": share["id"], "name": "global"}, 400, "invalid_name"),
        ({"share": share["id"], "name": "x", "comment": "a\npath = /etc"}, 400,
         "invalid_field"),
        ({"share": share["id"], "name": "x", "comment": "%m"}, 400, "invalid_field"),
        ({"share": share["id"], "name": "x", "comment": "ends in \\"}, 400, "invalid_field"),
        ({"share": share["id"], "name": "x", "valid_users": ["rt-nobody-here"]}, 422,
         "unknown_user"),
        ({"share": share["id"], "name": "x", "valid_groups": ["a b"]}, 400, "invalid_name"),
        ({"share": share["id"], "name": "MEDIA"}, 409, "exists"),
        ({"share": share["id"], "name": "x", "guest_ok": "yes"}, 400, "invalid_field"),
        ({"share": odd_share["id"]}, 400, "invalid_name"),
        ({"share": odd_share["id"], "name": "odd"}, 400, "invalid_path"),
    ]
    for body, status, code in cases:
        got, answer = await api.call("POST", "/api/v1/exports/smb", body)
        assert (got, answer["error"]["code"]) == (status, code), (body, answer)
        assert conf.read_bytes() == before, body
    got, answer = await api.call("PATCH", f"/api/v1/exports/smb/{first['id']}",
                                 {"name": "new\nname"})
    assert got == 400, answer
    assert conf.read_bytes() == before
    assert len(daemon.tree.get("/exports/smb")) == 1

    # a hand edit is drift, until rockd writes the file again
    with conf.open("a") as f:
        f.write("[extra]\n\tpath = /srv\n")

    async def drifted():
        return daemon.tree.get("/configs/smb/drift")

    await wait_for(drifted)
    status, changed = await api.call("PATCH", f"/api/v1/exports/smb/{first['id']}",
                                     {"comment": "Films", "valid_users": [alice]})
    assert status == 200, changed
    assert daemon.tree.get("/configs/smb/drift") is False
    text = conf.read_text()
    assert "[extra]" not in text and "comment = Films" in text


async def test_exports_are_served_again_after_a_restart(rockd, accounts):
    box = await rockd(devices=1, pool="single", sharing=True)  # Samba reaches its shares
    daemon, api, tank = box.daemon, box.api, box.pool
    settings = daemon.settings
    alice, alice_pw = await user_with_password(api, accounts)
    _, share = await api.call("POST", "/api/v1/shares", {"pool": tank["id"], "name": "keep",
                                                         "owner": alice})
    (Path(share["path"]) / "kept.txt").write_text("kept\n")
    _, snapshot = await api.call("POST", f"/api/v1/shares/{share['id']}/snapshots",
                                 {"name": "first"})
    status, export = await api.call("POST", "/api/v1/exports/smb", {"share": share["id"]})
    assert status == 201, export
    assert "keep" in await smb(settings, "keep", alice, alice_pw, "volume")
    conf = (settings.samba_dir / "smb.conf").read_bytes()
    await box.stop()
    said = await smb(settings, "keep", alice, alice_pw, "ls", expect_ok=False, wait=0)
    assert "NT_STATUS_CONNECTION_REFUSED" in said, said  # smbd went with rockd

    await box.start()
    daemon = box.daemon
    assert (settings.samba_dir / "smb.conf").read_bytes() == conf
    assert daemon.tree.get("/configs/smb/drift") is False
    assert daemon.tree.get(("exports", "smb", export["id"], "share")) == share["id"]
    said = await smb(settings, "keep", alice, alice_pw, "allinfo kept.txt")
    assert gmt_token(snapshot["created"]) in said, said


async def test_exports_follow_their_pool_out_and_back(rockd):
    box = await rockd(devices=1, pool="single", sharing=True)  # Samba reaches its shares
    daemon, api, tank = box.daemon, box.api, box.pool
    conf = daemon.settings.samba_dir / "smb.conf"
    _, share = await api.call("POST", "/api/v1/shares", {"pool": tank["id"], "name": "away"})
    status, export = await api.call("POST", "/api/v1/exports/smb", {"share": share["id"]})
    assert status == 201 and "[away]" in conf.read_text()
    status, _ = await api.call("POST", f"/api/v1/pools/{tank['id']}/unmount")
    assert status == 200
    # the share went with its pool: the export stays (intent) but is no longer served
    await wait_for(lambda: "[away]" not in conf.read_text())
    assert daemon.tree.get(("exports", "smb", export["id"], "active")) is False
    status, _ = await api.call("POST", f"/api/v1/pools/{tank['id']}/mount", {})
    assert status == 200
    await wait_for(lambda: "[away]" in conf.read_text())
    assert daemon.tree.get(("exports", "smb", export["id"], "active")) is True


async def test_nothing_is_written_where_an_unmounted_pool_was(rockd):
    """The previous-versions links of an unmounted pool's export are not made on the mount
    point (the system's own disk), and the pool can then be deleted."""
    box = await rockd(devices=1, pool="single", sharing=True)  # Samba reaches its shares
    daemon, api, tank = box.daemon, box.api, box.pool
    point = Path(tank["mount_point"])
    _, share = await api.call("POST", "/api/v1/shares", {"pool": tank["id"], "name": "docs"})
    status, _ = await api.call("POST", f"/api/v1/shares/{share['id']}/snapshots",
                               {"name": "s1"})
    assert status == 201
    status, export = await api.call("POST", "/api/v1/exports/smb", {"share": share["id"]})
    assert status == 201 and export["previous_versions"], export
    links = point / ".snapshots" / ".previous-versions" / "docs"
    await wait_for(lambda: links.is_dir() and any(links.iterdir()))
    assert (await api.call("POST", f"/api/v1/pools/{tank['id']}/unmount"))[0] == 200
    await wait_for(lambda: daemon.tree.get(("exports", "smb", export["id"], "active")) is False)
    links_of = daemon.context.exports.kinds["smb"].previous.rescans
    links_of.request("all")  # as any later change of shares or snapshots does
    await links_of.settle()
    assert list(point.iterdir()) == []
    status, body = await api.call("DELETE", f"/api/v1/pools/{tank['id']}?force=true")
    assert status == 204, body
    assert not point.exists()


async def test_a_deleted_user_leaves_the_exports_that_named_it(rockd, accounts):
    box = await rockd(devices=1, pool="single", sharing=True)  # Samba reaches its shares
    daemon, api, tank = box.daemon, box.api, box.pool
    conf = daemon.settings.samba_dir / "smb.conf"
    alice, _ = await user_with_password(api, accounts)
    bob, _ = await user_with_password(api, accounts)
    _, both = await api.call("POST", "/api/v1/shares", {"pool": tank["id"], "name": "both"})
    _, hers = await api.call("POST", "/api/v1/shares", {"pool": tank["id"], "name": "hers"})
    _, shared = await api.call("POST", "/api/v1/exports/smb", {
        "share": both["id"], "valid_users": [alice, bob]})
    _, private = await api.call("POST", "/api/v1/exports/smb", {
        "share": hers["id"], "valid_users": [alice]})
    assert (await api.call("DELETE", f"/api/v1/users/{alice}"))[0] == 204
    assert daemon.tree.get(("exports", "smb", shared["id"], "valid_users")) == [bob]
    # no valid users would mean everyone: the export that was hers alone goes instead
    assert daemon.tree.get(("exports", "smb", private["id"])) is None
    text = conf.read_text()
    assert alice not in text and "[hers]" not in text and f"valid users = {bob}" in text
