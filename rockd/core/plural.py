"""Numbers in words for what rockd tells a person: "1 snapshot", "3 snapshots"."""

from __future__ import annotations


def counted(count: int, noun: str, nouns: str | None = None) -> str:
    """`count` and the noun, singular for exactly one: counted(1, "chunk") is "1 chunk"."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"
