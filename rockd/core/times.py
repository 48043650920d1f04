"""Times as rockd writes them everywhere (tree, intents, API): UTC, whole seconds, RFC 3339
with a Z."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(when: datetime | None) -> str | None:
    return when.isoformat(timespec="seconds").replace("+00:00", "Z") if when else None


def parse_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def rfc3339(ts: float | None) -> str | None:
    """A Unix time as rockd writes times (None for none)."""
    return iso(datetime.fromtimestamp(ts, UTC)) if ts else None


def now() -> str:
    return iso(utcnow())  # type: ignore[return-value]
