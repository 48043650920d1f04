"""Cron schedules ("m h dom mon dow", always in UTC): checking them and finding their times.

Pure logic on croniter, no I/O and no clock: every time comes in as an argument. Expressions
have exactly five fields. Names (jan, mon), ranges, steps, lists, `?`, `L` (last day) and `#`
(nth weekday) are accepted, and so are the aliases @hourly, @daily, @midnight, @weekly,
@monthly, @yearly and @annually, which `validate()` writes out as five fields. Refused: seconds
or years (6 or 7 fields), @reboot (rockd runs a missed schedule once at start-up instead, see
`missed()`), croniter's H (hashed) and R (random) values, and expressions that never fire.
As in Vixie cron, a day-of-month and a day-of-week that are both restricted match either.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from croniter import CroniterBadDateError, CroniterError, croniter

FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
UNSTABLE_VALUES = {"h": "H (hashed)", "r": "R (random)"}
_FIRE_CHECK_FROM = datetime(2000, 1, 1, tzinfo=UTC)


def _fields(expr: str) -> list[str]:
    """The five fields of `expr`, lower case, aliases written out; ValueError otherwise."""
    if not isinstance(expr, str):
        raise ValueError(f"a cron expression is a string, not {type(expr).__name__}")
    text = expr.strip().lower()
    if text == "@reboot":
        raise ValueError("@reboot is not supported: a schedule needs times "
                         "(rockd runs a schedule missed while it was down once at start-up)")
    if text.startswith("@"):
        if text not in ALIASES:
            raise ValueError(f"unknown cron alias {expr.strip()!r}: use one of "
                             f"{', '.join(ALIASES)} or five fields")
        text = ALIASES[text]
    fields = text.split()
    if len(fields) != len(FIELDS):
        raise ValueError(f"cron expression {expr!r} has {len(fields)} field(s); it needs 5: "
                         f"{' '.join(FIELDS)} (no seconds, no years)")
    return fields


def _refuse_unstable(fields: list[str]) -> None:
    """Refuse H and R, whose times croniter draws per expression or per call."""
    for name, field in zip(FIELDS, fields, strict=True):
        for word in re.findall(r"[a-z]+", field):
            if word in UNSTABLE_VALUES:
                raise ValueError(f"{UNSTABLE_VALUES[word]} values are not supported "
                                 f"(in the {name} field {field!r})")


def validate(expr: str) -> str:
    """`expr` normalised (one space between fields, lower case, aliases written out).

    Raises ValueError, with a message for the user, for anything rockd cannot schedule.
    """
    fields = _fields(expr)
    _refuse_unstable(fields)
    normalised = " ".join(fields)
    try:
        croniter(normalised, _FIRE_CHECK_FROM).get_next(datetime)
    except CroniterBadDateError:
        raise ValueError(f"cron expression {expr!r} never fires") from None
    except (CroniterError, ValueError, KeyError) as exc:
        raise ValueError(f"invalid cron expression {expr!r}: {exc}") from None
    return normalised


def _utc(when: datetime, what: str) -> datetime:
    if not isinstance(when, datetime) or when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, not {when!r}")
    return when.astimezone(UTC)


def next_run(expr: str, after: datetime) -> datetime:
    """The first time `expr` fires strictly after `after` (timezone-aware), in UTC."""
    start = _utc(after, "after")
    found = croniter(validate(expr), start).get_next(datetime)
    return found.astimezone(UTC)


def missed(expr: str, last_run: datetime | None, now: datetime) -> bool:
    """Whether `expr` fired at least once after `last_run` and no later than `now`.

    True however many times it fired, so a schedule missed while rockd was down runs once at
    start-up, not once per missed time. With no `last_run` (never run) nothing was missed:
    record when a schedule was created as its `last_run` to make up for a first run missed.
    """
    current = _utc(now, "now")
    if last_run is None:
        validate(expr)
        return False
    return next_run(expr, last_run) <= current
