"""Retention plans: which snapshots a policy keeps, checked against an independent count.

The expected sets are built a different way from rockd/jobs/retention.py: by listing the
period keys of the last N hours, days, ISO weeks and months (strings and tuples, stepping back
from now) and taking the earliest snapshot that carries each key.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest

from rockd.jobs.retention import (
    BY_HAND,
    IN_FUTURE,
    NEWEST,
    NO_WINDOW,
    Decision,
    Policy,
    format_duration,
    parse_duration,
    plan,
)

HOUR = timedelta(hours=1)
Snap = tuple[Hashable, datetime, bool]
KeyOf = Callable[[datetime], object]
GFS = Policy(hourly=24, daily=7, weekly=4, monthly=3)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def hourly(start: datetime, end: datetime, minute: int = 0) -> list[Snap]:
    """A scheduled snapshot every hour at `minute` past, from `start` to `end` inclusive."""
    snaps = []
    when = start + timedelta(minutes=minute)
    while when <= end:
        snaps.append((when.strftime("s-%Y%m%dT%H%M"), when, True))
        when += HOUR
    return snaps


def last_months(now: datetime, n: int) -> set[tuple[int, int]]:
    year, month, keys = now.year, now.month, set()
    for _ in range(n):
        keys.add((year, month))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return keys


def window_keys(now: datetime, policy: Policy) -> list[tuple[set[object], KeyOf]]:
    """For each window: the keys of its last N periods, and how to read a time's key."""
    return [
        ({(now - k * HOUR).strftime("%Y-%m-%d %H") for k in range(policy.hourly)},
         lambda t: t.strftime("%Y-%m-%d %H")),
        ({now.date() - timedelta(days=k) for k in range(policy.daily)}, lambda t: t.date()),
        ({(now - timedelta(weeks=k)).isocalendar()[:2] for k in range(policy.weekly)},
         lambda t: t.isocalendar()[:2]),
        (last_months(now, policy.monthly), lambda t: (t.year, t.month)),
    ]


def expected_kept(snaps: list[Snap], policy: Policy, now: datetime) -> set[Hashable]:
    """The ids a policy keeps, computed independently of the module under test."""
    now = now.astimezone(UTC)
    by_time = sorted(((created.astimezone(UTC), ident, sched) for ident, created, sched in snaps),
                     key=lambda item: item[0])
    scheduled = [(created, ident) for created, ident, sched in by_time if sched]
    kept = {ident for _, ident, sched in by_time if not sched}
    kept |= {ident for created, ident in scheduled if now - created < policy.min_age}
    kept |= {ident for created, ident in scheduled if created > now}
    if scheduled:
        kept.add(scheduled[-1][1])
    for keys, key_of in window_keys(now, policy):
        earliest: dict[object, Hashable] = {}
        for created, ident in scheduled:
            earliest.setdefault(key_of(created), ident)
        kept |= {ident for key, ident in earliest.items() if key in keys}
    return kept


def kept_ids(decisions: list[Decision]) -> set[Hashable]:
    return {d.id for d in decisions if d.keep}


def ids_at(*times: datetime) -> set[str]:
    return {t.strftime("s-%Y%m%dT%H%M") for t in times}


# --- the three-month simulation -------------------------------------------------------------

NOW = utc(2026, 11, 25, 14, 30)  # a Wednesday
THREE_MONTHS = hourly(utc(2026, 8, 25, 0), utc(2026, 11, 25, 14))


def test_three_months_of_hourly_snapshots_spelled_out() -> None:
    """The survivors of 24h/7d/4w/3m on 2026-11-25 14:30, written out by hand."""
    hours = {utc(2026, 11, 24, 15) + k * HOUR for k in range(24)}  # 11-24 15:00 .. 11-25 14:00
    days = {utc(2026, 11, day) for day in range(19, 26)}             # 11-19 .. 11-25, 00:00
    weeks = {utc(2026, 11, 23), utc(2026, 11, 16), utc(2026, 11, 9), utc(2026, 11, 2)}  # Mondays
    months = {utc(2026, 11, 1), utc(2026, 10, 1), utc(2026, 9, 1)}
    expected = ids_at(*hours, *days, *weeks, *months)
    assert len(expected) == 24 + 6 + 3 + 3
    assert kept_ids(plan(THREE_MONTHS, GFS, NOW)) == expected


@pytest.mark.parametrize("policy", [
    GFS,
    Policy(hourly=24, daily=7, weekly=4, monthly=3, min_age=timedelta(days=2)),
    Policy(hourly=48, daily=14, weekly=8, monthly=12),
    Policy(daily=3),
    Policy(weekly=20),
    Policy(hourly=1, monthly=1),
])
@pytest.mark.parametrize("now", [NOW, utc(2026, 11, 25, 14, 0), utc(2026, 11, 30, 23, 59),
                                 utc(2026, 12, 1, 0, 0), utc(2026, 11, 23, 0, 30)])
def test_plan_matches_period_keys(policy: Policy, now: datetime) -> None:
    snaps = [s for s in THREE_MONTHS if s[1] <= now]
    assert kept_ids(plan(snaps, policy, now)) == expected_kept(snaps, policy, now)


def test_every_decision_has_reasons_and_deletes_say_so() -> None:
    decisions = plan(THREE_MONTHS, GFS, NOW)
    assert len(decisions) == len(THREE_MONTHS)
    for decision in decisions:
        assert decision.reasons
        assert (decision.reasons == (NO_WINDOW,)) == (not decision.keep)
        assert decision.reason == "; ".join(decision.reasons)


def test_reasons_name_the_period_and_the_window() -> None:
    by_id = {d.id: d for d in plan(THREE_MONTHS, GFS, NOW)}
    assert by_id["s-20261125T1400"].reasons == (
        NEWEST, "first of hour 2026-11-25 14:00, one of the last 24 hourly")
    assert by_id["s-20261123T0000"].reasons == (
        "first of day 2026-11-23, one of the last 7 daily",
        "first of week 2026-W48 (from Mon 2026-11-23), one of the last 4 weekly")
    assert by_id["s-20261101T0000"].reasons == (
        "first of month 2026-11, one of the last 3 monthly",)
    assert by_id["s-20261125T0000"].reasons == (
        "first of hour 2026-11-25 00:00, one of the last 24 hourly",
        "first of day 2026-11-25, one of the last 7 daily")
    assert by_id["s-20261124T1400"].reasons == (NO_WINDOW,)
    assert not by_id["s-20260825T0000"].keep  # August is outside the last 3 months


def test_decisions_sorted_newest_first() -> None:
    decisions = plan(list(reversed(THREE_MONTHS[:50])) + THREE_MONTHS[50:], GFS, NOW)
    created = [d.created for d in decisions]
    assert created == sorted(created, reverse=True)


# --- hand-made, min_age, newest ---------------------------------------------------------------

def test_snapshots_made_by_hand_are_kept_and_take_no_window_place() -> None:
    by_hand = [("manual-old", utc(2026, 1, 1), False),
               ("manual-monday", utc(2026, 11, 23, 0, 0), False),  # before Monday's 00:00 one
               ("manual-new", NOW, False)]
    snaps = THREE_MONTHS + by_hand
    decisions = {d.id: d for d in plan(snaps, GFS, NOW)}
    for ident, _, _ in by_hand:
        assert decisions[ident].keep
        assert decisions[ident].reasons == (BY_HAND,)
    # the scheduled snapshots are judged as if the hand-made ones were not there
    assert kept_ids(plan(snaps, GFS, NOW)) == kept_ids(plan(THREE_MONTHS, GFS, NOW)) | {
        ident for ident, _, _ in by_hand}
    # a newer hand-made snapshot does not stop the newest scheduled one being kept
    assert NEWEST in decisions["s-20261125T1400"].reasons


def test_min_age_keeps_everything_younger() -> None:
    policy = Policy(min_age=timedelta(days=1))
    decisions = plan(THREE_MONTHS, policy, NOW)
    kept = [d for d in decisions if d.keep]
    assert {d.created for d in kept} == {NOW - timedelta(minutes=30) - k * HOUR
                                         for k in range(24)}
    assert all("younger than min_age 1d" in d.reasons for d in kept)
    # exactly min_age old is not younger than it
    edge = plan([("a", NOW - timedelta(days=1), True), ("b", NOW, True)], policy, NOW)
    assert [d.keep for d in edge] == [True, False]


def test_zero_policy_keeps_only_newest_min_age_and_by_hand() -> None:
    snaps = [*THREE_MONTHS, ("manual", utc(2026, 9, 3, 12, 34), False)]
    assert kept_ids(plan(snaps, Policy(), NOW)) == {"s-20261125T1400", "manual"}
    with_age = Policy(min_age=timedelta(hours=3))
    assert kept_ids(plan(snaps, with_age, NOW)) == {
        "s-20261125T1400", "s-20261125T1300", "s-20261125T1200", "manual"}


def test_newest_is_kept_even_when_every_window_has_passed() -> None:
    old = [("a", utc(2020, 1, 1), True), ("b", utc(2020, 1, 2), True)]
    decisions = plan(old, GFS, NOW)
    assert [(d.id, d.keep, d.reasons) for d in decisions] == [
        ("b", True, (NEWEST,)), ("a", False, (NO_WINDOW,))]


def test_snapshots_dated_after_now_are_kept() -> None:
    snaps = [("past", NOW - timedelta(days=400), True), ("future", NOW + HOUR, True)]
    decisions = {d.id: d for d in plan(snaps, Policy(), NOW)}
    assert decisions["future"].reasons == (IN_FUTURE, NEWEST)
    assert not decisions["past"].keep


# --- windows count calendar periods back from now, holding snapshots or not ------------------

def test_windows_are_calendar_periods_not_periods_with_snapshots() -> None:
    """Daily 3 on Friday keeps Wednesday to Friday; a gap does not widen the window."""
    snaps = [("mon", utc(2026, 11, 23, 9), True), ("tue", utc(2026, 11, 24, 9), True),
             ("fri", utc(2026, 11, 27, 9), True)]
    decisions = {d.id: d for d in plan(snaps, Policy(daily=3), utc(2026, 11, 27, 12))}
    assert decisions["fri"].keep
    assert not decisions["tue"].keep and not decisions["mon"].keep


def test_first_snapshot_of_the_period_is_the_one_kept() -> None:
    snaps = [("early", utc(2026, 11, 25, 0, 5), True), ("late", utc(2026, 11, 25, 23, 5), True),
             ("next", utc(2026, 11, 26, 1), True)]
    kept = kept_ids(plan(snaps, Policy(daily=2), utc(2026, 11, 26, 2)))
    assert kept == {"early", "next"}


def test_weeks_start_on_monday_and_months_are_calendar_months() -> None:
    sunday, monday = utc(2026, 11, 29, 23), utc(2026, 11, 30, 1)
    snaps = [("sun", sunday, True), ("mon", monday, True), ("dec", utc(2026, 12, 1, 1), True)]
    now = utc(2026, 12, 1, 2)
    weekly = {d.id: d for d in plan(snaps, Policy(weekly=1), now)}
    assert weekly["mon"].keep and not weekly["sun"].keep
    monthly = {d.id: d for d in plan(snaps, Policy(monthly=1), now)}
    assert monthly["dec"].keep and not monthly["sun"].keep and not monthly["mon"].keep
    assert kept_ids(plan(snaps, Policy(monthly=2), now)) == {"sun", "dec"}


def test_leap_day_and_year_end() -> None:
    snaps = hourly(utc(2028, 2, 27), utc(2028, 3, 1, 5)) + hourly(utc(2028, 12, 30),
                                                                   utc(2029, 1, 1, 3))
    for now in (utc(2028, 3, 1, 5, 30), utc(2029, 1, 1, 3, 30)):
        usable = [s for s in snaps if s[1] <= now]
        policy = Policy(hourly=6, daily=3, weekly=2, monthly=2)
        assert kept_ids(plan(usable, policy, now)) == expected_kept(usable, policy, now)
    leap_now = utc(2028, 3, 1, 5, 30)
    leap_snaps = [s for s in snaps if s[1] <= leap_now]
    assert "s-20280229T0000" in kept_ids(plan(leap_snaps, Policy(daily=3), leap_now))


# --- pruning as time goes by converges on planning once -------------------------------------

@pytest.mark.parametrize("policy", [
    GFS,
    Policy(hourly=24, daily=7, weekly=4, monthly=3, min_age=timedelta(hours=36)),
    Policy(hourly=2, daily=1, weekly=1, monthly=1),
    Policy(),
])
def test_pruning_every_hour_ends_where_planning_once_does(policy: Policy) -> None:
    start, end = utc(2026, 8, 25, 0), utc(2026, 11, 25, 14)
    made: list[Snap] = []
    alive: list[Snap] = []
    when = start
    while when <= end:
        snap = (when.strftime("s-%Y%m%dT%H%M"), when + timedelta(minutes=5), True)
        made.append(snap)
        alive.append(snap)
        if when.hour == 12 and when.day % 10 == 0:
            by_hand = (f"{snap[0]}-hand", when + timedelta(minutes=7), False)
            made.append(by_hand)
            alive.append(by_hand)
        now = when + timedelta(minutes=10)
        keep = kept_ids(plan(alive, policy, now))
        alive = [s for s in alive if s[0] in keep]
        when += HOUR
    once = kept_ids(plan(made, policy, now))
    assert {s[0] for s in alive} == once == expected_kept(made, policy, now)


# --- edge cases -------------------------------------------------------------------------------

def test_empty_list() -> None:
    assert plan([], GFS, NOW) == []


def test_utc_decides_not_local_time() -> None:
    """00:30 at UTC+2 is 22:30 UTC the day before: it counts for that UTC day."""
    plus2 = timezone(timedelta(hours=2))
    snaps = [("late", datetime(2026, 11, 25, 0, 30, tzinfo=plus2), True),
             ("next", datetime(2026, 11, 25, 3, 0, tzinfo=plus2), True)]
    decisions = {d.id: d for d in plan(snaps, Policy(daily=2), utc(2026, 11, 25, 12))}
    assert decisions["late"].created == utc(2026, 11, 24, 22, 30)
    assert decisions["late"].reasons == ("first of day 2026-11-24, one of the last 2 daily",)
    assert decisions["next"].keep


def test_dst_changes_nothing() -> None:
    """Snapshots given in a zone with DST plan exactly as their UTC equivalents."""
    try:
        berlin = ZoneInfo("Europe/Berlin")
    except ZoneInfoNotFoundError:
        pytest.skip("no time zone data")
    snaps = hourly(utc(2026, 10, 20), utc(2026, 10, 27, 6))  # across the 25 October change
    local = [(ident, created.astimezone(berlin), sched) for ident, created, sched in snaps]
    now = utc(2026, 10, 27, 6, 30)
    policy = Policy(hourly=30, daily=5, weekly=2)
    local_plan = [(d.id, d.keep, d.reasons) for d in plan(local, policy, now.astimezone(berlin))]
    assert local_plan == [(d.id, d.keep, d.reasons) for d in plan(snaps, policy, now)]
    kept_hours = [d for d in plan(snaps, policy, now) if any("hour" in r for r in d.reasons)]
    assert len(kept_hours) == 30


def test_bad_snapshots_and_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        plan([("a", datetime(2026, 1, 1), True)], GFS, NOW)
    with pytest.raises(ValueError, match="now must be a timezone-aware"):
        plan([], GFS, datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="appears twice"):
        plan([("a", NOW, True), ("a", NOW - HOUR, True)], GFS, NOW)


# --- Policy.parse ------------------------------------------------------------------------------

def test_parse_api_shape() -> None:
    raw = {"hourly": 24, "daily": 7, "weekly": 4, "monthly": 3, "min_age": "1d"}
    policy = Policy.parse(raw)
    assert policy == Policy(24, 7, 4, 3, timedelta(days=1))
    assert policy.to_dict() == raw
    assert Policy.parse(policy.to_dict()) == policy


def test_parse_defaults_missing_keys_to_zero() -> None:
    assert Policy.parse({}) == Policy()
    assert Policy.parse({"daily": 7}) == Policy(daily=7)
    assert Policy().to_dict()["min_age"] == "0m"


@pytest.mark.parametrize(("text", "span"), [
    ("30m", timedelta(minutes=30)), ("12h", timedelta(hours=12)), ("1d", timedelta(days=1)),
    ("2w", timedelta(weeks=2)), ("0d", timedelta(0)), (" 90m ", timedelta(minutes=90)),
])
def test_durations(text: str, span: timedelta) -> None:
    assert parse_duration(text) == span
    assert parse_duration(format_duration(span)) == span


def test_format_duration_uses_the_largest_exact_unit() -> None:
    assert format_duration(timedelta(hours=36)) == "36h"
    assert format_duration(timedelta(days=14)) == "2w"
    assert format_duration(timedelta(minutes=90)) == "90m"


@pytest.mark.parametrize(("raw", "message"), [
    ({"hourly": -1}, "hourly must be 0 or more"),
    ({"daily": 1.5}, "daily must be a whole number"),
    ({"weekly": "4"}, "weekly must be a whole number"),
    ({"monthly": True}, "monthly must be a whole number"),
    ({"monthly": None}, "monthly must be a whole number"),
    ({"yearly": 2}, "unknown retention key(s) yearly"),
    ({"hourly": 1, "keep": 1, "Daily": 2}, "unknown retention key(s) Daily, keep"),
    ({"min_age": "1y"}, "bad duration '1y'"),
    ({"min_age": "1 month"}, "bad duration"),
    ({"min_age": "-1d"}, "bad duration"),
    ({"min_age": "1.5h"}, "bad duration"),
    ({"min_age": "d"}, "bad duration"),
    ({"min_age": ""}, "bad duration"),
    ({"min_age": 86400}, "bad duration 86400"),
    ({"min_age": "99999999999w"}, "too long"),
    ([("daily", 7)], "retention must be an object"),
])
def test_parse_refuses(raw: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        Policy.parse(raw)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_policy_checks_direct_construction() -> None:
    with pytest.raises(ValueError, match="min_age must be a duration"):
        Policy(min_age=timedelta(hours=-1))
    with pytest.raises(ValueError, match="whole number of minutes"):
        Policy(min_age=timedelta(seconds=90))
    with pytest.raises(ValueError, match="hourly must be 0 or more"):
        Policy(hourly=-3)
