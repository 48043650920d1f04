"""NFS exports: per share, client host patterns with rw/ro, sync/async and root squash, written
into one exports file (Settings.nfs_exports, /etc/exports.d/rockd.exports) from the exports.j2
template and applied with `exportfs -ra`.

Host patterns are checked strictly before anything is written: an IPv4 or IPv6 address or
network (CIDR or netmask), an RFC 1123 host name, a wildcard name (`*.example.com`), a netgroup
(`@trusted`) or `*`; nothing else, so no pattern can add options or lines to the file. Each
export gets a stable `fsid=` (its share's subvolume UUID): a btrfs subvolume has no device
number of its own that survives a reboot, and NFS clients need one that does.

Where there is no kernel NFS server (no nfsd filesystem at /proc/fs/nfsd) or no exportfs, the
file is still written and checked, and /configs/nfs says it was not applied and why.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from rockd.config import Settings
from rockd.core import resources
from rockd.core.errors import BadRequest, Conflict, Unprocessable
from rockd.core.models import Model
from rockd.core.process import CommandError, run
from rockd.core.tree import Subtree
from rockd.services.configfile import ConfigFile, Mark, Published, render
from rockd.services.exports import Record
from rockd.services.units import SEARCH_PATH, Services
from rockd.watchers.inotify import Inotify

log = logging.getLogger(__name__)

KERNEL_EXPORTS = (Path("/proc/fs/nfsd/exports"), Path("/proc/fs/nfs/exports"))
MAX_CLIENTS = 64

# -- host patterns -------------------------------------------------------------------------------

ALLOWED = re.compile(r"[A-Za-z0-9.:/*?@_-]+")
LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
WILD_LABEL = re.compile(r"[A-Za-z0-9*?](?:[A-Za-z0-9*?-]{0,61}[A-Za-z0-9*?])?")
NETGROUP = re.compile(r"@[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def host_problem(host: str) -> str | None:
    """What is wrong with `host` as an exports(5) client pattern; None when nothing is."""
    if not host:
        return "is empty"
    if len(host) > 253:
        return "is longer than 253 characters"
    if not ALLOWED.fullmatch(host):
        return ("may hold only letters, digits and . : / * ? @ _ - (no spaces, quotes, "
                "parentheses or commas)")
    if host == "*":
        return None
    if host.startswith("@"):
        return None if NETGROUP.fullmatch(host) else "is not a netgroup name such as @trusted"
    if "/" in host:
        try:
            ipaddress.ip_network(host, strict=True)
        except ValueError as exc:
            return f"is not an IP network such as 10.0.0.0/24 ({exc})"
        return None
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return "is not an IPv6 address"
        return None
    try:
        ipaddress.IPv4Address(host)
        return None
    except ValueError:
        pass
    labels = host.split(".")
    if "*" in host or "?" in host:
        if not all(WILD_LABEL.fullmatch(label) for label in labels):
            return "is not a wildcard host name such as *.example.com"
        if not any(c.isalpha() for c in host):
            return ("is a wildcard address: wildcards match host names; use a network such "
                    "as 10.0.0.0/24")
        return None
    if "_" in host:
        return "is not a host name: _ is allowed only in netgroups"
    if not all(LABEL.fullmatch(label) for label in labels):
        return "is not a host name (RFC 1123: labels of letters, digits and inner hyphens)"
    if labels[-1].isdigit():
        return "is neither an IPv4 address nor a host name"
    return None


def _check_host(value: str) -> str:
    problem = host_problem(value)
    if problem is not None:
        raise PydanticCustomError("invalid_host", "host {host!r} {problem}",
                                  {"host": value, "problem": problem})
    return value


Host = Annotated[str, AfterValidator(_check_host), WithJsonSchema({
    "type": "string", "maxLength": 253,
    "description": "an IP address or network, a host name, *.wildcard name, @netgroup or *"})]


class NfsClient(Model):
    host: Host
    rw: bool = True
    sync: bool = True
    root_squash: bool = True


class NfsUpdate(Model):
    clients: list[NfsClient] | None = Field(default=None, min_length=1,
                                            max_length=MAX_CLIENTS)  # null: refused by check


class NfsCreate(NfsUpdate):
    share: str
    clients: list[NfsClient] = Field(min_length=1, max_length=MAX_CLIENTS)


# -- the exports file ----------------------------------------------------------------------------

SAFE_PATH = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/._-+:@=~")
OCTAL = re.compile(rb"\\([0-3][0-7]{2})")


def escape_path(path: str) -> str:
    """`path` as exports(5) reads it: every byte outside a small safe set (space, tab, quotes,
    #, backslash, commas, parentheses, non-ASCII...) as a backslash and three octal digits."""
    return "".join(chr(b) if b in SAFE_PATH else f"\\{b:03o}"
                   for b in path.encode("utf-8", "surrogateescape"))


def unescape_path(text: str) -> str:
    """The path an escaped exports(5) path stands for."""
    raw = OCTAL.sub(lambda m: bytes([int(m[1], 8)]), text.encode("utf-8", "surrogateescape"))
    return raw.decode("utf-8", "surrogateescape")


CLIENT_DEFAULTS = {"rw": True, "sync": True, "root_squash": True}


def normal(export: dict[str, Any]) -> dict[str, Any]:
    """The export with each client's defaults filled in (a PATCH body holds only what it set)."""
    return {**export, "clients": [{**CLIENT_DEFAULTS, **c} for c in export.get("clients") or []]}


def client_options(client: dict[str, Any], fsid: str) -> str:
    return ",".join([
        "rw" if client["rw"] else "ro",
        "sync" if client["sync"] else "async",
        "root_squash" if client["root_squash"] else "no_root_squash",
        "no_subtree_check",
        f"fsid={fsid}",
    ])


def fsid_of(export: dict[str, Any]) -> str:
    """The export's fsid: its share's subvolume UUID, which does not change."""
    try:
        return str(uuid.UUID(export["share"]))
    except ValueError:
        raise Unprocessable(f"share {export['share']!r} has no UUID to serve as its fsid",
                            code="invalid_config") from None


def intended(exports: list[dict[str, Any]]) -> list[tuple[str, list[tuple[str, str]]]]:
    """What the file must say: (path, [(host, options)]) per export, in order."""
    exports = [normal(e) for e in exports]
    return [(e["path"], [(c["host"], client_options(c, fsid_of(e))) for c in e["clients"]])
            for e in exports]


def render_exports(exports: list[dict[str, Any]]) -> str:
    exports = [normal(e) for e in exports]
    for export in exports:
        for client in export["clients"]:
            problem = host_problem(client["host"])
            if problem is not None:
                raise BadRequest(f"host {client['host']!r} {problem}", code="invalid_field")
    lines = [{"id": e["id"], "share_name": escape_path(e.get("share_name") or ""),
              "path": escape_path(e["path"]), "clients": [
                  {"host": host, "options": options} for host, options in clients]}
             for e, (_, clients) in zip(exports, intended(exports), strict=True)]
    return render("exports.j2", exports=lines)


ENTRY = re.compile(r"([^\s()]+)\(([^\s()]*)\)")


def parse_exports(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """The export lines of an exports file as rockd writes them (no quotes, no continuation
    lines, every client with its options); anything else raises ValueError."""
    found = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        words = line.split()
        if '"' in line or line.endswith("\\") or len(words) < 2:
            raise ValueError(f"line {number}: not a rockd export line")
        clients = []
        for word in words[1:]:
            match = ENTRY.fullmatch(word)
            if match is None:
                raise ValueError(f"line {number}: {word!r} is not host(options)")
            clients.append((match[1], match[2]))
        found.append((unescape_path(words[0]), clients))
    return found


def read_text(path: Path) -> str:
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return f.read()


def kernel_server() -> bool:
    """Whether a kernel NFS server runs here (its nfsd filesystem is mounted)."""
    return any(p.exists() for p in KERNEL_EXPORTS)


class NfsExports:
    """The "nfs" export kind: the exports file, published at /configs/nfs through `config` (the
    handle of that entry) with whether it was applied and why not."""

    kind: ClassVar[str] = "nfs"
    create_model: ClassVar[type[Model]] = NfsCreate
    update_model: ClassVar[type[Model]] = NfsUpdate
    resource: ClassVar[Any] = resources.NfsExport

    def __init__(self, settings: Settings, config: Subtree, inotify: Inotify | None = None,
                 services: Services | None = None):
        self.settings = settings
        self.file = ConfigFile(settings.nfs_exports, inotify)
        self.config = Published(self.file, config, self.kind, applied=False, reason=None)
        self._lock = asyncio.Lock()

    @staticmethod
    def defaults(record: Record, share: Record) -> Record:
        return record

    @staticmethod
    def without_user(record: Record, user: str) -> Record | None:
        return {}  # an NFS export names hosts, not users

    def shares_changed(self) -> None:
        """Nothing of NFS follows shares beyond what `apply` is given."""

    def check(self, export: Record, others: Sequence[Record]) -> None:
        clients = export.get("clients")
        if not clients:
            raise BadRequest("clients: at least one client is needed", code="invalid_field")
        hosts = [c["host"] for c in clients]
        twice = sorted({h for h in hosts if hosts.count(h) > 1})
        if twice:
            raise BadRequest(f"clients: {', '.join(twice)} given more than once",
                             code="invalid_field", detail={"hosts": twice})
        for other in others:
            if other["share"] == export["share"]:
                raise Conflict(f"share {export.get('share_name')} is already exported over "
                               f"NFS ({other['id']}): change that export instead",
                               code="exists", detail={"export": other["id"]})

    async def _check_file(self, exports: list[Record], candidate: Path) -> None:
        """The candidate says exactly what was asked, line for line, as exportfs reads it."""
        try:
            found = parse_exports(read_text(candidate))
        except ValueError as exc:
            raise Unprocessable(f"the rendered exports file does not parse: {exc}",
                                code="invalid_config") from None
        if found != intended(exports):
            raise Unprocessable("the rendered exports file does not say what was asked",
                                code="invalid_config")

    async def apply(self, exports: list[Record]) -> None:
        async with self._lock:
            text = render_exports(exports)
            mark = self.file.mark()
            changed = False
            if not exports and mark.content is None:
                self.file.expect(None)  # no NFS exports: no file where there was none
            else:
                changed = await self.file.replace(
                    text.encode(), check=lambda c: self._check_file(exports, c))
            exportfs = shutil.which("exportfs", path=SEARCH_PATH)
            if exportfs is None:
                self.config.publish(applied=False, reason="exportfs is not installed")
            elif not kernel_server():
                self.config.publish(applied=False, reason="no kernel NFS server")
            else:
                await self._exportfs(exportfs, mark if changed else None)
                self.config.publish(applied=True, reason=None)
            if changed:
                log.info("NFS exports written to %s (%d exports)", self.file.path, len(exports))

    async def _exportfs(self, exportfs: str, previous: Mark | None) -> None:
        """exportfs -ra; if it refuses, the `previous` file (where it was replaced) goes back
        and is applied again."""
        try:
            await run([exportfs, "-ra"], timeout=120)
        except CommandError as exc:
            if previous is not None:
                await self.file.restore(previous)
                try:
                    await run([exportfs, "-ra"], timeout=120)
                except CommandError as again:
                    log.error("exportfs -ra failed on the previous exports too: %s", again)
            self.config.publish(applied=False, reason=f"exportfs -ra failed: {exc.stderr}")
            raise Unprocessable(f"exportfs refused the exports: {exc.stderr or exc}",
                                code="apply_failed") from None

    async def start(self) -> None:
        self.config.start()

    async def stop(self) -> None:
        self.config.stop()
