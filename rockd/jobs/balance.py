"""Balance jobs (also profile conversion): progress from the kernel's chunk counters, and
pause, resume and cancel as btrfs offers them. The filters a user may give are checked in
rockd.storage.pool_input before a job starts.

The kernel counts afresh after a resume (its counters start at 0 of the chunks still to move),
so as a paused balance resumes, the chunks moved so far are kept with the job
(`params["moved"]`) and added to what the kernel counts: the progress goes on from where it
stood."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable

from rockd.core.errors import Conflict
from rockd.core.jobs import Cancelled, Job, JobFailed, Kind, Vanished
from rockd.core.plural import counted
from rockd.core.process import CommandError, run
from rockd.storage import btrfs_ioctl, btrfs_sysfs, kernel_log

RUNNING = 1
"""The balance state bit of a balance the kernel runs now (not paused)."""


PAUSING = "pausing: the kernel ends the chunk it is moving first"


def _totals(progress: dict[str, int], moved: dict[str, int] | None) -> tuple[int, int] | None:
    """(chunks moved, chunks in all) over every run of the job, or None while unknown. Until
    the kernel considers its first chunk it is still counting them (`expected` grows): the
    totals before the last pause stand meanwhile."""
    before = moved or {"completed": 0, "expected": 0}
    if not progress["considered"] and not progress["completed"]:
        return (before["completed"], before["expected"]) if before["expected"] else None
    return (before["completed"] + progress["completed"],
            before["completed"] + progress["expected"])


def _detail(progress: dict[str, int], moved: dict[str, int] | None = None
            ) -> tuple[float | None, str]:
    totals = _totals(progress, moved)
    if totals is None:
        return None, "counting the chunks to move"
    done, expected = totals
    # a resumed balance may find more chunks to move than it had left (the ones it wrote
    # meanwhile): the bar never goes back below where it stood at the pause
    shown = moved["completed"] / moved["expected"] if moved and moved["expected"] else 0.0
    fraction = min(max(done / expected, shown), 0.99) if expected else None
    return fraction, f"relocated {done} of {counted(expected, 'chunk')}"


class BalanceKind(Kind):
    """`btrfs balance start` supervised, its progress read with BALANCE_PROGRESS each second."""

    name = "balance"

    def _tick(self, job: Job) -> Callable[[], None]:
        def tick() -> None:
            progress = btrfs_ioctl.balance_progress(job.params["mount_point"])
            if progress is not None and job.requested != "pause":
                job.progress(*_detail(progress, job.params.get("moved")))
        return tick

    async def _follow(self, job: Job, argv: list[str]) -> str | None:
        result = await self.follow(job, argv, self._tick(job))
        if result is None:
            self._moved_so_far(job)
            return None
        done = re.search(r"relocate (\d+) out of (\d+) chunks", result.stdout)
        if done is None:
            return "done"
        moved = job.params.get("moved") or {"completed": 0}
        return (f"relocated {moved['completed'] + int(done[1])} of "
                f"{counted(moved['completed'] + int(done[2]), 'chunk')}")

    def _moved_so_far(self, job: Job) -> dict[str, int] | None:
        """The chunks moved over every run so far, read from the paused balance (the kernel
        holds its counts until it resumes); the job's progress shows them."""
        progress = btrfs_ioctl.balance_progress(job.params["mount_point"])
        totals = None if progress is None else _totals(progress, job.params.get("moved"))
        if progress is None or totals is None:
            return None
        job.update(progress=_detail(progress, job.params.get("moved"))[0])
        return {"completed": totals[0], "expected": totals[1]}

    async def _mark(self, job: Job) -> None:
        """Note where the kernel's log stands as the balance begins: after a restart, the
        log tells how a balance that ended meanwhile ended."""
        if "kernel_log" not in job.params:
            where = await asyncio.to_thread(kernel_log.mark_filesystem, job.target,
                                            btrfs_sysfs.device_names(job.target))
            await job.remember(kernel_log=where)

    async def run(self, job: Job) -> str | None:
        await self._mark(job)
        return await self._follow(job, ["btrfs", "balance", "start", *job.params["args"],
                                        job.params["mount_point"]])

    async def resume_run(self, job: Job) -> str | None:
        await self._mark(job)
        moved = self._moved_so_far(job)
        if moved is not None:  # kept before the kernel starts counting afresh
            await job.remember(moved=moved)
        return await self._follow(job, ["btrfs", "balance", "resume",
                                        job.params["mount_point"]])

    async def attach(self, job: Job) -> str | None:
        """Follow the balance while the kernel runs it; once it is over (or if it was over
        before rockd came back), its outcome is what the kernel logged."""
        point = job.params["mount_point"]
        progress = await asyncio.to_thread(btrfs_ioctl.balance_progress, point)
        while progress is not None:
            if not progress["state"] & RUNNING:
                return None  # paused: resume goes on with it
            job.progress(*_detail(progress, job.params.get("moved")))
            await asyncio.sleep(1.0)
            progress = await asyncio.to_thread(btrfs_ioctl.balance_progress, point)
        self.ended(job)
        return await self._logged_outcome(job)

    async def _logged_outcome(self, job: Job) -> str:
        """How the balance ended, as the kernel logged it: the detail line of a success;
        JobFailed with the kernel's status and lines, Cancelled, or Vanished when the log
        does not say (another boot, its lines overwritten, no mark)."""
        if "kernel_log" not in job.params:  # noted, durably, before the balance starts
            raise Vanished("rockd stopped before the balance began; start it again")
        where = job.params["kernel_log"]
        found = await asyncio.to_thread(kernel_log.since, where)
        end = None if found is None else kernel_log.balance_end(found[0], where["devices"],
                                                                found[1])
        if end is None:
            raise Vanished("the balance was no longer running when rockd restarted, and the "
                           "kernel's log no longer says how it ended; its outcome is unknown")
        how, status, lines = end
        if how == "never":
            raise Vanished("rockd stopped before the balance began; start it again")
        if how == "canceled":
            raise Cancelled
        if status:
            raise JobFailed(f"{os.strerror(-status)} (the kernel's log: {'; '.join(lines)})")
        return "done (learnt from the kernel's log after a restart)"

    async def pause(self, job: Job) -> None:
        """Ask the kernel to pause; it does once the chunk it moves is moved. Meanwhile the
        job says it is pausing, and it shows paused as soon as `btrfs balance start` returns."""
        job.update(detail=PAUSING)
        try:
            await run(["btrfs", "balance", "pause", job.params["mount_point"]])
        except CommandError as exc:
            job.requested = None
            job.update(detail="")
            raise Conflict(f"the balance could not be paused: {exc.stderr}",
                           code="not_running") from None

    async def resume(self, job: Job) -> None:
        """Nothing to do before resume_run starts `btrfs balance resume`."""

    async def cancel(self, job: Job) -> None:
        try:
            await run(["btrfs", "balance", "cancel", job.params["mount_point"]], timeout=600)
        except CommandError as exc:
            raise Conflict(f"the balance could not be cancelled: {exc.stderr}",
                           code="not_running") from None
