"""Trim jobs: `fstrim -v` of a mounted pool, telling its devices (SSDs, thin volumes, loop
devices on sparse files) which blocks are free. The result is what fstrim says it trimmed.

`Streamed` is the base of the kinds that follow a command's output line by line as it runs
(here and rockd.jobs.dedup): cancel ends the command (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from rockd.core.jobs import Cancelled, Job, JobFailed, Kind, ReadBack
from rockd.core.process import stream
from rockd.core.wording import size

_TRIMMED = re.compile(r"\((?P<bytes>[0-9]+) bytes\) trimmed")


def parse_trimmed(text: str) -> int | None:
    """The bytes `fstrim -v` says it trimmed (`/mnt: 1.4 GiB (1495334912 bytes) trimmed`)."""
    found = _TRIMMED.search(text)
    return int(found["bytes"]) if found else None


class Streamed(Kind):
    """A kind whose work is one command followed line by line; cancel ends the command."""

    exclusive = False

    def __init__(self, owner: ReadBack | None = None) -> None:
        super().__init__(owner)
        self._stops: dict[str, asyncio.Event] = {}

    async def stream(self, job: Job, argv: list[str], line: Callable[[str], None]) -> int:
        """Run `argv`, each line to `line` and to the job's log; its exit status. Raises
        Cancelled when the user cancelled it."""
        stop = self._stops[job.id] = asyncio.Event()

        def each(text: str) -> None:
            if text.strip():
                job.lines.append(text)
            line(text)

        try:
            status = await stream(argv, each, stop)
        finally:
            self._stops.pop(job.id, None)
            job.update(log=list(job.lines))
            self.ended(job)
        if job.requested == "cancel":
            raise Cancelled
        return status

    async def cancel(self, job: Job) -> None:
        stop = self._stops.get(job.id)
        if stop is not None:
            stop.set()


class TrimKind(Streamed):
    """`fstrim -v` of the pool's mount point; its result holds `bytes_trimmed`."""

    name = "trim"

    async def run(self, job: Job) -> str:
        point = job.params["mount_point"]
        job.progress(None, f"trimming the free space of {point}")
        said: list[str] = []
        status = await self.stream(job, ["fstrim", "-v", point], said.append)
        text = "\n".join(said)
        if status != 0:
            raise JobFailed(text.strip() or f"fstrim exited {status}")
        trimmed = parse_trimmed(text)
        if trimmed is None:
            raise JobFailed(f"fstrim did not say what it trimmed: {text.strip()}")
        job.update(result={"bytes_trimmed": trimmed})
        return f"trimmed {size(trimmed)}"
