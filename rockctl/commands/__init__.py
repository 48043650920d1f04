"""The command table: each command's words, arguments, the operations it calls, and its run.

A command registers itself with `@command("share create", ..., uses=[...])`; `uses` names every
operation of the API it may call (checked against the served OpenAPI document by the tests and
`rockctl openapi-check`). Names are resolved to ids here, on the client: a pool by its name, a
share as POOL/SHARE, a snapshot as POOL/SHARE@SNAPSHOT.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rockctl.client import Client
from rockctl.openapi import Use, use
from rockctl.output import Column, print_fields, print_json, print_table

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

POOLS = use("get", "/api/v1/pools")
SHARES = use("get", "/api/v1/shares")
SNAPSHOTS = use("get", "/api/v1/snapshots")


class NotFound(Exception):
    """A name that resolves to nothing on this rockd (exit 1, as the API's 404)."""


class Failed(Exception):
    """Work that rockd accepted but that did not succeed (exit 1)."""


class Usage(Exception):
    """A command given wrongly, found once it runs (exit 2, as argparse's own errors)."""


@dataclass(frozen=True)
class Arg:
    """One argparse argument: its flags and options."""

    flags: tuple[str, ...]
    options: dict[str, Any]


def arg(*flags: str, **options: Any) -> Arg:
    return Arg(flags, options)


@dataclass
class Out:
    """What a command answers: `data` for --json; a table, fields or a line for people."""

    data: Any
    columns: Sequence[Column] = ()
    rows: Sequence[dict[str, Any]] = ()
    fields: Sequence[tuple[str, str]] = ()
    text: str | None = None

    def show(self, as_json: bool) -> None:
        if as_json:
            print_json(self.data)
        elif self.columns:
            print_table(self.columns, self.rows)
        elif self.fields:
            print_fields(self.fields)
        elif self.text is not None:
            print(self.text)


Run = Callable[[Client, argparse.Namespace], Awaitable[Out]]


@dataclass(frozen=True)
class Command:
    """A command: its words (`("share", "create")`), help, run and the operations it calls."""

    words: tuple[str, ...]
    help: str
    run: Run
    uses: tuple[Use, ...]
    args: tuple[Arg, ...] = field(default=())
    writes_config: bool = False  # runs without a config file ($ROCKCTL_CONFIG may not exist)


COMMANDS: list[Command] = []


def command(words: str, help: str, uses: Sequence[Use], args: Sequence[Arg] = (),
            writes_config: bool = False) -> Callable[[Run], Run]:
    """Register a command (`words` separated by spaces: "pools", "share create")."""
    def register(run: Run) -> Run:
        COMMANDS.append(Command(tuple(words.split()), help, run, tuple(uses), tuple(args),
                                writes_config))
        return run
    return register


# -- names as arguments and their ids -------------------------------------------------------

def name_arg(text: str) -> str:
    """An argparse type: a pool, user or group name as the API allows them."""
    if not NAME.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid name")
    return text


def share_arg(text: str) -> tuple[str, str]:
    """An argparse type: POOL/SHARE."""
    pool, _, share = text.partition("/")
    if not (NAME.match(pool) and NAME.match(share)):
        raise argparse.ArgumentTypeError(f"{text!r} is not POOL/SHARE (say tank/media)")
    return pool, share


def snapshot_arg(text: str) -> tuple[str, str, str]:
    """An argparse type: POOL/SHARE@SNAPSHOT."""
    share, _, snapshot = text.partition("@")
    if not NAME.match(snapshot):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not POOL/SHARE@SNAPSHOT (say tank/media@daily)")
    return (*share_arg(share), snapshot)


async def pool_named(client: Client, name: str) -> dict[str, Any]:
    for pool in await client.call("GET", POOLS.path):
        if pool["name"] == name:
            return dict(pool)
    raise NotFound(f"there is no pool named {name}")


async def share_named(client: Client, pool_name: str, name: str) -> dict[str, Any]:
    pool = await pool_named(client, pool_name)
    for share in await client.call("GET", SHARES.path):
        if share["pool"] == pool["id"] and share["name"] == name:
            return dict(share)
    raise NotFound(f"there is no share {name} in pool {pool_name}")


async def snapshot_named(client: Client, pool_name: str, share: str,
                         name: str) -> dict[str, Any]:
    pool = await pool_named(client, pool_name)
    for snapshot in await client.call("GET", SNAPSHOTS.path):
        if (snapshot["pool"], snapshot["share_name"], snapshot["name"]) == \
                (pool["id"], share, name):
            return dict(snapshot)
    raise NotFound(f"there is no snapshot {pool_name}/{share}@{name}")


async def names_by_id(client: Client, *uses: Use) -> dict[str, str]:
    """Id -> readable name of the resources that `uses` list (pools; shares as POOL/SHARE)."""
    pools = {p["id"]: p["name"] for p in await client.call("GET", POOLS.path)}
    names = dict(pools)
    if SHARES in uses:
        for share in await client.call("GET", SHARES.path):
            names[share["id"]] = f"{pools.get(share['pool'], '?')}/{share['name']}"
    return names


def listing(rows: list[dict[str, Any]], columns: Sequence[Column]) -> Out:
    """A list: the API's entries as JSON, a table for people."""
    return Out(rows, columns=columns, rows=rows)


def shown(resource: dict[str, Any], columns: Sequence[Column]) -> Out:
    """One resource: as JSON, or a line for each of `columns`."""
    return Out(resource, fields=[(c.heading.lower(), c.render(resource)) for c in columns])
