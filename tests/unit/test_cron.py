"""Cron schedules: validate(), next_run() and missed(), all in UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from rockd.jobs.cron import missed, next_run, validate


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(("expr", "normalised"), [
    ("*/15  3 * * MON-FRI", "*/15 3 * * mon-fri"),
    ("  0 4 1 jan *  ", "0 4 1 jan *"),
    ("@daily", "0 0 * * *"),
    ("@Midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
    ("@weekly", "0 0 * * 0"),
    ("@monthly", "0 0 1 * *"),
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("0 0 L * *", "0 0 l * *"),
    ("0 3 * * 1#2", "0 3 * * 1#2"),
    ("0 0 29 2 *", "0 0 29 2 *"),
    ("0 0 * * thu", "0 0 * * thu"),
])
def test_validate_normalises(expr: str, normalised: str) -> None:
    assert validate(expr) == normalised
    assert validate(normalised) == normalised


@pytest.mark.parametrize(("expr", "message"), [
    ("0 0 * * * *", "has 6 field(s); it needs 5"),
    ("0 0 0 * * * *", "has 7 field(s); it needs 5"),
    ("* * * *", "has 4 field(s); it needs 5"),
    ("", "has 0 field(s)"),
    ("@reboot", "@reboot is not supported"),
    ("@REBOOT", "@reboot is not supported"),
    ("@every5m", "unknown cron alias"),
    ("60 * * * *", "invalid cron expression"),
    ("0 24 * * *", "invalid cron expression"),
    ("0 0 0 * *", "invalid cron expression"),
    ("0 0 * 13 *", "invalid cron expression"),
    ("*/0 * * * *", "invalid cron expression"),
    ("0 0 * * funday", "invalid cron expression"),
    ("H * * * *", "H (hashed)"),
    ("0 R * * *", "R (random)"),
    ("0 0 31 2 *", "never fires"),
    ("0 0 30 feb *", "never fires"),
])
def test_validate_refuses(expr: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        validate(expr)


def test_validate_refuses_non_strings() -> None:
    with pytest.raises(ValueError, match="is a string"):
        validate(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(("expr", "after", "expected"), [
    ("0 3 * * *", utc(2026, 1, 31, 3, 0), utc(2026, 2, 1, 3, 0)),       # strictly after
    ("0 3 * * *", utc(2026, 1, 31, 2, 59, 59), utc(2026, 1, 31, 3, 0)),
    ("0 0 31 * *", utc(2026, 4, 1), utc(2026, 5, 31)),                  # April has no 31st
    ("30 23 * * *", utc(2026, 12, 31, 23, 30), utc(2027, 1, 1, 23, 30)),  # year end
    ("0 0 1 * *", utc(2026, 12, 15), utc(2027, 1, 1)),
    ("0 0 29 2 *", utc(2026, 3, 1), utc(2028, 2, 29)),                  # next leap year
    ("0 0 29 2 *", utc(2096, 3, 1), utc(2104, 2, 29)),                  # 2100 is no leap year
    ("0 0 L 2 *", utc(2027, 3, 1), utc(2028, 2, 29)),
    ("0 0 L 2 *", utc(2026, 1, 1), utc(2026, 2, 28)),
    ("0 12 * * 1#2", utc(2026, 11, 1), utc(2026, 11, 9, 12)),           # second Monday
    ("@monthly", utc(2026, 1, 31, 12), utc(2026, 2, 1)),
])
def test_next_run(expr: str, after: datetime, expected: datetime) -> None:
    found = next_run(expr, after)
    assert found == expected
    assert found.tzinfo is not None and found.utcoffset() == timedelta(0)


def test_next_run_reads_other_offsets_as_utc() -> None:
    cest = timezone(timedelta(hours=2))
    assert next_run("0 12 * * *", datetime(2026, 6, 1, 13, 0, tzinfo=cest)) == utc(2026, 6, 1, 12)


def test_next_run_refuses_naive_times_and_bad_expressions() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_run("0 3 * * *", datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="6 field"):
        next_run("0 0 3 * * *", utc(2026, 1, 1))


def test_missed_once_after_a_long_gap() -> None:
    # down for ten days across a month end: many slots passed, the answer is one True
    assert missed("0 3 * * *", utc(2026, 1, 25, 3, 0), utc(2026, 2, 4, 12, 0))
    assert missed("0 * * * *", utc(2026, 1, 1), utc(2027, 1, 1))


def test_missed_false_right_after_a_run() -> None:
    ran = utc(2026, 1, 25, 3, 0)
    assert not missed("0 3 * * *", ran, ran)
    assert not missed("0 3 * * *", ran, ran + timedelta(minutes=1))
    assert not missed("0 3 * * *", ran, utc(2026, 1, 26, 2, 59, 59))


def test_missed_at_the_slot_itself() -> None:
    assert missed("0 3 * * *", utc(2026, 1, 25, 3, 0), utc(2026, 1, 26, 3, 0))


def test_missed_simulated_restart_runs_once() -> None:
    """A scheduler that runs a missed schedule at start-up and records it runs it once."""
    expr = "*/10 * * * *"
    last_run = utc(2026, 2, 28, 23, 50)
    started = utc(2026, 3, 1, 6, 7)
    runs = 0
    for minute in range(3):  # checked each minute until the next slot, 06:10
        now = started + timedelta(minutes=minute)
        if missed(expr, last_run, now):
            runs += 1
            last_run = now
    assert runs == 1
    assert next_run(expr, last_run) == utc(2026, 3, 1, 6, 10)


def test_missed_with_no_last_run_is_false_but_still_validates() -> None:
    assert not missed("0 3 * * *", None, utc(2026, 1, 1))
    with pytest.raises(ValueError, match="@reboot"):
        missed("@reboot", None, utc(2026, 1, 1))
