"""POSIX ACLs of a folder, read and written as the kernel keeps them (the
`system.posix_acl_access` and `system.posix_acl_default` extended attributes, the format of
linux/posix_acl_xattr.h), and the kernel's own check of whether a user may write there.

A folder with no ACL is read as the three entries its mode makes. Writing an ACL sets the mode's
group bits from its mask, as setfacl does (the kernel does that on the attribute's write).
"""

from __future__ import annotations

import errno
import os
import stat
import struct
from dataclasses import dataclass

ACCESS = "system.posix_acl_access"
DEFAULT = "system.posix_acl_default"
VERSION = 2
USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
NO_ID = 0xFFFFFFFF
HEADER, ENTRY = struct.Struct("<I"), struct.Struct("<HHI")
WRITE_IN = 0o3  # write and search: what making a file in a folder takes


@dataclass(frozen=True)
class Entry:
    tag: int
    perm: int
    id: int = NO_ID


def from_mode(mode: int) -> list[Entry]:
    """The minimal ACL that a mode is."""
    return [Entry(USER_OBJ, (mode >> 6) & 7), Entry(GROUP_OBJ, (mode >> 3) & 7),
            Entry(OTHER, mode & 7)]


def decode(raw: bytes) -> list[Entry]:
    (version,) = HEADER.unpack_from(raw)
    if version != VERSION or (len(raw) - HEADER.size) % ENTRY.size:
        raise ValueError("not a POSIX ACL")
    return [Entry(*ENTRY.unpack_from(raw, offset))
            for offset in range(HEADER.size, len(raw), ENTRY.size)]


def encode(entries: list[Entry]) -> bytes:
    ordered = sorted(entries, key=lambda e: (e.tag, e.id))
    return HEADER.pack(VERSION) + b"".join(ENTRY.pack(e.tag, e.perm, e.id) for e in ordered)


def read_acl(path: str, name: str = ACCESS) -> list[Entry] | None:
    """The folder's ACL (`name`: access or default); None where it has none."""
    try:
        return decode(os.getxattr(path, name))
    except OSError as exc:
        if exc.errno in (errno.ENODATA, errno.EOPNOTSUPP):
            return None
        raise


def effective(path: str) -> tuple[os.stat_result, list[Entry]]:
    """The folder's stat and its access ACL (the mode's, where it has none)."""
    st = os.stat(path)
    return st, read_acl(path) or from_mode(st.st_mode)


def may(st: os.stat_result, acl: list[Entry], uid: int, gids: set[int],
        want: int = WRITE_IN) -> bool:
    """Whether uid (in groups `gids`) has every bit of `want`, as the kernel decides it."""
    if uid == 0:
        return True
    mask = next((e.perm for e in acl if e.tag == MASK), 7)
    by_tag = {(e.tag, e.id): e.perm for e in acl}
    if uid == st.st_uid:
        return by_tag.get((USER_OBJ, NO_ID), 0) & want == want
    if (USER, uid) in by_tag:
        return by_tag[(USER, uid)] & mask & want == want
    groups = [e.perm for e in acl if (e.tag == GROUP_OBJ and st.st_gid in gids)
              or (e.tag == GROUP and e.id in gids)]
    if groups:
        return any(perm & mask & want == want for perm in groups)
    return by_tag.get((OTHER, NO_ID), 0) & want == want


def with_entry(acl: list[Entry], tag: int, perm: int, id_: int = NO_ID) -> list[Entry]:
    """`acl` with the entry of (tag, id) given `perm` at least, and a mask that lets every
    entry of the group class through (setfacl's recalculation)."""
    kept = [e for e in acl if (e.tag, e.id) != (tag, id_) and e.tag != MASK]
    old = next((e.perm for e in acl if (e.tag, e.id) == (tag, id_)), 0)
    entries = [*kept, Entry(tag, old | perm, id_)]
    if any(e.tag in (USER, GROUP) for e in entries):
        union = 0
        for e in entries:
            if e.tag in (USER, GROUP, GROUP_OBJ):
                union |= e.perm
        entries.append(Entry(MASK, union))
    return entries


def write_acls(path: str, acl: list[Entry]) -> None:
    """Set the folder's access ACL, and the same as its default (what is made in it inherits
    it); an ACL of only the mode's three entries is written as the mode."""
    if not stat.S_ISDIR(os.stat(path).st_mode):
        raise NotADirectoryError(path)
    if len(acl) == 3:
        perms = {e.tag: e.perm for e in acl}
        mode = os.stat(path).st_mode & 0o7000
        os.chmod(path, mode | perms[USER_OBJ] << 6 | perms[GROUP_OBJ] << 3 | perms[OTHER])
        return
    os.setxattr(path, ACCESS, encode(acl))
    os.setxattr(path, DEFAULT, encode(acl))
