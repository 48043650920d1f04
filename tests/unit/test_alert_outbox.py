"""The outbox's rate limit and digest: the first change of an alert goes at once, the rest of
the window goes as one digest, and another alert is not held back by the first."""

from __future__ import annotations

import asyncio

from rockd.alerts.delivery import Outbox


def change(what: str, subject: str = "/pools/p") -> dict:
    return {"change": what, "alert": {"kind": "pool_degraded", "subject": subject}}


async def test_flapping_is_one_message_then_one_digest():
    sent: list[list[str]] = []

    async def send(batch):
        sent.append([c["change"] for c in batch])

    outbox = Outbox("test", send, window=0.3)
    for what in ("raised", "cleared", "raised", "cleared"):
        outbox.offer(change(what))
    outbox.offer(change("raised", "/pools/q"))  # another alert: at once
    await asyncio.sleep(0.05)
    assert sent == [["raised"], ["raised"]]
    await asyncio.sleep(0.4)
    assert sent == [["raised"], ["raised"], ["cleared", "raised", "cleared"]]
    outbox.offer(change("raised"))  # the window after the digest: held again
    await asyncio.sleep(0.05)
    assert len(sent) == 3
    await outbox.close()
