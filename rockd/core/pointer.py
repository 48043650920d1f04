"""JSON Pointers (RFC 6901): parsing, formatting and walking a JSON document."""

from __future__ import annotations

import re
from typing import Any

Tokens = tuple[str, ...]
_BAD_ESCAPE = re.compile(r"~(?![01])")


class PointerError(ValueError):
    """A string that is not a JSON Pointer, or one that leads nowhere in a document."""


def parse(pointer: str) -> Tokens:
    """Split '/a/b~1c' into ('a', 'b/c'); '' and '/' both name the whole document."""
    if pointer in ("", "/"):
        return ()
    if not pointer.startswith("/"):
        raise PointerError(f"a path must start with '/': {pointer!r}")
    if _BAD_ESCAPE.search(pointer):
        raise PointerError(f"bad '~' escape in path: {pointer!r}")
    tokens = pointer[1:].split("/")
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in tokens)


def join(tokens: Tokens) -> str:
    """Join tokens back into a pointer string; () gives ''."""
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


def is_prefix(prefix: Tokens, tokens: Tokens) -> bool:
    """Whether `prefix` names `tokens` itself or one of its ancestors."""
    return len(prefix) <= len(tokens) and tokens[: len(prefix)] == prefix


MISSING: Any = object()


def lookup(doc: Any, tokens: Tokens) -> Any:
    """The value at `tokens` in `doc`, or MISSING where the path leads nowhere."""
    node = doc
    for token in tokens:
        if isinstance(node, dict):
            node = node.get(token, MISSING)
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return MISSING
        if node is MISSING:
            return MISSING
    return node
