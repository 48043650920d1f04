"""Scrub jobs: every copy of every block read and checked, with progress and error counts from
the kernel's own scrub counters (SCRUB_PROGRESS, per device, each second). Pause is a cancel
that btrfs remembers, and resume is `btrfs scrub resume`, which goes on from there."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

from rockd.core.errors import Conflict
from rockd.core.jobs import Job, JobFailed, Kind, Vanished
from rockd.core.plural import counted
from rockd.core.process import CommandError, run
from rockd.core.times import parse_iso
from rockd.core.wording import size
from rockd.storage import btrfs_ioctl

STATUS_DIR = Path("/var/lib/btrfs")
"""Where `btrfs scrub start` keeps its record of each filesystem's last scrub."""
CLOCK_SLACK = 5.0
"""A record that began up to this many seconds before the job did is the job's own."""
_NUMBER = re.compile(r"[0-9]+")
ERRORS = ("read_errors", "csum_errors", "verify_errors", "super_errors", "malloc_errors",
          "uncorrectable_errors", "corrected_errors", "unverified_errors")


def totals(counters: list[dict[str, int]]) -> dict[str, int]:
    return {key: sum(c.get(key, 0) for c in counters)
            for key in ("data_bytes_scrubbed", "tree_bytes_scrubbed", *ERRORS)}


def describe(total: dict[str, int], of: int) -> tuple[float | None, str]:
    scrubbed = total["data_bytes_scrubbed"] + total["tree_bytes_scrubbed"]
    errors = sum(total[k] for k in ERRORS if k != "corrected_errors")
    fraction = min(scrubbed / of, 0.99) if of else None
    text = f"scrubbed {size(scrubbed)} of {size(of)}, {counted(errors, 'error')}"
    if total["corrected_errors"]:
        text += f", {total['corrected_errors']} corrected"
    return fraction, text


def parse_status(text: str) -> dict[int, dict[str, int]]:
    """btrfs-progs' scrub status file (`scrub status:1`, then `FSID:DEVID|key:value|...` a
    device): {devid: {key: value}} (counters, t_start, t_resumed, canceled, finished)."""
    found: dict[int, dict[str, int]] = {}
    for line in text.splitlines()[1:]:
        head, _, rest = line.partition("|")
        devid = head.rpartition(":")[2]
        if not _NUMBER.fullmatch(devid):
            continue
        pairs = (item.partition(":") for item in rest.split("|"))
        found[int(devid)] = {k: int(v) for k, _, v in pairs if _NUMBER.fullmatch(v)}
    return found


def read_status(uuid: str) -> dict[int, dict[str, int]]:
    """The record of the filesystem's last scrub (see parse_status); empty when there is none."""
    try:
        return parse_status((STATUS_DIR / f"scrub.status.{uuid}").read_text())
    except OSError:
        return {}


def parse_raw(text: str) -> dict[str, int]:
    """The counters `btrfs scrub start -B -R` prints at the end (summed over devices)."""
    found: dict[str, int] = {}
    for key, value in re.findall(r"^\s*([a-z_]+): ([0-9]+)$", text, re.MULTILINE):
        found[key] = found.get(key, 0) + int(value)
    return found


class ScrubKind(Kind):
    """`btrfs scrub start -B -R` supervised; it may run beside a pool's exclusive job."""

    name = "scrub"
    exclusive = False

    def _read(self, job: Job) -> list[dict[str, int]] | None:
        point = job.params["mount_point"]
        found = [btrfs_ioctl.scrub_progress(point, devid) for devid in job.params["devids"]]
        counters = [c for c in found if c is not None]
        return counters or None

    def _tick(self, job: Job) -> Callable[[], None]:
        def tick() -> None:
            counters = self._read(job)
            if counters is not None:
                job.progress(*describe(totals(counters), job.params["bytes"]))
        return tick

    def _result(self, job: Job, counters: dict[str, int]) -> str:
        total = {k: counters.get(k, 0) for k in totals([])}
        job.update(result=total)
        return describe(total, job.params["bytes"])[1]

    async def _follow(self, job: Job, argv: list[str]) -> str | None:
        # exit 3: it ran to the end and found errors it could not correct (a finding, shown)
        result = await self.follow(job, [*argv, job.params["mount_point"]], self._tick(job),
                                   ok=(0, 3))
        if result is None:
            return None  # cancelled to pause: btrfs keeps where it was for `scrub resume`
        counters = parse_raw(result.stdout)
        if not counters:
            raise JobFailed(result.stderr.strip() or "scrub printed no counters")
        return self._result(job, counters)

    async def run(self, job: Job) -> str | None:
        argv = ["btrfs", "scrub", "start", "-B", "-R"]
        if job.params.get("readonly"):
            argv.append("-r")
        return await self._follow(job, argv)

    async def resume_run(self, job: Job) -> str | None:
        return await self._follow(job, ["btrfs", "scrub", "resume", "-B", "-R"])

    async def pause(self, job: Job) -> None:
        """btrfs cannot pause a scrub, but a cancelled one resumes where it stopped."""
        await self.cancel(job)

    async def resume(self, job: Job) -> None:
        """Nothing to do before resume_run starts `btrfs scrub resume`."""

    async def attach(self, job: Job) -> str | None:
        """Follow the scrub while the kernel runs it; once it is over (or if it was over
        before rockd came back), its outcome is what btrfs-progs recorded in its status file."""
        counters = await asyncio.to_thread(self._read, job)
        while counters is not None:
            job.progress(*describe(totals(counters), job.params["bytes"]))
            await asyncio.sleep(1.0)
            counters = await asyncio.to_thread(self._read, job)
        self.ended(job)
        return self._recorded_outcome(job, await asyncio.to_thread(read_status, job.target))

    def _recorded_outcome(self, job: Job, devices: dict[int, dict[str, int]]) -> str | None:
        """The final detail from btrfs-progs' record of this scrub (written by the `scrub
        start` process, which outlives rockd), None when it was cancelled (so paused: `scrub
        resume` goes on from there), Vanished when there is no record of it."""
        began = parse_iso(job.value["started"])
        since = began.timestamp() - CLOCK_SLACK if began else 0
        found = [devices.get(devid) for devid in job.params["devids"]]
        record = [r for r in found if r]
        if len(record) < len(found) or not all(
                max(r.get("t_start", 0), r.get("t_resumed", 0)) >= since for r in record):
            raise Vanished("the scrub was no longer running when rockd restarted, and btrfs "
                           "holds no record of how it ended; its outcome is unknown")
        if any(r.get("canceled") for r in record):
            return None
        if not all(r.get("finished") for r in record):
            raise Vanished("the scrub stopped before its end while rockd was not running")
        detail = self._result(job, totals(record))
        return f"{detail} (from btrfs' record of the scrub, after a restart)"

    async def cancel(self, job: Job) -> None:
        try:
            await run(["btrfs", "scrub", "cancel", job.params["mount_point"]])
        except CommandError as exc:
            raise Conflict(f"the scrub could not be cancelled: {exc.stderr}",
                           code="not_running") from None
