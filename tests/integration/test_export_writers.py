"""Who can really write to an export (`writable_by`), with real smbd, sshd, smbclient and sftp:
a new share is root's (0755), so an SMB or SFTP export to a user is refused on every write and
says so; the fix it offers (POST /api/v1/shares/{id}/writers: owner, group or an ACL entry)
makes the next real write succeed; a permission changed by hand shows at once (inotify)."""

from __future__ import annotations

import os
import secrets
import shutil

import pytest

from rockd.services.sftp import SftpExports
from rockd.storage import posix_acl
from tests.integration.test_samba import smb
from tests.integration.test_sftp import SftpBox
from tests.support.exporting import register
from tests.support.rig import wait_for

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for users, mounts and daemons"),
    pytest.mark.skipif(shutil.which("sftp") is None or shutil.which("smbclient") is None,
                       reason="needs sftp and smbclient"),
]


async def user(api, accounts, password: str) -> str:
    name = accounts.user()
    status, made = await api.call("POST", "/api/v1/users", {"name": name, "password": password})
    assert status == 201 and made["samba"], made
    return name


def writers(box, kind: str, export_id: str):
    return lambda: box.daemon.tree.get(("exports", kind, export_id, "writable_by"))


async def test_exports_say_who_can_write_and_the_offered_fix_lets_them(
        rockd, accounts, tmp_path, monkeypatch):
    register(monkeypatch, SftpExports)
    box = await rockd(devices=1, pool="single", sharing=True)
    api, settings = box.api, box.daemon.settings
    password = f"pw-{secrets.token_hex(6)}"
    alice, carol, bob = [await user(api, accounts, password) for _ in range(3)]
    shares = {}
    for name in ("docs", "drop"):
        status, shares[name] = await api.call("POST", "/api/v1/shares", {
            "pool": box.pool["id"], "name": name})
        assert status == 201, shares[name]
        st = os.stat(shares[name]["path"])
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, 0, 0o755)
    status, smb_export = await api.call("POST", "/api/v1/exports/smb", {
        "share": shares["docs"]["id"], "valid_users": [alice, carol]})
    assert status == 201, smb_export
    assert smb_export["writable_by"] == {"users": [], "denied": sorted([alice, carol])}
    status, sftp_export = await api.call("POST", "/api/v1/exports/sftp", {
        "share": shares["drop"]["id"], "users": [bob]})
    assert status == 201, sftp_export
    assert sftp_export["writable_by"] == {"users": [], "denied": [bob]}

    local = tmp_path / "note.txt"
    local.write_text("written over the network\n")
    # what the export says is what happens: every write is refused
    said = await smb(settings, "docs", alice, password, f"put {local} a.txt", expect_ok=False)
    assert "NT_STATUS_ACCESS_DENIED" in said, said
    sftp = SftpBox(box, tmp_path, [bob])
    done = await sftp.sftp(bob, [f"put {local} /drop/b.txt"], password=password)
    assert done.returncode != 0 and "Permission denied" in done.stderr, done.stderr

    # the fixes, through the API: an ACL entry for alice, the owner for carol, bob's group
    base = f"/api/v1/shares/{shares['docs']['id']}/writers"
    status, share = await api.call("POST", base, {"user": alice, "how": "acl"})
    assert status == 200, share
    await wait_for(lambda: writers(box, "smb", smb_export["id"])()["users"] == [alice])
    await smb(settings, "docs", alice, password, f"put {local} a.txt")
    assert os.path.exists(os.path.join(shares["docs"]["path"], "a.txt"))
    status, share = await api.call("POST", base, {"user": carol, "how": "owner"})
    assert status == 200 and share["owner"] == carol, share
    await wait_for(lambda: writers(box, "smb", smb_export["id"])() == {
        "users": sorted([alice, carol]), "denied": []})
    await smb(settings, "docs", carol, password, f"put {local} c.txt")
    status, share = await api.call("POST", f"/api/v1/shares/{shares['drop']['id']}/writers",
                                   {"user": bob, "how": "group"})
    assert status == 200 and share["group"] == bob and share["mode"].endswith("775"), share
    await wait_for(lambda: writers(box, "sftp", sftp_export["id"])()["users"] == [bob])
    done = await sftp.sftp(bob, [f"put {local} /drop/b.txt"], password=password)
    assert done.returncode == 0, done.stderr
    assert os.stat(os.path.join(shares["drop"]["path"], "b.txt")).st_size > 0

    # a change by hand shows without a request: alice's ACL entry removed
    os.removexattr(shares["docs"]["path"], posix_acl.ACCESS)
    await wait_for(lambda: writers(box, "smb", smb_export["id"])() == {
        "users": [carol], "denied": [alice]})


async def test_letting_a_user_write_refuses_bad_input_and_changes_nothing(rockd, accounts):
    box = await rockd(devices=1, pool="single")
    api = box.api
    name = await user(api, accounts, f"pw-{secrets.token_hex(6)}")
    status, share = await api.call("POST", "/api/v1/shares", {
        "pool": box.pool["id"], "name": "docs"})
    assert status == 201, share
    base = f"/api/v1/shares/{share['id']}/writers"
    for body, code in [({"user": "nobody-here", "how": "acl"}, 422),
                       ({"user": "root", "how": "owner"}, 403),
                       ({"user": name, "how": "everyone"}, 400),
                       ({"user": "bad name!", "how": "acl"}, 400),
                       ({"how": "acl"}, 400)]:
        status, answer = await api.call("POST", base, body)
        assert status == code, (body, answer)
        assert "error" in answer
    status, answer = await api.call("POST", "/api/v1/shares/nope/writers",
                                    {"user": name, "how": "acl"})
    assert status == 404, answer
    st = os.stat(share["path"])
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, 0, 0o755)
    assert posix_acl.read_acl(share["path"]) is None
