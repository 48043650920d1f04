"""Subvolumes read straight from a filesystem's root tree with the TREE_SEARCH_V2 ioctl.

This is what `btrfs subvolume list` does inside, without the three processes and their text:
one search of the root tree for ROOT_ITEMs (flags, uuids, generations, times) and
ROOT_BACKREFs (who holds each subvolume, in which folder, under which name), and one
INO_LOOKUP per distinct folder to name it. Needs CAP_SYS_ADMIN, as the command does.

An `ItemCache` kept from one read of a filesystem to the next makes the next cheaper: a root
item whose fields (generation, flags, uuids, times) are those of the last read is not formatted
again, and a read-only snapshot's never change. It also holds the CPU time of the last read.
"""

from __future__ import annotations

import fcntl
import os
import struct
import time
from typing import Any

ROOT_TREE = 1
FS_TREE = 5
FIRST_FREE_OBJECTID = 256
LAST_FREE_OBJECTID = (1 << 64) - 256
ROOT_ITEM_KEY = 132
ROOT_BACKREF_KEY = 144
ROOT_SUBVOL_RDONLY = 1
U64_MAX = (1 << 64) - 1


def _iowr(nr: int, size: int) -> int:
    return (3 << 30) | (size << 16) | (0x94 << 8) | nr


SEARCH_KEY = struct.Struct("=7Q4I4Q")  # struct btrfs_ioctl_search_key: 104 bytes
SEARCH_HEADER = struct.Struct("=3Q2I")  # struct btrfs_ioctl_search_header: 32 bytes
BUF_SIZE = 4 << 20  # about 9,000 subvolumes' items in one call
MAX_ITEMS = 1 << 30
TREE_SEARCH_V2 = _iowr(17, SEARCH_KEY.size + 8)
INO_LOOKUP = _iowr(18, 4096)
ROOT_REF = struct.Struct("=QQH")  # struct btrfs_root_ref: dirid, sequence, name_len

# struct btrfs_root_item (packed): generation at 160, flags at 208, uuid, parent_uuid and
# received_uuid at 247, otransid at 303, otime's seconds at 339; 439 bytes in all
ROOT_ITEM = struct.Struct("=160xQ40xQ31x16s16s16s8xQ28xQ")
ROOT_ITEM_V0 = struct.Struct("=160xQ40xQ")  # items written before uuids existed
NO_UUID = bytes(16)


def _uuid(raw: bytes) -> str | None:
    if raw == NO_UUID:
        return None
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _time(seconds: int) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds)) if seconds else None


def _root_item(buf: bytearray, at: int, length: int) -> tuple:
    """(generation, flags, uuid, parent_uuid, received_uuid, otransid, otime seconds)."""
    if length >= ROOT_ITEM.size:
        return ROOT_ITEM.unpack_from(buf, at)
    generation, flags = ROOT_ITEM_V0.unpack_from(buf, at)
    return generation, flags, NO_UUID, NO_UUID, NO_UUID, 0, 0


class ItemCache:
    """What the last read of one filesystem parsed, by subvolume id: (the root item's raw
    fields, their formatted form: uuid, parent uuid, received uuid, created)."""

    def __init__(self) -> None:
        self.items: dict[int, tuple[tuple, tuple[str | None, ...]]] = {}
        self.cpu_seconds = 0.0
        """The CPU time the last read took, in its own thread (waits for the GIL left out)."""


def _formatted(fields: tuple, shared: dict[Any, str | None]) -> tuple[str | None, ...]:
    """The uuids and creation time of a root item. `shared` holds what one read formatted
    already of the values many items have in common: the snapshots of one share have its
    uuid as their parent's, most have no received uuid, and a schedule's snapshots of many
    shares are made in the same second."""
    _generation, _flags, own, origin, received, _otransid, otime = fields
    if origin not in shared:
        shared[origin] = _uuid(origin)
    if received not in shared:
        shared[received] = _uuid(received)
    if otime not in shared:
        shared[otime] = _time(otime)
    return _uuid(own), shared[origin], shared[received], shared[otime]


def _search(fd: int) -> tuple[dict[int, tuple], dict[int, tuple[int, int, str]]]:
    """Every ROOT_ITEM (id -> its fields) and ROOT_BACKREF (id -> parent, folder, name)."""
    items: dict[int, tuple] = {}
    refs: dict[int, tuple[int, int, str]] = {}
    key = [ROOT_TREE, FIRST_FREE_OBJECTID, LAST_FREE_OBJECTID, 0, U64_MAX, 0, U64_MAX,
           ROOT_ITEM_KEY, ROOT_BACKREF_KEY, MAX_ITEMS, 0, 0, 0, 0, 0]
    buf = bytearray(SEARCH_KEY.size + 8 + BUF_SIZE)
    while True:
        SEARCH_KEY.pack_into(buf, 0, *key)
        struct.pack_into("=Q", buf, SEARCH_KEY.size, BUF_SIZE)
        fcntl.ioctl(fd, TREE_SEARCH_V2, buf, True)
        count = SEARCH_KEY.unpack_from(buf, 0)[9]
        if count == 0:
            return items, refs
        at = SEARCH_KEY.size + 8
        for _ in range(count):
            _transid, objectid, offset, kind, length = SEARCH_HEADER.unpack_from(buf, at)
            at += SEARCH_HEADER.size
            if kind == ROOT_ITEM_KEY:
                items[objectid] = _root_item(buf, at, length)
            elif kind == ROOT_BACKREF_KEY:
                dirid, _sequence, name_len = ROOT_REF.unpack_from(buf, at)
                start = at + ROOT_REF.size
                name = buf[start:start + name_len].decode(errors="surrogateescape")
                refs[objectid] = (offset, dirid, name)
            at += length
        # go on after the last key seen: (objectid, type, offset) + 1
        if offset < U64_MAX:
            key[1], key[7], key[3] = objectid, kind, offset + 1
        elif kind < ROOT_BACKREF_KEY:
            key[1], key[7], key[3] = objectid, kind + 1, 0
        else:
            key[1], key[7], key[3] = objectid + 1, ROOT_ITEM_KEY, 0
        if key[1] > LAST_FREE_OBJECTID:
            return items, refs


def _folder(fd: int, tree: int, dirid: int, cache: dict[tuple[int, int], str]) -> str:
    """The path of folder `dirid` inside subvolume `tree` ('' for its root, else 'a/b/')."""
    if (tree, dirid) not in cache:
        args = bytearray(4096)
        struct.pack_into("=QQ", args, 0, tree, dirid)
        fcntl.ioctl(fd, INO_LOOKUP, args, True)
        cache[tree, dirid] = bytes(args[16:]).split(b"\0", 1)[0].decode(
            errors="surrogateescape")
    return cache[tree, dirid]


def subvolumes(mountpoint: str, cache: ItemCache | None = None) -> list[dict[str, Any]]:
    """Every subvolume of the filesystem at `mountpoint`, as `btrfs.subvolumes` describes them:
    {id, parent_id, top_level, path, uuid, parent_uuid, received_uuid, read_only, generation,
    ogeneration, created}. Raises OSError where the ioctls are refused. With a `cache` (one
    per filesystem), only the root items that changed since its last read are formatted."""
    started = time.thread_time()
    known = cache.items if cache is not None else {}
    seen: dict[int, tuple[tuple, tuple[str | None, ...]]] = {}
    shared: dict[Any, str | None] = {}
    fd = os.open(mountpoint, os.O_RDONLY | os.O_DIRECTORY)
    try:
        items, refs = _search(fd)
        folders: dict[tuple[int, int], str] = {}
        paths: dict[int, str] = {FS_TREE: ""}

        def path_of(subvol: int, depth: int = 0) -> str | None:
            if subvol in paths:
                return paths[subvol]
            ref = refs.get(subvol)
            if ref is None or depth > 256:
                return None  # deleted, being cleaned up, or not reachable
            parent, dirid, name = ref
            above = path_of(parent, depth + 1)
            if above is None:
                return None
            path = (above + "/" if above else "") + _folder(fd, parent, dirid, folders) + name
            paths[subvol] = path
            return path

        found = []
        for subvol, fields in sorted(items.items()):
            ref = refs.get(subvol)
            if ref is None:
                continue  # deleted, being cleaned up, or not reachable
            parent, dirid, name = ref
            above = paths.get(parent)
            path: str | None
            if above is not None:  # the usual case: the folder's subvolume is named already
                folder = folders.get((parent, dirid))
                if folder is None:
                    folder = _folder(fd, parent, dirid, folders)
                path = (above + "/" if above else "") + folder + name
                paths[subvol] = path
            else:
                path = path_of(subvol)
            if path is None:
                continue
            hit = known.get(subvol)
            if hit is None or hit[0] != fields:
                hit = (fields, _formatted(fields, shared))
            seen[subvol] = hit
            own, origin, received, created = hit[1]
            found.append({
                "id": subvol, "parent_id": parent, "top_level": parent, "path": path,
                "uuid": own, "parent_uuid": origin, "received_uuid": received,
                "read_only": bool(fields[1] & ROOT_SUBVOL_RDONLY),
                "generation": fields[0], "ogeneration": fields[5] or None,
                "created": created,
            })
        return found
    finally:
        os.close(fd)
        if cache is not None:
            cache.items = seen
            cache.cpu_seconds = time.thread_time() - started
