"""The event log: every change to intent (the audit of each write request) and every system
event (a disk gone, a pool degraded, a job ended...), one append-only log in SQLite.

log.py       `EventLog`: the table, group-committed appends, retention, queries, export
system.py    `SystemEvents`: events in words, derived from the state tree as it changes

Import rule: rockd.core and rockd.config only. The handlers record the audit (one middleware);
app.py hands `SystemEvents` to the tree as a listener.
"""

from __future__ import annotations

from typing import Any

from rockd.config import Settings
from rockd.core.tree import Subtree
from rockd.events.log import EventLog
from rockd.events.system import SystemEvents


async def open_events(settings: Settings, subtree: Subtree) -> EventLog:
    """The event log of `settings`, publishing its newest entry at /events/latest through
    `subtree` (/events, its own) and recording the system events of the tree it follows.
    Open it before anything else writes the tree, so that no change is missed."""

    def publish(event: Any) -> None:
        subtree.set("/events/latest", event)

    events = EventLog(settings.state_dir / "events.sqlite3", keep_days=settings.events_keep_days,
                      keep=settings.events_keep, published=publish)
    await events.open()
    subtree.set("/events", {"latest": await events.latest()})
    subtree.listen(SystemEvents(subtree, events.record))
    return events
