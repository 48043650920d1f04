"""Hard disks' spin-down and APM (hdparm -S, -B) as intent.

What the user asked for is kept per disk in SQLite (intent kind "disk_power") and made true
with hdparm when it is set, at start, and whenever the disk comes (back): `disk_extras` (the
inventory's `DiskExtras`) sees a disk new to /disks and applies its settings. Each disk's
entry shows them at /disks/{id}/power with whether hdparm took them; a refusal (a loop device
or a USB bridge that does not pass the ATA command) shows as `applied: false` with hdparm's
`error`. Only rotational disks (sysfs' queue/rotational) are offered it.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from rockd.core.errors import BadRequest, Conflict, Forbidden
from rockd.core.process import CommandError, run
from rockd.core.resources.storage import DiskPower
from rockd.core.store import Store
from rockd.core.tree import Tree
from rockd.storage.disks import DiskInventory

log = logging.getLogger(__name__)

INTENT = "disk_power"
MAX_SPINDOWN = 330  # minutes: hdparm -S 251 is 5.5 hours, the longest it can say
TIMEOUT = 30.0


def standby_value(minutes: int) -> int:
    """hdparm -S's encoding: 0 off; 1..240 in 5 s steps (to 20 min); 241..251 in 30 min."""
    if minutes <= 0:
        return 0
    if minutes <= 20:
        return minutes * 12
    return min(240 + math.ceil(minutes / 30), 251)


def hdparm_argv(path: str, spindown: int | None, apm: int | None) -> list[str] | None:
    argv = ["hdparm"]
    if spindown is not None:
        argv += ["-S", str(standby_value(spindown))]
    if apm is not None:
        argv += ["-B", str(apm)]
    return [*argv, path] if len(argv) > 1 else None


def check(spindown: int | None, apm: int | None) -> None:
    if spindown is not None and not 0 <= spindown <= MAX_SPINDOWN:
        raise BadRequest(f"spindown is minutes from 0 (never) to {MAX_SPINDOWN}",
                         code="invalid_field", detail={"field": "spindown"})
    if apm is not None and not 1 <= apm <= 255:
        raise BadRequest("apm is a level from 1 to 255", code="invalid_field",
                         detail={"field": "apm"})


class Spindown:
    """The disks' power settings: intent, hdparm, and /disks/{id}/power (through the
    inventory, which calls `disk_extras` on each disk it probes)."""

    def __init__(self, store: Store, tree: Tree, inventory: DiskInventory):
        self.store = store
        self.tree = tree
        self.inventory = inventory
        self.intents: dict[str, dict[str, Any]] = {}
        self.status: dict[str, dict[str, Any]] = {}  # id -> {"applied", "error"}
        self._tasks: set[asyncio.Task[None]] = set()
        inventory.extras.append(self)

    async def load(self) -> None:
        self.intents = await self.store.intents(INTENT)

    def disk_extras(self, disk: dict[str, Any], new: bool) -> None:
        intent = self.intents.get(disk["id"])
        if intent is None or not disk["rotational"]:
            return
        if new:  # what the disk was set to before it went is not what it is now
            self.status[disk["id"]] = {"applied": False, "error": None}
        status = self.status.get(disk["id"], {"applied": False, "error": None})
        power: DiskPower = {"spindown": intent.get("spindown"), "apm": intent.get("apm"),
                            "applied": status["applied"], "error": status["error"]}
        disk["power"] = power
        if new and disk["managed"]:  # it came back: made true again
            task = asyncio.create_task(self._apply_and_show(disk["id"], disk["path"],
                                                            disk["name"]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def start(self) -> None:
        """At start: every disk present with settings gets them again."""
        for disk_id in list(self.intents):
            disk = self.tree.get(("disks", disk_id))
            if disk is not None and disk["managed"] and disk["rotational"]:
                await self._apply_and_show(disk_id, disk["path"], disk["name"])

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _apply(self, disk_id: str, path: str) -> None:
        intent = self.intents.get(disk_id) or {}
        argv = hdparm_argv(path, intent.get("spindown"), intent.get("apm"))
        if argv is None:
            self.status[disk_id] = {"applied": True, "error": None}
            return
        try:
            await run(argv, timeout=TIMEOUT)
            self.status[disk_id] = {"applied": True, "error": None}
            log.info("%s: %s", path, " ".join(argv[1:-1]))
        except CommandError as exc:
            error = exc.stderr or str(exc)
            self.status[disk_id] = {"applied": False, "error": error}
            log.warning("%s: hdparm refused %s: %s", path, " ".join(argv[1:-1]), error)

    async def _apply_and_show(self, disk_id: str, path: str, name: str) -> None:
        await self._apply(disk_id, path)
        await self.inventory.rescan(name)

    async def set(self, disk_id: str, spindown: int | None, apm: int | None) -> dict[str, Any]:
        """Keep and apply a disk's power settings; answer the disk as read back."""
        disk = self.tree.resource("disks", disk_id)
        check(spindown, apm)
        if not disk["managed"]:
            raise Forbidden(f"disk {disk_id} is not managed by rockd", code="unmanaged_device")
        if not disk["rotational"]:
            raise Conflict(f"{disk['path']} does not spin (not rotational): it has no "
                           "spin-down or APM", code="not_rotational")
        record = {"spindown": spindown, "apm": apm}
        await self.store.set_intent(INTENT, disk_id, record)
        self.intents[disk_id] = record
        await self._apply_and_show(disk_id, disk["path"], disk["name"])
        answer: dict[str, Any] = self.tree.resource("disks", disk_id)
        return answer
