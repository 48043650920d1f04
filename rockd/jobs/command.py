"""Jobs that are one btrfs command run to its end: device remove and device replace."""

from __future__ import annotations

from collections.abc import Callable

from rockd.jobs.supervisor import Cancelled, Job, JobFailed, Kind
from rockd.storage.commands import run, supervise


class CommandKind(Kind):
    """Runs `params["argv"]`; its output goes to the job's log; a non-zero exit fails it."""

    def __init__(self, name: str, cancel_argv: Callable[[Job], list[str]] | None = None,
                 ended: Callable[[Job], None] | None = None):
        self.name = name
        self._cancel_argv = cancel_argv
        self._ended = ended

    async def run(self, job: Job) -> str:
        job.update(detail=" ".join(job.params["argv"][:4]))
        try:
            result = await supervise(job.params["argv"], lambda: None)
        finally:
            if self._ended is not None:
                self._ended(job)
        job.output(result.stdout + result.stderr)
        if job.requested == "cancel":
            raise Cancelled
        if result.returncode != 0:
            raise JobFailed(result.stderr.strip() or f"exit status {result.returncode}")
        return "done"

    async def cancel(self, job: Job) -> None:
        if self._cancel_argv is None:
            await super().cancel(job)
            return
        await run(self._cancel_argv(job))
