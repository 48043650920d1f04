"""Validation errors in words: each of pydantic's error types as a sentence naming the field
("Quota must be at least 1 MiB"), never pydantic's own text, for the API's 400 answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_UNITS = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]

# pydantic error type -> what the field must be, with the error's context filled in
_RULES: dict[str, str] = {
    "missing": "is required",
    "extra_forbidden": "is not a field of this request",
    "greater_than_equal": "must be at least {ge}",
    "greater_than": "must be more than {gt}",
    "less_than_equal": "must be at most {le}",
    "less_than": "must be less than {lt}",
    "string_too_short": "must be at least {min_length} characters long",
    "string_too_long": "must be at most {max_length} characters long",
    "too_short": "must hold at least {min_length} items",
    "too_long": "must hold at most {max_length} items",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "string_type": "must be text",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "literal_error": "must be one of {expected}",
    "enum": "must be one of {expected}",
    "string_pattern_mismatch": "does not have the form it must have",
    "none_required": "must be null",
}


def size(n: int) -> str:
    """A byte count in binary units, as the UI writes it: 1048576 -> "1 MiB"."""
    value, unit = float(n), 0
    while value >= 1024 and unit < len(_UNITS) - 1:
        value, unit = value / 1024, unit + 1
    return f"{value:.1f}".removesuffix(".0") + f" {_UNITS[unit]}"


def label(loc: tuple[Any, ...]) -> str:
    """A field's place in the body as words: ("retention", "daily") -> "Retention daily",
    ("clients", 0, "host") -> "Clients item 1 host"."""
    words = [f"item {part + 1}" if isinstance(part, int) else str(part).replace("_", " ")
             for part in loc]
    text = " ".join(words) or "The request body"
    return text[0].upper() + text[1:]


def sentence(error: Mapping[str, Any]) -> str:
    """One pydantic error (from `errors(include_url=False)`) as a sentence."""
    rule = _RULES.get(error["type"])
    ctx = error.get("ctx") or {}
    if rule is not None:
        try:
            said = rule.format(**{k: str(v) for k, v in ctx.items()})
        except KeyError:
            said = rule.split(" {")[0]
    else:  # rockd's own errors (custom types, validators) already say it in words
        said = str(error["msg"]).removeprefix("Value error, ")
        if said.startswith("Input should "):  # a pydantic type not listed above
            said = "must " + said.removeprefix("Input should ")
    return f"{label(tuple(error['loc']))} {said}"
