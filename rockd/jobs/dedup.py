"""Dedup jobs: out-of-band deduplication of a pool's shares (or of the whole pool) with
`duperemove -dr`, its progress read from its output as it goes.

The hashes are kept in the pool's own hash database (rockd.storage.pool_care says where and
why), so a second run hashes only the files that changed since. Files the database already
knows elsewhere in the pool count as candidates too: the same data in two shares of one pool
is stored once.

What was saved is measured, not estimated: the pool's data in use (sysfs, after a commit)
before and after; `result.bytes_deduplicated` is the difference (duperemove's own figure
counts shared bytes, the copy that stays included, and again on a re-run). What is written to
or deleted from the pool meanwhile counts in it too; it is never below 0.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

from rockd.core.jobs import Job, JobFailed
from rockd.core.process import CommandError, run
from rockd.core.wording import size
from rockd.jobs.trim import Streamed
from rockd.storage import btrfs_sysfs

log = logging.getLogger(__name__)

HASHING = re.compile(r"^\[(?P<done>[0-9]+)/(?P<of>[0-9]+)\] \([0-9.]+%\) csum: ")
DEDUPING = re.compile(r"\((?P<done>[0-9]+)/(?P<of>[0-9]+)\) Try to dedupe extents")
SUBMITTED = re.compile(r"\] Dedupe (?P<count>[0-9]+) extents \(id")
FOUND = re.compile(r"^Found (?P<count>[0-9]+) identical extents")
TOTAL = re.compile(r"^Total files:\s+(?P<count>[0-9]+)")
NO_FILES = "No dedupe candidates found"
"""What duperemove says (exiting 22) when the paths hold no file it would hash."""
HASH_SHARE = 0.5
"""The part of the progress bar the hashing takes (the dedupe the rest)."""


class Progress:
    """Reads duperemove's lines as they come into the job's progress."""

    def __init__(self, job: Job):
        self.job = job
        self.hashed = 0
        self.files: int | None = None
        self.found = 0  # identical extents found
        self.submitted = 0  # of those, handed to the kernel (each batch with its target)
        self.sets = (0, 0)  # sets of identical extents begun, of all
        self.no_files = False

    def _deduping(self) -> None:
        done, of = self.sets
        part = self.submitted / self.found if self.found else done / of if of else 0.0
        self.job.progress(min(HASH_SHARE + (1 - HASH_SHARE) * part, 0.99),
                          f"deduplicating: {self.submitted} of {self.found} identical extents "
                          f"(set {done} of {of})")

    def line(self, text: str) -> None:
        if found := HASHING.match(text):
            self.hashed = int(found["done"])
            of = int(found["of"])
            self.job.progress(HASH_SHARE * self.hashed / of if of else None,
                              f"hashing file {self.hashed} of {of}")
        elif found := SUBMITTED.search(text):
            self.submitted += int(found["count"]) + 1
            self._deduping()
        elif found := DEDUPING.search(text):
            self.sets = (int(found["done"]), int(found["of"]))
            self._deduping()
        elif found := FOUND.match(text):
            self.found = int(found["count"])
            self.job.progress(HASH_SHARE, f"found {self.found} identical extents")
        elif found := TOTAL.match(text):
            self.files = int(found["count"])
        elif text.startswith(NO_FILES):
            self.no_files = True


async def data_used(uuid: str, mount_point: str) -> int:
    """The pool's data in use (logical bytes), after a commit: freed extents are counted
    free only once the transaction that freed them is on disk."""
    await run(["btrfs", "filesystem", "sync", mount_point], timeout=600)
    allocation = await asyncio.to_thread(btrfs_sysfs.read_allocation, uuid)
    return int(allocation["data"]["used"])


async def _prepare(folder: Path) -> None:
    """rockd's folder on the pool: only root reads it, and it is not copied on write (the
    hash database is an SQLite file rewritten in place)."""
    made = not await asyncio.to_thread(folder.exists)
    await asyncio.to_thread(folder.mkdir, mode=0o700, exist_ok=True)
    if made:
        try:
            await run(["chattr", "+C", str(folder)])
        except CommandError as exc:
            log.info("%s stays copy-on-write: %s", folder, exc.stderr)


class DedupKind(Streamed):
    """`duperemove -dr --hashfile=...` over the job's paths; its result holds
    `bytes_deduplicated` (measured), `files` and `files_hashed` (those read this time)."""

    name = "dedup"

    async def run(self, job: Job) -> str:
        params = job.params
        hash_file = Path(params["hash_file"])
        await _prepare(hash_file.parent)
        job.progress(None, "measuring the pool's data before")
        before = await data_used(job.target, params["mount_point"])
        argv = ["duperemove", "-dr", f"--hashfile={hash_file}",
                *(f"--exclude={pattern}" for pattern in params["excludes"]), *params["paths"]]
        progress = Progress(job)
        status = await self.stream(job, argv, progress.line)
        if progress.no_files:
            progress.files = 0
        elif status != 0:
            raise JobFailed("; ".join(list(job.lines)[-3:]) or f"duperemove exited {status}")
        after = await data_used(job.target, params["mount_point"])
        freed = max(before - after, 0)
        job.update(result={"bytes_deduplicated": freed, "files": progress.files,
                           "files_hashed": progress.hashed, "data_before": before,
                           "data_after": after})
        hashed = f"{progress.hashed} of {progress.files} files hashed" \
            if progress.files is not None else f"{progress.hashed} files hashed"
        return f"deduplicated {size(freed)} ({hashed})"
