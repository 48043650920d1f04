"""The source's retention of a replication task's own snapshots (`repl-{task}-{UTC time}`).

A task keeps the last `keep_last` of its snapshots that reached a target (btrbk's
preserve_min), and, with a source policy, whatever the policy's windows keep besides; without
one, nothing more. A target's newest snapshot in common with the source is always kept, so the
next run can send incrementally, and only this task's snapshots are ever deleted: the others
are shown as made by hand or by their own task. Applied after each run (runs.py) and shown by
`GET /api/v1/replication/tasks/{id}/retention`.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime
from typing import Any

from rockd.core.times import parse_iso
from rockd.jobs import retention
from rockd.transfer import protocol

KEEP_LAST = 3
"""A task's `keep_last` when it names none."""


def keep_last(task: dict[str, Any]) -> int:
    return task.get("keep_last") or KEEP_LAST


def newest_held(snapshots: list[dict[str, Any]], held_by: dict[str, set[str]]
                ) -> dict[str, str]:
    """Per target, the newest of `snapshots` it holds: {snapshot id: target}."""
    ordered = sorted(snapshots, key=lambda s: s["subvolume_id"], reverse=True)
    out: dict[str, str] = {}
    for target, held in held_by.items():
        newest = next((s for s in ordered if s["id"] in held), None)
        if newest is not None:
            out.setdefault(newest["id"], target)
    return out


def _keep(d: retention.Decision, reason: str) -> retention.Decision:
    return retention.Decision(d.id, d.created, True,
                              (*[r for r in d.reasons if d.keep], reason))


def plan(snapshots: list[dict[str, Any]], task: dict[str, Any], protected: dict[str, str],
         now: datetime, reached: set[str] | None = None) -> list[retention.Decision]:
    """What the source's retention does with each snapshot of the task's share, and why.

    `protected` maps the snapshots that a target holds as its newest common one to that
    target (`newest_held`); `reached`: the snapshots known to have reached a target (None:
    every snapshot of the task counts as having reached one).
    """
    items: list[tuple[Hashable, datetime, bool]] = []
    owners: dict[Hashable, str] = {}
    for snap in snapshots:
        when = protocol.snapshot_time(snap["name"])
        if when is not None and snap["name"].startswith(f"repl-{task['id']}-"):
            items.append((snap["id"], when, True))
        else:
            items.append((snap["id"], parse_iso(snap["created"]) or now, False))
            owners[snap["id"]] = retention.made_by(snap["name"])
    policy = (task.get("retention") or {}).get("source")
    count = keep_last(task)
    if policy:
        decisions = retention.plan(items, retention.Policy.parse(policy), now, owners)
    else:
        decisions = [retention.Decision(i, w, not ours, (
            owners[i] if not ours else f"older than the last {count} that reached a target: "
            "delete",)) for i, w, ours in items]
    # newest first; runs within one second are told apart by their subvolume id
    age = {s["id"]: s.get("subvolume_id", 0) for s in snapshots}
    decisions.sort(key=lambda d: (d.created, age[str(d.id)]), reverse=True)
    ours = {i for i, _, scheduled in items if scheduled}
    latest = [d.id for d in decisions  # newest first
              if d.id in ours and (reached is None or d.id in reached)][:count]
    out = []
    for d in decisions:
        if d.id in protected:
            d = _keep(d, f"last snapshot common with {protected[str(d.id)]}: kept for the "
                         "next increment")
        elif d.id in latest:
            d = _keep(d, f"one of the last {count} that reached a target")
        elif not d.keep and d.id in ours and reached is not None and d.id not in reached:
            d = retention.Decision(d.id, d.created, False,
                                   ("reached no target (left by a failed run): delete",))
        out.append(d)
    return out
