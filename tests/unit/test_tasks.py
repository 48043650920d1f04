"""core.tasks.cancel_and_wait: the task ends, its error is logged, and a caller cancelled while
it waits is cancelled (an await under suppress(CancelledError) would swallow that)."""

import asyncio
import logging

import pytest

from rockd.core.tasks import cancel_and_wait


async def test_the_task_is_cancelled_and_ended():
    task = asyncio.create_task(asyncio.sleep(60))
    await asyncio.sleep(0)
    await cancel_and_wait(task)
    assert task.cancelled()
    await cancel_and_wait(None)


async def test_an_error_the_task_ended_with_is_logged(caplog):
    async def fails():
        raise ValueError("broken")

    task = asyncio.create_task(fails(), name="failing")
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR):
        await cancel_and_wait(task)
    assert "failing" in caplog.text and "broken" in caplog.text


async def test_a_caller_cancelled_while_it_waits_is_cancelled():
    async def stubborn():
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            await asyncio.sleep(60)  # takes its time to end

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    stopper = asyncio.create_task(cancel_and_wait(task))
    await asyncio.sleep(0.01)
    stopper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopper
    task.cancel()
    await asyncio.wait([task])
