"""Balance jobs (also profile conversion): progress from the kernel's chunk counters, and
pause, resume and cancel as btrfs offers them."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable

from rockd.core.errors import BadRequest, Conflict
from rockd.core.process import CommandError, run
from rockd.jobs.supervisor import Cancelled, Job, JobFailed, Kind, Vanished
from rockd.storage import btrfs, kernel_log, profiles

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
RUNNING = 1


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
    if any(n > limit for n in numbers) or numbers != sorted(numbers):
        raise _invalid(arg, f"{value!r} is out of range")


def _check(arg: str) -> str:
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


def filters(text: str | None) -> list[str]:
    """The balance arguments a user may give (`-dusage=50 -musage=30`), checked one by one
    as btrfs-progs would; a balance without filters is a full one, which btrfs wants said."""
    args = (text or "").split()
    roles = {_check(arg) for arg in args if arg != "--force"}
    if "s" in roles and "--force" not in args:
        raise BadRequest("a balance of system chunks (-s) needs --force", code="invalid_field",
                         detail={"field": "filters"})
    return args if roles else [*args, "--full-balance"]


def conversions(args: list[str]) -> list[str]:
    """The profiles that checked balance arguments (see `filters`) convert chunks to."""
    return [item.partition("=")[2] for arg in args if arg.startswith("-")
            for item in arg[2:].split(",") if item.startswith("convert=")]


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

    async def _mark(self, job: Job) -> None:
        """Note where the kernel's log stands as the balance begins: after a restart, the
        log tells how a balance that ended meanwhile ended."""
        if "kernel_log" not in job.params:
            where = await asyncio.to_thread(kernel_log.mark_filesystem, job.target,
                                            btrfs.device_names(job.target))
            await job.remember(kernel_log=where)

    async def run(self, job: Job) -> str | None:
        await self._mark(job)
        return await self._follow(job, ["btrfs", "balance", "start", *job.params["args"],
                                        job.params["mount_point"]])

    async def resume_run(self, job: Job) -> str | None:
        await self._mark(job)
        return await self._follow(job, ["btrfs", "balance", "resume",
                                        job.params["mount_point"]])

    async def attach(self, job: Job) -> str | None:
        """Follow the balance while the kernel runs it; once it is over (or if it was over
        before rockd came back), its outcome is what the kernel logged."""
        point = job.params["mount_point"]
        progress = await asyncio.to_thread(btrfs.balance_progress, point)
        while progress is not None:
            if not progress["state"] & RUNNING:
                return None  # paused: resume goes on with it
            job.progress(*_detail(progress))
            await asyncio.sleep(1.0)
            progress = await asyncio.to_thread(btrfs.balance_progress, point)
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
