"""What a pool request may say, each rule accepting it whole or refusing it (400/422) before
anything changes: mount options, compression, profiles and disk counts, devid references,
balance filters, and which disks are free for a pool.

Pure rules: no process runs here and nothing is written; the disks are read from the tree.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Any

from rockd.core.errors import BadRequest, Conflict, Forbidden, RockdError, Unprocessable
from rockd.core.names import valid_name
from rockd.core.tree import Subtree
from rockd.storage import profiles

log = logging.getLogger(__name__)

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


# -- mount options and compression ---------------------------------------------------------

def check_compression(value: str | None) -> None:
    if value is not None and not COMPRESSION.fullmatch(value):
        raise BadRequest(f"compression {value!r} is not no, lzo, zlib[:1-9] or zstd[:1-15]",
                         code="invalid_field", detail={"field": "compression"})


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


# -- profiles and disks --------------------------------------------------------------------

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


def require_disks(profile: str, what: str, count: int, key: str, counted: str) -> None:
    """422 not_enough_disks when `profile` needs more devices than `count`."""
    minimum = profiles.info(profile).min_devices
    if count < minimum:
        raise Unprocessable(f"{what} needs at least {minimum} disks; {counted} {count}",
                            code="not_enough_disks",
                            detail={"profile": profile, "minimum": minimum, key: count})


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


def free_disks(tree: Subtree, disk_ids: list[str]) -> list[dict[str, Any]]:
    """The disks (from /disks), checked to be managed and empty, in the order given."""
    if len(set(disk_ids)) != len(disk_ids):
        raise BadRequest("a disk is named twice", code="invalid_field")
    disks = []
    for disk_id in disk_ids:
        disk = tree.resource("disks", disk_id)
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


def importable_disk(tree: Subtree, disk_id: str) -> dict[str, Any]:
    """The disk (from /disks), checked to be managed and to hold a btrfs filesystem whose
    label is a valid pool name (the name the pool takes)."""
    disk = tree.resource("disks", disk_id)
    if not disk["managed"]:
        raise Forbidden(f"disk {disk_id} is not managed by rockd", code="unmanaged_device")
    fs = disk.get("filesystem")
    if not fs or fs["type"] != "btrfs":
        raise Unprocessable(f"disk {disk_id} holds no btrfs filesystem", code="not_btrfs")
    name = fs.get("label") or ""
    if not valid_name(name):
        raise Unprocessable(f"the filesystem's label {name!r} is not a valid pool name; "
                            "label it first (btrfs filesystem label)", code="invalid_name")
    return disk


# -- balance filters -----------------------------------------------------------------------

NUMBER = r"(0|[1-9][0-9]{0,19})"
RANGE = rf"{NUMBER}?\.\.{NUMBER}?"
VALUES = {
    "usage": re.compile(rf"{NUMBER}|{RANGE}"),
    "devid": re.compile(r"[1-9][0-9]{0,19}"),
    "drange": re.compile(RANGE),
    "vrange": re.compile(RANGE),
    "limit": re.compile(rf"{NUMBER}|{RANGE}"),
    "stripes": re.compile(RANGE),
}
"""The filters that take a number or a range `MIN..MAX` (either end may be left out), as
btrfs-progs 6.2 parses them: ASCII digits, and no leading zeros."""
U64 = (1 << 64) - 1


def _invalid(arg: str, why: str) -> BadRequest:
    return BadRequest(f"balance filter {arg!r}: {why}", code="invalid_field",
                      detail={"field": "filters"})


def _check_value(arg: str, name: str, value: str, role: str) -> None:
    """400 unless `value` is what filter `name` takes on chunks of `role` (d, m or s)."""
    if name in ("convert", "profiles"):
        wanted = value.split("|") if name == "profiles" else [value]
        usable = "for_data" if role == "d" else "for_metadata"
        if not all(p in profiles.PROFILES and getattr(profiles.PROFILES[p], usable)
                   for p in wanted):
            raise _invalid(arg, f"{value!r} is not a profile rockd offers there")
        return
    if name not in VALUES or not VALUES[name].fullmatch(value):
        raise _invalid(arg, f"{name}={value!r} is not a filter btrfs takes")
    numbers = [int(n) for n in value.split("..") if n]
    limit = 100 if name == "usage" else U64
    if any(n > limit for n in numbers):
        raise _invalid(arg, f"{name} is at most {limit}"
                       + (" (a percentage of each chunk)" if name == "usage" else ""))
    if numbers != sorted(numbers):
        raise _invalid(arg, f"{value!r} is not a range: its first number is larger")


def _check_filter(arg: str) -> str:
    """The role (d, m or s) of one `-d...`/`-m...`/`-s...` argument, checked filter by filter
    (`-dusage=50,limit=2`, `-mconvert=raid1,soft`)."""
    if len(arg) < 2 or arg[0] != "-" or arg[1] not in "dms":
        raise _invalid(arg, "not -d, -m, -s or --force")
    names = []
    for item in arg[2:].split(",") if arg[2:] else []:
        name, eq, value = item.partition("=")
        if name == "soft" and not eq:
            names.append(name)
            continue
        if not eq:
            raise _invalid(arg, f"{name!r} needs a value")
        _check_value(arg, name, value, arg[1])
        names.append(name)
    if "soft" in names and "convert" not in names:
        raise _invalid(arg, "soft goes only with convert")
    if "drange" in names and "devid" not in names:
        raise _invalid(arg, "drange goes only with devid")
    return arg[1]


def balance_filters(text: str | None) -> list[str]:
    """The balance arguments a user may give (`-dusage=50 -musage=30`), checked one by one
    as btrfs-progs would; a balance without filters is a full one, which btrfs wants said."""
    args = (text or "").split()
    roles = {_check_filter(arg) for arg in args if arg != "--force"}
    if "s" in roles and "--force" not in args:
        raise BadRequest("a balance of system chunks (-s) needs --force", code="invalid_field",
                         detail={"field": "filters"})
    return args if roles else [*args, "--full-balance"]


def balance_conversions(args: list[str]) -> list[str]:
    """The profiles that checked balance arguments (see `balance_filters`) convert chunks to."""
    return [item.partition("=")[2] for arg in args if arg.startswith("-")
            for item in arg[2:].split(",") if item.startswith("convert=")]
