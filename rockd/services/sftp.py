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

Only users with an SFTP export may log in (AllowUsers). The bind mounts (rockd.services.chroots)
are made to match the exports at every change and at start-up, and all of them are unmounted
when rockd stops.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from rockd.config import Settings
from rockd.core import resources
from rockd.core.errors import BadRequest, Conflict, Unprocessable
from rockd.core.models import Model, Name
from rockd.core.names import valid_name
from rockd.core.process import CommandError, run
from rockd.core.tree import Subtree
from rockd.services.chroots import Bindings, Chroots
from rockd.services.configfile import ConfigFile, Published, render
from rockd.services.exports import Record
from rockd.services.units import SEARCH_PATH, Services
from rockd.watchers.inotify import Inotify

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


class SftpExports:
    """The "sftp" export kind: sshd_config (published at /configs/sftp through `config`, the
    handle of that entry, with who may log in), sshd and the chroots."""

    kind: ClassVar[str] = "sftp"
    create_model: ClassVar[type[Model]] = SftpCreate
    update_model: ClassVar[type[Model]] = SftpUpdate
    resource: ClassVar[Any] = resources.SftpExport

    def __init__(self, settings: Settings, config: Subtree, inotify: Inotify | None = None,
                 services: Services | None = None):
        self.settings = settings
        self.services = services
        self.root = settings.sftp_root
        self.chroot = chroot_dir(settings)
        self.chroots = Chroots(self.chroot)
        self.file = ConfigFile(config_path(settings), inotify)
        self.config = Published(self.file, config, self.kind, users=[], warnings=[])
        self._lock = asyncio.Lock()

    @staticmethod
    def defaults(record: Record, share: Record) -> Record:
        return record

    @staticmethod
    def without_user(record: Record, user: str) -> Record | None:
        """The changes that take a deleted user out of the export; None: the export goes."""
        if user not in record["users"]:
            return {}
        left = [u for u in record["users"] if u != user]
        return {"users": left} if left else None

    def shares_changed(self) -> None:
        """Nothing of SFTP follows shares beyond what `apply` is given."""

    # -- checking ----------------------------------------------------------------------------

    def check(self, export: Record, others: Sequence[Record]) -> None:
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
        for other in others:
            if other["share"] == export["share"]:
                continue
            clash = sorted(set(users) & set(other["users"]))
            if clash and other.get("share_name") == export["share_name"]:
                raise Conflict(f"{', '.join(clash)} already reach another share named "
                               f"{export['share_name']} (export {other['id']})",
                               code="exists", detail={"export": other["id"], "users": clash})

    # -- applying ----------------------------------------------------------------------------

    @staticmethod
    def _bindings(exports: list[Record]) -> Bindings:
        """user -> {share name -> share path}, for the users that exist now."""
        bindings: Bindings = {}
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

    async def apply(self, exports: list[Record]) -> None:
        async with self._lock:
            bindings = self._bindings(exports)
            mark = self.file.mark()
            if not exports and mark.content is None:
                self.file.expect(None)  # SFTP never used here: no sshd_config, no host key
                await self.chroots.unbind({})
                self.config.publish(users=[])
                return
            await self._prepare()
            text = render_sshd_config(self.settings, list(bindings))
            changed = await self.file.replace(text.encode(), check=self._sshd_check)
            added: list[str] = []
            try:
                added = await self.chroots.bind(bindings)
                await self._serve(bool(bindings), changed)
            except BaseException:
                if changed:
                    await self.file.restore(mark)
                    await self._reload_quietly()
                await self.chroots.undo(added)
                raise
            await self.chroots.unbind(bindings)
            self.config.publish(users=sorted(bindings))

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
        self.config.status["warnings"] = warnings
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

    # -- starting and stopping ------------------------------------------------------------------

    async def start(self) -> None:
        self.config.start()

    async def stop(self) -> None:
        """End the SFTP sessions and unmount every share from the chroots: neither a mount nor a
        session inside one outlives rockd."""
        self.config.stop()
        async with self._lock:
            await self.chroots.release()
