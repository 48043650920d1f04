"""Prune jobs: snapshots that retention lets go, deleted in batches with progress.

Deleting snapshots is slow work for the kernel (measured: 30 s for 100 with quotas on),
so it never happens inside a request: each batch is one `btrfs subvolume delete
--commit-after`, and a cancel stops the job between batches.
"""

from __future__ import annotations

from rockd.core.jobs import Cancelled, Job, JobFailed, Kind
from rockd.core.plural import counted
from rockd.core.process import run

BATCH = 25


class PruneKind(Kind):
    name = "prune"
    exclusive = False

    async def run(self, job: Job) -> str:
        paths = job.params["paths"]
        try:
            for start in range(0, len(paths), BATCH):
                if job.requested == "cancel":
                    raise Cancelled
                batch = paths[start:start + BATCH]
                result = await run(["btrfs", "subvolume", "delete", "--commit-after", *batch],
                                   timeout=3600, check=False)
                if result.returncode != 0:
                    job.output(result.stderr)
                    raise JobFailed(result.stderr.strip() or "btrfs subvolume delete failed")
                done = start + len(batch)
                job.progress(done / len(paths),
                             f"deleted {done} of {counted(len(paths), 'snapshot')}")
        finally:
            self.ended(job)
        return f"deleted {counted(len(paths), 'snapshot')}"

    async def cancel(self, job: Job) -> None:
        """Stops after the batch being deleted now."""
