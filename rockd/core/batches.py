"""Group commit: items queued from plain code, written in batches by one task.

`add` never waits. One writer task hands everything that has queued up since its last write to
`write` in one call, so a burst of a thousand items costs one transaction, not a thousand.
`drained` waits until all that was queued has been written. A `write` that raises ends the
writer: what is queued after that is not written, and `failed` holds the error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from rockd.core.tasks import cancel_and_wait

T = TypeVar("T")


class GroupCommit(Generic[T]):
    """A queue of `T` and the task that writes it in batches."""

    def __init__(self, write: Callable[[list[T]], Awaitable[None]], *, name: str):
        self._write, self._name = write, name
        self._pending: list[T] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.failed: BaseException | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self._name)

    def add(self, item: T) -> None:
        self._pending.append(item)
        self._idle.clear()
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            if batch:
                try:
                    await self._write(batch)
                except Exception as exc:
                    self.failed = exc
                    self._idle.set()
                    return
            if not self._pending:
                self._idle.set()

    async def drained(self) -> None:
        """Wait until everything queued so far is written (or the writer has failed)."""
        await self._idle.wait()

    async def stop(self) -> None:
        """Write what is queued (unless the writer failed), then end the task."""
        if self._task is None:
            return
        if self.failed is None:
            await self.drained()
        await cancel_and_wait(self._task)
        self._task = None
