"""Users and groups on this machine's own account databases, through the API and by hand.

Every account made here is named rt-<hex> and removed at the end, failed or not; system
accounts are only ever read.
"""

from __future__ import annotations

import base64
import contextlib
import grp
import logging
import os
import pwd
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import orjson
import pytest
from openapi_spec_validator import validate

from rockd.accounts.homes import authorized_keys_path
from tests.support.rig import wait_for

HOMES = Path("/home")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to manage accounts")


def ed25519_key(comment: str = "someone@laptop") -> str:
    blob = b"".join(len(p).to_bytes(4, "big") + p
                    for p in (b"ssh-ed25519", secrets.token_bytes(32)))
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} {comment}"


@pytest.fixture
def homes():
    """Home folders a test's users may leave under /home (`rt-<hex>` only), removed at the
    end, failed or not: the `accounts` fixture's userdel keeps them."""
    made: list[Path] = []
    try:
        yield made
    finally:
        for path in made:
            assert path.parent == HOMES and path.name.startswith("rt-"), path
            if path.is_symlink():
                path.unlink()
            elif path.exists():
                shutil.rmtree(path)


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
    box = await rockd(sharing=True)  # Samba of its own for the users' passwords
    daemon, api = box.daemon, box.api
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
    box = await rockd(sharing=True)  # Samba of its own for the users' passwords
    daemon, api = box.daemon, box.api
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
    api = (await rockd(sharing=True)).api
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
    daemon = (await rockd(sharing=True)).daemon
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
    api = (await rockd(sharing=True)).api
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


# -- system groups: rockd puts no one in a group that grants privilege --------------------------

def no_account(name: str) -> bool:
    """Neither the user nor its own group is on the machine (getent, as any tool sees it)."""
    return all(subprocess.run(["getent", db, name], capture_output=True).returncode == 2
               for db in ("passwd", "group"))


def groups_of(name: str) -> list[str]:
    return sorted(g.gr_name for g in grp.getgrall() if name in g.gr_mem)


def members(*names: str) -> dict[str, list[str]]:
    return {name: grp.getgrnam(name).gr_mem for name in names}


def as_number(group: str, zeros: int = 0) -> str:
    """A group as the shadow tools also read it: its gid, in decimal."""
    return str(grp.getgrnam(group).gr_gid).zfill(zeros)


def made_by_hand(accounts, names: tuple[str, ...], *argv: str) -> str:
    """A group made here by hand under the first of these names that the machine has not
    (cleaned up by `accounts`); skipped where it has them all."""
    name = next((name for name in names if not _exists(name)), None)
    if name is None:
        pytest.skip(f"{', '.join(names)} exist on this machine")
    accounts.groups.append(name)
    subprocess.run(["groupadd", *argv, name], check=True)
    return name


def _exists(name: str) -> bool:
    """A user or group of that name (by name: getent would read a number as an id)."""
    for lookup in (pwd.getpwnam, grp.getgrnam):
        with contextlib.suppress(KeyError):
            lookup(name)
            return True
    return False


async def refused(api, method: str, path: str, body: dict, group: str) -> None:
    status, answer = await api.call(method, path, body)
    assert status == 403, (body, status, answer)
    assert answer["error"]["code"] == "system_group", answer
    assert answer["error"]["detail"]["group"] == group, answer


async def test_system_groups_are_refused_to_a_new_user(rockd, accounts):
    api = (await rockd(sharing=True)).api
    group, other = accounts.group(), accounts.group()
    for made in (group, other):
        assert (await api.call("POST", "/api/v1/groups", {"name": made}))[0] == 201
    watched = ("root", "sudo", "disk", "shadow", "nogroup", "users")
    before = members(*watched)
    cases = [
        ({"groups": ["sudo"]}, "sudo"),
        ({"group": "root"}, "root"),
        ({"groups": ["disk", "shadow"]}, "disk"),
        ({"groups": [group, "shadow"]}, "shadow"),
        ({"groups": ["sudo", "sudo"]}, "sudo"),
        ({"group": group, "groups": [other, "sudo"]}, "sudo"),
        ({"group": "nogroup"}, "nogroup"),  # 65534: above the ids rockd gives
        ({"groups": ["users"]}, "users"),  # gid 100: a system group all the same
        ({"group": "0"}, "root"),  # useradd reads a number as a gid
        ({"groups": [as_number("sudo")]}, "sudo"),
        ({"groups": [as_number("shadow", 5)]}, "shadow"),  # and leading zeros as decimal
    ]
    for extra, which in cases:
        name = accounts.user()
        await refused(api, "POST", "/api/v1/users", {"name": name, **extra}, which)
        assert no_account(name), extra
    for extra, status in (({"groups": ["root "]}, 400), ({"group": " sudo"}, 400),
                          ({"groups": ["SUDO"]}, 422), ({"group": ""}, 400),
                          ({"groups": ["sudo,disk"]}, 400), ({"group": "-1"}, 400)):
        name = accounts.user()
        got, answer = await api.call("POST", "/api/v1/users", {"name": name, **extra})
        assert got == status, (extra, answer)
        assert no_account(name), extra
    assert members(*watched) == before

    # a group of the user's own is fine, as primary or supplementary, by name or by gid
    name = accounts.user()
    status, made = await api.call("POST", "/api/v1/users", {
        "name": name, "group": group, "groups": [other]})
    assert status == 201 and (made["group"], made["groups"]) == (group, [other]), made
    name = accounts.user()
    status, made = await api.call("POST", "/api/v1/users", {
        "name": name, "groups": [as_number(other)]})
    assert status == 201 and made["groups"] == [other], made


async def test_system_groups_are_refused_to_a_changed_user(rockd, accounts):
    api = (await rockd(sharing=True)).api
    group, other = accounts.group(), accounts.group()
    for made in (group, other):
        assert (await api.call("POST", "/api/v1/groups", {"name": made}))[0] == 201
    name = accounts.user()
    assert (await api.call("POST", "/api/v1/users", {"name": name, "groups": [group]}))[0] == 201

    async def unchanged_by(body: dict, which: str) -> None:
        entry, extra = pwd.getpwnam(name), groups_of(name)
        await refused(api, "PATCH", f"/api/v1/users/{name}", body, which)
        assert (pwd.getpwnam(name), groups_of(name)) == (entry, extra), body

    for body, which in (({"groups": ["sudo"]}, "sudo"), ({"groups": [group, "disk"]}, "disk"),
                        ({"group": "root"}, "root"), ({"group": "0"}, "root"),
                        ({"group": "nogroup"}, "nogroup"),
                        ({"groups": [as_number("shadow")]}, "shadow"),
                        ({"groups": ["users"], "shell": "/bin/sh"}, "users")):
        await unchanged_by(body, which)
    status, changed = await api.call("PATCH", f"/api/v1/users/{name}", {"groups": [other]})
    assert status == 200 and changed["groups"] == [other], changed

    # a system group given by hand stays the admin's business: kept, or left, but not added
    subprocess.run(["gpasswd", "-a", name, "users"], check=True, capture_output=True)
    status, changed = await api.call("PATCH", f"/api/v1/users/{name}",
                                     {"groups": ["users", group]})
    assert status == 200 and changed["groups"] == sorted([group, "users"]), changed
    await unchanged_by({"groups": ["users", "disk"]}, "disk")
    status, changed = await api.call("PATCH", f"/api/v1/users/{name}", {"groups": [group]})
    assert status == 200 and changed["groups"] == [group], changed
    await unchanged_by({"groups": ["users"]}, "users")  # left: not given back

    subprocess.run(["usermod", "--gid", "users", name], check=True)
    status, changed = await api.call("PATCH", f"/api/v1/users/{name}", {
        "password": f"pw-{secrets.token_hex(8)}", "group": "users", "groups": [group, other]})
    assert status == 200 and changed["group"] == "users", changed
    await unchanged_by({"group": "root"}, "root")
    status, changed = await api.call("PATCH", f"/api/v1/users/{name}", {"group": group})
    assert status == 200 and changed["group"] == group, changed
    await unchanged_by({"group": "users"}, "users")


async def test_groups_that_grant_privilege_above_1000_are_refused(rockd, accounts):
    api = (await rockd(sharing=True)).api
    name = accounts.user()
    # a name that grants root on common systems, made by hand with a gid rockd could give
    wheel = made_by_hand(accounts, ("wheel", "incus-admin", "kmem"), "--gid", str(free_gid()))
    await refused(api, "POST", "/api/v1/users", {"name": name, "groups": [wheel]}, wheel)
    await refused(api, "POST", "/api/v1/users", {"name": name, "group": wheel}, wheel)
    assert no_account(name)
    # nor may rockd make such a group, or a user whose own group would be one
    for path, made in (("/api/v1/groups", "lxd"), ("/api/v1/users", "libvirt")):
        if _exists(made):
            continue
        accounts.users.append(made)
        await refused(api, "POST", path, {"name": made}, made)
        assert no_account(made)

    # a group named in sudoers, by name or by gid
    by_name, by_gid = accounts.group(), accounts.group()
    for made in (by_name, by_gid):
        assert (await api.call("POST", "/api/v1/groups", {"name": made}))[0] == 201
    folder = Path("/etc/sudoers.d")
    rule = folder / accounts.group()  # a unique rt-<hex> name
    folder_made = not folder.exists()
    folder.mkdir(mode=0o750, exist_ok=True)
    try:
        rule.write_text(f"%{by_name} ALL=(ALL:ALL) ALL\n"
                        f"%#{grp.getgrnam(by_gid).gr_gid} ALL=(ALL) NOPASSWD: ALL\n")
        rule.chmod(0o440)
        for made in (by_name, by_gid):
            await refused(api, "POST", "/api/v1/users", {"name": name, "groups": [made]}, made)
            assert no_account(name)
    finally:
        rule.unlink(missing_ok=True)
        if folder_made:
            folder.rmdir()
    status, user = await api.call("POST", "/api/v1/users", {"name": name, "groups": [by_name]})
    assert status == 201 and user["groups"] == [by_name], user


async def test_a_group_named_as_a_number_is_read_as_useradd_reads_it(rockd, accounts):
    """useradd and usermod take a number for a gid before a name: a group named "27" by hand
    is no way into gid 27."""
    api = (await rockd(sharing=True)).api
    number = made_by_hand(accounts, (as_number("sudo"),), "--gid", str(free_gid()))
    name = accounts.user()
    await refused(api, "POST", "/api/v1/users", {"name": name, "groups": [number]}, "sudo")
    assert no_account(name)
    assert name not in grp.getgrnam("sudo").gr_mem


# -- a deleted user: its home goes, its uid is not given again ----------------------------------

async def test_deleting_a_user_removes_the_home_rockd_made(rockd, accounts, homes, tmp_path):
    api = (await rockd(sharing=True)).api
    name = accounts.user()
    home = HOMES / name
    homes.append(home)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("not the user's")
    status, user = await api.call("POST", "/api/v1/users", {"name": name, "shell": "/bin/sh"})
    assert status == 201 and user["home"] == str(home), user
    assert home.is_dir() and home.stat().st_uid == user["uid"]
    (home / "notes").write_text("the user's")
    (home / "elsewhere").symlink_to(outside)  # a link the user made: not followed
    os.lchown(home / "elsewhere", user["uid"], user["gid"])
    assert (await api.call("DELETE", f"/api/v1/users/{name}"))[0] == 204
    assert not home.exists() and not home.is_symlink()
    assert (outside / "keep").read_text() == "not the user's"
    assert no_account(name)


async def test_homes_rockd_did_not_make_or_that_are_not_the_users_own_are_kept(
        rockd, accounts, homes, tmp_path):
    api = (await rockd(sharing=True)).api
    names = [accounts.user() for _ in range(5)]
    homes.extend(HOMES / name for name in names)
    by_hand, shared, moved, linked, given = names
    # made by hand, home and all: rockd did not make that home
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", by_hand], check=True)
    for name in (shared, moved, linked, given):
        assert (await api.call("POST", "/api/v1/users", {"name": name, "shell": "/bin/sh"}))[0] \
            == 201
    # another account shares the home rockd made
    sharer = accounts.user()
    subprocess.run(["useradd", "--no-create-home", "--home-dir", str(HOMES / shared), sharer],
                   check=True)
    # the home was moved by hand out of /home
    subprocess.run(["usermod", "--home", str(tmp_path / "moved"), "--move-home", moved],
                   check=True)
    # the home was put elsewhere by hand and linked back
    target = tmp_path / "linked"
    shutil.move(HOMES / linked, target)
    (HOMES / linked).symlink_to(target)
    # the home was given to someone else by hand
    os.chown(HOMES / given, 0, 0)
    for name in names:
        assert (await api.call("DELETE", f"/api/v1/users/{name}"))[0] == 204, name
    for home in (HOMES / by_hand, HOMES / shared, tmp_path / "moved", target, HOMES / given):
        assert home.is_dir() and not home.is_symlink() and (home / ".profile").exists(), home
    assert (HOMES / linked).is_symlink()


async def test_a_home_with_a_mount_in_it_is_kept(rockd, accounts, homes, tmp_path):
    """A folder mounted into a home by hand (a share, say) is not the home's to delete."""
    api = (await rockd(sharing=True)).api
    name = accounts.user()
    homes.append(HOMES / name)
    share = tmp_path / "share"
    share.mkdir()
    (share / "data").write_text("a share's")
    assert (await api.call("POST", "/api/v1/users", {"name": name, "shell": "/bin/sh"}))[0] \
        == 201
    inside = HOMES / name / "share"
    inside.mkdir()
    subprocess.run(["mount", "--bind", str(share), str(inside)], check=True)
    try:
        assert (await api.call("DELETE", f"/api/v1/users/{name}"))[0] == 204
        assert (inside / "data").read_text() == "a share's"
    finally:
        subprocess.run(["umount", str(inside)], check=False)
    assert (share / "data").read_text() == "a share's"


async def test_a_deleted_users_uid_is_not_given_again(rockd, accounts, tmp_path):
    box = await rockd(sharing=True)
    api = box.api
    orphan = tmp_path / "orphan"
    first, second, third, fourth = (accounts.user() for _ in range(4))
    status, user = await api.call("POST", "/api/v1/users", {"name": first})
    assert status == 201, user
    old = user["uid"]
    orphan.write_text("the first user's")
    os.chown(orphan, old, -1)  # a file that outlives its account
    assert (await api.call("DELETE", f"/api/v1/users/{first}"))[0] == 204
    status, user = await api.call("POST", "/api/v1/users", {"name": second})
    assert status == 201 and user["uid"] > old, (old, user)
    assert orphan.stat().st_uid != pwd.getpwnam(second).pw_uid
    newer = user["uid"]
    assert (await api.call("DELETE", f"/api/v1/users/{second}"))[0] == 204
    await box.restart()  # rockd remembers across a restart
    status, user = await api.call("POST", "/api/v1/users", {"name": third})
    assert status == 201 and user["uid"] > newer, (newer, user)
    # a uid asked for is the admin's choice, a retired one too
    status, user = await api.call("POST", "/api/v1/users", {"name": fourth, "uid": old})
    assert status == 201 and user["uid"] == old, user


async def test_passwords_longer_than_the_tools_take_are_refused(rockd, accounts):
    """chpasswd (PAM) takes at most 511 bytes and smbpasswd 254: a longer password, counted in
    UTF-8 bytes, is 400 and changes nothing, where it was a 500 after the account was made."""
    api = (await rockd(sharing=True)).api
    name = accounts.user()
    for password in ("a" * 255, "é" * 128, "a" * 600):
        got, answer = await api.call("POST", "/api/v1/users", {"name": name,
                                                               "password": password})
        assert (got, answer["error"]["code"]) == (400, "invalid_field"), answer
        with pytest.raises(KeyError):
            pwd.getpwnam(name)
    longest = "é" * 127  # 254 bytes
    status, made = await api.call("POST", "/api/v1/users", {"name": name, "password": longest})
    assert status == 201 and made["samba"], made
    before = shadow_hash(name)
    got, answer = await api.call("PATCH", f"/api/v1/users/{name}", {"password": "a" * 512})
    assert (got, answer["error"]["code"]) == (400, "invalid_field"), answer
    assert shadow_hash(name) == before
