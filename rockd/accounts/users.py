"""Users and groups: /users/{name} and /groups/{name} in the tree, and the actions on them.

The account databases are the fact: every user and group in them is listed, whoever made it,
and a rescan follows any change to /etc/passwd, group, shadow or gshadow (inotify). System
accounts (ids below 1000, and nobody's 65534 above 60000) are listed read-only.

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
import base64
import binascii
import contextlib
import grp
import logging
import os
import pwd
import re
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from rockd.accounts.privilege import PRIVILEGED_NAMES, Named, named_groups
from rockd.config import Settings
from rockd.core import mountinfo
from rockd.core.errors import BadRequest, Conflict, Forbidden, InvalidName, NotFound, Unprocessable
from rockd.core.process import CommandError, run
from rockd.core.rescan import Rescanner
from rockd.core.store import Store
from rockd.core.tree import Tree
from rockd.watchers.passwd import AccountsWatcher

log = logging.getLogger(__name__)

FIRST_ID = 1000  # below it: system accounts (login.defs UID_MIN/GID_MIN)
LAST_ID = 60000  # above it: nobody/nogroup (65534) and other reserved ids (UID_MAX)
NOLOGIN = "/usr/sbin/nologin"
NO_LOGIN_SHELLS = frozenset({"/usr/sbin/nologin", "/sbin/nologin", "/bin/false",
                             "/usr/bin/false"})
NO_HOME = "/nonexistent"  # Debian's home of accounts that have none
HOMES = Path("/home")  # where useradd --create-home makes a home; rockd removes none elsewhere
UIDS = "uid"  # intent kind, by uid: every uid rockd gave or deleted, {"user", "home"}
MAX_GID = 2**32 - 1
# what the shadow tools read as a gid rather than a name (strtoll, base 10)
NUMBER = re.compile(r"[ \t\n\v\f\r]*[+-]?[0-9]+")
# rockd.core.names' rule, narrowed to what useradd and Samba take without surprises: lower
# case (Samba matches user names case-insensitively), at most 32 characters, not all digits
ACCOUNT_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
MAX_PASSWORD = 254
"""Bytes (UTF-8) of a password: smbpasswd reads at most 254 from a line (chpasswd, through PAM,
511)."""
MAX_KEY = 16384
KEY_TYPES = frozenset({
    "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
})
ALL = "all"  # the one rescan key: users and groups are read together


# -- pure rules -------------------------------------------------------------------------------

def is_system(account_id: int) -> bool:
    """A system account or group: listed, never changed through rockd."""
    return account_id < FIRST_ID or account_id > LAST_ID


def resolve_group(ref: str) -> grp.struct_group | None:
    """The group `ref` names, read as useradd and usermod read it: a decimal number that fits a
    gid is that gid (a group named "27" by hand is no way around gid 27), anything else a
    name."""
    if NUMBER.fullmatch(ref) and 0 <= int(ref) <= MAX_GID:
        try:
            return grp.getgrgid(int(ref))
        except KeyError:
            return None
    try:
        return grp.getgrnam(ref)
    except KeyError:
        return None


def refuse_privileged(field: str, name: str, gid: int | None, named: Named) -> None:
    """403 system_group for a group rockd must neither put a user in nor make: a system gid, a
    name that grants privilege, or a group that sudoers or polkit names."""
    system = gid is not None and is_system(gid)
    if system or name in PRIVILEGED_NAMES or name in named.names or gid in named.gids:
        what = f"a system group (gid {gid})" if system else "a group that grants privilege"
        raise Forbidden(f"{name} is {what}: rockd puts no user in it", code="system_group",
                        detail={"field": field, "group": name})


def next_uid(in_use: Iterable[int], given: Iterable[int]) -> int:
    """The uid of a new user that asks for none: above every uid in use and every uid rockd
    ever gave or deleted, so no one inherits a deleted account's files; past LAST_ID, the
    lowest uid that is neither."""
    used = {uid for uid in (*in_use, *given) if not is_system(uid)}
    top = max(used, default=FIRST_ID - 1) + 1
    if top <= LAST_ID:
        return top
    for uid in range(FIRST_ID, LAST_ID + 1):
        if uid not in used:
            return uid
    raise Unprocessable(f"every uid from {FIRST_ID} to {LAST_ID} is used or was",
                        code="no_free_uid")


def own_home(entry: pwd.struct_passwd, made: str | None, others: Iterable[pwd.struct_passwd],
             homes: Path = HOMES) -> Path | None:
    """The home to remove with the account: the one rockd's useradd made (`made`), if it is
    still the account's home, directly under `homes` with no symlink on the way, a folder the
    account owns, no other account's home nor holding one, and with nothing mounted in it (a
    share bound there by hand). None keeps it."""
    if made is None or entry.pw_dir != made:
        return None
    path = Path(made)
    if path.parent != homes or path.name in ("", ".", "..") or os.path.realpath(path) != made:
        return None
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != entry.pw_uid:
        return None
    for other in others:
        for theirs in {os.path.normpath(other.pw_dir), os.path.realpath(other.pw_dir)}:
            if theirs == made or theirs.startswith(made + "/"):
                return None
    return None if mountinfo.targets_under(path) else path


def remove_home(path: Path) -> None:
    """Remove a home and all in it, following no symlink: the folder is taken by name from its
    parent, and shutil.rmtree walks by file descriptors."""
    parent = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        shutil.rmtree(path.name, dir_fd=parent)
    finally:
        os.close(parent)


def new_home(name: str, shell: str) -> tuple[Path | None, bool]:
    """Where useradd makes a new user's home (None for a no-login shell: no home), and whether
    nothing is there yet: only a home made afresh is rockd's to remove with the user."""
    if shell in NO_LOGIN_SHELLS:
        return None, False
    home = HOMES / name
    return home, not os.path.lexists(home)


def check_account_name(name: str, what: str = "user") -> str:
    if not ACCOUNT_NAME.fullmatch(name) or name.isdigit():
        raise InvalidName(f"{what} name {name!r} must be 1 to 32 lower-case letters, digits, "
                          "'.', '_' or '-', start with a letter or digit and not be all "
                          "digits", detail={"field": "name", "pattern": ACCOUNT_NAME.pattern})
    return name


def login_shells(path: Path = Path("/etc/shells")) -> set[str]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return set()
    return {line.strip() for line in lines if line.strip().startswith("/")}


def check_shell(shell: str | None, shells: Iterable[str] | None = None) -> str:
    """The shell to set: nologin by default; else one of /etc/shells or a no-login shell."""
    if shell is None:
        return NOLOGIN
    allowed = set(login_shells() if shells is None else shells) | NO_LOGIN_SHELLS
    if shell not in allowed:
        raise BadRequest(f"shell {shell!r} is not in /etc/shells (nor a no-login shell)",
                         code="invalid_field", detail={"field": "shell"})
    return shell


def check_password(password: str) -> str:
    """A password that chpasswd and smbpasswd take as one line of their input."""
    if not password or len(password.encode()) > MAX_PASSWORD:
        raise BadRequest(f"a password has 1 to {MAX_PASSWORD} bytes (UTF-8)",
                         code="invalid_field", detail={"field": "password"})
    if any(c in password for c in "\n\r\0"):
        raise BadRequest("a password cannot hold a line break or a NUL", code="invalid_field",
                         detail={"field": "password"})
    return password


def _key_error(index: int | None, problem: str) -> BadRequest:
    where = "ssh_keys" if index is None else f"ssh_keys.{index}"
    return BadRequest(f"{where}: {problem}", code="invalid_field", detail={"field": where})


def parse_ssh_key(line: str, index: int | None = None) -> str:
    """One public key as `type base64 [comment]`, checked: a known type, base64 whose blob
    names that same type, a printable comment. No options (`command=...`, `from=...`), no line
    breaks: a key can grant nothing but itself."""
    if len(line) > MAX_KEY:
        raise _key_error(index, "too long")
    if any(c in line for c in "\n\r\0"):
        raise _key_error(index, "a key is one line")
    parts = line.strip().split(None, 2)
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise _key_error(index, "must be 'TYPE BASE64 [comment]' with TYPE one of "
                         + ", ".join(sorted(KEY_TYPES)) + " (options are not accepted)")
    kind, data = parts[0], parts[1]
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise _key_error(index, "the key is not base64") from None
    size = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else -1
    if size != len(kind) or blob[4:4 + size] != kind.encode():
        raise _key_error(index, f"the key's data is not a {kind} key")
    comment = parts[2].strip() if len(parts) == 3 else ""
    if comment and not comment.isprintable():
        raise _key_error(index, "the comment must be printable")
    return " ".join(p for p in (kind, data, comment) if p)


def authorized_keys_path(settings: Settings, name: str) -> Path:
    """Where a user's SFTP public keys are: `{sftp root}/keys/{name}`, root-owned, 0644 (the
    SFTP sshd's `AuthorizedKeysFile {sftp root}/keys/%u`)."""
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"not an account name: {name!r}")
    return settings.sftp_root / "keys" / name


def count_keys(path: Path) -> int:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return 0
    return sum(1 for line in text.splitlines() if line.strip() and not line.startswith("#"))


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


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def _uid_taken(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def _gid_taken(gid: int) -> bool:
    try:
        grp.getgrgid(gid)
    except KeyError:
        return False
    return True


# -- the inventory and its actions -------------------------------------------------------------

class UserFollower(Protocol):
    """What else names users (exports), told when rockd deletes one."""

    async def user_deleted(self, name: str) -> None:
        """Stop naming the user `name`."""


class Users:
    """/users and /groups in the tree, and the actions on them."""

    def __init__(self, tree: Tree, store: Store, settings: Settings, etc: Path = Path("/etc")):
        self.tree = tree
        self.store = store
        self.settings = settings
        self.etc = etc
        self.rescans = Rescanner("accounts", self._scan)
        self.watcher = AccountsWatcher(lambda: self.rescans.request(ALL), etc)
        self.lock = asyncio.Lock()  # one change of the account databases at a time
        self.followers: list[UserFollower] = []  # told of users deleted through rockd

    def tell(self, follower: UserFollower) -> None:
        """Tell `follower` of every user deleted through rockd."""
        self.followers.append(follower)

    @property
    def smb_conf(self) -> Path:
        return self.settings.samba_dir / "smb.conf"

    async def start(self) -> None:
        """Watch first (so no change is missed), then read everything."""
        self.watcher.start()
        self.rescans.start()
        await self.settled()

    async def stop(self) -> None:
        self.watcher.stop()
        await self.rescans.stop()

    async def settled(self) -> None:
        self.rescans.request(ALL)
        await self.rescans.settle()

    async def _scan(self, _key: str) -> None:
        samba = await self._samba_users()
        users, groups = read_accounts(self.settings, samba)
        with self.tree.transaction():
            self.tree.set("/users", users)
            self.tree.set("/groups", groups)

    def _samba_ready(self) -> bool:
        return self.smb_conf.exists() and shutil.which("smbpasswd") is not None

    async def _samba_users(self) -> set[str]:
        """Who has a Samba password (in the passdb of rockd's smb.conf)."""
        if not self.smb_conf.exists() or shutil.which("pdbedit") is None:
            return set()
        result = await run(["pdbedit", "-s", str(self.smb_conf), "-L"], check=False,
                           timeout=30)
        if result.returncode != 0:
            log.warning("pdbedit -L failed: %s", result.stderr.strip())
            return set()
        return {line.split(":", 1)[0] for line in result.stdout.splitlines() if ":" in line}

    def get(self, name: str) -> dict[str, Any]:
        return self.tree.resource("users", name)

    def get_group(self, name: str) -> dict[str, Any]:
        return self.tree.resource("groups", name)

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
                if password is not None:
                    await self._set_password(name, password)
                self._write_keys(name, keys)
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
        if _user_exists(name):
            raise Conflict(f"user {name} exists", code="exists", detail={"user": name})
        wanted = self._groups("group", [group] if group else [])
        wanted += self._groups("groups", groups)
        if not group:  # useradd makes the user a group of its own name
            refuse_privileged("name", name, None, named_groups(self.etc))
        self._refuse_privileged(wanted)
        if uid is not None and _uid_taken(uid):
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
            raise _account_error(exc, name) from None
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
                    raise _account_error(exc, name) from None
            if password is not None:
                await self._set_password(name, password)
            if keys is not None:
                self._write_keys(name, keys)
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
                raise _account_error(exc, name) from None
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
        if self._samba_ready():
            await run(["smbpasswd", "-c", str(self.smb_conf), "-x", name], check=False,
                      timeout=30)
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

    def _write_keys(self, name: str, keys: list[str]) -> None:
        path = authorized_keys_path(self.settings, name)
        if not keys:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o755)  # noqa: S103 -- sshd reads it as the user
        temp = path.with_name(f".{name}.new")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        try:
            os.write(fd, "".join(f"{key}\n" for key in keys).encode())
            os.fchmod(fd, 0o644)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)

    # -- groups --------------------------------------------------------------------------------

    async def create_group(self, name: str, gid: int | None = None) -> dict[str, Any]:
        check_account_name(name, "group")
        if gid is not None and is_system(gid):
            raise BadRequest(f"gid must be from {FIRST_ID} to {LAST_ID}", code="invalid_field",
                             detail={"field": "gid"})
        refuse_privileged("name", name, gid, named_groups(self.etc))
        async with self.lock:
            if _group_exists(name):
                raise Conflict(f"group {name} exists", code="exists", detail={"group": name})
            if gid is not None and _gid_taken(gid):
                raise Conflict(f"gid {gid} is taken", code="exists", detail={"gid": gid})
            argv = ["groupadd"] + (["--gid", str(gid)] if gid is not None else [])
            try:
                await run([*argv, name], timeout=60)
            except CommandError as exc:
                raise _account_error(exc, name) from None
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
                raise _account_error(exc, name) from None
        log.info("deleted group %s", name)
        await self.settled()


def _account_error(exc: CommandError, name: str) -> Exception:
    """A shadow tool's exit status as the API's error (see useradd(8), userdel(8)...)."""
    tool = exc.argv[0]
    if tool in ("useradd", "usermod", "groupadd") and exc.returncode in (4, 9):
        return Conflict(f"{name}: {exc.stderr}", code="exists")
    if tool in ("useradd", "usermod") and exc.returncode == 6:
        return Unprocessable(f"{name}: {exc.stderr}", code="unknown_group")
    if tool == "userdel" and exc.returncode == 8:
        return Conflict(f"user {name} is logged in or runs processes", code="busy")
    if tool == "usermod" and exc.returncode == 8:
        return Conflict(f"user {name} is logged in or runs processes", code="busy")
    if tool == "groupdel" and exc.returncode == 8:
        return Conflict(f"group {name} is a user's primary group", code="in_use")
    return exc
