"""/users and /groups in the tree: every account in the account databases, whoever made it, read
again on every change of /etc/passwd, group, shadow or gshadow (inotify), with who has a Samba
password (the passdb of rockd's smb.conf) and how many SFTP keys each user has. A Samba entry
whose account is gone (deleted by hand) is removed on that read."""

from __future__ import annotations

import grp
import logging
import pwd
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, Protocol

from rockd.accounts.homes import authorized_keys_path, count_keys
from rockd.accounts.rules import is_system
from rockd.accounts.samba_records import forget_samba_user, samba_there
from rockd.config import Settings
from rockd.core.process import run
from rockd.core.rescan import Rescanner
from rockd.core.tree import Subtree
from rockd.watchers.inotify import Inotify
from rockd.watchers.passwd import AccountsWatcher

log = logging.getLogger(__name__)

ALL = "all"  # the one rescan key: users and groups are read together


def samba_conf(settings: Settings) -> Path:
    """rockd's smb.conf, whose passdb holds the Samba passwords."""
    return settings.samba_dir / "smb.conf"


async def samba_users(conf: Path) -> set[str]:
    """Who has a Samba password (in the passdb of `conf`)."""
    if not samba_there(conf, "pdbedit"):
        return set()
    result = await run(["pdbedit", "-s", str(conf), "-L"], check=False, timeout=30)
    if result.returncode != 0:
        log.warning("pdbedit -L failed: %s", result.stderr.strip())
        return set()
    return {line.split(":", 1)[0] for line in result.stdout.splitlines() if ":" in line}


def read_accounts(settings: Settings, samba: set[str]) -> tuple[dict[str, dict], dict[str, dict]]:
    """Every user and group, as they appear in the tree."""
    groups: dict[str, dict] = {}
    group_of: dict[int, str] = {}
    member_of: dict[str, set[str]] = {}
    for g in grp.getgrall():
        if g.gr_name in groups:
            continue  # a name listed twice (files and another source): the first one counts
        groups[g.gr_name] = {"name": g.gr_name, "gid": g.gr_gid,
                             "members": sorted(set(g.gr_mem)), "system": is_system(g.gr_gid)}
        group_of.setdefault(g.gr_gid, g.gr_name)
        for member in g.gr_mem:
            member_of.setdefault(member, set()).add(g.gr_name)
    users: dict[str, dict] = {}
    for p in pwd.getpwall():
        if p.pw_name in users:
            continue
        try:
            keys = count_keys(authorized_keys_path(settings, p.pw_name))
        except ValueError:
            keys = 0
        users[p.pw_name] = {
            "name": p.pw_name, "uid": p.pw_uid, "gid": p.pw_gid,
            "group": group_of.get(p.pw_gid), "groups": sorted(member_of.get(p.pw_name, ())),
            "shell": p.pw_shell, "home": p.pw_dir, "system": is_system(p.pw_uid),
            "samba": p.pw_name in samba, "ssh_keys": keys,
        }
    return users, groups


def _found(lookup: Callable[[Any], object], key: str | int) -> bool:
    try:
        lookup(key)
    except KeyError:
        return False
    return True


def user_exists(name: str) -> bool:
    return _found(pwd.getpwnam, name)


def group_exists(name: str) -> bool:
    return _found(grp.getgrnam, name)


def uid_taken(uid: int) -> bool:
    return _found(pwd.getpwuid, uid)


def gid_taken(gid: int) -> bool:
    return _found(grp.getgrgid, gid)


class AccountsFollower(Protocol):
    """What depends on the accounts (who can write to an export), told after each read."""

    def accounts_changed(self) -> None:
        """/users or /groups may have changed."""


class AccountsView:
    """/users and /groups (`tree`: their owner's handle), kept as the databases say; `inotify`
    is the daemon's reader, through which /etc is watched; `followers` hear of each read."""

    def __init__(self, tree: Subtree, settings: Settings, inotify: Inotify,
                 etc: Path = Path("/etc"), followers: Sequence[AccountsFollower] = ()):
        self.tree = tree
        self.followers = tuple(followers)
        self.settings = settings
        self.rescans = Rescanner("accounts", self._scan)
        self.watcher = AccountsWatcher(inotify, lambda: self.rescans.request(ALL), etc)

    async def start(self) -> None:
        """Watch first (so no change is missed), then read everything."""
        self.watcher.start()
        self.rescans.start()
        await self.settled()

    async def stop(self) -> None:
        self.watcher.stop()
        await self.rescans.stop()

    async def settled(self) -> None:
        """Read everything again, and wait for it."""
        self.rescans.request(ALL)
        await self.rescans.settle()

    async def _scan(self, _key: Hashable) -> None:
        conf = samba_conf(self.settings)
        samba = await samba_users(conf)
        for name in sorted(n for n in samba if not user_exists(n)):
            # an account deleted by hand (or while rockd was down): Samba forgets it as it
            # does one deleted through rockd, so a user made again by that name can sign in
            log.info("user %s is gone; removing its Samba entry and cached ids", name)
            await forget_samba_user(conf, name)
            samba.discard(name)
        users, groups = read_accounts(self.settings, samba)
        with self.tree.transaction():
            self.tree.set("/users", users)
            self.tree.set("/groups", groups)
        for follower in self.followers:
            follower.accounts_changed()

    def users(self) -> list[dict[str, Any]]:
        return list((self.tree.get("/users") or {}).values())

    def groups(self) -> list[dict[str, Any]]:
        return list((self.tree.get("/groups") or {}).values())

    def get(self, name: str) -> dict[str, Any]:
        return self.tree.resource("users", name)

    def get_group(self, name: str) -> dict[str, Any]:
        return self.tree.resource("groups", name)
