"""SMART over time: each disk's report read again on a timer (a drive offers no event when its
attributes change), after a self-test, and at start; each reading sets the disk's summary in
/disks (through the inventory, its owner) and is kept in `SmartHistory`. Starting a self-test
is checked here (the drive offers that test, none runs) before the `smart_test` job runs it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rockd.core import resources
from rockd.core.errors import BadRequest, Conflict, Unprocessable
from rockd.core.jobs import UNFINISHED, Jobs
from rockd.core.process import CommandError
from rockd.core.tasks import cancel_and_wait
from rockd.storage import smart, smart_tests
from rockd.storage.disks import DiskInventory, has_smart
from rockd.storage.smart_history import SmartHistory

log = logging.getLogger(__name__)

KIND = "smart_test"


class SmartMonitor:
    """Reads disks' SMART reports into /disks and their history; checks self-test requests."""

    def __init__(self, inventory: DiskInventory, history: SmartHistory, jobs: Jobs,
                 interval: float = 3600.0):
        self.inventory, self.history, self.jobs = inventory, history, jobs
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def disk(self, disk_id: str) -> dict[str, Any]:
        """The disk's entry in /disks (404 for an unknown id)."""
        disk: dict[str, Any] = self.inventory.tree.resource("disks", disk_id)
        return disk

    def _has_smart(self, disk: dict[str, Any]) -> bool:
        return has_smart(disk, self.inventory.smart_loops)

    async def read(self, disk_id: str, record: bool = False) -> dict[str, Any]:
        """The disk's SMART report (`smart.parse`) read now, its summary set in /disks, and
        kept as a reading if `record`. 422 `smart_unsupported` where it has none."""
        disk = self.disk(disk_id)
        if not self._has_smart(disk):
            raise Unprocessable(f"{disk['path']} has no SMART", code="smart_unsupported",
                                detail={"device": disk["path"]})
        report = await smart.read(disk["path"])
        self.inventory.set_smart(disk_id, report["summary"])
        if record:
            await self.history.record({disk_id: (report["summary"], report["self_tests"])})
        return report

    async def read_all(self) -> None:
        """Every disk with SMART read again, `smart.CONCURRENCY` at a time, into /disks and
        the history (in one commit). A disk spun down is left asleep and unread."""
        disks = [d for d in (self.inventory.tree.get("/disks") or {}).values()
                 if self._has_smart(d)]
        gate = asyncio.Semaphore(smart.CONCURRENCY)

        async def one(disk: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
            async with gate:
                try:
                    return disk["id"], await smart.read(disk["path"], asleep_ok=True)
                except (Unprocessable, CommandError):
                    return disk["id"], None  # asleep, or gone: its summary stays as it was

        found = await asyncio.gather(*(one(d) for d in disks))
        with self.inventory.tree.transaction():
            for disk_id, report in found:
                if report is not None:
                    self.inventory.set_smart(disk_id, report["summary"])
        await self.history.record({disk_id: (report["summary"], report["self_tests"])
                                   for disk_id, report in found if report is not None})

    def start(self) -> None:
        """Read every disk now, and again every `interval` seconds."""
        self._task = asyncio.create_task(self._loop(), name="smart-readings")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.read_all()
            except Exception:
                log.exception("reading the disks' SMART failed")
            await asyncio.sleep(self.interval)

    def running_job(self, disk_id: str) -> resources.Job | None:
        """The unfinished self-test job of the disk, if there is one."""
        return next((j for j in (self.jobs.tree.get("/jobs") or {}).values()
                     if j["kind"] == KIND and j["target"] == disk_id
                     and j["state"] in UNFINISHED), None)

    async def start_test(self, disk_id: str, test: str) -> resources.Job:
        """Start a `smart_test` job: 422 where the drive has no SMART or does not offer the
        test, 409 where a self-test runs on it already (a job of rockd's, or the drive's own)."""
        if test not in smart_tests.TYPES:
            raise BadRequest(f"type is one of {', '.join(smart_tests.TYPES)}",
                             code="invalid_field", detail={"field": "type"})
        self.disk(disk_id)
        job = self.running_job(disk_id)
        if job is not None:
            raise Conflict(f"a self-test of disk {disk_id} runs already (job {job['id']})",
                           code="test_running", detail={"job": job["id"]})
        summary = (await self.read(disk_id))["summary"]
        if test not in summary["tests"]:
            offered = ", ".join(summary["tests"]) or "none"
            raise Unprocessable(f"disk {disk_id} offers no {test} self-test (it offers: "
                                f"{offered})", code="test_unsupported",
                                detail={"field": "type", "offered": summary["tests"]})
        job = self.running_job(disk_id)  # again: another request may have started one
        if summary["self_test"] is not None or job is not None:
            raise Conflict(f"disk {disk_id} runs a self-test already", code="test_running",
                           detail={"running": summary["self_test"], "job": job and job["id"]})
        return self.jobs.start(KIND, disk_id, {"type": test})
