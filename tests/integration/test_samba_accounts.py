"""Samba's own records of a user (its passdb entry and the SID → uid cache of the idmap) follow
the account: a user deleted by hand (userdel), which rockd only observes, is cleaned up as an
API deletion is, so a user made again under the same name signs in at once, with real smbd and
smbclient."""

from __future__ import annotations

import os
import pwd
import secrets
import subprocess

import pytest

from tests.integration.test_samba import smb
from tests.support.rig import wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def cache_lines(settings, sid: str) -> list[str]:
    """`net cache list` lines of rockd's smb.conf that name `sid`."""
    listed = subprocess.run(["net", "-s", str(settings.samba_dir / "smb.conf"), "cache", "list"],
                            capture_output=True, text=True, check=False)
    return [line for line in listed.stdout.splitlines() if sid in line]


def sid_of(settings, name: str) -> str:
    """The user's SID in the passdb of rockd's smb.conf."""
    shown = subprocess.run(["pdbedit", "-s", str(settings.samba_dir / "smb.conf"), "-v", "-u",
                            name], capture_output=True, text=True, check=True)
    line = next(x for x in shown.stdout.splitlines() if x.startswith("User SID:"))
    return line.split(":", 1)[1].strip()


async def test_a_user_deleted_by_hand_and_made_again_signs_in_over_smb(rockd, accounts):
    box = await rockd(devices=1, pool="single", sharing=True)
    api, settings = box.api, box.daemon.settings
    name, password = accounts.user(), f"pw-{secrets.token_hex(6)}"
    status, user = await api.call("POST", "/api/v1/users", {"name": name, "password": password})
    assert status == 201 and user["samba"], user
    status, share = await api.call("POST", "/api/v1/shares", {
        "pool": box.pool["id"], "name": "docs", "owner": name})
    assert status == 201, share
    status, export = await api.call("POST", "/api/v1/exports/smb", {"share": share["id"]})
    assert status == 201, export
    await smb(settings, "docs", name, password, "ls")
    sid = sid_of(settings, name)
    assert cache_lines(settings, sid), "smbd put the user's SID into its cache"
    first_uid = user["uid"]

    # by hand: rockd sees the account go (inotify on /etc/passwd) and forgets it in Samba too
    subprocess.run(["userdel", name], check=True)
    await wait_for(lambda: box.daemon.tree.get(("users", name)) is None)
    await wait_for(lambda: not cache_lines(settings, sid), timeout=10)
    listed = subprocess.run(["pdbedit", "-s", str(settings.samba_dir / "smb.conf"), "-L"],
                            capture_output=True, text=True, check=True)
    assert f"{name}:" not in listed.stdout

    status, again = await api.call("POST", "/api/v1/users", {"name": name, "password": password})
    assert status == 201 and again["uid"] != first_uid, again
    status, _ = await api.call("PATCH", f"/api/v1/shares/{share['id']}", {"owner": name})
    assert status == 200
    said = await smb(settings, "docs", name, password, "ls")
    assert "NT_STATUS" not in said
    assert pwd.getpwnam(name).pw_uid == again["uid"]
