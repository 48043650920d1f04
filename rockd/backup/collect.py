"""The backup document of a box, made from what its owners keep: every intent kind, each in its
section (rockd.backup.document), the rest under "other". What is the box's alone (the uids it
has given, snapshot flags, replica records, the apps instance id) is left out; API tokens and
sessions are not intent and never in it; password hashes, secret app values and this box's
replication key pair only when `secrets` is asked for."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from rockd.accounts import hashes
from rockd.accounts.homes import authorized_keys_path
from rockd.accounts.users import Users
from rockd.apps.apps import Apps
from rockd.config import Settings
from rockd.core.store import Store
from rockd.core.times import iso, utcnow
from rockd.core.tree import Tree
from rockd.jobs.schedules import Scheduler
from rockd.services.exports import Exports
from rockd.services.units import Services
from rockd.storage.pools import Pools
from rockd.storage.shares import Shares
from rockd.transfer.service import Replication

SECTIONED = frozenset({"pool", "share", "schedule", "export", "service", "app",
                       "replication_peer", "replication_task"})
BOX_OWN = frozenset({"uid", "snapshot", "replica", "replica_receiving", "apps", "alert"})
"""Kinds that hold only what is this box's own (the uids it gave, its raised alerts...): never
carried to another."""
SECRET_FIELDS = frozenset({"password", "secret", "token", "private_key"})
"""Fields left out of intent of other kinds unless secrets are asked for."""


@dataclass
class Parts:
    """The owners a backup reads and a restore asks."""

    settings: Settings
    tree: Tree
    store: Store
    users: Users
    pools: Pools
    shares: Shares
    exports: Exports
    scheduler: Scheduler
    services: Services
    replication: Replication
    apps: Apps
    owners: dict[str, Callable[[str, dict[str, Any]], Awaitable[Any]]] = field(
        default_factory=dict)
    """How intent of another kind is restored through its owner (kind -> (key, value) ->
    done); a kind without one is kept in the store and read at rockd's next start."""


def ssh_keys(parts: Parts, name: str) -> list[str]:
    try:
        text = authorized_keys_path(parts.settings, name).read_text()
    except (OSError, ValueError):
        return []
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.startswith("#")]


def own_group(user: dict[str, Any]) -> bool:
    """Whether the user's primary group is its own (useradd --user-group made it)."""
    return user["group"] == user["name"]


async def _users(parts: Parts, secrets: bool) -> tuple[list[dict], list[dict]]:
    users = [u for u in parts.users.users() if not u["system"]]
    private = {u["name"] for u in users if own_group(u)}
    groups = [{"name": g["name"], "gid": g["gid"]} for g in parts.users.groups()
              if not g["system"] and g["name"] not in private]
    records = []
    for user in users:
        record = {"name": user["name"], "uid": user["uid"],
                  "group": None if own_group(user) else user["group"],
                  "groups": sorted(user["groups"]), "shell": user["shell"],
                  "ssh_keys": ssh_keys(parts, user["name"])}
        if secrets:
            record["password_hash"] = hashes.shadow_hash(user["name"])
            record["nt_hash"] = await hashes.nt_hash(parts.users.smb_conf, user["name"])
        records.append(record)
    return groups, records


def _storage(parts: Parts) -> tuple[list[dict], list[dict]]:
    pools = [{"name": p["name"], "uuid": uuid, "compression": p.get("compression"),
              "mount_options": p.get("mount_options") or ""}
             for uuid, p in sorted(parts.pools.intent.items())]
    names = {p["uuid"]: p["name"] for p in pools}
    shares = [{"id": s["id"], "pool": names[s["pool"]], "name": s["name"], "quota": s["quota"],
               "compression": s["compression"], "owner": s["owner"], "group": s["group"],
               "mode": s["mode"]}
              for s in (parts.tree.get("/shares") or {}).values()
              if s["pool"] in names and not s.get("replica") and not s.get("received_uuid")]
    return pools, sorted(shares, key=lambda s: (s["pool"], s["name"]))


def _exports(parts: Parts) -> list[dict]:
    out = []
    for record in sorted(parts.exports.records.values(), key=lambda r: r["id"]):
        fields = {k: v for k, v in record.items() if k not in ("id", "kind")}
        out.append({"kind": record["kind"], "fields": fields})
    return out


def _replication(parts: Parts, secrets: bool) -> dict[str, Any]:
    replication = parts.replication
    peers = [{k: p[k] for k in ("name", "address", "public_key")}
             for _, p in sorted(replication.peers.records.items())]
    tasks = [{k: t[k] for k in ("share", "targets", "cron", "retention", "keep_last", "enabled")}
             for t in sorted(replication.tasks.records.values(), key=lambda t: t["created"])]
    section: dict[str, Any] = {"peers": peers, "tasks": tasks}
    if secrets:
        section["key_pair"] = {"public": replication.public.decode(),
                               "secret": replication.secret.decode()}
    return section


def _apps(parts: Parts, secrets: bool) -> list[dict]:
    out = []
    for name, record in sorted(parts.apps.intents.items()):
        env = dict(record.get("env") or {})
        if not secrets:
            hidden = {e["name"] for c in (record.get("definition") or {}).get("containers", [])
                      for e in c.get("env", []) if e.get("secret")}
            env = {k: v for k, v in env.items() if k not in hidden}
        out.append({"name": name, "volumes": dict(record.get("volumes") or {}),
                    "ports": dict(record.get("ports") or {}), "env": env})
    return out


def without_secrets(value: Any) -> Any:
    """`value` with every field named as a secret (SECRET_FIELDS) left out, at any depth."""
    if isinstance(value, dict):
        return {k: without_secrets(v) for k, v in value.items() if k not in SECRET_FIELDS}
    if isinstance(value, list):
        return [without_secrets(v) for v in value]
    return value


async def _other(parts: Parts, secrets: bool) -> dict[str, dict[str, dict[str, Any]]]:
    kinds = [k for k in await parts.store.intent_kinds() if k not in SECTIONED | BOX_OWN]
    out = {kind: await parts.store.intents(kind) for kind in kinds}
    host = _host(parts)
    if host:
        out["host"] = {"system": host}
    return out if secrets else without_secrets(out)


def _host(parts: Parts) -> dict[str, Any]:
    """The host's name, time zone and NTP servers: facts of the system (its files are their
    truth), set through PATCH /system and restored the same way."""
    time = parts.tree.get("/system/time") or {}
    found = {"hostname": parts.tree.get("/system/hostname"),
             "timezone": time.get("timezone"), "ntp_servers": time.get("ntp_servers")}
    return {key: value for key, value in found.items() if value is not None}


async def backup(parts: Parts, secrets: bool = False) -> dict[str, Any]:
    """The backup document of the box (see the module docstring)."""
    groups, users = await _users(parts, secrets)
    pools, shares = _storage(parts)
    schedules = [{k: s.get(k) for k in ("kind", "target", "cron", "retention", "enabled",
                                         "options")}
                 for s in sorted(parts.scheduler.schedules.values(), key=lambda s: s["created"])]
    services = [{"name": name, "enabled": bool(v.get("enabled"))}
                for name, v in sorted((await parts.store.intents("service")).items())]
    return {"format": "rockd-config", "version": 1, "created": iso(utcnow()),
            "host": socket.gethostname(), "secrets": secrets, "groups": groups, "users": users,
            "pools": pools, "shares": shares, "exports": _exports(parts),
            "schedules": schedules, "services": services,
            "replication": _replication(parts, secrets), "apps": _apps(parts, secrets),
            "other": await _other(parts, secrets)}
