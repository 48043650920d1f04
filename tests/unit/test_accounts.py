"""The rules for users and groups: names, shells, passwords, SSH keys, system accounts, groups
that grant privilege, the uid of a new user and the home that goes with a deleted one; and the
actions on a real Tree, refused before any tool changes the machine (without root)."""

from __future__ import annotations

import base64
import grp
import os
import pwd
import secrets
from pathlib import Path

import pytest

from rockd.accounts.homes import authorized_keys_path, count_keys, own_home, remove_home
from rockd.accounts.observe import read_accounts
from rockd.accounts.privilege import Named, named_groups
from rockd.accounts.rules import (
    NOLOGIN,
    check_account_name,
    check_password,
    check_shell,
    is_system,
    next_uid,
    parse_ssh_key,
    refuse_privileged,
    resolve_group,
)
from rockd.accounts.users import Users
from rockd.config import Settings
from rockd.core.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidName,
    NotFound,
    Unprocessable,
)
from rockd.core.tree import Tree


def key(kind: str = "ssh-ed25519", size: int = 32, comment: str = "") -> str:
    blob = b"".join(len(p).to_bytes(4, "big") + p
                    for p in (kind.encode(), secrets.token_bytes(size)))
    return f"{kind} {base64.b64encode(blob).decode()}" + (f" {comment}" if comment else "")


@pytest.mark.parametrize("name", ["alice", "a", "rt-1f2e", "j.doe", "user_2", "9lives",
                                  "a" * 32])
def test_account_names_taken(name):
    assert check_account_name(name) == name


@pytest.mark.parametrize("name", ["Alice", "-x", ".x", "_x", "a b", "a/b", "a:b", "a$",
                                  "1234", "", "a" * 33, "é", "a\nb"])
def test_account_names_refused(name):
    with pytest.raises(InvalidName):
        check_account_name(name)


def test_shells():
    assert check_shell(None) == NOLOGIN
    assert check_shell("/bin/bash", ["/bin/bash"]) == "/bin/bash"
    assert check_shell("/bin/false", []) == "/bin/false"
    for bad in ("/tmp/evil", "bash", "/bin/bash\n"):
        with pytest.raises(BadRequest):
            check_shell(bad, ["/bin/bash"])


def test_passwords():
    assert check_password("correct horse: battery") == "correct horse: battery"
    for bad in ("", "a\nroot::0:0", "a\rb", "a\0b", "x" * 1025):
        with pytest.raises(BadRequest):
            check_password(bad)


def test_ssh_keys():
    good = key(comment="me@laptop")
    assert parse_ssh_key("  " + good + "  ") == good
    assert parse_ssh_key(key("ssh-rsa", 270)).startswith("ssh-rsa ")
    assert parse_ssh_key(key("ecdsa-sha2-nistp256", 65))
    bad = [
        'command="/bin/sh" ' + good,  # options grant more than the key
        'from="*" ' + good,
        good + "\n" + key(),  # a second line
        good + "\r",
        "ssh-ed25519",
        "ssh-dss " + key().split()[1],
        "ssh-ed25519 !!notbase64!!",
        "ssh-rsa " + key().split()[1],  # the blob says ssh-ed25519
        "ssh-ed25519 AAAA",
        good + " bell\x07",
        "x" * 20000,
    ]
    for line in bad:
        with pytest.raises(BadRequest):
            parse_ssh_key(line)


def test_system_ids():
    assert is_system(0) and is_system(999) and is_system(65534)
    assert not is_system(1000) and not is_system(60000)


def test_keys_path_and_count(tmp_path):
    settings = Settings(state_dir=tmp_path, sftp_dir=tmp_path / "sftp")
    path = authorized_keys_path(settings, "alice")
    assert path == tmp_path / "sftp" / "keys" / "alice"
    for bad in ("", "..", ".", "a/b"):
        with pytest.raises(ValueError):
            authorized_keys_path(settings, bad)
    assert count_keys(path) == 0
    path.parent.mkdir(parents=True)
    path.write_text(f"{key()}\n\n# a note\n{key()}\n")
    assert count_keys(path) == 2


def test_read_accounts_shape(tmp_path):
    users, groups = read_accounts(Settings(state_dir=tmp_path), {"root"})
    root = users["root"]
    assert root == {"name": "root", "uid": 0, "gid": 0, "group": "root",
                    "groups": root["groups"], "shell": root["shell"], "home": root["home"],
                    "system": True, "samba": True, "ssh_keys": 0}
    assert groups["root"]["system"] and groups["root"]["gid"] == 0
    assert all(isinstance(g["members"], list) for g in groups.values())
    assert not any("password" in u or "hash" in u for u in users.values())
    assert Path(root["home"]).is_absolute()


# -- groups that grant privilege ----------------------------------------------------------------

def test_groups_are_read_as_the_shadow_tools_read_them():
    root = grp.getgrgid(0).gr_name
    for ref in ("0", "00", "+0", "-0", root):
        assert resolve_group(ref).gr_gid == 0, ref
    for ref in ("rt-no-such-group", "4294967296", "-1", "ROOT" if root == "root" else "x"):
        assert resolve_group(ref) is None, ref


def test_privileged_groups_are_refused():
    nothing = Named(frozenset(), frozenset())
    named = Named(frozenset({"ops"}), frozenset({4242}))
    for name, gid, by in (("root", 0, nothing), ("users", 100, nothing),
                          ("nogroup", 65534, nothing), ("wheel", 4000, nothing),
                          ("docker", None, nothing), ("ops", 4000, named),
                          ("anything", 4242, named)):
        with pytest.raises(Forbidden) as refused:
            refuse_privileged("groups", name, gid, by)
        assert refused.value.code == "system_group"
        assert refused.value.detail == {"field": "groups", "group": name}
    refuse_privileged("groups", "staff-2", 4000, named)
    refuse_privileged("name", "ops2", None, named)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_groups_named_by_sudoers_and_polkit(tmp_path):
    etc, share = tmp_path / "etc", tmp_path / "share"
    write(etc / "sudoers", "\n".join([
        "# %commented ALL=(ALL) ALL",
        "Defaults env_reset # %trailing",
        "%plain ALL=(ALL:ALL) ALL",
        "%:nonunix ALL=(ALL) ALL",
        "%#4242 ALL=(ALL) NOPASSWD: ALL",
        "%\"quoted\" ALL=(ALL) ALL",
        "User_Alias OPS = %aliased, bob, \\",
        "    %continued",
        "#1000 ALL=(ALL) ALL",
        "@include sudoers.local",
        "#includedir /nowhere",
        f"#includedir {etc / 'more.d'}",
    ]) + "\n")
    write(etc / "sudoers.local", "%included ALL=(ALL) ALL\n")
    write(etc / "more.d" / "x", "%indir ALL=(ALL) ALL\n")
    write(etc / "sudoers.d" / "y", "%dropin ALL=(ALL) ALL\n")
    write(etc / "polkit-1" / "rules.d" / "a.rules",
          'if (subject.isInGroup("jsgroup")) { return polkit.Result.YES; }\n')
    write(share / "polkit-1" / "localauthority.conf.d" / "b.conf",
          "[Configuration]\nAdminIdentities=unix-group:pkadmin\n")
    named = named_groups(etc, share)
    assert named.names == {"plain", "nonunix", "quoted", "aliased", "continued", "included",
                           "indir", "dropin", "jsgroup", "pkadmin"}
    assert named.gids == {4242}
    assert named_groups(tmp_path / "none", tmp_path / "none") == Named(frozenset(), frozenset())


def test_sudoers_includes_end(tmp_path):
    write(tmp_path / "sudoers", "#include sudoers\n%self ALL=(ALL) ALL\n")  # includes itself
    assert named_groups(tmp_path, tmp_path).names == {"self"}


# -- a deleted user's uid and home --------------------------------------------------------------

def test_next_uid_is_above_every_uid_given():
    assert next_uid([], []) == 1000
    assert next_uid([0, 1000, 1001, 65534], []) == 1002
    assert next_uid([0, 1000], [1001, 1005]) == 1006  # 1001 and 1005 were deleted
    assert next_uid([1000, 60000], []) == 1001  # past the top: the lowest never used
    assert next_uid([60000], range(1000, 1010)) == 1010
    with pytest.raises(Unprocessable):
        next_uid(range(1000, 60001), [])


def account(name: str, home: Path | str, uid: int | None = None) -> pwd.struct_passwd:
    uid = os.getuid() if uid is None else uid
    return pwd.struct_passwd((name, "x", uid, uid, "", str(home), "/bin/sh"))


def test_own_home_only_the_one_rockd_made(tmp_path):
    homes = tmp_path / "home"
    mine = homes / "alice"
    mine.mkdir(parents=True)
    alice = account("alice", mine)
    assert own_home(alice, str(mine), [], homes) == mine
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    kept = [
        (alice, None, []),  # rockd did not make it
        (account("alice", elsewhere), str(mine), []),  # moved by hand
        (account("alice", elsewhere), str(elsewhere), []),  # not under /home
        (account("alice", homes / ".."), str(homes / ".."), []),
        (account("alice", mine, uid=os.getuid() + 1), str(mine), []),  # someone else's
        (alice, str(mine), [account("bob", mine)]),  # shared
        (alice, str(mine), [account("bob", mine / "bob")]),  # holds another's home
        (alice, str(mine), [account("bob", f"{mine}/./")]),
    ]
    for entry, made, others in kept:
        assert own_home(entry, made, others, homes) is None, (entry, made, others)
    assert own_home(alice, str(mine), [account("al", homes / "alice2")], homes) == mine
    # a link to it from another account's home is that account's home too
    (tmp_path / "bobs").symlink_to(mine)
    assert own_home(alice, str(mine), [account("bob", tmp_path / "bobs")], homes) is None


def test_own_home_follows_no_symlink(tmp_path):
    homes = tmp_path / "home"
    homes.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    (homes / "alice").symlink_to(target)
    alice = account("alice", homes / "alice")
    assert own_home(alice, str(homes / "alice"), [], homes) is None
    linked = tmp_path / "linked"
    linked.symlink_to(homes, target_is_directory=True)
    (homes / "bob").mkdir()
    bob = account("bob", linked / "bob")
    assert own_home(bob, str(linked / "bob"), [], linked) is None  # the parent is a link


def test_remove_home_follows_no_symlink(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("x")
    home = tmp_path / "home" / "alice"
    (home / "sub").mkdir(parents=True)
    (home / "sub" / "file").write_text("y")
    (home / "link").symlink_to(outside)
    (home / "sub" / "link").symlink_to(outside / "keep")
    remove_home(home)
    assert not home.exists() and (outside / "keep").read_text() == "x"
    (tmp_path / "home" / "bob").symlink_to(outside)
    with pytest.raises(OSError):
        remove_home(tmp_path / "home" / "bob")
    assert (outside / "keep").exists()


# -- the actions, on a real Tree: refused before any tool runs -------------------------------

@pytest.fixture
async def users(reader, tmp_path: Path):
    """rockd's Users on a Tree of its own, having read this machine's accounts into it."""
    tree = Tree()
    made = Users(tree.own(["/users", "/groups"], "accounts"), store=None,
                 settings=Settings(state_dir=tmp_path / "state", samba_dir=tmp_path / "samba"),
                 inotify=reader)
    await made.start()
    yield made
    await made.stop()


def nobody_named(prefix: str = "rt-rule") -> str:
    """A name no account of this machine has."""
    name = f"{prefix}-{secrets.token_hex(4)}"
    assert not any(name == p.pw_name for p in pwd.getpwall())
    return name


async def test_the_tree_holds_the_machine_s_accounts(users):
    root = users.get("root")
    assert (root["uid"], root["system"], root["group"]) == (0, True, "root")
    assert users.get_group("root")["system"] is True
    for ask in (lambda: users.get(nobody_named()), lambda: users.get_group(nobody_named())):
        with pytest.raises(NotFound):
            ask()


async def test_a_new_user_is_refused_before_useradd_runs(users):
    name = nobody_named()
    refusals = [
        ({"name": "Upper"}, InvalidName, "invalid_name"),
        ({"name": name, "shell": "/tmp/evil"}, BadRequest, "invalid_field"),
        ({"name": name, "password": "a\nroot:x"}, BadRequest, "invalid_field"),
        ({"name": name, "uid": 0}, BadRequest, "invalid_field"),
        ({"name": name, "ssh_keys": ["ssh-ed25519 not-base64!"]}, BadRequest, "invalid_field"),
        ({"name": "root"}, Conflict, "exists"),
        ({"name": name, "groups": [nobody_named()]}, Unprocessable, "unknown_group"),
        ({"name": name, "group": "root"}, Forbidden, "system_group"),
        ({"name": name, "groups": ["0"]}, Forbidden, "system_group"),  # a gid, as useradd reads
    ]
    for body, error, code in refusals:
        with pytest.raises(error) as raised:
            await users.create(**body)
        assert raised.value.code == code, (body, raised.value)
        assert not any(p.pw_name == name for p in pwd.getpwall()), body


async def test_system_accounts_and_missing_ones_are_refused_before_any_tool_runs(users):
    entry = pwd.getpwnam("root")
    refusals = [
        (lambda: users.delete("root"), Forbidden, "system_account"),
        (lambda: users.update("root", {"shell": "/bin/sh"}), Forbidden, "system_account"),
        (lambda: users.delete_group("root"), Forbidden, "system_account"),
        (lambda: users.delete(nobody_named()), NotFound, "not_found"),
        (lambda: users.update(nobody_named(), {"shell": "/bin/sh"}), NotFound, "not_found"),
        (lambda: users.delete_group(nobody_named()), NotFound, "not_found"),
        (lambda: users.create_group("root"), Forbidden, "system_group"),
        (lambda: users.create_group(nobody_named(), gid=10), BadRequest, "invalid_field"),
    ]
    for ask, error, code in refusals:
        with pytest.raises(error) as raised:
            await ask()
        assert raised.value.code == code, (code, raised.value)
    assert pwd.getpwnam("root") == entry
