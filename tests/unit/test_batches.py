"""GroupCommit: a burst is one write, drained waits for it, a failing write ends the writer."""

import asyncio

import pytest

from rockd.core.batches import GroupCommit


async def test_a_burst_queued_at_once_is_written_in_one_batch():
    written: list[list[int]] = []

    async def write(batch: list[int]) -> None:
        await asyncio.sleep(0)
        written.append(batch)

    writer = GroupCommit(write, name="test-writer")
    writer.start()
    for number in range(1000):
        writer.add(number)
    await writer.drained()
    assert written == [list(range(1000))]
    writer.add(1000)
    await writer.stop()  # what is queued is written before the task ends
    assert written[-1] == [1000]
    assert not writer.running


async def test_a_write_that_fails_ends_the_writer_and_is_kept():
    async def write(batch: list[int]) -> None:
        raise OSError("disk full")

    writer = GroupCommit(write, name="test-writer")
    writer.start()
    writer.add(1)
    await asyncio.wait_for(writer.drained(), 5)
    assert isinstance(writer.failed, OSError)
    await asyncio.sleep(0)
    assert not writer.running
    writer.add(2)
    await asyncio.wait_for(writer.stop(), 5)  # does not wait for a writer that is gone


@pytest.mark.parametrize("items", [0, 1])
async def test_drained_at_rest_answers_at_once(items):
    writer: GroupCommit[int] = GroupCommit(lambda batch: asyncio.sleep(0), name="test-writer")
    writer.start()
    for number in range(items):
        writer.add(number)
    await asyncio.wait_for(writer.drained(), 5)
    await writer.stop()
