"""Jobs that are one btrfs command run to its end: device remove and device replace."""

from __future__ import annotations

from collections.abc import Callable

from rockd.jobs.supervisor import Job, Kind, ReadBack
from rockd.storage.commands import run


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

    async def cancel(self, job: Job) -> None:
        if self._cancel_argv is None:
            await super().cancel(job)
            return
        await run(self._cancel_argv(job))
