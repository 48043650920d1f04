"""Jobs that are one btrfs command run to its end: device remove, device replace, resize.

The command outlives rockd (it is the kernel's work, in an ioctl). After a restart, a remove
or replace is followed until the pool's exclusive operation is over, and its outcome read from
the pool itself: whether the disks it was to take out are gone and the new one is in.
"""

from __future__ import annotations

from collections.abc import Callable

from rockd.core.jobs import Job, JobFailed, Kind, ReadBack
from rockd.core.process import run
from rockd.storage import btrfs_sysfs


def _removed(job: Job) -> bool:
    """Every disk the remove named is out of the pool (for `remove missing`: none is
    missing any more)."""
    if not job.params["disks"]:
        return not btrfs_sysfs.missing_devices(job.target)
    return not set(job.params["disks"]) & set(btrfs_sysfs.device_names(job.target))


def _replaced(job: Job) -> bool:
    """The new disk is in the pool and the old one (when it was present) is out."""
    new, *old = job.params["disks"]
    names = btrfs_sysfs.device_names(job.target)
    return new in names and not set(old) & set(names)


DONE: dict[str, Callable[[Job], bool]] = {"device_remove": _removed,
                                          "device_replace": _replaced}
"""How to tell, from the pool, that a job of this kind did its work."""


class CommandKind(Kind):
    """Runs `params["argv"]`; its output goes to the job's log; a non-zero exit fails it."""

    def __init__(self, name: str, cancel_argv: Callable[[Job], list[str]] | None = None,
                 owner: ReadBack | None = None):
        super().__init__(owner)
        self.name = name
        self._cancel_argv = cancel_argv

    async def run(self, job: Job) -> str:
        job.update(detail=" ".join(job.params["argv"][:4]))
        await self.follow(job, job.params["argv"])
        return "done"

    async def attach(self, job: Job) -> str | None:
        """After a restart: wait while the pool's exclusive operation (this command, still
        running) lasts, then see in the pool whether it did its work."""
        done = DONE.get(self.name)
        if done is None or not (btrfs_sysfs.SYS_FS_BTRFS / job.target).is_dir():
            return await super().attach(job)
        await btrfs_sysfs.exclusive_operation_over(job.target)
        self.ended(job)
        if not done(job):
            raise JobFailed(f"the {self.name.replace('_', ' ')} did not complete while rockd "
                            "was not running (the pool still holds the devices it had)")
        return "done (seen in the pool after a restart)"

    async def cancel(self, job: Job) -> None:
        if self._cancel_argv is None:
            await super().cancel(job)
            return
        await run(self._cancel_argv(job))
