"""SFTP exports: per share, the users who may reach it over SFTP, served by rockd's own OpenSSH
sshd (service "sshd", on Settings.sftp_port) that offers nothing but SFTP, each user locked in a
chroot that holds bind mounts of their shares.

Everything lives under Settings.sftp_root:

    sshd_config                 rendered from sshd_config.j2, checked with `sshd -t` first
    ssh_host_ed25519_key[.pub]  made once with ssh-keygen
    sshd.pid
    keys/{user}                 the user's authorized keys (rockd's users API writes them)
    chroot/{user}/              root-owned 0755: the user's "/" (sshd's ChrootDirectory)
    chroot/{user}/{share name}  a bind mount of the share's subvolume

Only users with an SFTP export may log in (AllowUsers). The bind mounts are made to match the
exports at every change and at start-up (what is there and right is left alone, anything else
under chroot/ is unmounted) and all of them are unmounted when rockd stops: none outlives it.
A user who loses a share is disconnected first (their sessions are the processes whose root is
their chroot), so that no session keeps a share it lost through a mount held busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pwd
import re
import shutil
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from rockd.config import Settings
from rockd.core import mountinfo
from rockd.core.errors import BadRequest, Conflict, Unprocessable
from rockd.core.models import Model, Name
from rockd.core.names import valid_name
from rockd.core.process import CommandError, run
from rockd.services.configfile import ConfigFile, render
from rockd.services.units import SEARCH_PATH, Services

if TYPE_CHECKING:
    from rockd.core.tree import Tree
    from rockd.handlers.context import Context

log = logging.getLogger(__name__)

SERVICE = "sftp"
PRIVSEP_DIR = Path("/run/sshd")  # sshd will not start without its privilege separation folder
FIRST_UID = 1000  # below: system accounts, which are not offered
NOBODY_UID = 65534
MAX_USERS = 256
LISTEN_HOST = re.compile(r"[A-Za-z0-9.:_-]*")
PLAIN_PATH = re.compile(r"/[A-Za-z0-9/._+-]*")  # nothing sshd_config would quote or expand


class SftpUpdate(Model):
    users: list[Name] | None = Field(default=None, min_length=1,
                                     max_length=MAX_USERS)  # null: refused by check


class SftpCreate(SftpUpdate):
    share: str
    users: list[Name] = Field(min_length=1, max_length=MAX_USERS)


# -- where things are ------------------------------------------------------------------------

def config_path(settings: Settings) -> Path:
    return settings.sftp_root / "sshd_config"


def host_key_path(settings: Settings) -> Path:
    return settings.sftp_root / "ssh_host_ed25519_key"


def keys_dir(settings: Settings) -> Path:
    """Where each user's authorized keys are, one file per user name."""
    return settings.sftp_root / "keys"


def chroot_dir(settings: Settings) -> Path:
    return settings.sftp_root / "chroot"


def listen_address(settings: Settings) -> str:
    """sshd listens where rockd's API does: the one setting that says which network a box
    serves (127.0.0.1 for a test or a box behind a proxy, 0.0.0.0 or :: for its LAN)."""
    host = settings.host or "0.0.0.0"  # noqa: S104 -- rockd itself listens on every address
    if not LISTEN_HOST.fullmatch(host):
        raise Unprocessable(f"cannot listen on {host!r}", code="invalid_config")
    return f"[{host}]:{settings.sftp_port}" if ":" in host else f"{host}:{settings.sftp_port}"


def render_sshd_config(settings: Settings, users: list[str]) -> str:
    if not PLAIN_PATH.fullmatch(str(settings.sftp_root)):
        raise Unprocessable(f"the SFTP folder {settings.sftp_root} must be an absolute path of "
                            "letters, digits and / . _ + -", code="invalid_config")
    for user in users:
        if not valid_name(user):
            raise BadRequest(f"{user!r} is not a valid user name", code="invalid_name")
    return render("sshd_config.j2", port=settings.sftp_port, listen=listen_address(settings),
                  host_key=host_key_path(settings), pid_file=settings.sftp_root / "sshd.pid",
                  keys_dir=keys_dir(settings), chroot_dir=chroot_dir(settings),
                  users=sorted(set(users)))


def account_problem(name: str) -> BadRequest | Unprocessable | None:
    """Why `name` cannot be given SFTP access (None: it can)."""
    try:
        account = pwd.getpwnam(name)
    except KeyError:
        return Unprocessable(f"no user {name}", code="unknown_user", detail={"user": name})
    if account.pw_uid < FIRST_UID or account.pw_uid == NOBODY_UID:
        return BadRequest(f"{name} is a system account (uid {account.pw_uid})",
                          code="system_account", detail={"user": name})
    return None


# -- mounts ------------------------------------------------------------------------------------

def shows(target: Path, source: str) -> bool:
    """Whether `target` is the root of `source` (a subvolume has its own st_dev)."""
    try:
        a, b = os.stat(target), os.stat(source)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


async def unmount(target: str) -> None:
    """Unmount `target`; one held busy (a session inside it) is detached lazily instead."""
    try:
        await run(["umount", target])
    except CommandError as exc:
        log.warning("%s is busy (%s); detaching it lazily", target, exc.stderr)
        await run(["umount", "--lazy", target])


def sessions_in(root: Path) -> list[int]:
    """The processes chrooted at or below `root`: SFTP sessions (by /proc/PID/root)."""
    prefix = str(root)
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                where = os.readlink(f"/proc/{entry.name}/root")
            except OSError:
                continue
            if where == prefix or where.startswith(prefix + "/"):
                found.append(int(entry.name))
    return found


async def end_sessions(root: Path, grace: float = 3.0) -> int:
    """End the SFTP sessions chrooted below `root` (SIGTERM, then SIGKILL after `grace` s),
    waiting for each to exit through a pidfd: nothing polls. Answers how many there were."""
    loop = asyncio.get_running_loop()
    waits: list[tuple[int, int, asyncio.Future]] = []
    for pid in sessions_in(root):
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            continue  # gone already
        gone = loop.create_future()

        def exited(fd: int = fd, gone: asyncio.Future = gone) -> None:
            loop.remove_reader(fd)  # a pidfd stays readable once its process is gone
            if not gone.done():
                gone.set_result(None)

        loop.add_reader(fd, exited)
        waits.append((pid, fd, gone))
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(fd, signal.SIGTERM)
    try:
        if waits:
            _, pending = await asyncio.wait([g for _, _, g in waits], timeout=grace)
            for pid, fd, gone in waits:
                if gone in pending:
                    log.warning("SFTP session %d did not end on SIGTERM; killing it", pid)
                    with contextlib.suppress(ProcessLookupError):
                        signal.pidfd_send_signal(fd, signal.SIGKILL)
            if pending:
                await asyncio.wait(pending, timeout=grace)
    finally:
        for _, fd, _ in waits:
            loop.remove_reader(fd)
            os.close(fd)
    return len(waits)


def _root_dir(path: Path) -> None:
    """`path` as a root-owned 0755 folder (what sshd demands of a chroot)."""
    path.mkdir(mode=0o755, exist_ok=True)
    os.chown(path, 0, 0)
    os.chmod(path, 0o755)  # noqa: S103 -- a chroot must be root's and open to its user


class SftpExports:
    """The "sftp" export kind."""

    kind = "sftp"
    create_model = SftpCreate
    update_model = SftpUpdate

    @staticmethod
    def without_user(record: dict[str, Any], user: str) -> dict[str, Any] | None:
        """The changes that take a deleted user out of the export; None: the export goes."""
        if user not in record["users"]:
            return {}
        left = [u for u in record["users"] if u != user]
        return {"users": left} if left else None

    def __init__(self, settings: Settings, services: Services | None = None):
        self.settings = settings
        self.services = services
        self.root = settings.sftp_root
        self.chroot = chroot_dir(settings)
        self.config = ConfigFile(config_path(settings))
        self.tree: Tree | None = None
        self.status: dict[str, Any] = {"path": str(self.config.path), "drift": False,
                                       "users": [], "warnings": []}
        self._lock = asyncio.Lock()

    # -- checking ----------------------------------------------------------------------------

    def check(self, export: dict[str, Any], ctx: Context) -> None:
        users = export.get("users")
        if not users:
            raise BadRequest("users: at least one user is needed", code="invalid_field")
        twice = sorted({u for u in users if users.count(u) > 1})
        if twice:
            raise BadRequest(f"users: {', '.join(twice)} given more than once",
                             code="invalid_field", detail={"users": twice})
        for user in users:
            problem = account_problem(user)
            if problem is not None:
                raise problem
        if not valid_name(export["share_name"]):
            raise Unprocessable(f"share {export['share_name']!r} has a name that cannot be a "
                                "folder of a chroot", code="invalid_name")
        for other in (ctx.tree.get(("exports", self.kind)) or {}).values():
            if other["id"] == export["id"] or other["share"] == export["share"]:
                continue
            clash = sorted(set(users) & set(other["users"]))
            if clash and other.get("share_name") == export["share_name"]:
                raise Conflict(f"{', '.join(clash)} already reach another share named "
                               f"{export['share_name']} (export {other['id']})",
                               code="exists", detail={"export": other["id"], "users": clash})

    # -- applying ----------------------------------------------------------------------------

    def _bindings(self, exports: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
        """user -> {share name -> share path}, for the users that exist now."""
        bindings: dict[str, dict[str, str]] = {}
        for export in sorted(exports, key=lambda e: e["id"]):
            name = export["share_name"]
            if not valid_name(name):
                log.warning("SFTP export %s: share name %r cannot be a folder; left out",
                            export["id"], name)
                continue
            for user in export["users"]:
                problem = (account_problem(user) if valid_name(user)
                           else BadRequest(f"{user!r} is not a user name"))
                if problem is not None:
                    log.warning("SFTP export %s: %s; left out", export["id"], problem.message)
                    continue
                mine = bindings.setdefault(user, {})
                if mine.setdefault(name, export["path"]) != export["path"]:
                    log.warning("SFTP export %s: %s already has a share named %s; left out",
                                export["id"], user, name)
        return bindings

    async def apply(self, exports: list[dict[str, Any]]) -> None:
        async with self._lock:
            bindings = self._bindings(exports)
            previous = self.config.read()
            if not exports and previous is None:
                self.config.expect(None)  # SFTP never used here: no sshd_config, no host key
                await self._unbind({})
                self._publish(users=[])
                return
            await self._prepare()
            text = render_sshd_config(self.settings, list(bindings))
            changed = await self.config.replace(text.encode(), check=self._sshd_check)
            added: list[str] = []
            try:
                added = await self._bind(bindings)
                await self._serve(bool(bindings), changed)
            except BaseException:
                if changed:
                    await self.config.restore(previous)
                    await self._reload_quietly()
                for target in reversed(added):
                    with contextlib.suppress(CommandError):
                        await unmount(target)
                raise
            await self._unbind(bindings)
            self._publish(users=sorted(bindings))

    async def _prepare(self) -> None:
        """The folders, sshd's privilege separation folder and the host key."""
        for folder in (self.root, keys_dir(self.settings), self.chroot):
            if not folder.is_dir():
                folder.mkdir(mode=0o755, parents=True)
                os.chmod(folder, 0o755)  # noqa: S103 -- users' sshd reads their keys here
        for folder in (self.chroot, *self.chroot.parents):
            st = os.stat(folder)
            if st.st_uid != 0 or st.st_mode & 0o022:
                raise Unprocessable(
                    f"{folder} must be owned by root and writable by no one else: sshd refuses "
                    f"chroots below it (set --sftp-dir elsewhere)", code="unsafe_path",
                    detail={"path": str(folder)})
        warnings = []
        for folder in (keys_dir(self.settings), *keys_dir(self.settings).parents):
            if not os.stat(folder).st_mode & 0o001:
                warnings.append(f"{folder} is closed to other users, so sshd (which reads a "
                                "user's keys as that user) cannot read SSH keys: only "
                                "passwords work")
                break
        self.status["warnings"] = warnings
        for warning in warnings:
            log.warning("SFTP: %s", warning)
        os.makedirs(PRIVSEP_DIR, mode=0o755, exist_ok=True)
        key = host_key_path(self.settings)
        if not key.exists():
            await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "rockd-sftp",
                       "-f", str(key)])
            log.info("made the SFTP host key %s", key)

    @staticmethod
    def _sshd() -> str:
        sshd = shutil.which("sshd", path=SEARCH_PATH)
        if sshd is None:
            raise Unprocessable("sshd is not installed (Debian: openssh-server)",
                                code="unavailable")
        return sshd

    async def _sshd_check(self, candidate: Path) -> None:
        try:
            await run([self._sshd(), "-t", "-f", str(candidate)])
        except CommandError as exc:
            raise Unprocessable(f"sshd refused the configuration: {exc.stderr}",
                                code="invalid_config") from None

    async def _serve(self, wanted: bool, changed: bool) -> None:
        """sshd runs (with this configuration) while anyone may use it; once nobody may, a
        running one reads the configuration that lets nobody in."""
        if self.services is None:
            return
        active = self.services.state(SERVICE)["active"]
        running = active in ("active", "reloading", "activating")
        if wanted and not running:
            await self.services.ensure_running(SERVICE)
        elif changed and running:
            await self.services.reload(SERVICE)

    async def _reload_quietly(self) -> None:
        if self.services is None:
            return
        try:
            if self.services.state(SERVICE)["active"] == "active":
                await self.services.reload(SERVICE)
        except Exception as exc:
            log.error("sshd did not take its previous configuration back: %s", exc)

    async def _bind(self, bindings: dict[str, dict[str, str]]) -> list[str]:
        """Mount each user's shares into their chroot; answers the mounts made."""
        added: list[str] = []
        try:
            for user, shares in sorted(bindings.items()):
                home = self.chroot / user
                _root_dir(home)
                for name, source in sorted(shares.items()):
                    target = home / name
                    present = mountinfo.targets_under(target)
                    if len(present) == 1 and shows(target, source):
                        continue
                    for stale in present:
                        await unmount(stale)
                    if not target.is_dir():
                        target.mkdir(mode=0o755)
                    await run(["mount", "--bind", source, str(target)])
                    added.append(str(target))
        except CommandError as exc:
            for target in reversed(added):
                with contextlib.suppress(CommandError):
                    await unmount(target)
            raise Unprocessable(f"a share could not be mounted into a chroot: {exc.stderr}",
                                code="apply_failed") from None
        return added

    async def _unbind(self, bindings: dict[str, dict[str, str]]) -> None:
        """Unmount whatever is under chroot/ and not wanted; remove the emptied folders."""
        if not self.chroot.is_dir():
            return
        wanted = {str(self.chroot / user / name)
                  for user, shares in bindings.items() for name in shares}
        unwanted = [t for t in mountinfo.targets_under(self.chroot) if t not in wanted]
        # whoever loses a share is disconnected first: no session keeps a share it lost
        for user in sorted({Path(t).relative_to(self.chroot).parts[0] for t in unwanted
                            if Path(t) != self.chroot}):
            ended = await end_sessions(self.chroot / user)
            if ended:
                log.info("ended %d SFTP sessions of %s, who lost a share", ended, user)
        for target in unwanted:
            await unmount(target)
        for home in self.chroot.iterdir():
            if not home.is_dir() or home.is_symlink():
                continue
            for entry in home.iterdir():
                if str(entry) not in wanted and entry.is_dir() and not entry.is_mount():
                    with contextlib.suppress(OSError):
                        entry.rmdir()  # only ever an empty mount point: never a recursive rm
            if home.name not in bindings:
                with contextlib.suppress(OSError):
                    home.rmdir()

    def _publish(self, **values: Any) -> None:
        self.status = {**self.status, "drift": self.config.drift, **values}
        if self.tree is not None:
            self.tree.set(("configs", self.kind), dict(self.status))

    # -- starting and stopping ------------------------------------------------------------------

    async def start(self, ctx: Context) -> None:
        self.tree = ctx.tree.own(("configs", self.kind), f"services.{self.kind}")
        self.config.watch(self._changed)

    def _changed(self) -> None:
        drift = self.config.drift
        if drift != self.status["drift"]:
            if drift:
                log.warning("%s was changed by hand: rockd replaces it at the next change of "
                            "an SFTP export", self.config.path)
            self._publish()

    async def stop(self) -> None:
        """End the SFTP sessions and unmount every share from the chroots: neither a mount nor a
        session inside one outlives rockd."""
        self.config.unwatch()
        async with self._lock:
            await end_sessions(self.chroot)
            for target in mountinfo.targets_under(self.chroot):
                try:
                    await unmount(target)
                except CommandError as exc:
                    log.error("could not unmount %s: %s", target, exc.stderr)
