"""The job supervisor: long work run as tasks, each one a live entry at /jobs/{id}.

Generic: a job's kind (rockd.jobs, rockd.apps, rockd.transfer register theirs) starts the
work, reads its progress while it runs, and cancels, pauses or resumes it where it can. A kind
marked exclusive runs one job at a time per target; the next waits in the target's queue
instead of failing. Jobs live in the state tree, so they survive a restart with it; at
start-up each unfinished job is either re-attached to work that is still running or ended as
failed, with the reason. The owner of what a job changes reads it back through `ReadBack`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from rockd.core import resources
from rockd.core.errors import Conflict
from rockd.core.process import Result, supervise
from rockd.core.tasks import cancel_and_wait
from rockd.core.times import now
from rockd.core.tree import Subtree

log = logging.getLogger(__name__)

LOG_LINES = 20
PROGRESS_INTERVAL = 1.0
UNFINISHED = ("queued", "running", "paused")
KEEP_ENDED = 200
DURABLE_WAIT = 10.0
"""How long `Job.durable` waits for the journal to commit the job as it is."""


class JobFailed(Exception):
    """The work failed; the message says why, in words for the user."""


class Cancelled(Exception):
    """The work stopped because the user cancelled it."""


class Vanished(Exception):
    """After a restart, the work the job stood for is no longer running."""


Durable = Callable[[int], Awaitable[None]]
"""Waits until a revision of the tree is committed to the journal (Bus.durable)."""
Work = Callable[["Job"], Awaitable[str | None]]
"""A kind's `run` or `attach`: the final detail line, or None when the user paused it."""


class Job:
    """One job's handle: what the work reports goes through here into the tree."""

    def __init__(self, tree: Subtree, value: resources.Job, durable: Durable | None = None):
        self.tree = tree
        self._durable = durable
        self.id = value["id"]
        self.kind = value["kind"]
        self.target = value["target"]
        self.params: dict[str, Any] = value.get("params") or {}
        self.path = ("jobs", self.id)
        self.lines: deque[str] = deque(value.get("log") or [], maxlen=LOG_LINES)
        self.requested: str | None = None  # "cancel" or "pause", while it is being done
        self.resumed = asyncio.Event()
        self._last_progress = 0.0

    @classmethod
    def new(cls, tree: Subtree, kind: str, target: str, params: dict[str, Any],
            durable: Durable | None = None) -> Job:
        value: resources.Job = {
            "id": secrets.token_hex(6), "kind": kind, "target": target, "state": "queued",
            "progress": None, "detail": "", "started": None, "ended": None, "error": None,
            "log": [], "params": params}
        tree.set(("jobs", value["id"]), value)
        return cls(tree, value, durable)

    @property
    def value(self) -> resources.Job:
        value: resources.Job = self.tree.get(self.path)
        return value

    def update(self, **fields: Any) -> None:
        self.tree.set(self.path, {**self.value, **fields})

    async def remember(self, **params: Any) -> None:
        """Add to the job's params, kept in the tree: once this returns, they are in the
        journal too, so they outlive a kill -9 of rockd that comes right after."""
        self.params = {**self.params, **params}
        self.update(params=self.params)
        await self.durable()

    async def durable(self) -> None:
        """Until the job as it is now is in the journal (it outlives a kill -9 of rockd)."""
        if self._durable is not None:
            try:
                await asyncio.wait_for(self._durable(self.tree.rev), DURABLE_WAIT)
            except TimeoutError:  # a journal that does not commit is logged where it fails
                log.warning("job %s is not in the journal yet", self.id)

    def progress(self, fraction: float | None, detail: str) -> None:
        """Report progress; a change goes into the tree at most once a second."""
        current = self.value
        if (fraction, detail) == (current["progress"], current["detail"]):
            return
        moment = time.monotonic()
        if moment - self._last_progress >= PROGRESS_INTERVAL:
            self._last_progress = moment
            self.update(progress=fraction, detail=detail)

    def output(self, text: str) -> None:
        for line in text.splitlines():
            if line.strip():
                self.lines.append(line)
        self.update(log=list(self.lines))


class ReadBack(Protocol):
    """What owns the objects a job changes (pools, shares, apps): it reads them back when the
    job's work is over."""

    def job_ended(self, job: Job) -> None:
        """Ask for what the job changed to be read back."""

    async def job_settled(self) -> None:
        """Until what was asked is read back into the tree."""


class Kind:
    """What a job kind does. `run` does the work and answers the final detail line."""

    name = "kind"
    exclusive = True
    """Whether its jobs run one at a time per target (btrfs' exclusive operations on a pool)."""

    def __init__(self, owner: ReadBack | None = None):
        self._owner = owner

    def ended(self, job: Job) -> None:
        """The work is over (whatever its outcome): let the owner read back what it changed."""
        if self._owner is not None:
            self._owner.job_ended(job)

    async def settled(self) -> None:
        """Until what `ended` asked to read back is in the tree: a job is shown succeeded only
        once its result can be seen."""
        if self._owner is not None:
            await self._owner.job_settled()

    async def follow(self, job: Job, argv: list[str], tick: Callable[[], None] | None = None,
                     ok: tuple[int, ...] = (0,)) -> Result | None:
        """Run the work's command to its end, reading progress with `tick` each second.

        Answers None when the user paused it, raises Cancelled when they cancelled it and
        JobFailed (with its stderr) for an exit status not in `ok`.
        """
        try:
            result = await supervise(argv, tick or (lambda: None))
        finally:
            self.ended(job)
        job.output(result.stdout + result.stderr)
        if job.requested == "pause":
            return None
        if job.requested == "cancel":
            raise Cancelled
        if result.returncode not in ok:
            raise JobFailed(result.stderr.strip() or f"exit status {result.returncode}")
        return result

    async def run(self, job: Job) -> str | None:
        """Do the work; answer the final detail line, or None when the user paused it."""
        raise NotImplementedError

    async def resume_run(self, job: Job) -> str | None:
        """Go on with paused work (after `resume`), as `run` does."""
        raise JobFailed(f"{self.name} cannot be resumed")

    async def attach(self, job: Job) -> str | None:
        """After a restart, follow work that is still running to its end."""
        raise Vanished(f"rockd restarted while the {self.name} ran; its outcome is unknown")

    async def cancel(self, job: Job) -> None:
        raise Conflict(f"a {self.name} job cannot be cancelled", code="not_cancellable")

    async def pause(self, job: Job) -> None:
        raise Conflict(f"a {self.name} job cannot be paused", code="not_pausable")

    async def resume(self, job: Job) -> None:
        raise Conflict(f"a {self.name} job cannot be resumed", code="not_resumable")


class Jobs:
    """Starts jobs, keeps one exclusive job per target at a time, records how each ended."""

    def __init__(self, tree: Subtree, durable: Durable | None = None,
                 keep_ended: int = KEEP_ENDED):
        self.tree = tree
        self.durable = durable
        self.keep_ended = keep_ended
        self.kinds: dict[str, Kind] = {}
        self._jobs: dict[str, Job] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def register(self, kind: Kind) -> None:
        self.kinds[kind.name] = kind

    def start(self, kind: str, target: str, params: dict[str, Any]) -> resources.Job:
        """Run a job of `kind` on `target` (what it works on: a pool's id, an app's name);
        answer its entry as it is now."""
        job = Job.new(self.tree, kind, target, params, self.durable)
        self._spawn(job, self.kinds[kind].run)
        return job.value

    def _spawn(self, job: Job, work: Work) -> None:
        self._jobs[job.id] = job
        task = asyncio.create_task(self._run(job, work), name=f"job-{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, job: Job, work: Work) -> None:
        kind = self.kinds[job.kind]
        lock = self._locks.setdefault(job.target, asyncio.Lock()) if kind.exclusive else None
        try:
            if lock is not None and lock.locked():
                job.update(detail="waiting for the pool's running job to end")
            if lock is not None:
                await lock.acquire()
            try:
                if job.requested == "cancel":
                    raise Cancelled
                job.update(state="running", started=job.value["started"] or now(), detail="")
                await job.durable()  # a restart then finds it running, not queued
                detail = await work(job)
                while detail is None:  # paused: wait for resume, then go on
                    detail = await self._paused(job, kind)
                await kind.settled()
                job.update(state="succeeded", progress=1.0, ended=now(), detail=detail)
            finally:
                if lock is not None:
                    lock.release()
        except Cancelled:
            job.update(state="cancelled", ended=now(), detail="cancelled")
        except Vanished as exc:
            job.update(state="failed", ended=now(), error=str(exc))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("job %s (%s of %s) failed: %s", job.id, job.kind, job.target, exc)
            job.update(state="failed", ended=now(), error=str(exc))
        finally:
            job.requested = None
            self._jobs.pop(job.id, None)
            self._forget_ended(job.id)

    async def _paused(self, job: Job, kind: Kind) -> str | None:
        job.update(state="paused", detail="paused")
        job.requested = None
        job.resumed.clear()
        await job.resumed.wait()
        if job.requested == "cancel":
            raise Cancelled
        job.update(state="running", detail="resumed")
        return await kind.resume_run(job)

    def _live(self, job_id: str) -> Job:
        self.tree.resource("jobs", job_id)  # 404 for an unknown one
        job = self._jobs.get(job_id)
        if job is None:
            raise Conflict(f"job {job_id} has ended", code="ended")
        return job

    async def cancel(self, job_id: str) -> resources.Job:
        job = self._live(job_id)
        state = job.value["state"]
        job.requested = "cancel"
        if state == "queued":
            return job.value
        await self.kinds[job.kind].cancel(job)
        if state == "paused":
            job.resumed.set()
        return job.value

    async def pause(self, job_id: str) -> resources.Job:
        job = self._live(job_id)
        if job.value["state"] != "running":
            raise Conflict(f"job {job_id} is {job.value['state']}", code="not_running")
        job.requested = "pause"
        await self.kinds[job.kind].pause(job)
        return job.value

    async def resume(self, job_id: str) -> resources.Job:
        job = self._live(job_id)
        if job.value["state"] != "paused":
            raise Conflict(f"job {job_id} is {job.value['state']}", code="not_paused")
        await self.kinds[job.kind].resume(job)
        job.resumed.set()
        return job.value

    def _forget_ended(self, just: str | None = None) -> None:
        """Forget all but the newest `keep_ended` jobs that ended (at start-up, and as each
        job ends, `just` being that one: a schedule's jobs would otherwise pile up in the
        tree until a restart). `ended` has whole seconds: in a tie, the first made goes."""
        ended = [v for v in (self.tree.get("/jobs") or {}).values()
                 if v["state"] not in UNFINISHED]
        excess = len(ended) - self.keep_ended
        if excess <= 0:
            return
        older = sorted((v for v in ended if v["id"] != just), key=lambda v: v["ended"] or "")
        with self.tree.transaction():
            for value in older[:excess]:
                self.tree.delete(("jobs", value["id"]))

    def reattach(self) -> None:
        """At start-up: follow each unfinished job's work, or end it with the reason; forget
        all but the newest `keep_ended` jobs that ended."""
        self._forget_ended()
        for value in list((self.tree.get("/jobs") or {}).values()):
            if value["state"] not in UNFINISHED:
                continue
            job = Job(self.tree, value, self.durable)
            kind = self.kinds.get(job.kind)
            if kind is None or value["state"] == "queued":
                job.update(state="failed", ended=now(),
                           error="rockd restarted before the job began; start it again")
                continue
            if type(kind).attach is Kind.attach:  # nothing to follow: say so before serving
                job.update(state="failed", ended=now(), error=f"rockd restarted while the "
                           f"{kind.name} ran; its outcome is unknown")
                continue
            log.info("re-attaching job %s (%s of %s)", job.id, job.kind, job.target)
            self._spawn(job, kind.attach)

    async def wait(self) -> None:
        """Wait for every job running now (tests and shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def stop(self) -> None:
        """Stop following jobs; the kernel-side work goes on and is re-attached next start."""
        await asyncio.gather(*(cancel_and_wait(task) for task in list(self._tasks)))
