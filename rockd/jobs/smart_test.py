"""SMART self-test jobs: `smartctl -t <type>` starts the test in the drive, which runs it on its
own; its progress is the drive's report read again every `poll` seconds (the drive tells no
one when it moves on), its outcome the new entry of the drive's self-test log. The job
succeeds once the test ran to its end, passed or not: its `result` says which, with the log
entry (a failed test is alerted from the disk's `last_test`). Cancel is `smartctl -X`. After a
restart the job follows the drive's test again, or reads how it ended.

Params: `{"type": "short" | "long" | "conveyance"}` (what the API and schedules give), and
what the job remembers once it started: the device's path and the log before it began.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from rockd.core.errors import NotFound, Unprocessable
from rockd.core.jobs import Cancelled, Job, JobFailed, Kind, Vanished
from rockd.core.process import CommandError, run
from rockd.storage import smart, smart_tests
from rockd.storage.smart_monitor import KIND, SmartMonitor

log = logging.getLogger(__name__)

LOG_KEPT = 25
"""Entries of the drive's log remembered before the test (ATA keeps 21, NVMe 20)."""
QUIET_POLLS = 3
"""Readings that may show neither the test running nor its log entry (a drive slow to start
it) before the job fails."""


def new_entry(before: list[dict[str, Any]], after: list[dict[str, Any]]
              ) -> dict[str, Any] | None:
    """The entry the test added to the drive's log (newest first), or None if the log is as
    it was (entries in progress left out)."""
    done = [t for t in after if not t.get("in_progress")]
    if not done or (done[:len(before)] == before[:len(done)] and len(done) <= len(before)):
        return None
    return done[0]


def describe(test: str, entry: dict[str, Any]) -> str:
    where = f" at LBA {entry['lba']}" if entry.get("lba") is not None else ""
    verdict = "passed" if entry.get("passed") else "FAILED"
    return f"{test} self-test {verdict}: {entry.get('status') or 'no status'}{where}"


class SmartTestKind(Kind):
    """A self-test in the drive, followed through its SMART report; one per disk at a time."""

    name = KIND
    exclusive = True

    def __init__(self, monitor: SmartMonitor, poll: float = 5.0):
        super().__init__()
        self.monitor = monitor
        self.poll = poll
        self._wake: dict[str, asyncio.Event] = {}

    async def _read(self, job: Job) -> dict[str, Any]:
        try:
            return await self.monitor.read(job.target)
        except (NotFound, Unprocessable) as exc:
            raise JobFailed(str(exc)) from None

    async def run(self, job: Job) -> str | None:
        test = job.params.get("type")
        if test not in smart_tests.TYPES:
            raise JobFailed(f"no such self-test {test!r}: one of "
                            f"{', '.join(smart_tests.TYPES)}")
        report = await self._read(job)
        summary, path = report["summary"], self.monitor.disk(job.target)["path"]
        if test not in summary["tests"]:
            raise JobFailed(f"{path} offers no {test} self-test")
        if summary["self_test"] is not None:
            raise JobFailed(f"{path} runs a self-test already")
        await job.remember(path=path, before=report["self_tests"][:LOG_KEPT])
        result = await run(smart_tests.start_argv(test, path), check=False)
        job.output(_messages(result.stdout) or result.stderr)
        if result.returncode & 0b111:  # not parsed, not opened, or the drive refused
            raise JobFailed(f"smartctl could not start the {test} self-test on {path} "
                            f"(exit status {result.returncode})")
        return await self._follow(job)

    async def attach(self, job: Job) -> str | None:
        """After a restart: follow the test if the drive still runs it, else read its end."""
        if "before" not in job.params:
            raise Vanished("rockd restarted before the self-test began; start it again")
        return await self._follow(job, attached=True)

    async def _follow(self, job: Job, attached: bool = False) -> str | None:
        test = job.params["type"]
        before = [t for t in job.params["before"] if not t.get("in_progress")]
        wake = self._wake.setdefault(job.id, asyncio.Event())
        waits, quiet = not attached, 0
        try:
            while True:
                if waits:
                    wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), self.poll)
                waits = True
                report = await self._read(job)
                running = report["summary"]["self_test"]
                entry = new_entry(before, report["self_tests"])
                if entry is not None or job.requested == "cancel":
                    break
                if running is not None:
                    remaining = running["remaining_percent"]
                    job.progress(None if remaining is None else (100 - remaining) / 100,
                                 f"{test} self-test: " + (f"{remaining}% remaining"
                                                          if remaining is not None
                                                          else "in progress"))
                    quiet = 0
                    continue
                quiet += 1
                if (attached and quiet == 1) or quiet >= QUIET_POLLS:
                    raise Vanished(f"the drive shows no {test} self-test running, and none "
                                   "in its log since the job began")
        finally:
            self._wake.pop(job.id, None)
        await self.monitor.history.record({job.target: (report["summary"],
                                                        report["self_tests"])})
        if job.requested == "cancel":
            raise Cancelled
        assert entry is not None
        job.update(result={"type": test, "passed": entry["passed"], "entry": entry})
        return describe(test, entry) + (" (followed again after a restart)" if attached
                                        else "")

    async def cancel(self, job: Job) -> None:
        path = job.params.get("path") or self.monitor.disk(job.target)["path"]
        try:
            await run(smart_tests.abort_argv(path))
        except CommandError as exc:
            log.warning("smartctl -X on %s: %s", path, exc)
        wake = self._wake.get(job.id)
        if wake is not None:
            wake.set()


def _messages(stdout: str) -> str:
    """smartctl's messages in its JSON answer, one a line."""
    try:
        report = json.loads(stdout)
    except ValueError:
        return stdout
    return "\n".join(smart.messages(report)) if isinstance(report, dict) else ""
