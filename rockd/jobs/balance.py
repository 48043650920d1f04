"""Balance jobs (also profile conversion): progress from the kernel's chunk counters, and
pause, resume and cancel as btrfs offers them."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from rockd.core.errors import BadRequest, Conflict
from rockd.jobs.supervisor import Job, Kind, Vanished
from rockd.storage import btrfs
from rockd.storage.commands import CommandError, run

FILTER = re.compile(r"^-[dms](usage|devid|drange|vrange|limit|stripes|convert|profiles|soft)?"
                    r"(=[A-Za-z0-9.,:|]+)?$|^--force$")
RUNNING = 1


def filters(text: str | None) -> list[str]:
    """The balance filters a user may give (`-dusage=50 -musage=30`), checked one by one; a
    balance without filters is a full one, which btrfs wants said."""
    args = (text or "").split()
    for arg in args:
        if not FILTER.match(arg):
            raise BadRequest(f"balance filter {arg!r} is not allowed", code="invalid_field",
                             detail={"field": "filters"})
    return args or ["--full-balance"]


def _detail(progress: dict[str, int]) -> tuple[float | None, str]:
    expected, done = progress["expected"], progress["completed"]
    fraction = min(done / expected, 0.99) if expected else None
    return fraction, f"relocated {done} of {expected} chunks"


class BalanceKind(Kind):
    """`btrfs balance start` supervised, its progress read with BALANCE_PROGRESS each second."""

    name = "balance"

    def _tick(self, job: Job) -> Callable[[], None]:
        def tick() -> None:
            progress = btrfs.balance_progress(job.params["mount_point"])
            if progress is not None:
                job.progress(*_detail(progress))
        return tick

    async def _follow(self, job: Job, argv: list[str]) -> str | None:
        result = await self.follow(job, argv, self._tick(job))
        if result is None:
            return None
        done = re.search(r"relocate (\d+) out of (\d+) chunks", result.stdout)
        return f"relocated {done[1]} of {done[2]} chunks" if done else "done"

    async def run(self, job: Job) -> str | None:
        return await self._follow(job, ["btrfs", "balance", "start", *job.params["args"],
                                        job.params["mount_point"]])

    async def resume_run(self, job: Job) -> str | None:
        return await self._follow(job, ["btrfs", "balance", "resume",
                                        job.params["mount_point"]])

    async def attach(self, job: Job) -> str | None:
        point = job.params["mount_point"]
        progress = await asyncio.to_thread(btrfs.balance_progress, point)
        if progress is None:
            raise Vanished("the balance was no longer running when rockd restarted; "
                           "its outcome is unknown")
        while progress is not None:
            if not progress["state"] & RUNNING:
                return None  # paused: resume goes on with it
            job.progress(*_detail(progress))
            await asyncio.sleep(1.0)
            progress = await asyncio.to_thread(btrfs.balance_progress, point)
        self.ended(job)
        return "done (followed after a restart)"

    async def pause(self, job: Job) -> None:
        try:
            await run(["btrfs", "balance", "pause", job.params["mount_point"]])
        except CommandError as exc:
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
