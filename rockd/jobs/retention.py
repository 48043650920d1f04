"""Which scheduled snapshots a retention policy keeps, and why: btrbk-style preserve windows.

Pure logic, no I/O: `plan()` takes the snapshots, a `Policy` and the time (injected, never read
from the clock here) and returns one `Decision` per snapshot, with every reason in words a user
can check against the list of snapshots. Show it before a policy is saved.

Windows are calendar periods in UTC, counted back from `now`, as btrbk counts them: "daily 7"
covers today and the 6 calendar days before it, whether or not those days hold a snapshot
(a day without one keeps nothing; the window does not reach further back to make up for it).
In each covered period the first (oldest) scheduled snapshot is kept. Hours are clock hours,
days run from 00:00 UTC, weeks start on Monday (ISO 8601) and months are calendar months. Each
window is judged on its own (a month keeps its first snapshot, not btrbk's "first weekly").

Unlike btrbk, whose test is `periods_ago <= N` (the current period plus N whole ones, so
"24h" keeps 25 hourly snapshots), N here counts the current period: `periods_ago < N`, so
"hourly 24" keeps 24 hourly snapshots when one is made every hour.

Besides the windows, `last` N keeps the newest N scheduled snapshots whatever their times
(btrbk's `preserve_min` "latest N"), so a schedule that runs every few minutes keeps its recent
ones before the hourly window thins them out.

These are always kept too: snapshots made by hand (retention never touches
them, and they do not take a scheduled snapshot's place in a window), snapshots younger than
`min_age`, snapshots dated after `now` (clock skew), and the newest scheduled snapshot, so a
policy never deletes them all. Keeping the first of each period rather than the newest means
a period's choice never changes once made, so pruning every hour ends with the same snapshots
as pruning once at the end.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

COUNT_KEYS = ("hourly", "daily", "weekly", "monthly", "last")
DURATION_UNITS = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1),
                  "m": timedelta(minutes=1)}
_DURATION = re.compile(r"([0-9]+)([wdhm])")

BY_HAND = "made by hand: never deleted by retention"
NEWEST = "newest scheduled snapshot: always kept"
IN_FUTURE = "dated after now (clock skew?): kept"
NO_WINDOW = "not in any window: delete"
REPLICATION_NAME = re.compile(
    r"repl-(?P<task>[0-9a-f]{8})-(?P<when>[0-9]{8}T[0-9]{6}Z)(-[0-9]{1,4})?")
"""A replication task's snapshot of a share (rockd.transfer makes them, and prunes them by the
task's own retention)."""


def made_by(name: str) -> str:
    """Why retention leaves alone a snapshot it did not make, from its name: a replication
    task's, or one made by hand."""
    match = REPLICATION_NAME.fullmatch(name)
    if match is not None:
        return (f"made by replication task {match['task']}: only that task's retention "
                "deletes it")
    return BY_HAND


class Snapshot(NamedTuple):
    """One snapshot as `plan()` sees it; a plain (id, created, scheduled) tuple works too."""

    id: Hashable
    created: datetime   # timezone-aware; compared in UTC
    scheduled: bool     # False: made by hand


@dataclass(frozen=True)
class Decision:
    """What retention does with one snapshot, and every reason for it (never empty)."""

    id: Hashable
    created: datetime   # in UTC
    keep: bool
    reasons: tuple[str, ...]

    @property
    def reason(self) -> str:
        """The reasons as one line."""
        return "; ".join(self.reasons)


def parse_duration(text: str) -> timedelta:
    """'30m', '12h', '1d' or '2w' as a timedelta (m is minutes, not months)."""
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"bad duration {text!r}: write a whole number and a unit, m (minutes), "
                         "h (hours), d (days) or w (weeks), e.g. '30m', '12h', '1d', '2w'")
    try:
        return int(match[1]) * DURATION_UNITS[match[2]]
    except OverflowError:
        raise ValueError(f"duration {text!r} is too long") from None


def format_duration(span: timedelta) -> str:
    """A whole number of minutes in the largest unit that shows it exactly: '2w', '36h'."""
    if not span:
        return "0m"
    for unit, size in DURATION_UNITS.items():
        if span % size == timedelta(0):
            return f"{span // size}{unit}"
    raise ValueError(f"{span} is not a whole number of minutes")


@dataclass(frozen=True)
class Policy:
    """How many hourly, daily, weekly and monthly snapshots to keep, how many of the newest
    (`last`), and the age below which every snapshot is kept."""

    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    min_age: timedelta = timedelta(0)
    last: int = 0

    def __post_init__(self) -> None:
        for key in COUNT_KEYS:
            _check_count(key, getattr(self, key))
        if not isinstance(self.min_age, timedelta) or self.min_age < timedelta(0):
            raise ValueError(f"min_age must be a duration of zero or more, not {self.min_age!r}")
        if self.min_age % DURATION_UNITS["m"]:
            raise ValueError(f"min_age must be a whole number of minutes, not {self.min_age}")

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Policy:
        """A policy from the API's `retention` object; missing keys are 0 (min_age: none)."""
        if not isinstance(raw, Mapping):
            raise ValueError(f"retention must be an object, not {type(raw).__name__}")
        unknown = sorted(map(str, set(raw) - {*COUNT_KEYS, "min_age"}))
        if unknown:
            raise ValueError(f"unknown retention key(s) {', '.join(unknown)}: expected "
                             f"{', '.join(COUNT_KEYS)} and min_age")
        counts = {key: raw[key] for key in COUNT_KEYS if key in raw}
        min_age = parse_duration(raw["min_age"]) if "min_age" in raw else timedelta(0)
        return cls(**counts, min_age=min_age)

    def to_dict(self) -> dict[str, Any]:
        """The policy as the API's `retention` object (what `parse()` reads); `last` only
        when it keeps any."""
        counts: dict[str, Any] = {key: getattr(self, key) for key in COUNT_KEYS
                                  if key != "last" or self.last}
        return {**counts, "min_age": format_duration(self.min_age)}


def _check_count(key: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be a whole number, not {value!r}")
    if value < 0:
        raise ValueError(f"{key} must be 0 or more, not {value}")


@dataclass(frozen=True)
class _Window:
    """One kind of calendar period: how to number it and how to name it."""

    key: str                           # the Policy field: "hourly"
    noun: str                          # "hour"
    number: Callable[[datetime], int]  # consecutive periods have consecutive numbers
    label: Callable[[datetime], str]


def _week_label(when: datetime) -> str:
    year, week, _ = when.isocalendar()
    monday = when.date() - timedelta(days=when.weekday())
    return f"{year}-W{week:02d} (from Mon {monday.isoformat()})"


WINDOWS = (
    _Window("hourly", "hour", lambda t: int(t.timestamp() // 3600),
            lambda t: t.strftime("%Y-%m-%d %H:00")),
    _Window("daily", "day", lambda t: t.date().toordinal(), lambda t: t.date().isoformat()),
    # date(1, 1, 1), ordinal 1, was a Monday, so this numbers ISO weeks
    _Window("weekly", "week", lambda t: (t.date().toordinal() - 1) // 7, _week_label),
    _Window("monthly", "month", lambda t: t.year * 12 + t.month - 1,
            lambda t: t.strftime("%Y-%m")),
)


def _utc(when: datetime, what: str) -> datetime:
    if not isinstance(when, datetime) or when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, not {when!r}")
    return when.astimezone(UTC)


def _snapshots(items: Iterable[tuple[Hashable, datetime, bool]]) -> list[Snapshot]:
    """The snapshots with times in UTC; ids must be unique."""
    snapshots = [Snapshot(ident, _utc(created, f"created of snapshot {ident!r}"), bool(scheduled))
                 for ident, created, scheduled in items]
    seen: set[Hashable] = set()
    for snapshot in snapshots:
        if snapshot.id in seen:
            raise ValueError(f"snapshot id {snapshot.id!r} appears twice")
        seen.add(snapshot.id)
    return snapshots


def _window_reasons(scheduled: list[Snapshot], policy: Policy, now: datetime,
                    reasons: dict[Hashable, list[str]]) -> None:
    """Add 'first of <period>' to the first scheduled snapshot of each period in a window."""
    for window in WINDOWS:
        count = getattr(policy, window.key)
        now_number = window.number(now)
        first_of: dict[int, Snapshot] = {}
        for snapshot in scheduled:  # oldest first
            first_of.setdefault(window.number(snapshot.created), snapshot)
        for number, snapshot in first_of.items():
            if 0 <= now_number - number < count:
                reasons[snapshot.id].append(
                    f"first of {window.noun} {window.label(snapshot.created)}, "
                    f"one of the last {count} {window.key}")


def _always_kept(snapshot: Snapshot, policy: Policy, now: datetime) -> list[str]:
    """The reasons that keep a scheduled snapshot whatever the windows say."""
    if snapshot.created > now:
        return [IN_FUTURE]
    if now - snapshot.created < policy.min_age:
        return [f"younger than min_age {format_duration(policy.min_age)}"]
    return []


def plan(snapshots: Iterable[tuple[Hashable, datetime, bool]], policy: Policy,
         now: datetime, owners: Mapping[Hashable, str] | None = None) -> list[Decision]:
    """Keep or delete each snapshot, with the reasons, newest first (see the module docstring).

    `snapshots` holds (id, created, scheduled) tuples, `created` and `now` timezone-aware
    (compared in UTC); a naive datetime or a repeated id raises ValueError. `owners` may say,
    by id, why an unscheduled snapshot is left alone (`made_by`); by default: made by hand.
    """
    now = _utc(now, "now")
    every = _snapshots(snapshots)
    reasons: dict[Hashable, list[str]] = {s.id: [] for s in every}
    scheduled = sorted((s for s in every if s.scheduled), key=lambda s: s.created)
    for snapshot in every:
        always = (_always_kept(snapshot, policy, now) if snapshot.scheduled
                  else [(owners or {}).get(snapshot.id, BY_HAND)])
        reasons[snapshot.id].extend(always)
    if scheduled:
        reasons[scheduled[-1].id].append(NEWEST)
    for snapshot in scheduled[-policy.last:] if policy.last else []:
        reasons[snapshot.id].append(f"one of the last {policy.last} scheduled snapshots")
    _window_reasons(scheduled, policy, now, reasons)
    decisions = [Decision(s.id, s.created, bool(reasons[s.id]),
                          tuple(reasons[s.id]) or (NO_WINDOW,)) for s in every]
    return sorted(decisions, key=lambda d: d.created, reverse=True)
