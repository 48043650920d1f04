"""SSD care and deduplication of a pool: what its devices are (the kernel's rotational and
discard flags in sysfs), the mount options rockd recommends for them, and the checks and
parameters of the trim and dedup jobs (the kinds that run them are rockd.jobs.trim and
rockd.jobs.dedup).

Recommendations: `ssd` when every present device is non-rotational, `discard=async` when every
present device takes discard (an SSD, a thin-provisioned volume, a loop device on a sparse
file: freed blocks go back to what is below). The kernel (6.2 and later) turns both on by
itself in those cases, unless the pool's options say `nossd` or `nodiscard`: the
recommendation says what is best for the devices and whether the mount has it.

The dedup hash database of a pool is kept on the pool itself, in `.rockd/dedup.hash` under
its root (a folder only rockd uses, left out of every scan): it grows with the pool's data
(about 72 bytes a 128 KiB block), so it belongs on the pool rather than the system disk, goes
with the pool when it is imported elsewhere, and goes when the pool does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rockd.core.errors import NotFound, Unprocessable
from rockd.storage.mounting import in_force

SYS_CLASS_BLOCK = Path("/sys/class/block")
CARE_DIR = ".rockd"
"""rockd's own folder under a pool's root (hidden; no share or snapshot is ever there)."""
HASH_FILE = "dedup.hash"
SNAPSHOTS = ".snapshots"
RECOMMENDED_ORDER = ("ssd", "discard=async")
UNDOES = {"ssd": ("nossd",),
          "discard=async": ("nodiscard", "discard", "discard=sync")}
"""What a recommended option replaces in the pool's own options."""


def _queue(path: str, root: Path) -> Path | None:
    """The sysfs queue folder of the block device at `path` (a partition: its disk's)."""
    name = os.path.basename(os.path.realpath(path))
    entry = root / name
    if (entry / "queue").is_dir():
        return entry / "queue"
    parent = entry.resolve().parent / "queue" if entry.exists() else None
    return parent if parent is not None and parent.is_dir() else None


def _number(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def device_flags(path: str | None, root: Path = SYS_CLASS_BLOCK) -> dict[str, bool | None]:
    """{"rotational", "discard"} of a device as the kernel says (None: not known, e.g. a
    missing device). Discard is taken when discard_max_bytes is not 0."""
    queue = _queue(path, root) if path else None
    if queue is None:
        return {"rotational": None, "discard": None}
    rotational, most = _number(queue / "rotational"), _number(queue / "discard_max_bytes")
    return {"rotational": None if rotational is None else rotational != 0,
            "discard": None if most is None else most > 0}


def _all(values: list[bool | None]) -> bool | None:
    """True when every value is true, False when one is false, None when none is known."""
    if any(v is False for v in values):
        return False
    return True if values and all(v is True for v in values) else None


def recommendation(devices: list[dict[str, Any]], intent_options: str,
                   shown: list[str] | None) -> dict[str, Any]:
    """The pool's `ssd` entry: whether its present devices are rotational and take discard,
    the options rockd recommends, which of them the mount shows now (None: not mounted), and
    the pool's own options with them (what to give as `mount_options` to apply them)."""
    present = [d for d in devices if not d.get("missing")]
    rotational = [None if d.get("rotational") is None else bool(d["rotational"])
                  for d in present]
    non_rotational = _all([None if r is None else not r for r in rotational])
    discard = _all([d.get("discard") for d in present])
    recommended = [o for o, yes in zip(RECOMMENDED_ORDER, (non_rotational, discard), strict=True)
                   if yes]
    own = [o for o in intent_options.split(",") if o]
    drop = {u for o in recommended for u in UNDOES[o]}
    kept = [o for o in own if o not in drop]
    with_them = kept + [o for o in recommended if o not in kept]
    have = set(shown) if shown is not None else None
    return {
        "rotational": None if non_rotational is None else not non_rotational,
        "discard": discard,
        "recommended_options": recommended,
        "in_force": None if have is None else [o for o in recommended if in_force(o, have)],
        "mount_options": ",".join(with_them),
    }


def discard_devices(pool: dict[str, Any]) -> list[str]:
    """The present devices of the pool that take discard; 422 discard_unsupported when none
    does (fstrim would have nothing to tell them)."""
    present = [d for d in pool["devices"] if not d["missing"] and d["path"]]
    taking = [d["path"] for d in present if device_flags(d["path"])["discard"]]
    if not taking:
        raise Unprocessable(f"no device of pool {pool['name']} supports discard (TRIM): "
                            "there is nothing to trim", code="discard_unsupported",
                            detail={"devices": [d["path"] for d in present]})
    return taking


def hash_file(mount_point: str) -> Path:
    return Path(mount_point) / CARE_DIR / HASH_FILE


def dedup_paths(tree: Any, pool: dict[str, Any], share_ids: list[str] | None
                ) -> tuple[list[str], list[str]]:
    """(paths to scan, exclude patterns) of a dedup: the shares named (404 unknown, 422
    not_in_pool for another pool's, 422 read_only for a read-only one), or the whole pool's
    root without its snapshots, its read-only shares and rockd's own folder."""
    root = pool["mount_point"]
    excludes = [f"{root}/{CARE_DIR}/*", f"{root}/{SNAPSHOTS}/*"]
    if share_ids is None:
        shares = [s for s in (tree.get("/shares") or {}).values()
                  if s["pool"] == pool["id"] and s["read_only"]]
        return [root], excludes + [f"{s['path']}/*" for s in shares]
    paths = []
    for share_id in dict.fromkeys(share_ids):
        share = tree.get(("shares", share_id))
        if share is None:
            raise NotFound(f"no share {share_id}", detail={"share": share_id})
        if share["pool"] != pool["id"]:
            raise Unprocessable(f"share {share['name']} is not in pool {pool['name']}",
                                code="not_in_pool", detail={"share": share_id})
        if share["read_only"]:
            raise Unprocessable(f"share {share['name']} is read-only: its files cannot be "
                                "deduplicated", code="read_only", detail={"share": share_id})
        paths.append(share["path"])
    return paths, excludes
