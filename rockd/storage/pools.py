"""Pools: btrfs filesystems that rockd manages, observed into /pools and changed on request.

A pool is a btrfs filesystem the user created or imported through rockd (kept as intent in
SQLite: its name, compression, mount options). What it is now (devices, profiles, usage,
mounts, error counters) is always read back from the system by `rescan`, never assumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rockd.core.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    RockdError,
    Unprocessable,
)
from rockd.core.names import valid_name
from rockd.core.process import CommandError, run
from rockd.core.rescan import Rescanner
from rockd.core.store import Store
from rockd.core.tree import Tree
from rockd.jobs.balance import conversions
from rockd.jobs.balance import filters as balance_filters
from rockd.jobs.supervisor import Job, Jobs
from rockd.storage import btrfs, kernel_log, profiles
from rockd.storage.disks import filesystem

log = logging.getLogger(__name__)

FULL = 1 << 20
"""A pool with less than this free is full: nothing new is made on it."""
COMPRESSION = re.compile(r"no|lzo|zlib(:[1-9])?|zstd(:([1-9]|1[0-5]))?")
"""What `compression` may be (whole strings: fullmatch)."""
MOUNT_OPTION = re.compile(
    r"noatime|relatime|nodiratime|autodefrag|noautodefrag|ssd|nossd|ssd_spread|discard"
    r"|discard=(sync|async)|nodiscard|space_cache=v2|commit=(0|[1-9][0-9]{0,3})|flushoncommit"
    r"|noflushoncommit|skip_balance|nodatacow|datacow|nodatasum|datasum"
    r"|thread_pool=[1-9][0-9]{0,2}|max_inline=(0|[1-9][0-9]{0,2}|[1-3][0-9]{3}|40[0-8][0-9]"
    r"|409[0-6])|barrier")
"""The mount options a pool may have, each one mounted and remounted read-write on kernel 6.18
(tests/integration/test_pools.py). Numbers are ASCII without leading zeros: the kernel reads
`commit=010` as octal and refuses `commit=08`. max_inline goes up to 4096, the sector size, to
which the kernel cuts a larger value."""
RESCUE = ("usebackuproot", "nologreplay", "ignorebadroots", "ibadroots", "ignoredatacsums",
          "idatacsums", "ignoremetacsums", "ignoresuperflags", "all")
"""The values of `rescue=` that kernel 6.18 knows (btrfs(5))."""
MISSING = "missing"
"""In `{"remove": [...]}`, a device that is gone (btrfs' own word: `device remove missing`)."""
DEVID = re.compile(r"devid:([1-9][0-9]{0,19})")
"""`devid:N`: device N of a pool, for one that has no disk id (a missing one)."""


def devid_of(reference: str) -> int | None:
    """The devid that `devid:N` names, or None for a disk id (disk ids never hold a colon);
    400 for anything else with a colon."""
    if ":" not in reference:
        return None
    m = DEVID.fullmatch(reference)
    if m is None:
        raise BadRequest(f"{reference!r} is neither a disk id nor devid:N", code="invalid_field",
                         detail={"field": "replace.old"})
    return int(m[1])


def check_mount_option(option: str) -> None:
    """400 for an option rockd does not offer; 422 for the kernel's recovery options, which
    only a read-only mount of a damaged filesystem takes, once: a pool is mounted read-write,
    with its options, at every start."""
    if MOUNT_OPTION.fullmatch(option):
        return
    name, _, value = option.partition("=")
    if option == "norecovery" or (name == "rescue" and value in RESCUE):
        raise Unprocessable(f"mount option {option!r} is for recovering a damaged filesystem "
                            "mounted read-only; a pool is mounted read-write",
                            code="recovery_option", detail={"field": "mount_options"})
    raise BadRequest(f"mount option {option!r} is not allowed", code="invalid_field",
                     detail={"field": "mount_options"})


def mount_options(extra: str, compression: str | None) -> str:
    """The -o string for a pool: validated options plus compression."""
    options = [o for o in (extra or "").split(",") if o]
    for option in options:
        check_mount_option(option)
    if compression and compression != "no":
        unchecked = [o for o in options if o in ("nodatacow", "nodatasum")]
        if unchecked:  # the kernel would silently drop them for compress=
            raise Unprocessable(f"{unchecked[0]} cannot go with compression: btrfs compresses "
                                "only data it checksums and copies on write",
                                code="conflicting_options", detail={"field": "mount_options"})
        options.append(f"compress={compression}")
    return ",".join(options) or "defaults"


def kept_options(intent: dict[str, Any]) -> str:
    """The -o string for a pool's kept intent. Intent that an older rockd kept may hold what is
    refused now (a recovery option, nodatacow beside compression): that is left out, with a
    warning, rather than the pool left unmounted."""
    extra, compression = intent.get("mount_options") or "", intent.get("compression")
    try:
        return mount_options(extra, compression)
    except RockdError as exc:
        log.warning("pool %s: %s; mounted without it", intent["name"], exc.message)
    try:
        check_compression(compression)
    except RockdError:
        compression = None
    compressed = compression not in (None, "no")
    kept = []
    for option in extra.split(","):
        with contextlib.suppress(RockdError):
            check_mount_option(option)
            if not (compressed and option in ("nodatacow", "nodatasum")):
                kept.append(option)
    return mount_options(",".join(kept), compression)


def check_profiles(data: str, metadata: str, disks: int) -> None:
    """400 for a profile not offered in its role, 422 with the minimum when disks are short."""
    try:
        profiles.validate(data, metadata, disks)
    except profiles.TooFewDisks as exc:
        raise Unprocessable(str(exc), code="not_enough_disks",
                            detail={"profile": exc.profile, "minimum": exc.minimum,
                                    "given": exc.given}) from None
    except profiles.ProfileError as exc:
        raise BadRequest(str(exc), code="invalid_field") from None


def _require_disks(profile: str, what: str, count: int, key: str, counted: str) -> None:
    """422 not_enough_disks when `profile` needs more devices than `count`."""
    minimum = profiles.info(profile).min_devices
    if count < minimum:
        raise Unprocessable(f"{what} needs at least {minimum} disks; {counted} {count}",
                            code="not_enough_disks",
                            detail={"profile": profile, "minimum": minimum, key: count})


def check_compression(value: str | None) -> None:
    if value is not None and not COMPRESSION.fullmatch(value):
        raise BadRequest(f"compression {value!r} is not no, lzo, zlib[:1-9] or zstd[:1-15]",
                         code="invalid_field", detail={"field": "compression"})


def _compression_of(options: list[str]) -> str | None:
    for option in options:
        if option.startswith(("compress=", "compress-force=")):
            return option.split("=", 1)[1]
    return None


NEGATIONS = {"noautodefrag": "autodefrag", "noflushoncommit": "flushoncommit",
             "datacow": "nodatacow", "datasum": "nodatasum", "barrier": "nobarrier"}
"""Options the kernel never shows: each is in force while the option it undoes is not shown."""


def _in_force(option: str, shown: set[str]) -> bool:
    """Whether a mount showing `shown` (mountinfo's options) has `option` in force: the
    kernel shows some options in other words and leaves defaults out (kernel 6.18)."""
    name = option.partition("=")[0]
    if option in shown:
        return True
    if option in NEGATIONS:
        return NEGATIONS[option] not in shown
    if option == "nodiscard":
        return not shown & {"discard", "discard=async"}
    if option == "discard=sync":
        return "discard" in shown
    if name in ("commit", "thread_pool", "max_inline"):  # a default value is not shown
        return not any(o.startswith(f"{name}=") for o in shown)
    return False


def _filesystem_options(mount: dict[str, Any]) -> list[str]:
    """The mount's options (noatime...) then the filesystem's (compress...), without the
    subvolume it shows and without repeats."""
    options: list[str] = []
    for option in mount["options"] + mount["super_options"]:
        if option not in options and not option.startswith(("subvol=", "subvolid=")):
            options.append(option)
    return options


async def unmount(point: str, tries: int = 10) -> None:
    """Unmount, waiting a little while it is busy: rockd's own probes (a rescan that an
    inotify event started) hold the mount for milliseconds at a time."""
    for attempt in range(tries):
        try:
            await run(["umount", point])
            return
        except CommandError as exc:
            if "busy" not in exc.stderr or attempt == tries - 1:
                raise
            await asyncio.sleep(0.1)


def _wanted_compression(intent: dict[str, Any]) -> str | None:
    compression = intent.get("compression")
    return None if compression in (None, "no") else compression


def _same_compression(have: str | None, intent: dict[str, Any]) -> bool:
    """Whether the mount compresses as asked ("zstd" asks for any zstd level)."""
    want = _wanted_compression(intent)
    if have is None or want is None:
        return have == want
    return have == want or (":" not in want and have.split(":")[0] == want)


class Pools:
    """/pools in the tree, the pool intent in SQLite, and the actions on pools."""

    def __init__(self, tree: Tree, store: Store, jobs: Jobs, mount_root: Path,
                 disk_rescans: Rescanner):
        self.tree = tree
        self.store = store
        self.jobs = jobs
        self.mount_root = mount_root
        self.disk_rescans = disk_rescans
        self.rescans = Rescanner("pool", self.rescan)
        self.intent: dict[str, dict] = {}
        self.rescanned: list[Callable[[str], None]] = []
        self._claiming = asyncio.Lock()
        """Held from the checks of a create, import or rename to its intent kept: two of them
        never both pass the checks for one name or one disk."""

    async def load(self) -> None:
        self.intent = await self.store.intents("pool")
        self.rescans.start()

    # -- observing --------------------------------------------------------------------------

    def mount_point(self, name: str) -> Path:
        return self.mount_root / name

    def _disk_id(self, path: str | None) -> str | None:
        if not path:
            return None
        name = os.path.basename(os.path.realpath(path))
        for disk_id, disk in (self.tree.get("/disks") or {}).items():
            if disk.get("name") == name:
                return disk_id
        return None

    async def probe(self, uuid: str) -> dict[str, Any] | None:
        """The pool as the system shows it now, or None when it is not one of ours."""
        intent = self.intent.get(uuid)
        if intent is None:
            return None
        fs = next((f for f in await btrfs.filesystems() if f["uuid"] == uuid), None)
        mounts = [m for m in btrfs.mounts() if m["uuid"] == uuid]
        top = next((m for m in mounts if m["subvol"] == "/"), mounts[0] if mounts else None)
        expected = str(self.mount_point(intent["name"]))
        mine = next((m for m in mounts if m["target"] == expected), top)
        stats = await btrfs.device_stats(mine["target"]) if mine else {}
        errors = {e["devid"]: {k: v for k, v in e.items() if k != "devid"}
                  for e in stats.values()}
        devices = [{
            "devid": dev["devid"], "disk": self._disk_id(dev["path"]), "path": dev["path"],
            "size": dev["size"], "used": dev["used"], "missing": dev["missing"],
            "errors": errors.get(dev["devid"])} for dev in (fs or {}).get("devices", [])]
        if mine and any(d["missing"] for d in devices):
            # `filesystem show` says size 0 for a missing device; the kernel knows its size
            try:
                known = {d["devid"]: d for d in btrfs.device_info(mine["target"])}
            except OSError as exc:
                log.info("device sizes of %s: %s", intent["name"], exc)
                known = {}
            for device in devices:
                if device["missing"] and device["devid"] in known:
                    device["size"] = known[device["devid"]]["size"]
                    device["used"] = known[device["devid"]]["used"]
        missing = max(sum(1 for d in devices if d["missing"]),
                      (fs or {}).get("devices_missing", 0))
        value: dict[str, Any] = {
            "id": uuid,
            "name": intent["name"],
            "label": fs["label"] if fs else intent["name"],
            "present": fs is not None,
            "mounted": mine is not None,
            "mount_point": mine["target"] if mine else None,
            "mount_options": ",".join(_filesystem_options(mine)) if mine else None,
            "compression": _compression_of(mine["super_options"]) if mine else None,
            "quotas": None,
            "data": None, "metadata": None, "system": None,
            "devices": devices,
            "usage": None,
            "missing_devices": missing,
            # while a device is missing; the kernel keeps the `degraded` mount option (shown
            # in mount_options) after a replace or remove until the pool is mounted again
            "degraded": bool(missing),
            "exclusive_operation": None,
        }
        if mine:
            value.update(btrfs.profiles(uuid))
            value["usage"] = btrfs.usage(uuid, mountpoint=mine["target"])
            value["quotas"] = btrfs.quotas_enabled(uuid)
            value["exclusive_operation"] = btrfs.exclusive_operation(uuid)
        return value

    async def rescan(self, uuid: str) -> None:
        value = await self.probe(uuid)
        if value is None or uuid not in self.intent:  # deleted while it was probed
            self.tree.delete(("pools", uuid))
        else:
            self.tree.set(("pools", uuid), value)
        for callback in self.rescanned:
            callback(uuid)

    async def rescan_all(self) -> None:
        known = set(self.tree.get("/pools") or {}) | set(self.intent)
        for uuid in known:
            await self.rescan(uuid)

    def refresh_usage(self) -> None:
        """Read each mounted pool's usage again (sysfs, no process): writes raise no event."""
        with self.tree.transaction():
            for pool in (self.tree.get("/pools") or {}).values():
                if not pool["mounted"]:
                    continue
                try:
                    usage = btrfs.usage(pool["id"], mountpoint=pool["mount_point"])
                    allocated = {d["devid"]: d["used"]
                                 for d in btrfs.device_info(pool["mount_point"])}
                except OSError as exc:  # unmounted a moment ago: the mount watcher says so
                    log.debug("usage of %s: %s", pool["name"], exc)
                    continue
                self.tree.set(("pools", pool["id"], "usage"), usage)
                devices = [{**d, "used": allocated.get(d["devid"], d["used"])}
                           for d in pool["devices"]]
                self.tree.set(("pools", pool["id"], "devices"), devices)

    def mounts_changed(self) -> None:
        for uuid in self.intent:
            self.rescans.request(uuid)

    async def settle(self, uuid: str) -> dict[str, Any]:
        self.rescans.request(uuid)
        await self.rescans.settle()
        return self.tree.resource("pools", uuid)

    # -- helpers for actions ----------------------------------------------------------------

    def get(self, pool_id: str) -> dict[str, Any]:
        return self.tree.resource("pools", pool_id)

    def mounted(self, pool_id: str) -> dict[str, Any]:
        pool = self.get(pool_id)
        if not pool["mounted"]:
            raise Conflict(f"pool {pool['name']} is not mounted", code="not_mounted")
        return pool

    def writable(self, pool_id: str) -> dict[str, Any]:
        """A mounted pool with room for a new subvolume (read now: usage has no event)."""
        pool = self.mounted(pool_id)
        if btrfs.usage(pool_id, mountpoint=pool["mount_point"])["free_estimate"] < FULL:
            raise Unprocessable(f"pool {pool['name']} is full", code="no_space")
        return pool

    def free_disks(self, disk_ids: list[str]) -> list[dict[str, Any]]:
        """The disks, checked to be managed and empty, in the order given."""
        if len(set(disk_ids)) != len(disk_ids):
            raise BadRequest("a disk is named twice", code="invalid_field")
        disks = []
        for disk_id in disk_ids:
            disk = self.tree.resource("disks", disk_id)
            if not disk["managed"]:
                raise Forbidden(f"disk {disk_id} is not managed by rockd (see --devices)",
                                code="unmanaged_device", detail={"disk": disk_id})
            if disk.get("pool"):
                raise Conflict(f"disk {disk_id} belongs to a btrfs filesystem",
                               code="disk_in_use", detail={"disk": disk_id})
            if disk.get("filesystem") or disk.get("partitions"):
                raise Conflict(f"disk {disk_id} holds data (a filesystem or partitions); "
                               "wipe it first", code="disk_in_use", detail={"disk": disk_id})
            disks.append(disk)
        return disks

    def _name_free(self, name: str, uuid: str | None = None) -> None:
        """409 when a pool has the name, or its mount point is in use: anything there but an
        empty folder, or the filesystem `uuid` itself mounted there."""
        if any(p["name"] == name for p in self.intent.values()):
            raise Conflict(f"a pool named {name} exists", code="exists")
        point = self.mount_point(name)
        if not os.path.lexists(point):
            return
        if point.is_mount():
            if uuid and any(m["target"] == str(point) and m["uuid"] == uuid
                            for m in btrfs.mounts()):
                return
        elif point.is_dir() and not point.is_symlink() and not any(point.iterdir()):
            return
        raise Conflict(f"{point} is in use", code="exists")

    def _members(self, uuid: str, chosen: str | None) -> list[str]:
        """The paths of the present disks to mount a pool from, the disk `chosen` (the one it
        was created on or imported from) first. Of two disks holding copies of one device (see
        `duplicate_of` in /disks), only `chosen` counts: 409 duplicate_filesystem when neither
        is it, since which one is the pool's cannot be told."""
        disks = sorted((d for d in (self.tree.get("/disks") or {}).values()
                        if d.get("pool") == uuid), key=lambda d: d["id"] != chosen)
        paths = []
        for disk in disks:
            twins = (disk.get("filesystem") or {}).get("duplicate_of") or []
            if twins and chosen not in (disk["id"], *twins):
                raise Conflict(f"disks {', '.join([disk['id'], *twins])} hold copies of one "
                               "device of that filesystem (the same UUIDs): which one to "
                               "mount cannot be told", code="duplicate_filesystem",
                               detail={"disk": disk["id"], "duplicate_of": twins})
            if not twins or disk["id"] == chosen:
                paths.append(disk["path"])
        return paths

    async def _mount(self, uuid: str, devices: list[str], name: str, options: str) -> None:
        """Mount the pool by the device `devices[0]`, after making the kernel know each of
        `devices`; never by UUID, which a copy of a disk holds too. 422 mount_failed with what
        the kernel logged about these devices meanwhile (mount(8) says only "can't read
        superblock")."""
        point = self.mount_point(name)
        made = not (point.exists() or point.is_symlink())
        point.mkdir(parents=True, exist_ok=True)
        for device in devices:  # a disk that went away is not a reason to stop
            result = await run(["btrfs", "device", "scan", device], check=False)
            if result.returncode:
                log.info("btrfs device scan %s: %s", device, result.stderr.strip())
        with kernel_log.Following() as kernel:
            try:
                await run(["mount", "-t", "btrfs", "-o", options, devices[0], str(point)])
            except CommandError as exc:
                said = kernel_log.about(kernel.read(), devices)
                if made:
                    with contextlib.suppress(OSError):
                        point.rmdir()
                why = kernel_log.reason(said) or exc.stderr
                raise Unprocessable(f"pool {name} did not mount: {why}", code="mount_failed",
                                    detail={"kernel": [r.text for r in said],
                                            "mount": exc.stderr}) from None

    async def _remount(self, point: str, intent: dict[str, Any], compression: str | None
                       ) -> None:
        """Remount with the intended options; compression switched off needs saying so."""
        options = kept_options(intent)
        if _wanted_compression(intent) is None and compression is not None:
            options += ",compress=no"
        await run(["mount", "-o", f"remount,{options}", point])

    async def _save(self, uuid: str, intent: dict[str, Any]) -> None:
        await self.store.set_intent("pool", uuid, intent)
        self.intent[uuid] = intent

    async def _keep(self, uuid: str, intent: dict[str, Any], mounted: bool) -> None:
        """Save the intent of a pool that is now mounted; when that fails, unmount it again
        (if rockd mounted it): intent exists only for what was done."""
        try:
            await self._save(uuid, intent)
        except Exception:
            if mounted:
                with contextlib.suppress(CommandError):
                    await unmount(str(self.mount_point(intent["name"])))
            raise

    async def _wipe(self, paths: list[str]) -> None:
        """Erase the filesystem that create made on disks that were empty before."""
        for path in paths:
            result = await run(["wipefs", "--all", path], check=False)
            if result.returncode:
                log.warning("wipefs %s: %s", path, result.stderr.strip())

    # -- actions ----------------------------------------------------------------------------

    async def create(self, name: str, disk_ids: list[str], data: str, metadata: str | None,
                     compression: str | None, extra_options: str) -> dict[str, Any]:
        """mkfs on empty disks, mount, then keep the intent. Everything is checked before
        mkfs; a failure after it erases what mkfs wrote, so the disks are empty again."""
        check_compression(compression)
        options = mount_options(extra_options, compression)
        metadata = metadata or profiles.default_metadata(data, len(disk_ids))
        check_profiles(data, metadata, len(disk_ids))
        async with self._claiming:
            await self.disk_rescans.settle()  # what a create just before made is seen
            disks = self.free_disks(disk_ids)
            self._name_free(name)
            uuid = await self._format(disks, ["-L", name, "-d", data, "-m", metadata], options,
                                      {"name": name, "compression": compression,
                                       "mount_options": extra_options, "disk": disk_ids[0]})
        return await self.settle(uuid)

    async def _format(self, disks: list[dict[str, Any]], mkfs: list[str], options: str,
                      intent: dict[str, Any]) -> str:
        """mkfs.btrfs with `mkfs` arguments on the disks, mounted with `options`, `intent`
        kept: answers the new filesystem's UUID."""
        paths = [d["path"] for d in disks]
        try:  # without -f: mkfs refuses a disk formatted since rockd looked at it
            await run(["mkfs.btrfs", "--quiet", *mkfs, *paths], timeout=300)
        except CommandError as exc:
            if "existing filesystem" not in exc.stderr and "mounted" not in exc.stderr:
                raise
            raise Conflict(f"a disk is in use: {exc.stderr}", code="disk_in_use") from None
        try:
            made = await filesystem(paths[0])  # the signature mkfs just wrote
            if made is None or not made["uuid"]:
                raise RockdError(f"mkfs.btrfs left no filesystem on {paths[0]}")
            await self._mount(made["uuid"], paths, intent["name"], options)
            await self._keep(made["uuid"], intent, mounted=True)
        except Exception:
            await self._wipe(paths)
            raise
        finally:
            for disk in disks:
                self.disk_rescans.request(disk["name"])
        return made["uuid"]

    async def import_(self, disk_id: str) -> dict[str, Any]:
        """Take over the btrfs filesystem on a disk: mounted from that disk (a copy of it on
        another disk is refused, never mounted instead), then its intent kept."""
        disk = self.tree.resource("disks", disk_id)
        if not disk["managed"]:
            raise Forbidden(f"disk {disk_id} is not managed by rockd", code="unmanaged_device")
        fs = disk.get("filesystem")
        if not fs or fs["type"] != "btrfs":
            raise Unprocessable(f"disk {disk_id} holds no btrfs filesystem", code="not_btrfs")
        name = fs.get("label") or ""
        if not valid_name(name):
            raise Unprocessable(f"the filesystem's label {name!r} is not a valid pool name; "
                                "label it first (btrfs filesystem label)", code="invalid_name")
        async with self._claiming:
            self._importable(disk)
            self._name_free(name, fs["uuid"])
            members = self._members(fs["uuid"], disk_id)
            await self._all_managed(fs["uuid"])
            already = [m for m in btrfs.mounts() if m["uuid"] == fs["uuid"]]
            if not already:
                await self._mount(fs["uuid"], members, name, "defaults")
            await self._keep(fs["uuid"], {"name": name, "compression": None,
                                          "mount_options": "", "disk": disk_id},
                             mounted=not already)
        return await self.settle(fs["uuid"])

    async def _all_managed(self, uuid: str) -> None:
        """403 when a device of the filesystem `uuid` is not a disk rockd may change."""
        fs = next((f for f in await btrfs.filesystems() if f["uuid"] == uuid), None)
        for device in (fs or {}).get("devices", []):
            disk_id = self._disk_id(device["path"])
            if device["path"] and not (disk_id and self.tree.get(("disks", disk_id, "managed"))):
                raise Forbidden(f"{device['path']}, a device of that filesystem, is not managed "
                                "by rockd (see --devices)", code="unmanaged_device",
                                detail={"device": device["path"]})

    def _importable(self, disk: dict[str, Any]) -> None:
        """409 when the filesystem on `disk` is a pool already, or a copy of it (the same
        UUID, on another disk) is a pool or is mounted: import never takes the wrong one."""
        uuid, twins = disk["filesystem"]["uuid"], disk["filesystem"].get("duplicate_of") or []
        if uuid in self.intent:
            if twins:
                raise Conflict(f"disk {disk['id']} holds a copy of pool "
                               f"{self.intent[uuid]['name']} (the same filesystem UUID as "
                               f"disk {', '.join(twins)}); give it a UUID of its own first "
                               "(btrfstune -u)", code="duplicate_filesystem",
                               detail={"duplicate_of": twins})
            raise Conflict("that filesystem is a pool already", code="exists")
        mounted = [m["source"] for m in btrfs.mounts() if m["uuid"] == uuid]
        if mounted and not (btrfs.SYS_FS_BTRFS / uuid / "devices" / disk["name"]).exists():
            raise Conflict(f"a copy of that filesystem (the same UUID) is mounted from "
                           f"{mounted[0]}", code="duplicate_filesystem",
                           detail={"duplicate_of": twins, "mounted": mounted[0]})

    async def delete(self, pool_id: str, force: bool) -> None:
        pool = self.get(pool_id)
        shares = [s for s in (self.tree.get("/shares") or {}).values() if s["pool"] == pool_id]
        if shares and not force:
            raise Conflict(f"pool {pool['name']} holds {len(shares)} shares; "
                           "delete them or ask with force=true", code="not_empty",
                           detail={"shares": len(shares)})
        for mount in sorted(btrfs.mounts(), key=lambda m: len(m["target"]), reverse=True):
            if mount["uuid"] == pool_id:
                try:
                    await unmount(mount["target"])
                except CommandError as exc:
                    raise Conflict(f"pool {pool['name']} is busy: {exc.stderr}",
                                   code="busy") from None
        point = self.mount_point(pool["name"])
        if point.is_dir() and not point.is_mount():
            point.rmdir()
        await self.store.delete_intent("pool", pool_id)
        self.intent.pop(pool_id, None)
        self.tree.delete(("pools", pool_id))
        for callback in self.rescanned:
            callback(pool_id)
        for device in pool["devices"]:
            if device["path"]:
                self.disk_rescans.request(os.path.basename(device["path"]))

    async def update(self, pool_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        pool = self.mounted(pool_id)
        intent = dict(self.intent[pool_id])
        if "compression" in changes:
            check_compression(changes["compression"])
        new = {**intent, **{k: v for k, v in changes.items()
                            if k in ("compression", "mount_options")}}
        if changes.keys() & {"compression", "mount_options"}:  # checked before any change
            mount_options(new["mount_options"], new["compression"])
        if "label" in changes and changes["label"] != pool["name"]:
            async with self._claiming:
                await self._rename(pool, changes["label"])
                await self._save(pool_id, {**intent, "name": changes["label"]})  # done
            new["name"] = changes["label"]
        if new != intent or "compression" in changes or "mount_options" in changes:
            await self._remount(str(self.mount_point(new["name"])), new, pool["compression"])
        if "quotas" in changes and changes["quotas"] != pool["quotas"]:
            verb = "enable" if changes["quotas"] else "disable"
            await run(["btrfs", "quota", verb, str(self.mount_point(new["name"]))], timeout=600)
        await self._save(pool_id, new)
        return await self.settle(pool_id)

    async def _rename(self, pool: dict[str, Any], name: str) -> None:
        """Label the filesystem `name` and move its mount to the matching mount point."""
        self._name_free(name)
        old = self.mount_point(pool["name"])
        await run(["btrfs", "filesystem", "label", str(old), name])
        try:
            await unmount(str(old))
        except CommandError as exc:
            await run(["btrfs", "filesystem", "label", str(old), pool["name"]])
            raise Conflict(f"pool {pool['name']} is busy: {exc.stderr}", code="busy") from None
        old.rmdir()
        options = kept_options(self.intent[pool["id"]])
        members = [d["path"] for d in pool["devices"] if d["path"] and not d["missing"]]
        await self._mount(pool["id"], members, name, options)

    async def add_disks(self, pool_id: str, disk_ids: list[str]) -> dict[str, Any]:
        pool = self.mounted(pool_id)
        disks = self.free_disks(disk_ids)
        await run(["btrfs", "device", "add", *[d["path"] for d in disks], pool["mount_point"]],
                  timeout=300)
        for disk in disks:
            self.disk_rescans.request(disk["name"])
        return await self.settle(pool_id)

    def job_ended(self, job: Job) -> None:
        """A job on a pool ended: what it changed is read back."""
        for name in job.params.get("disks", []):
            self.disk_rescans.request(name)
        self.rescans.request(job.target)

    async def job_settled(self) -> None:
        """Until the disks and pools asked to be read back are."""
        await asyncio.gather(self.disk_rescans.settle(), self.rescans.settle())

    def resize(self, pool_id: str, disk_id: str, size: int | None) -> dict[str, Any]:
        """Grow (or shrink) btrfs on one disk: to the whole disk, or to `size` bytes."""
        pool = self.mounted(pool_id)
        device = next((d for d in pool["devices"] if d["disk"] == disk_id), None)
        if device is None:
            raise Unprocessable(f"disk {disk_id} is not in pool {pool['name']}",
                                code="not_in_pool")
        amount = "max" if size is None else str(size)
        return self.jobs.start("resize", pool_id, {
            "argv": ["btrfs", "filesystem", "resize", f"{device['devid']}:{amount}",
                     pool["mount_point"]],
            "mount_point": pool["mount_point"]})

    def balance(self, pool_id: str, filter_text: str | None) -> dict[str, Any]:
        """A balance job with the user's filters; 422 for a conversion to a profile that needs
        more disks than the pool has."""
        pool = self.mounted(pool_id)
        args = balance_filters(filter_text)
        present = sum(1 for d in pool["devices"] if not d["missing"])
        for profile in conversions(args):
            _require_disks(profile, profile, present, "given", f"pool {pool['name']} has")
        return self.jobs.start("balance", pool_id, {
            "mount_point": pool["mount_point"], "args": args})

    def scrub(self, pool_id: str, readonly: bool) -> dict[str, Any]:
        pool = self.mounted(pool_id)
        return self.jobs.start("scrub", pool_id, {
            "mount_point": pool["mount_point"], "readonly": readonly,
            "devids": [d["devid"] for d in pool["devices"] if not d["missing"]],
            # read now: writes raise no event, so the tree's usage may be behind
            "bytes": btrfs.usage(pool_id, mountpoint=pool["mount_point"])["used"]})

    def _enough_left(self, pool: dict[str, Any], remaining: int) -> None:
        """422 not_enough_disks when a profile in use needs more than `remaining` present
        devices. Every profile that has chunks counts, as in the kernel's own check: a degraded
        mount or an unfinished convert leaves chunks of more than one profile."""
        try:
            allocation = btrfs.read_allocation(pool["id"])
            used = [(kind, name) for kind in ("data", "metadata", "system")
                    for name in allocation[kind]["profiles"]]
        except OSError:
            used = []
        used = used or [(kind, pool[kind]) for kind in ("data", "metadata") if pool[kind]]
        for kind, name in sorted(used, key=lambda u: -profiles.info(u[1]).min_devices):
            _require_disks(name, f"{name} {kind}", remaining, "remaining", "would remain:")

    def remove_disks(self, pool_id: str, disk_ids: list[str]) -> dict[str, Any]:
        """A device_remove job for the disks, or, for ["missing"], for a device that is gone."""
        pool = self.mounted(pool_id)
        present = sum(1 for d in pool["devices"] if not d["missing"])
        if MISSING in disk_ids:
            return self._remove_missing(pool, disk_ids, present)
        paths = []
        for disk_id in disk_ids:
            device = next((d for d in pool["devices"] if d["disk"] == disk_id), None)
            if device is None:
                raise Unprocessable(f"disk {disk_id} is not in pool {pool['name']}",
                                    code="not_in_pool")
            paths.append(device["path"])
        self._enough_left(pool, present - len(paths))
        return self.jobs.start("device_remove", pool_id, {
            "argv": ["btrfs", "device", "remove", *paths, pool["mount_point"]],
            "mount_point": pool["mount_point"], "disks": [os.path.basename(p) for p in paths]})

    def _remove_missing(self, pool: dict[str, Any], disk_ids: list[str], present: int
                        ) -> dict[str, Any]:
        """`btrfs device remove missing`: the pool (mounted degraded) forgets one device that
        is gone, after writing the copies it held onto the present devices."""
        if disk_ids != [MISSING]:
            raise BadRequest('"missing" is asked for alone, without disk ids',
                             code="invalid_field", detail={"field": "remove"})
        if not pool["missing_devices"]:
            raise Conflict(f"pool {pool['name']} has no missing device",
                           code="no_missing_device")
        self._enough_left(pool, present)
        return self.jobs.start("device_remove", pool["id"], {
            "argv": ["btrfs", "device", "remove", MISSING, pool["mount_point"]],
            "mount_point": pool["mount_point"], "disks": []})

    def replace_disk(self, pool_id: str, old_ref: str, new_id: str) -> dict[str, Any]:
        """A device_replace job: `old_ref` is a disk id of the pool, or `devid:N` for device N
        (a missing one too: the pool is then mounted degraded)."""
        pool = self.mounted(pool_id)
        devid = devid_of(old_ref)
        if devid is None:
            old = next((d for d in pool["devices"] if d["disk"] == old_ref), None)
            if old is None:
                raise Unprocessable(f"disk {old_ref} is not in pool {pool['name']}",
                                    code="not_in_pool")
        else:
            old = next((d for d in pool["devices"] if d["devid"] == devid), None)
            if old is None:
                raise NotFound(f"pool {pool['name']} has no device {devid}",
                               detail={"devid": devid})
        (new,) = self.free_disks([new_id])
        needed = old["size"]
        if old["missing"]:  # `filesystem show` says 0; the kernel knows the size btrfs used
            needed = next((d["size"] for d in btrfs.device_info(pool["mount_point"])
                           if d["devid"] == old["devid"]), needed)
        if new["size"] < needed:
            raise Unprocessable("the new disk is smaller than the one it replaces",
                                code="too_small", detail={"needed": needed})
        names = [new["name"]] + ([os.path.basename(old["path"])] if old["path"] else [])
        return self.jobs.start("device_replace", pool_id, {
            "argv": ["btrfs", "replace", "start", "-B", str(old["devid"]), new["path"],
                     pool["mount_point"]],
            "mount_point": pool["mount_point"], "disks": names})

    def convert(self, pool_id: str, data: str, metadata: str | None) -> dict[str, Any]:
        pool = self.mounted(pool_id)
        metadata = metadata or pool["metadata"]
        present = len([d for d in pool["devices"] if not d["missing"]])
        check_profiles(data, metadata, present)
        return self.jobs.start("balance", pool_id, {
            "mount_point": pool["mount_point"],
            "args": ["--force", f"-dconvert={data}", f"-mconvert={metadata}"]})

    async def mount(self, pool_id: str, degraded: bool = False) -> dict[str, Any]:
        """Mount a pool that is not mounted; `degraded` lets one with a missing disk mount."""
        pool = self.get(pool_id)
        if pool["mounted"]:
            raise Conflict(f"pool {pool['name']} is mounted already", code="mounted")
        intent = self.intent[pool_id]
        options = kept_options(intent)
        if degraded:
            options += ",degraded"
        members = self._members(pool_id, intent.get("disk"))
        if not members:
            raise Unprocessable(f"no disk of pool {pool['name']} is present",
                                code="mount_failed",
                                detail={"missing_devices": pool["missing_devices"]})
        try:
            await self._mount(pool_id, members, pool["name"], options)
        except Unprocessable as exc:
            exc.detail["missing_devices"] = pool["missing_devices"]
            raise
        return await self.settle(pool_id)

    async def unmount(self, pool_id: str) -> dict[str, Any]:
        pool = self.mounted(pool_id)
        try:
            await unmount(pool["mount_point"])
        except CommandError as exc:
            raise Conflict(f"pool {pool['name']} is busy: {exc.stderr}", code="busy") from None
        return await self.settle(pool_id)

    async def reconcile(self) -> None:
        """At start-up: mount every pool that should be, and put back the options the user
        asked for where the system drifted from them (the drift is logged)."""
        mounts = btrfs.mounts()
        for uuid, intent in self.intent.items():
            point = str(self.mount_point(intent["name"]))
            mine = next((m for m in mounts if m["uuid"] == uuid and m["target"] == point), None)
            try:
                options = kept_options(intent)
                if mine is None:
                    members = self._members(uuid, intent.get("disk"))
                    if not members:
                        log.warning("pool %s: no disk of it is present; not mounted",
                                    intent["name"])
                        continue
                    await self._mount(uuid, members, intent["name"], options)
                    log.info("mounted pool %s", intent["name"])
                    continue
                have = set(_filesystem_options(mine))
                wanted = {o for o in options.split(",")
                          if o != "defaults" and not o.startswith("compress=")}
                compression = _compression_of(mine["super_options"])
                if not all(_in_force(o, have) for o in wanted) or \
                        not _same_compression(compression, intent):
                    log.warning("pool %s drifted: mounted with %s, wanted %s; remounting",
                                intent["name"], ",".join(sorted(have)), options)
                    await self._remount(point, intent, compression)
            except (CommandError, RockdError) as exc:
                log.warning("pool %s: %s", intent["name"], exc)
