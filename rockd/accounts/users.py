"""Users and groups: the actions on them (rockd.accounts.observe keeps /users and /groups).

Actions are the shadow tools as argv lists (useradd, usermod, userdel, groupadd, groupdel). A
password sets both the login hash (chpasswd) and the Samba password (smbpasswd), each fed
through stdin: never argv, never a log, never the tree or an answer. SSH public keys for SFTP
go to `authorized_keys_path(settings, name)`, which the SFTP sshd reads.

rockd puts no user in a group that grants privilege (a system group, or one of
`rockd.accounts.privilege`), nor makes one. It gives each new user a uid above every uid it
has ever given or deleted (kept in the intent store, kind `uid`), so no new account inherits
the files of a deleted one, and deleting a user removes the home that rockd's useradd made.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import logging
import pwd
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from rockd.accounts.homes import (
    authorized_keys_path,
    new_home,
    own_home,
    remove_home,
    write_keys,
)
from rockd.accounts.observe import (
    AccountsFollower,
    AccountsView,
    gid_taken,
    group_exists,
    samba_conf,
    uid_taken,
    user_exists,
)
from rockd.accounts.privilege import named_groups
from rockd.accounts.rules import (
    FIRST_ID,
    LAST_ID,
    account_error,
    check_account_name,
    check_password,
    check_shell,
    is_system,
    next_uid,
    parse_ssh_key,
    refuse_privileged,
    resolve_group,
)
from rockd.accounts.samba_records import forget_samba_user, samba_there
from rockd.config import Settings
from rockd.core.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable
from rockd.core.process import CommandError, run
from rockd.core.store import Store
from rockd.core.tree import Subtree
from rockd.watchers.inotify import Inotify

log = logging.getLogger(__name__)

NO_HOME = "/nonexistent"  # Debian's home of accounts that have none
UIDS = "uid"  # intent kind, by uid: every uid rockd gave or deleted, {"user", "home"}


class UserFollower(AccountsFollower, Protocol):
    """What else names users (exports), told when rockd deletes one (and, as an
    AccountsFollower, after every read of the accounts)."""

    async def user_deleted(self, name: str) -> None:
        """Stop naming the user `name`."""


class Users:
    """/users and /groups in the tree (`tree`: their owner's handle, `inotify`: the reader /etc
    is watched with), and the actions on them. `followers` are told of every user deleted
    through rockd."""

    def __init__(self, tree: Subtree, store: Store, settings: Settings, inotify: Inotify, *,
                 followers: Sequence[UserFollower] = (), etc: Path = Path("/etc")):
        self.view = AccountsView(tree, settings, inotify, etc, followers)
        self.store = store
        self.settings = settings
        self.etc = etc
        self.lock = asyncio.Lock()  # one change of the account databases at a time
        self.followers = tuple(followers)

    @property
    def smb_conf(self) -> Path:
        return samba_conf(self.settings)

    async def start(self) -> None:
        await self.view.start()

    async def stop(self) -> None:
        await self.view.stop()

    async def settled(self) -> None:
        await self.view.settled()

    def get(self, name: str) -> dict[str, Any]:
        return self.view.get(name)

    def get_group(self, name: str) -> dict[str, Any]:
        return self.view.get_group(name)

    def users(self) -> list[dict[str, Any]]:
        return self.view.users()

    def groups(self) -> list[dict[str, Any]]:
        return self.view.groups()

    def _samba_ready(self) -> bool:
        return samba_there(self.smb_conf, "smbpasswd")

    @staticmethod
    def _changeable(name: str) -> pwd.struct_passwd:
        """The account, if rockd may change it: 404 for none, 403 for a system account."""
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise NotFound(f"no user {name}", detail={"user": name}) from None
        if is_system(entry.pw_uid):
            raise Forbidden(f"{name} is a system account (uid {entry.pw_uid}): read-only here",
                            code="system_account", detail={"user": name})
        return entry

    @staticmethod
    def _groups(field: str, refs: Iterable[str]) -> list[tuple[str, grp.struct_group]]:
        """Each group asked for, with its field: 422 for one that is not there."""
        found = []
        for ref in refs:
            entry = resolve_group(ref)
            if entry is None:
                raise Unprocessable(f"no group {ref}", code="unknown_group",
                                    detail={"group": ref})
            found.append((field, entry))
        return found

    def _refuse_privileged(self, wanted: Iterable[tuple[str, grp.struct_group]],
                           held: Iterable[int] = ()) -> None:
        """403 for a group asked for that grants privilege, unless the user is in it already
        (`held`: a change made by hand is the admin's to keep, not rockd's to give)."""
        named = named_groups(self.etc)
        kept = set(held)
        for field, entry in wanted:
            if entry.gr_gid not in kept:
                refuse_privileged(field, entry.gr_name, entry.gr_gid, named)

    # -- users ---------------------------------------------------------------------------------

    async def create(self, name: str, password: str | None = None, uid: int | None = None,
                     group: str | None = None, groups: Iterable[str] = (),
                     shell: str | None = None, ssh_keys: Iterable[str] = ()) -> dict[str, Any]:
        check_account_name(name)
        shell = check_shell(shell)
        keys = [parse_ssh_key(k, i) for i, k in enumerate(ssh_keys)]
        groups = list(dict.fromkeys(groups))
        if password is not None:
            check_password(password)
        if uid is not None and is_system(uid):
            raise BadRequest(f"uid must be from {FIRST_ID} to {LAST_ID}", code="invalid_field",
                             detail={"field": "uid"})
        async with self.lock:
            uid = await self._admit(name, uid, group, groups)
            entry, made = await self._useradd(name, uid, shell, group, groups)
            try:
                await self.store.set_intent(UIDS, str(entry.pw_uid),
                                            {"user": name, "home": made})
                # a new account inherits no Samba entry (SID) left by an earlier one
                await forget_samba_user(self.smb_conf, name)
                if password is not None:
                    await self._set_password(name, password)
                write_keys(self.settings, name, keys)
            except BaseException:
                log.warning("user %s could not be set up; removing it again", name)
                await self._remove(entry, made)
                raise
        log.info("created user %s", name)
        await self.settled()
        return self.get(name)

    async def _admit(self, name: str, uid: int | None, group: str | None,
                     groups: list[str]) -> int:
        """The checks of a new user against the machine (409, 422, 403), and its uid."""
        if user_exists(name):
            raise Conflict(f"user {name} exists", code="exists", detail={"user": name})
        wanted = self._groups("group", [group] if group else [])
        wanted += self._groups("groups", groups)
        if not group:  # useradd makes the user a group of its own name
            refuse_privileged("name", name, None, named_groups(self.etc))
        self._refuse_privileged(wanted)
        if uid is not None and uid_taken(uid):
            raise Conflict(f"uid {uid} is taken", code="exists", detail={"uid": uid})
        if uid is not None:
            return uid
        given = await self.store.intents(UIDS)
        return next_uid((p.pw_uid for p in pwd.getpwall()), map(int, given))

    @staticmethod
    async def _useradd(name: str, uid: int, shell: str, group: str | None,
                       groups: list[str]) -> tuple[pwd.struct_passwd, str | None]:
        """Make the account: its entry, and the home useradd made for it (None for none)."""
        home, fresh = new_home(name, shell)
        argv = ["useradd", "--shell", shell, "--uid", str(uid)]
        if home is None:
            argv += ["--no-create-home", "--home-dir", NO_HOME]
        else:
            argv += ["--create-home"]
        argv += ["--gid", group] if group else ["--user-group"]
        if groups:
            argv += ["--groups", ",".join(groups)]
        try:
            await run([*argv, name], timeout=60)
        except CommandError as exc:
            raise account_error(exc, name) from None
        entry = pwd.getpwnam(name)
        return entry, entry.pw_dir if fresh and entry.pw_dir == str(home) else None

    async def update(self, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Change password, primary group, extra groups (replaced), shell or SSH keys
        (replaced); a field left out (or null) stays as it is.

        A group that grants privilege is refused (403 system_group) unless the user is in it
        already, as its primary group or another: one given by hand may be kept, or moved
        between the two, but rockd gives none, nor gives one back once the user has left it."""
        self._changeable(name)  # 404 and 403 before any 400
        shell = changes.get("shell")
        if shell is not None:
            check_shell(shell)
        keys = changes.get("ssh_keys")
        if keys is not None:
            keys = [parse_ssh_key(k, i) for i, k in enumerate(keys)]
        password = changes.get("password")
        if password is not None:
            check_password(password)
        group, groups = changes.get("group"), changes.get("groups")
        if groups is not None:
            groups = list(dict.fromkeys(groups))
        async with self.lock:
            entry = self._changeable(name)
            wanted = self._groups("group", [group] if group is not None else [])
            wanted += self._groups("groups", groups or [])
            held = {entry.pw_gid} | {g.gr_gid for g in grp.getgrall() if name in g.gr_mem}
            self._refuse_privileged(wanted, held)
            argv = ["usermod"]
            if shell is not None:
                argv += ["--shell", shell]
            if group is not None:
                argv += ["--gid", group]
            if groups is not None:
                argv += ["--groups", ",".join(groups)]  # "" leaves no extra group
            if len(argv) > 1:
                try:
                    await run([*argv, name], timeout=60)
                except CommandError as exc:
                    raise account_error(exc, name) from None
            if password is not None:
                await self._set_password(name, password)
            if keys is not None:
                write_keys(self.settings, name, keys)
        await self.settled()
        return self.get(name)

    async def delete(self, name: str) -> None:
        """Remove the user (and its own group, when no one else is in it), its Samba password
        and SSH keys, and the home rockd made for it (see `own_home`): a home made by hand,
        moved, shared or linked elsewhere is kept. Its uid is kept from the next users rockd
        makes, so files it owned elsewhere go to no one."""
        async with self.lock:
            entry = self._changeable(name)
            record = (await self.store.intents(UIDS)).get(str(entry.pw_uid))
            if record is None or record.get("user") != name:
                record = {"user": name, "home": None}
                await self.store.set_intent(UIDS, str(entry.pw_uid), record)
            try:
                await self._userdel(entry, record["home"])
            except CommandError as exc:
                raise account_error(exc, name) from None
        log.info("deleted user %s", name)
        await self.settled()
        for follower in self.followers:
            await follower.user_deleted(name)

    async def _remove(self, entry: pwd.struct_passwd, made: str | None) -> None:
        """Undo a half-made user (never raises)."""
        try:
            await self._userdel(entry, made)
        except CommandError:
            await self._forget(entry.pw_name)

    async def _userdel(self, entry: pwd.struct_passwd, made: str | None) -> None:
        """userdel, then what else is the account's: its Samba password, its keys and the home
        rockd made (`made`), if it still is the account's own."""
        others = [p for p in pwd.getpwall() if p.pw_name != entry.pw_name]
        home = own_home(entry, made, others)
        await run(["userdel", entry.pw_name], timeout=60)
        await self._forget(entry.pw_name)
        if home is None:
            return
        try:
            await asyncio.to_thread(remove_home, home)
        except OSError as exc:
            log.warning("the home %s of deleted user %s stays: %s", home, entry.pw_name, exc)

    async def _forget(self, name: str) -> None:
        await forget_samba_user(self.smb_conf, name)
        with contextlib.suppress(OSError):
            authorized_keys_path(self.settings, name).unlink()

    async def _set_password(self, name: str, password: str) -> None:
        """The login hash and the Samba password, both through stdin."""
        await run(["chpasswd"], input=f"{name}:{password}\n".encode(), timeout=30)
        if not self._samba_ready():
            log.warning("no Samba configuration at %s: %s has no Samba password",
                        self.smb_conf, name)
            return
        await run(["smbpasswd", "-c", str(self.smb_conf), "-s", "-a", name],
                  input=f"{password}\n{password}\n".encode(), timeout=30)

    # -- groups --------------------------------------------------------------------------------

    async def create_group(self, name: str, gid: int | None = None) -> dict[str, Any]:
        check_account_name(name, "group")
        if gid is not None and is_system(gid):
            raise BadRequest(f"gid must be from {FIRST_ID} to {LAST_ID}", code="invalid_field",
                             detail={"field": "gid"})
        refuse_privileged("name", name, gid, named_groups(self.etc))
        async with self.lock:
            if group_exists(name):
                raise Conflict(f"group {name} exists", code="exists", detail={"group": name})
            if gid is not None and gid_taken(gid):
                raise Conflict(f"gid {gid} is taken", code="exists", detail={"gid": gid})
            argv = ["groupadd"] + (["--gid", str(gid)] if gid is not None else [])
            try:
                await run([*argv, name], timeout=60)
            except CommandError as exc:
                raise account_error(exc, name) from None
        log.info("created group %s", name)
        await self.settled()
        return self.get_group(name)

    async def delete_group(self, name: str) -> None:
        async with self.lock:
            try:
                entry = grp.getgrnam(name)
            except KeyError:
                raise NotFound(f"no group {name}", detail={"group": name}) from None
            if is_system(entry.gr_gid):
                raise Forbidden(f"{name} is a system group (gid {entry.gr_gid}): read-only "
                                "here", code="system_account", detail={"group": name})
            try:
                await run(["groupdel", name], timeout=60)
            except CommandError as exc:
                raise account_error(exc, name) from None
        log.info("deleted group %s", name)
        await self.settled()
