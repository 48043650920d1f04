"""The job supervisor: long work run as tasks, each one a live entry at /jobs/{id}.

Work on one pool that btrfs runs exclusively (balance, device add/remove/replace, resize) is
queued behind the pool's current job instead of failing. A job's state, progress, detail and
the last lines of its output change only through its `Job` handle, which sets them in the tree.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from rockd.core.tree import Tree

log = logging.getLogger(__name__)

LOG_LINES = 20
PROGRESS_INTERVAL = 1.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Job:
    """One job's handle: what the work reports goes through here into the tree."""

    def __init__(self, tree: Tree, kind: str, target: str):
        self.tree = tree
        self.id = secrets.token_hex(6)
        self.kind = kind
        self.target = target
        self.path = ("jobs", self.id)
        self.lines: deque[str] = deque(maxlen=LOG_LINES)
        self._last_progress = 0.0
        tree.set(self.path, {
            "id": self.id, "kind": kind, "target": target, "state": "queued", "progress": None,
            "detail": "", "started": None, "ended": None, "error": None, "log": []})

    @property
    def value(self) -> dict[str, Any]:
        return self.tree.get(self.path)

    def update(self, **fields: Any) -> None:
        self.tree.set(self.path, {**self.value, **fields})

    def progress(self, fraction: float | None, detail: str = "") -> None:
        """Report progress; changes are passed on at most once a second."""
        now = time.monotonic()
        if now - self._last_progress >= PROGRESS_INTERVAL or fraction == 1.0:
            self._last_progress = now
            self.update(progress=fraction, detail=detail)

    def output(self, line: str) -> None:
        self.lines.append(line)
        self.update(log=list(self.lines))


Work = Callable[[Job], Awaitable[str | None]]


class Jobs:
    """Starts jobs, keeps one exclusive job per pool at a time, records how each ended."""

    def __init__(self, tree: Tree):
        self.tree = tree
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task] = set()

    def start(self, kind: str, target: str, work: Work, *, exclusive: str | None = None
              ) -> dict[str, Any]:
        """Run `work(job)` as a job; with `exclusive`, after any other job holding that key."""
        job = Job(self.tree, kind, target)
        task = asyncio.create_task(self._run(job, work, exclusive), name=f"job-{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job.value

    async def _run(self, job: Job, work: Work, exclusive: str | None) -> None:
        lock = self._locks.setdefault(exclusive, asyncio.Lock()) if exclusive else None
        try:
            if lock is not None and lock.locked():
                job.update(detail="waiting for the pool's running job to end")
            if lock is not None:
                await lock.acquire()
            try:
                job.update(state="running", started=_now(), detail="")
                detail = await work(job)
                job.update(state="succeeded", progress=1.0, ended=_now(),
                           detail=detail or job.value["detail"])
            finally:
                if lock is not None:
                    lock.release()
        except asyncio.CancelledError:
            job.update(state="cancelled", ended=_now())
            raise
        except Exception as exc:
            log.warning("job %s (%s of %s) failed: %s", job.id, job.kind, job.target, exc)
            job.update(state="failed", ended=_now(), error=str(exc))

    async def wait(self) -> None:
        """Wait for every job running now (tests and shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.wait()
