"""rockctl against the OpenAPI document that rockd serves, so that the two never drift.

Every command declares the operations it calls (`Use`: method, path template, the query
parameters and body fields it may send); `check` compares them with the document, and the
generic `rockctl api` validates each request against it before sending it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

DOCUMENT = "/api/v1/openapi.json"
METHODS = ("get", "put", "post", "delete", "patch")


class Invalid(Exception):
    """A request that the document does not allow; the message says why."""


@dataclass(frozen=True)
class Use:
    """An operation a command calls: method, path template, query names and body fields.

    `undocumented` names query parameters rockd reads that its document does not list yet
    (each named here, so the check still holds every other one, and says when it is listed).
    """

    method: str
    path: str
    query: frozenset[str] = field(default_factory=frozenset)
    body: frozenset[str] = field(default_factory=frozenset)
    undocumented: frozenset[str] = field(default_factory=frozenset)


def use(method: str, path: str, query: Iterable[str] = (), body: Iterable[str] = (),
        undocumented: Iterable[str] = ()) -> Use:
    return Use(method.lower(), path, frozenset(query), frozenset(body), frozenset(undocumented))


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"({\w+})", template)
    return re.compile("^" + "".join("[^/]+" if p.startswith("{") else re.escape(p)
                                    for p in parts) + "$")


def operation(document: dict[str, Any], method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The template and operation of the document that `method path` is; Invalid if none."""
    method = method.lower()
    templates = [t for t in document.get("paths", {}) if _pattern(t).match(path)]
    templates.sort(key=lambda t: t.count("{"))  # a literal segment wins over a parameter
    if not templates:
        raise Invalid(f"{path} is no path of rockd's API (see `rockctl api --list`)")
    for template in templates:
        op = document["paths"][template].get(method)
        if op is not None:
            return template, op
    allowed = sorted(m.upper() for m in document["paths"][templates[0]] if m in METHODS)
    raise Invalid(f"{method.upper()} is not an operation of {templates[0]} "
                  f"(it has {', '.join(allowed)})")


def query_names(op: dict[str, Any]) -> set[str]:
    return {p["name"] for p in op.get("parameters", []) if p.get("in") == "query"}


def body_schema(document: dict[str, Any], op: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema of the operation's body, able to resolve the document's $refs."""
    content = op.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    if schema is None:
        return None
    return {**schema, "components": document.get("components", {})}


def body_fields(document: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    """The property names a body schema names (through $ref, allOf, anyOf, oneOf)."""
    names: set[str] = set()
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        target = document.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[1])
        names |= body_fields(document, target or {})
    names |= set(schema.get("properties", {}))
    for key in ("allOf", "anyOf", "oneOf"):
        for part in schema.get(key, []):
            names |= body_fields(document, part)
    return names


def validate_request(document: dict[str, Any], method: str, target: str,
                     body: Any | None) -> None:
    """Invalid unless `method target` (a path with its query) and its body are an operation
    of the document, with its parameters and a body its schema accepts."""
    split = urlsplit(target)
    _, op = operation(document, method, split.path)
    unknown = sorted({name for name, _ in parse_qsl(split.query)} - query_names(op))
    if unknown:
        raise Invalid(f"{method.upper()} {split.path} takes no query parameter "
                      f"{', '.join(unknown)}")
    schema = body_schema(document, op)
    if schema is None:
        if body is not None:
            raise Invalid(f"{method.upper()} {split.path} takes no body")
        return
    if body is None:
        if op.get("requestBody", {}).get("required"):
            raise Invalid(f"{method.upper()} {split.path} needs a JSON body")
        return
    errors = sorted(Draft202012Validator(schema).iter_errors(body), key=lambda e: e.path)
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "the body"
        raise Invalid(f"{where}: {errors[0].message}")


def check(document: dict[str, Any], uses: Iterable[tuple[str, Use]]) -> list[str]:
    """What of the commands' operations the document lacks, in words ([] when none)."""
    problems = []
    for command, u in uses:
        op = document.get("paths", {}).get(u.path, {}).get(u.method)
        if op is None:
            problems.append(f"{command}: {u.method.upper()} {u.path} is not in the document")
            continue
        missing = sorted(u.query - query_names(op))
        if missing:
            problems.append(f"{command}: {u.method.upper()} {u.path} documents no query "
                            f"parameter {', '.join(missing)}")
        listed = sorted(u.undocumented & query_names(op))
        if listed:
            problems.append(f"{command}: {u.method.upper()} {u.path} now documents "
                            f"{', '.join(listed)}: move it from undocumented to query")
        schema = body_schema(document, op)
        if u.body and schema is None:
            problems.append(f"{command}: {u.method.upper()} {u.path} takes no body")
        elif schema is not None:
            extra = sorted(u.body - body_fields(document, schema))
            if extra:
                problems.append(f"{command}: {u.method.upper()} {u.path} has no body field "
                                f"{', '.join(extra)}")
    return problems


def operations(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Every (METHOD, path, summary) of the document."""
    return [(method.upper(), path, op.get("summary", ""))
            for path, ops in sorted(document.get("paths", {}).items())
            for method, op in ops.items() if method in METHODS]
