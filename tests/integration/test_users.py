"""Users and groups on this machine's own account databases, through the API and by hand.

Every account made here is named rt-<hex> and removed at the end, failed or not; system
accounts are only ever read.
"""

from __future__ import annotations

import base64
import grp
import logging
import os
import pwd
import secrets
import subprocess
import time

import orjson
import pytest
from openapi_spec_validator import validate

from rockd.accounts.users import authorized_keys_path
from rockd.app import Daemon
from tests.conftest import wait_for
from tests.support.client import PASSWORD, Api
from tests.support.samba import (
    remove_scratch,
    scratch,
    sharing_settings,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to manage accounts")


def ed25519_key(comment: str = "someone@laptop") -> str:
    blob = b"".join(len(p).to_bytes(4, "big") + p
                    for p in (b"ssh-ed25519", secrets.token_bytes(32)))
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} {comment}"


@pytest.fixture
async def rockd(tmp_path, monkeypatch, accounts):
    """An in-process rockd with users wired in, and a private Samba folder: (daemon, api)."""
    monkeypatch.setenv("ROCKD_ADMIN_PASSWORD", PASSWORD)
    base = scratch()
    daemon = Daemon(sharing_settings(base, tmp_path / "state"))
    client = None
    try:
        await daemon.start()
        client = Api(f"http://{daemon.settings.listen}")
        await client.login()
        yield daemon, client
    finally:
        if client is not None:
            await client.close()
        await daemon.stop()
        remove_scratch(base)


def free_gid() -> int:
    while True:
        gid = 40000 + secrets.randbelow(20000)
        try:
            grp.getgrgid(gid)
        except KeyError:
            return gid


def shadow_hash(name: str) -> str:
    with open("/etc/shadow") as f:
        for line in f:
            fields = line.split(":")
            if fields[0] == name:
                return fields[1]
    raise KeyError(name)


async def test_user_create_change_delete(rockd, accounts, caplog):
    daemon, api = rockd
    caplog.set_level(logging.DEBUG)
    secret = f"pw-{secrets.token_hex(8)}"
    group, name = accounts.group(), accounts.user()
    status, made = await api.call("POST", "/api/v1/groups", {"name": group})
    assert status == 201 and made["members"] == [] and not made["system"], made
    key = ed25519_key()
    status, user = await api.call("POST", "/api/v1/users", {
        "name": name, "password": secret, "groups": [group], "ssh_keys": [key]})
    assert status == 201, user
    entry = pwd.getpwnam(name)
    assert user == {"name": name, "uid": entry.pw_uid, "gid": entry.pw_gid, "group": name,
                    "groups": [group], "shell": "/usr/sbin/nologin", "home": "/nonexistent",
                    "system": False, "samba": True, "ssh_keys": 1}
    assert entry.pw_uid >= 1000
    assert shadow_hash(name).startswith("$")  # a login hash, not a locked "!"
    keys = authorized_keys_path(daemon.settings, name)
    assert keys.read_text() == key + "\n"
    assert (keys.stat().st_mode & 0o777, keys.stat().st_uid) == (0o644, 0)
    assert daemon.tree.get(("groups", group, "members")) == [name]
    status, listed = await api.call("GET", "/api/v1/users")
    assert status == 200 and name in {u["name"] for u in listed}

    first_hash = shadow_hash(name)
    status, changed = await api.call("PATCH", f"/api/v1/users/{name}", {
        "shell": "/bin/sh", "groups": [], "ssh_keys": [], "password": secret + "2"})
    assert status == 200, changed
    assert (changed["shell"], changed["groups"], changed["ssh_keys"]) == ("/bin/sh", [], 0)
    assert not keys.exists() and shadow_hash(name) != first_hash
    assert daemon.tree.get(("groups", group, "members")) == []

    # the password is in no answer, in no tree entry, in no log line
    everything = orjson.dumps(daemon.tree.get("")).decode()
    for text in (orjson.dumps([user, changed, listed]).decode(), everything, caplog.text):
        assert secret not in text and shadow_hash(name) not in text

    assert (await api.call("DELETE", f"/api/v1/users/{name}"))[0] == 204
    with pytest.raises(KeyError):
        pwd.getpwnam(name)
    assert daemon.tree.get(("users", name)) is None
    assert daemon.tree.get(("groups", name)) is None  # its own group went with it
    assert (await api.call("DELETE", f"/api/v1/groups/{group}"))[0] == 204
    assert daemon.tree.get(("groups", group)) is None
    assert (await api.call("DELETE", f"/api/v1/users/{name}"))[0] == 404


async def test_system_accounts_are_read_only(rockd):
    daemon, api = rockd
    _, listed = await api.call("GET", "/api/v1/users")
    root = next(u for u in listed if u["name"] == "root")
    assert root["system"] and root["uid"] == 0
    assert daemon.tree.get(("users", "nobody", "system")) is True  # uid 65534
    for method, path, body in (("PATCH", "/api/v1/users/root", {"shell": "/bin/sh"}),
                               ("PATCH", "/api/v1/users/nobody", {"password": "x"}),
                               ("DELETE", "/api/v1/users/root", None),
                               ("DELETE", "/api/v1/users/daemon", None),
                               ("DELETE", "/api/v1/groups/root", None),
                               ("DELETE", "/api/v1/groups/nogroup", None)):
        status, answer = await api.call(method, path, body)
        assert (status, answer["error"]["code"]) == (403, "system_account"), (path, answer)
    assert pwd.getpwnam("root").pw_shell == root["shell"]
    status, answer = await api.call("PATCH", "/api/v1/users/rt-none", {"shell": "/bin/sh"})
    assert status == 404, answer


async def test_bad_input_changes_nothing(rockd, accounts):
    _, api = rockd
    name, taken = accounts.user(), accounts.user()
    assert (await api.call("POST", "/api/v1/users", {"name": taken}))[0] == 201
    before = pwd.getpwnam(taken)
    cases = [
        ({"name": "Upper"}, 400, "invalid_name"),
        ({"name": "a/b"}, 400, "invalid_name"),
        ({"name": "12345"}, 400, "invalid_name"),
        ({"name": "-x"}, 400, "invalid_name"),
        ({"name": name, "shell": "/tmp/evil"}, 400, "invalid_field"),
        ({"name": name, "password": "a\nroot:x"}, 400, "invalid_field"),
        ({"name": name, "password": ""}, 400, "invalid_field"),
        ({"name": name, "uid": 0}, 400, "invalid_field"),
        ({"name": name, "ssh_keys": ['command="sh" ' + ed25519_key()]}, 400, "invalid_field"),
        ({"name": name, "ssh_keys": [ed25519_key() + "\nssh-ed25519 AAAA x"]}, 400,
         "invalid_field"),
        ({"name": name, "ssh_keys": ["ssh-ed25519 not-base64!"]}, 400, "invalid_field"),
        ({"name": name, "ssh_keys": ["ssh-rsa " + ed25519_key().split()[1]]}, 400,
         "invalid_field"),
        ({"name": name, "group": "rt-no-such-group"}, 422, "unknown_group"),
        ({"name": name, "groups": ["rt-no-such-group"]}, 422, "unknown_group"),
        ({"name": taken}, 409, "exists"),
        ({"name": name, "uid": pwd.getpwnam(taken).pw_uid}, 409, "exists"),
        ({"name": name, "password": 5}, 400, "invalid_field"),
    ]
    for body, status, code in cases:
        got, answer = await api.call("POST", "/api/v1/users", body)
        assert (got, answer["error"]["code"]) == (status, code), (body, answer)
    with pytest.raises(KeyError):
        pwd.getpwnam(name)
    assert pwd.getpwnam(taken) == before
    got, answer = await api.call("PATCH", f"/api/v1/users/{taken}", {"shell": "/x"})
    assert got == 400, answer

    group = accounts.group()
    gid = free_gid()
    status, made = await api.call("POST", "/api/v1/groups", {"name": group, "gid": gid})
    assert status == 201 and made["gid"] == gid, made
    assert (await api.call("POST", "/api/v1/groups", {"name": group}))[0] == 409
    assert (await api.call("POST", "/api/v1/groups", {"name": "x", "gid": 10}))[0] == 400
    # a user's primary group cannot go while the user is there
    user = accounts.user()
    status, made = await api.call("POST", "/api/v1/users", {"name": user, "group": group})
    assert status == 201 and made["group"] == group, made
    status, answer = await api.call("DELETE", f"/api/v1/groups/{group}")
    assert (status, answer["error"]["code"]) == (409, "in_use"), answer


async def test_users_made_by_hand_appear_and_go(rockd, accounts):
    daemon, _ = rockd
    name, group = accounts.user(), accounts.group()
    started = time.monotonic()
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                   check=True)

    async def seen():
        return daemon.tree.get(("users", name))

    user = await wait_for(seen, timeout=1.0)
    assert time.monotonic() - started < 1.0
    assert user["uid"] == pwd.getpwnam(name).pw_uid and not user["system"]
    subprocess.run(["groupadd", group], check=True)

    async def grouped():
        return daemon.tree.get(("groups", group))

    assert (await wait_for(grouped, timeout=1.0))["members"] == []
    subprocess.run(["gpasswd", "-a", name, group], check=True, capture_output=True)

    async def member():
        return daemon.tree.get(("users", name, "groups")) == [group]

    await wait_for(member, timeout=1.0)
    subprocess.run(["userdel", name], check=True)
    subprocess.run(["groupdel", group], check=True)

    async def gone():
        return (daemon.tree.get(("users", name)) is None
                and daemon.tree.get(("groups", group)) is None)

    await wait_for(gone, timeout=1.0)


async def test_openapi_documents_users_and_smb_exports(rockd):
    _, api = rockd
    status, document = await api.call("GET", "/api/v1/openapi.json")
    assert status == 200
    validate(document)
    for path in ("/api/v1/users", "/api/v1/users/{name}", "/api/v1/groups",
                 "/api/v1/groups/{name}", "/api/v1/exports/smb", "/api/v1/exports/smb/{id}"):
        assert path in document["paths"], path
    user = document["components"]["schemas"]["UserCreate"]
    password = user["properties"]["password"]["anyOf"][0]
    assert password["writeOnly"] and password["format"] == "password"
    assert user["additionalProperties"] is False
