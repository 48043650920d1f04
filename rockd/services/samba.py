"""Samba: the "smb" export kind. Shares offered to SMB clients, rendered into smb.conf.

The whole smb.conf is rendered from templates/smb.conf.j2: a [global] section for a
standalone NAS (tdbsam passwords, `smb ports` from the settings; a Samba folder other than
/etc/samba is a private instance: its own private, lock, state, cache, pid and ncalrpc folders
and log under it, serving loopback only) and one section per export. A candidate is written
beside the live file, checked with `testparm -s`, renamed over it, and smbd is reloaded (or
started, when there is an export to serve); if that fails, the previous file is put back.

Every value written is checked first: a name, comment or path holding a line break, '%' (a
Samba macro), a bracket or a backslash (which continues a line) is refused, so nothing can
inject a section or a parameter.

Previous versions: a section with them points `shadow:snapdir` at the share's folder of @GMT
links (rockd.services.previous), which are synced before the configuration goes live and again
whenever shares or snapshots change.

Drift: the Samba folder is watched (inotify); when smb.conf differs from what rockd last wrote,
/configs/smb says {"drift": true} until rockd next writes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import logging
import pwd
import re
import shutil
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from rockd.config import Settings
from rockd.core import resources
from rockd.core.errors import BadRequest, Conflict, InvalidName, Unprocessable
from rockd.core.models import Model, Name
from rockd.core.process import run
from rockd.core.tree import Subtree
from rockd.services import configfile
from rockd.services.configfile import ConfigFile, Published
from rockd.services.exports import Record
from rockd.services.previous import GMT_FORMAT, PreviousVersions, previous_dir
from rockd.services.units import SEARCH_PATH, Services
from rockd.watchers.inotify import Inotify

log = logging.getLogger(__name__)

CONF = "smb.conf"
SYSTEM_DIR = Path("/etc/samba")
HEADER = b"# rockd: "
WORKGROUP = "WORKGROUP"
# a section name: what Windows takes in a share name, minus what smb.conf gives a meaning to;
# a trailing '$' hides it from browsing, as on Windows
SHARE_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9 ._-]{0,78}[A-Za-z0-9._$-])?$")
RESERVED = frozenset({"global", "homes", "printers", "print$", "ipc$"})
UNSAFE = re.compile(r"[\x00-\x1f\x7f%\\]")  # line breaks and controls, macros, continuation
MAX_COMMENT = 256

# -- what may be written ----------------------------------------------------------------------

def valid_share_name(name: str) -> bool:
    return bool(SHARE_NAME.fullmatch(name)) and name.casefold() not in RESERVED


def valid_comment(comment: str) -> bool:
    return (len(comment) <= MAX_COMMENT and comment.isprintable()
            and not any(c in comment for c in "%[]\\"))


def safe_path(path: str) -> bool:
    return path.startswith("/") and not UNSAFE.search(path) and path == path.strip()


def _check_share_name(value: str) -> str:
    if not valid_share_name(value):
        raise PydanticCustomError(
            "invalid_name", "an SMB share name is 1 to 80 letters, digits, spaces, '.', '_' or "
            "'-' (a '$' at the end hides it); not global, homes, printers, print$ or ipc$")
    return value


def _check_comment(value: str) -> str:
    if not valid_comment(value):
        raise PydanticCustomError(
            "invalid_comment", f"a comment is up to {MAX_COMMENT} printable characters, "
            "without '%', '[', ']' or '\\'")
    return value


ShareName = Annotated[str, AfterValidator(_check_share_name),
                      WithJsonSchema({"type": "string", "pattern": SHARE_NAME.pattern,
                                      "maxLength": 80})]
Comment = Annotated[str, AfterValidator(_check_comment),
                    WithJsonSchema({"type": "string", "maxLength": MAX_COMMENT})]
Names = Field(default=None, max_length=256)


class SmbUpdate(Model):
    name: ShareName | None = None
    comment: Comment | None = None
    browseable: bool | None = None
    read_only: bool | None = None
    guest_ok: bool | None = None
    valid_users: list[Name] | None = Names
    valid_groups: list[Name] | None = Names
    previous_versions: bool | None = None


class SmbCreate(Model):
    share: str = Field(max_length=64)
    name: ShareName | None = None  # the share's own name
    comment: Comment = ""
    browseable: bool = True
    read_only: bool = False
    guest_ok: bool = False
    valid_users: list[Name] = Field(default_factory=list, max_length=256)
    valid_groups: list[Name] = Field(default_factory=list, max_length=256)
    previous_versions: bool = True


DEFAULTS: dict[str, Any] = {"name": None, "comment": "", "browseable": True,
                            "read_only": False, "guest_ok": False, "valid_users": [],
                            "valid_groups": [], "previous_versions": True}


def normal(export: dict[str, Any]) -> dict[str, Any]:
    """The export with every field set (a PATCH may have set one to null: its default)."""
    fields = {k: export.get(k) if export.get(k) is not None else v for k, v in DEFAULTS.items()}
    fields["name"] = fields["name"] or export["share_name"]
    return {**export, **fields}


# -- rendering ------------------------------------------------------------------------------------

def _safe(value: str, what: str) -> str:
    if UNSAFE.search(value) or value != value.strip():
        raise Unprocessable(f"{what} {value!r} cannot be written into smb.conf",
                            code="unsafe_value")
    return value


def isolated(settings: Settings) -> bool:
    """A Samba folder of its own: a private instance (tests) rather than the system's."""
    return settings.samba_dir.resolve() != SYSTEM_DIR


def state_dirs(settings: Settings) -> dict[str, Path]:
    base = settings.samba_dir
    return {name: base / name for name in ("private", "lock", "state", "cache", "pid",
                                           "ncalrpc", "log")}


def yes(value: bool) -> str:
    return "yes" if value else "no"


def netbios_name(hostname: str) -> str:
    """The hostname's first label as a NetBIOS name: at most 15 characters (Samba's own
    default when none is set), or none where that leaves nothing safe."""
    name = hostname.split(".")[0][:15].rstrip("-").upper()
    return name if re.fullmatch(r"[A-Z0-9][A-Z0-9-]*", name) else ""


def render(settings: Settings, exports: list[dict[str, Any]],
           hostname: str | None = None) -> str:
    """smb.conf serving exactly `exports` (each with every field: see `normal`); Windows
    shows `hostname` (the host's, by default) as the server's name and comment."""
    hostname = hostname or socket.gethostname()
    shares = []
    for e in exports:
        name = e["name"]
        if not valid_share_name(name):
            raise Unprocessable(f"{name!r} cannot be an SMB share name", code="unsafe_value")
        if not valid_comment(e["comment"]):
            raise Unprocessable("the comment cannot be written into smb.conf",
                                code="unsafe_value")
        path = _safe(e["path"], "path")
        users = [_safe(u, "user") for u in e["valid_users"]]
        users += [f"@{_safe(g, 'group')}" for g in e["valid_groups"]]
        snapdir = None
        if e["previous_versions"]:
            snapdir = _safe(str(previous_dir(path, e["share_name"])), "path")
        shares.append({
            "id": _safe(e["id"], "id"), "name": name, "path": path,
            "comment": e["comment"].strip(), "browseable": yes(e["browseable"]),
            "read_only": yes(e["read_only"]), "guest_ok": yes(e["guest_ok"]),
            "valid_users": " ".join(users), "snapdir": snapdir,
        })
    dirs = {k: _safe(str(v), "path") for k, v in state_dirs(settings).items()}
    return configfile.render(
        "smb.conf.j2", workgroup=WORKGROUP, port=int(settings.smb_port),
        isolated=isolated(settings), dirs=dirs, guests=any(e["guest_ok"] for e in exports),
        shares=shares, gmt_format=GMT_FORMAT, netbios_name=netbios_name(hostname),
        server_string=_safe(f"rockd on {hostname}", "hostname"))


async def testparm(path: Path) -> None:
    """Refuse a configuration Samba would not load as written (testparm -s)."""
    binary = shutil.which("testparm", path=SEARCH_PATH)
    if binary is None:
        raise Unprocessable("Samba is not installed (no testparm)", code="unavailable")
    result = await run([binary, "-s", str(path)], check=False, timeout=30)
    refused = [line for line in result.stderr.splitlines()
               if "Unknown parameter" in line or "Ignoring unknown" in line
               or line.startswith("ERROR")]
    if result.returncode != 0 or refused:
        said = refused or result.stderr.strip().splitlines()[-1:] or ["refused"]
        raise Unprocessable(f"testparm refused the Samba configuration: {'; '.join(said)}",
                            code="config_refused")


# -- the export kind ------------------------------------------------------------------------------

class SambaKind:
    """The "smb" exports: smb.conf (published at /configs/smb through `config`, the handle of
    that entry), smbd and the previous-version links."""

    kind: ClassVar[str] = "smb"
    create_model: ClassVar[type[Model]] = SmbCreate
    update_model: ClassVar[type[Model]] = SmbUpdate
    resource: ClassVar[Any] = resources.SmbExport

    def __init__(self, settings: Settings, config: Subtree, inotify: Inotify | None = None,
                 services: Services | None = None):
        self.settings = settings
        self.services = services
        self.file = ConfigFile(settings.samba_dir / CONF, inotify)
        self.config = Published(self.file, config, self.kind, managed=True)
        self.exports: list[Record] = []  # what is served
        self.previous = PreviousVersions(config, lambda: self.exports)
        self.hostname: str | None = None  # as the host part last said (None: the kernel's)
        self._rewrite: asyncio.Task[None] | None = None

    # -- the facade's calls -----------------------------------------------------------------

    def check(self, export: Record, others: Sequence[Record]) -> None:
        e = normal(export)
        if not valid_share_name(e["name"]):
            raise InvalidName(f"{e['name']!r} cannot be an SMB share name: give a name",
                              detail={"field": "name"})
        if not valid_comment(e["comment"]):
            raise BadRequest("the comment cannot be written into smb.conf",
                             code="invalid_field", detail={"field": "comment"})
        if not safe_path(e["path"]):
            raise BadRequest(f"the share's path {e['path']!r} cannot be written into smb.conf",
                             code="invalid_path", detail={"share": e["share"]})
        taken = {(o.get("name") or o.get("share_name") or "").casefold() for o in others}
        if e["name"].casefold() in taken:
            raise Conflict(f"an SMB share {e['name']} exists", code="exists",
                           detail={"name": e["name"], "field": "name"})
        for what, lookup, names in (("user", pwd.getpwnam, e["valid_users"]),
                                    ("group", grp.getgrnam, e["valid_groups"])):
            for name in names:
                try:
                    lookup(name)
                except KeyError:
                    raise Unprocessable(f"There is no {what} {name}", code=f"unknown_{what}",
                                        detail={what: name, "field": f"valid_{what}s"}) from None

    @staticmethod
    def without_user(record: Record, user: str) -> Record | None:
        """The changes that take a deleted user out of the export's valid users; None (the
        export goes) where no one would be left, since no valid users means everyone."""
        users = record.get("valid_users") or []
        if user not in users:
            return {}
        left = [u for u in users if u != user]
        return {"valid_users": left} if left or record.get("valid_groups") else None

    @staticmethod
    def defaults(record: Record, share: Record) -> Record:
        """The record with the defaults that depend on its share filled in (the SMB name is
        the share's name unless one is given), for the facade to save and show."""
        return {**record, "name": record.get("name") or share["name"]}

    async def start(self) -> None:
        self.config.start()
        self.previous.start()

    async def stop(self) -> None:
        self.config.stop()
        await self.previous.stop()

    def shares_changed(self) -> None:
        self.previous.shares_changed()

    def hostname_changed(self, hostname: str) -> None:
        """The host's `HostnameFollower`: smb.conf names the server again, if rockd wrote it."""
        if hostname == self.hostname:
            return
        self.hostname = hostname
        live = self.file.read()
        if live is not None and live.startswith(HEADER) and self.exports:
            self._rewrite = asyncio.create_task(self._apply_again(), name="smb-hostname")

    async def _apply_again(self) -> None:
        try:
            await self.apply(self.exports)
        except Exception as exc:
            log.error("smb.conf was not written again with the new hostname: %s", exc)

    async def apply(self, exports: list[Record]) -> None:
        exports = [normal(e) for e in exports]
        text = render(self.settings, exports, self.hostname).encode()
        live = self.file.read()
        if not exports and (
                (live is not None and not live.startswith(HEADER) and not isolated(self.settings))
                or shutil.which("testparm", path=SEARCH_PATH) is None):
            # the system's own smb.conf (or no Samba at all), and nothing to export: left alone
            log.info("no SMB export: %s left as it is", self.file.path)
            self.exports = exports
            self.config.publish()
            return
        self._make_dirs()
        if live is not None and not live.startswith(HEADER):
            self._keep_original(live)
        before, mark = self.exports, self.file.mark()
        await self.previous.sync(exports)
        try:
            changed = await self.file.replace(text, check=testparm)
        except BaseException:
            await self.previous.sync(before)
            raise
        self.exports = exports
        try:
            await self._serve(bool(exports))
        except Exception as exc:
            log.error("smbd did not take the new configuration (%s); putting back the last",
                      exc)
            self.exports = before
            if changed:
                await self.file.restore(mark)
                with contextlib.suppress(Exception):
                    await self._serve(bool(before))
            await self.previous.sync(before)
            raise
        finally:
            self.config.publish()
        if changed:
            log.info("wrote %s (%d SMB exports)", self.file.path, len(exports))

    def _keep_original(self, live: bytes) -> None:
        """The smb.conf rockd first replaces (the distribution's, or one made by hand) is
        kept beside it, once, as smb.conf.before-rockd."""
        kept = self.file.path.with_name(f"{CONF}.before-rockd")
        if not kept.exists():
            kept.write_bytes(live)
            log.info("kept the previous %s as %s", self.file.path, kept)

    def _make_dirs(self) -> None:
        if not isolated(self.settings):
            return
        for name, path in state_dirs(self.settings).items():
            path.mkdir(parents=True, exist_ok=True, mode=0o700 if name == "private" else 0o755)

    async def _serve(self, wanted: bool) -> None:
        """Have smbd read the configuration: started if there is something to serve."""
        if self.services is None:
            return
        if wanted:
            await self.services.ensure_running("smbd")
        elif self.services.state("smbd").get("active") in ("active", "reloading"):
            await self.services.reload("smbd")
