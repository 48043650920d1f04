"""What changes in a daemon's tree apart from the system metrics that it samples each second
and the event log's newest entry (every request that writes, refused or not, is logged)."""

from __future__ import annotations

from typing import Any

SAMPLED = {("system", "metrics"), ("system", "uptime")}
"""Where the metrics sampler writes, once a second, whatever else happens."""
LOGGED = "events"
"""Where the event log shows its newest entry: each write request, even refused, makes one."""


def changes(daemon) -> list:
    """From now on, the ops of an in-process daemon's tree except the sampled and logged ones:
    a list that stays empty while nothing else changes."""
    ops: list = []
    daemon.tree.listen(lambda revision: ops.extend(
        op for op in revision.ops
        if op.tokens[:2] not in SAMPLED and op.tokens[:1] != (LOGGED,)))
    return ops


def without_samples(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of a whole tree without the sampled values, to compare two moments of it."""
    system = {k: v for k, v in (doc.get("system") or {}).items()
              if ("system", k) not in SAMPLED}
    return {**doc, "system": system} if "system" in doc else doc
