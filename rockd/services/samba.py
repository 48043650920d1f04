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

Previous versions: vfs_shadow_copy2 finds a share's snapshots by a name it can parse as a
time, and rockd's snapshot names are free-form (`auto-{schedule}-{stamp}` for scheduled ones,
anything for the others). So each exported share with previous versions gets a folder of
symbolic links named as shadow_copy2 expects by default, one per snapshot, at the snapshot's
creation time (UTC):

    {pool}/.snapshots/.previous-versions/{share}/@GMT-2024.01.31-23.59.00
        -> ../../{share}/{snapshot name}

and the section points `shadow:snapdir` there. Scheduled, manual and hand-made snapshots all
appear, named by when they were taken, and nothing about snapshot naming changes. The links
follow /snapshots in the tree (every snapshot made or deleted, by rockd or by hand, changes
it): a revision that touches /snapshots or /shares makes one coalesced sync. Where two
snapshots were taken in the same second, the first (by name) is offered.

Drift: the Samba folder is watched (inotify); when smb.conf differs from what rockd last wrote,
/configs/smb says {"drift": true} until rockd next writes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import logging
import os
import pwd
import re
import secrets
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from rockd.config import Settings
from rockd.core.errors import BadRequest, Conflict, InvalidName, Unprocessable
from rockd.core.models import Model, Name
from rockd.core.process import run
from rockd.core.rescan import Rescanner
from rockd.core.tree import Revision, Tree
from rockd.services import configfile
from rockd.services.configfile import ConfigFile
from rockd.services.units import SEARCH_PATH

if TYPE_CHECKING:
    from rockd.handlers.context import Context
    from rockd.services.units import Services

log = logging.getLogger(__name__)

CONF = "smb.conf"
SYSTEM_DIR = Path("/etc/samba")
HEADER = b"# rockd: "
GMT_FORMAT = "@GMT-%Y.%m.%d-%H.%M.%S"  # shadow_copy2's default shadow:format
PREVIOUS = ".previous-versions"  # in a pool's .snapshots folder
SNAPSHOTS = ".snapshots"
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


# -- previous versions --------------------------------------------------------------------------

def gmt_token(created: str | None) -> str | None:
    """A snapshot's creation time (RFC 3339, UTC) as shadow_copy2's @GMT name."""
    if not created:
        return None
    try:
        when = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
    return when.strftime(GMT_FORMAT)


def previous_dir(share_path: str | Path, share_name: str) -> Path:
    """Where the @GMT links of a share are: beside its snapshots, in its pool."""
    return Path(share_path).parent / SNAPSHOTS / PREVIOUS / share_name


def link_targets(snapshots: list[dict[str, Any]], share_name: str) -> dict[str, str]:
    """@GMT name -> relative link target, for one share's snapshots (the first of a second)."""
    links: dict[str, str] = {}
    for snap in sorted(snapshots, key=lambda s: (s.get("created") or "", s["name"])):
        token = gmt_token(snap.get("created"))
        if token is not None and token not in links and "/" not in snap["name"]:
            links[token] = f"../../{share_name}/{snap['name']}"
    return links


def sync_links(folder: Path, targets: dict[str, str]) -> None:
    """Make `folder` hold exactly these symbolic links (anything else in it is left alone)."""
    folder.mkdir(parents=True, exist_ok=True)
    present: dict[str, str] = {}
    for entry in os.scandir(folder):
        if entry.is_symlink():
            present[entry.name] = os.readlink(entry.path)
    for name, target in present.items():
        if targets.get(name) != target:
            os.unlink(folder / name)
    for name, target in targets.items():
        if present.get(name) != target:
            temp = folder / f".{name}.{secrets.token_hex(4)}"
            os.symlink(target, temp)
            os.replace(temp, folder / name)


def remove_links(folder: Path) -> None:
    """Remove a folder of links (only links: anything else keeps it)."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if entry.is_symlink():
                os.unlink(entry.path)
        folder.rmdir()


def sync_previous(exports: list[dict[str, Any]], snapshots: list[dict[str, Any]],
                  pool_roots: list[str],
                  mounted: Callable[[Path], bool] = os.path.ismount) -> None:
    """The @GMT link folders of exactly the exports with previous versions (in a thread).

    Only mounted pools are touched: the folder of a pool that is not mounted is the mount point
    on the system's own disk, and nothing is written there."""
    roots = {root for root in (Path(os.path.realpath(r)) for r in pool_roots) if mounted(root)}
    wanted: dict[Path, dict[str, str]] = {}
    for export in exports:
        if not export["previous_versions"]:
            continue
        folder = previous_dir(os.path.realpath(export["path"]), export["share_name"])
        if folder.parent.parent.parent not in roots:
            continue
        mine = [s for s in snapshots if s.get("share") == export["share"]]
        wanted[folder] = link_targets(mine, export["share_name"])
    for root in roots:
        base = root / SNAPSHOTS / PREVIOUS
        with contextlib.suppress(OSError):
            for entry in os.scandir(base):
                if Path(entry.path) not in wanted and entry.is_dir(follow_symlinks=False):
                    remove_links(Path(entry.path))
    for folder, targets in wanted.items():
        try:
            sync_links(folder, targets)
        except OSError as exc:
            log.warning("previous versions in %s: %s", folder, exc)
    for root in roots:
        with contextlib.suppress(OSError):
            (root / SNAPSHOTS / PREVIOUS).rmdir()  # only where nothing is left in it


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


def render(settings: Settings, exports: list[dict[str, Any]]) -> str:
    """smb.conf serving exactly `exports` (each with every field: see `normal`)."""
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
        shares=shares, gmt_format=GMT_FORMAT)


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
    """The "smb" exports: smb.conf, smbd, the previous-version links and drift."""

    kind = "smb"
    create_model = SmbCreate
    update_model = SmbUpdate

    def __init__(self, settings: Settings, services: Services | None = None):
        self.settings = settings
        self.services = services
        self.file = ConfigFile(settings.samba_dir / CONF)
        self.exports: list[dict[str, Any]] = []  # what is served
        self.tree: Tree | None = None
        self.links = Rescanner("previous-versions", self._sync_links)
        self.links_lock = asyncio.Lock()  # one sync of the links at a time
        self.drift = False
        self.running = False

    # -- the facade's calls -----------------------------------------------------------------

    def check(self, export: dict[str, Any], ctx: Context) -> None:
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
        taken = {self._name_of(r, ctx).casefold() for r in ctx.exports.records.values()
                 if r["kind"] == self.kind and r["id"] != e["id"]}
        if e["name"].casefold() in taken:
            raise Conflict(f"an SMB share {e['name']} exists", code="exists",
                           detail={"name": e["name"]})
        for user in e["valid_users"]:
            try:
                pwd.getpwnam(user)
            except KeyError:
                raise Unprocessable(f"no user {user}", code="unknown_user",
                                    detail={"user": user}) from None
        for group in e["valid_groups"]:
            try:
                grp.getgrnam(group)
            except KeyError:
                raise Unprocessable(f"no group {group}", code="unknown_group",
                                    detail={"group": group}) from None

    @staticmethod
    def without_user(record: dict[str, Any], user: str) -> dict[str, Any] | None:
        """The changes that take a deleted user out of the export's valid users; None (the
        export goes) where no one would be left, since no valid users means everyone."""
        users = record.get("valid_users") or []
        if user not in users:
            return {}
        left = [u for u in users if u != user]
        return {"valid_users": left} if left or record.get("valid_groups") else None

    @staticmethod
    def defaults(record: dict[str, Any], share: dict[str, Any]) -> dict[str, Any]:
        """The record with the defaults that depend on its share filled in (the SMB name is
        the share's name unless one is given), for the facade to save and show."""
        return {**record, "name": record.get("name") or share["name"]}

    @staticmethod
    def _name_of(record: dict[str, Any], ctx: Context) -> str:
        if record.get("name"):
            return record["name"]
        share = ctx.tree.get(("shares", record["share"])) or {}
        return share.get("name", "")

    async def start(self, ctx: Context) -> None:
        self.tree = ctx.tree.own(("configs", self.kind), f"services.{self.kind}")
        self.running = True
        self.file.watch(self._changed)
        ctx.tree.listen(self._revision)
        self.links.start()
        self._published()

    async def stop(self) -> None:
        self.running = False
        self.file.unwatch()
        await self.links.stop()

    async def apply(self, exports: list[dict[str, Any]]) -> None:
        exports = [normal(e) for e in exports]
        text = render(self.settings, exports).encode()
        live = self.file.read()
        if not exports and (
                (live is not None and not live.startswith(HEADER) and not isolated(self.settings))
                or shutil.which("testparm", path=SEARCH_PATH) is None):
            # the system's own smb.conf (or no Samba at all), and nothing to export: left alone
            log.info("no SMB export: %s left as it is", self.file.path)
            self.exports = exports
            self._published()
            return
        self._make_dirs()
        if live is not None and not live.startswith(HEADER):
            self._keep_original(live)
        before, known = self.exports, (self.file.known, self.file.expected)
        await self._links_now(exports)
        try:
            changed = await self.file.replace(text, check=testparm)
        except BaseException:
            await self._links_now(before)
            raise
        self.exports = exports
        try:
            await self._serve(bool(exports))
        except Exception as exc:
            log.error("smbd did not take the new configuration (%s); putting back the last",
                      exc)
            self.exports = before
            if changed:
                await self.file.restore(live)
                self.file.known, self.file.expected = known
                with contextlib.suppress(Exception):
                    await self._serve(bool(before))
            await self._links_now(before)
            raise
        finally:
            self._published()
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
        state = (self.tree.get(("services", "smbd")) if self.tree is not None else None) or {}
        if wanted:
            await self.services.ensure_running("smbd")
        elif state.get("active") in ("active", "reloading"):
            await self.services.reload("smbd")

    def _changed(self) -> None:
        drift = self.file.drift
        if drift and not self.drift:
            log.warning("%s was changed by hand: rockd replaces it at the next change of an "
                        "SMB export", self.file.path)
        self._published()

    def _published(self) -> None:
        """/configs/smb: where the file is and whether it was changed by hand."""
        self.drift = self.file.drift
        if self.tree is None or not self.running:
            return
        self.tree.set(("configs", self.kind), {
            "path": str(self.file.path), "managed": self.file.known, "drift": self.drift})

    # -- previous versions -------------------------------------------------------------------

    def _revision(self, revision: Revision) -> None:
        if not self.running or not any(e["previous_versions"] for e in self.exports):
            return
        if any(not op.tokens or op.tokens[0] in ("snapshots", "shares")
               for op in revision.ops):
            self.links.request("all")

    async def _links_now(self, exports: list[dict[str, Any]]) -> None:
        if self.tree is None:
            return
        snapshots = list((self.tree.get("/snapshots") or {}).values())
        roots = [p["mount_point"] for p in (self.tree.get("/pools") or {}).values()
                 if p.get("mounted") and p.get("mount_point")]
        async with self.links_lock:
            await asyncio.to_thread(sync_previous, exports, snapshots, roots)

    async def _sync_links(self, _key: str) -> None:
        await self._links_now(self.exports)
