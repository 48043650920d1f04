"""Retention's `last` N: the newest N scheduled snapshots are kept whatever their times,
alongside the calendar windows (btrbk's preserve_min "latest N")."""

from datetime import UTC, datetime, timedelta

import pytest

from rockd.jobs.retention import BY_HAND, Policy, plan

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def every_five_minutes(count: int) -> list[tuple[str, datetime, bool]]:
    """`count` scheduled snapshots, 5 minutes apart, the newest at NOW."""
    return [(f"s{n}", NOW - timedelta(minutes=5 * (count - 1 - n)), True) for n in range(count)]


def kept(decisions) -> set:
    return {d.id for d in decisions if d.keep}


def test_last_keeps_the_newest_n_and_says_so():
    decisions = plan(every_five_minutes(10), Policy(last=4), NOW)
    assert kept(decisions) == {"s6", "s7", "s8", "s9"}
    why = {d.id: d.reasons for d in decisions}
    assert "one of the last 4 scheduled snapshots" in why["s6"]
    assert why["s5"] == ("not in any window: delete",)


def test_last_adds_to_the_windows_and_never_counts_snapshots_made_by_hand():
    snaps = [*every_five_minutes(30), ("hand", NOW - timedelta(minutes=1), False)]
    decisions = plan(snaps, Policy(hourly=2, last=3), NOW)
    # the hourly window keeps the first of this hour and of the hour before
    first_of_hour = {d.id for d in decisions if any("first of hour" in r for r in d.reasons)}
    assert len(first_of_hour) == 2
    assert kept(decisions) == {"s27", "s28", "s29", "hand"} | first_of_hour
    assert dict((d.id, d.reasons) for d in decisions)["hand"] == (BY_HAND,)


def test_last_larger_than_what_there_is_keeps_all():
    assert kept(plan(every_five_minutes(3), Policy(last=10), NOW)) == {"s0", "s1", "s2"}


def test_last_round_trips_through_the_api_shape():
    policy = Policy.parse({"daily": 7, "last": 5})
    assert policy == Policy(daily=7, last=5)
    assert policy.to_dict()["last"] == 5
    assert "last" not in Policy(daily=7).to_dict()  # a policy saved before stays as it was


@pytest.mark.parametrize("value", [-1, 1.5, True, "3"])
def test_last_must_be_a_whole_number_of_zero_or_more(value):
    with pytest.raises(ValueError, match="last must be"):
        Policy.parse({"last": value})
