"""Which groups grant privilege beyond their ids: rockd puts no user in one of them.

A system group (gid below 1000 or above 60000) is privileged by its id alone (see
`rockd.accounts.rules.is_system`). A group with a gid rockd could give grants privilege all the
same when its name is one that grants root or raw access on common systems (sudo, wheel, docker,
lxd, libvirt, kvm...: a package or an admin may have made it with such a gid), or when sudo's or
polkit's configuration names it. The configuration is read as text, conservatively: every
`%name`, `%:name` and `%#gid` anywhere in sudoers and the files it includes (and every file of
sudoers.d), every `unix-group:name` and `isInGroup("name")` in polkit's rules. A name caught by
mistake only makes rockd refuse a group; a name missed would hand out root.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path

# groups that grant root, or raw access to disks, memory, logs or a container engine
PRIVILEGED_NAMES = frozenset({
    "root", "sudo", "wheel", "admin", "adm", "staff", "disk", "kmem", "shadow",
    "systemd-journal", "docker", "lxd", "incus", "incus-admin", "libvirt", "kvm",
})
POLKIT_DIRS = ("polkit-1/rules.d", "polkit-1/localauthority.conf.d", "polkit-1/localauthority")
MAX_INCLUDES = 128  # sudo's own limit of nested includes

_INCLUDE = re.compile(r"^\s*[#@]include(dir)?\s+(.+?)\s*$")
# a comment: '#' not part of %#gid, #uid, "#..." or a name, and not a directive
_COMMENT = re.compile(r"(?<![%:\w\"\\])#(?!\d)")
_SUDOERS_GROUP = re.compile(r"%:?\"?(#\d+|[\w.\\-]+)")
_POLKIT_GROUP = re.compile(r"unix-group:([\w.-]+)|isInGroup\(\s*[\"']([^\"']+)[\"']")


@dataclass(frozen=True)
class Named:
    """The groups that sudo's or polkit's configuration names, by name and by gid."""

    names: frozenset[str]
    gids: frozenset[int]


def named_groups(etc: Path = Path("/etc"), share: Path = Path("/usr/share")) -> Named:
    """The groups named by sudoers (with its includes and sudoers.d) and by polkit's rules."""
    names: set[str] = set()
    gids: set[int] = set()
    for token in _sudoers_tokens(etc):
        if token.startswith("#"):
            gids.add(int(token[1:]))
        else:
            names.add(token.replace("\\", ""))
    for root in (etc, share):
        for folder in POLKIT_DIRS:
            names |= _polkit_names(root / folder)
    return Named(frozenset(names), frozenset(gids))


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _files(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_file())
    except OSError:
        return []


def _sudoers_tokens(etc: Path) -> set[str]:
    """Every group token of sudoers, of the files it includes and of sudoers.d (read whether
    or not sudoers includes it: sudo's own default does)."""
    tokens: set[str] = set()
    pending = [etc / "sudoers", *_files(etc / "sudoers.d")]
    seen: set[Path] = set()
    while pending and len(seen) <= MAX_INCLUDES:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        text = _read(path).replace("\\\n", " ")
        for line in text.splitlines():
            include = _INCLUDE.match(line)
            if include:
                pending += _included(path, include.group(2), bool(include.group(1)))
                continue
            tokens.update(_SUDOERS_GROUP.findall(_COMMENT.split(line, 1)[0]))
    return tokens


def _included(source: Path, target: str, folder: bool) -> list[Path]:
    """The files an include line names: a relative path is relative to the including file's
    folder, `%h` is the host's name."""
    path = source.parent / target.strip('"').replace("%h", socket.gethostname())
    return _files(path) if folder else [path]


def _polkit_names(folder: Path) -> set[str]:
    names: set[str] = set()
    for path in folder.rglob("*") if folder.is_dir() else ():
        if path.is_file():
            for by_identity, by_call in _POLKIT_GROUP.findall(_read(path)):
                names.add(by_identity or by_call)
    return names
