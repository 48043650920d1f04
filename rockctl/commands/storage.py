"""Disks, pools, shares, snapshots and jobs."""

from __future__ import annotations

import argparse
from typing import Any

from rockctl.client import Client
from rockctl.commands import (
    POOLS,
    SHARES,
    SNAPSHOTS,
    Failed,
    Out,
    Usage,
    arg,
    command,
    listing,
    name_arg,
    names_by_id,
    pool_named,
    share_arg,
    share_named,
    shown,
    snapshot_arg,
    snapshot_named,
)
from rockctl.openapi import use
from rockctl.output import Column, field, parse_size
from rockctl.watch import wait_for_job

DISKS = use("get", "/api/v1/disks")
JOBS = use("get", "/api/v1/jobs")
SHARE_FIELDS = ("quota", "owner", "group", "mode", "compression")


def size_arg(text: str) -> int:
    """An argparse type: a size in units of 1024 (1T, 500G, 4096)."""
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _named(names: dict[str, str], key: str, heading: str) -> Column:
    return Column(heading, lambda row: names.get(row.get(key) or "", row.get(key)))


POOL_COLUMNS = [field("name"), field("data"), field("metadata"),
                Column("DEVICES", lambda p: len(p.get("devices") or [])),
                field("usage.capacity", "SIZE", size=True),
                field("usage.stored", "USED", size=True),
                field("usage.free_estimate", "FREE", size=True),
                field("mounted"), field("degraded"), field("id")]


@command("pools", "list the pools", uses=[POOLS])
async def pools(client: Client, args: argparse.Namespace) -> Out:
    return listing(await client.call("GET", POOLS.path), POOL_COLUMNS)


@command("pool show", "one pool", uses=[POOLS, use("get", "/api/v1/pools/{id}")],
         args=[arg("pool", type=name_arg, help="the pool's name")])
async def pool_show(client: Client, args: argparse.Namespace) -> Out:
    pool = await pool_named(client, args.pool)
    pool = await client.call("GET", f"/api/v1/pools/{pool['id']}")
    return shown(pool, [*POOL_COLUMNS, field("mount_point"), field("mount_options"),
                        field("compression"), field("quotas"),
                        Column("DISKS", lambda p: [d.get("path") for d in p["devices"]])])


WAIT = arg("--wait", action="store_true",
           help="follow the job until it ends (exit 1 unless it succeeds)")
WAITING = [use("get", "/api/v1/stream"), use("get", "/api/v1/jobs/{id}")]


async def _job_started(client: Client, args: argparse.Namespace, answer: dict[str, Any],
                       what: str) -> Out:
    """The job a request started, or with --wait the job once ended (Failed unless it
    succeeded)."""
    job = answer["job"]
    if not args.wait:
        return Out(answer, text=f"{what}: job {job['id']} {job['state']}")
    job = await wait_for_job(client, job["id"])
    if job["state"] != "succeeded":
        raise Failed(f"{what}: job {job['id']} {job['state']}: {job.get('error') or '-'}")
    return Out({"job": job}, text=f"{what}: job {job['id']} {job['state']}")


@command("pool scrub", "scrub a pool: read and check every copy (a job)",
         uses=[POOLS, use("post", "/api/v1/pools/{id}/scrub", body=["readonly"]), *WAITING],
         args=[arg("pool", type=name_arg, help="the pool's name"),
               arg("--readonly", action="store_true", help="only check, repair nothing"), WAIT])
async def pool_scrub(client: Client, args: argparse.Namespace) -> Out:
    pool = await pool_named(client, args.pool)
    answer = await client.call("POST", f"/api/v1/pools/{pool['id']}/scrub",
                               {"readonly": args.readonly})
    return await _job_started(client, args, answer, f"scrub of {args.pool}")


@command("pool balance", "balance a pool (a job)",
         uses=[POOLS, use("post", "/api/v1/pools/{id}/balance", body=["filters"]), *WAITING],
         args=[arg("pool", type=name_arg, help="the pool's name"),
               arg("--filters", help="btrfs balance filters, say -dusage=50"), WAIT])
async def pool_balance(client: Client, args: argparse.Namespace) -> Out:
    pool = await pool_named(client, args.pool)
    body = {"filters": args.filters} if args.filters else {}
    answer = await client.call("POST", f"/api/v1/pools/{pool['id']}/balance", body)
    return await _job_started(client, args, answer, f"balance of {args.pool}")


@command("disks", "list the disks", uses=[DISKS, POOLS])
async def disks(client: Client, args: argparse.Namespace) -> Out:
    names = await names_by_id(client)
    columns = [field("name"), field("size", size=True), field("model"),
               _named(names, "pool", "POOL"), field("filesystem.type", "FS"),
               field("managed"), field("id")]
    return listing(await client.call("GET", DISKS.path), columns)


def _share_columns(names: dict[str, str]) -> list[Column]:
    return [_named(names, "pool", "POOL"), field("name"), field("quota", size=True),
            field("usage.referenced", "REFERENCED", size=True),
            field("usage.exclusive", "EXCLUSIVE", size=True),
            field("owner"), field("group"), field("mode"), field("id")]


@command("shares", "list the shares", uses=[SHARES, POOLS],
         args=[arg("--pool", type=name_arg, help="only this pool's")])
async def shares(client: Client, args: argparse.Namespace) -> Out:
    names = await names_by_id(client)
    rows = await client.call("GET", SHARES.path)
    if args.pool:
        rows = [s for s in rows if names.get(s["pool"]) == args.pool]
    return listing(rows, _share_columns(names))


SHARE = arg("share", type=share_arg, metavar="POOL/SHARE", help="say tank/media")


@command("share show", "one share", uses=[POOLS, SHARES], args=[SHARE])
async def share_show(client: Client, args: argparse.Namespace) -> Out:
    share = await share_named(client, *args.share)
    names = await names_by_id(client)
    return shown(share, [*_share_columns(names), field("path"), field("compression"),
                         field("read_only"), field("created")])


SHARE_OPTIONS = [
    arg("--quota", type=size_arg, help="a size in units of 1024: 500G, 1T"),
    arg("--owner", type=name_arg, help="the user owning its root folder"),
    arg("--group", type=name_arg, help="the group of its root folder"),
    arg("--mode", help="its root folder's mode, octal: 0775"),
    arg("--compression", help="no, zlib, lzo or zstd[:level]"),
]


def _share_body(args: argparse.Namespace) -> dict[str, Any]:
    return {name: getattr(args, name) for name in SHARE_FIELDS
            if getattr(args, name) is not None}


@command("share create", "make a share (a subvolume) in a pool",
         uses=[POOLS, use("post", "/api/v1/shares", body=["pool", "name", *SHARE_FIELDS])],
         args=[SHARE, *SHARE_OPTIONS])
async def share_create(client: Client, args: argparse.Namespace) -> Out:
    pool_name, name = args.share
    pool = await pool_named(client, pool_name)
    share = await client.call("POST", "/api/v1/shares",
                              {"pool": pool["id"], "name": name, **_share_body(args)})
    return Out(share, text=f"created share {pool_name}/{name} ({share['id']})")


@command("share set", "change a share's quota, owner, group, mode or compression",
         uses=[POOLS, SHARES, use("patch", "/api/v1/shares/{id}", body=SHARE_FIELDS)],
         args=[SHARE, *SHARE_OPTIONS])
async def share_set(client: Client, args: argparse.Namespace) -> Out:
    share = await share_named(client, *args.share)
    body = _share_body(args)
    if not body:
        raise Usage("say what to change: --quota, --owner, --group, "
                                         "--mode or --compression")
    share = await client.call("PATCH", f"/api/v1/shares/{share['id']}", body)
    return Out(share, text=f"changed share {'/'.join(args.share)}")


@command("share delete", "delete a share",
         uses=[POOLS, SHARES, use("delete", "/api/v1/shares/{id}", undocumented=["force"])],
         args=[SHARE, arg("--force", action="store_true",
                          help="also while it has snapshots or exports (deleting them)")])
async def share_delete(client: Client, args: argparse.Namespace) -> Out:
    share = await share_named(client, *args.share)
    query = {"force": "true"} if args.force else None
    await client.call("DELETE", f"/api/v1/shares/{share['id']}", query=query)
    return Out({"deleted": share["id"]}, text=f"deleted share {'/'.join(args.share)}")


@command("snapshots", "list the snapshots", uses=[SNAPSHOTS, POOLS],
         args=[arg("--share", type=share_arg, metavar="POOL/SHARE", help="only this share's")])
async def snapshots(client: Client, args: argparse.Namespace) -> Out:
    names = await names_by_id(client)
    rows = await client.call("GET", SNAPSHOTS.path)
    if args.share:
        rows = [s for s in rows if (names.get(s["pool"]), s["share_name"]) == args.share]
    columns = [_named(names, "pool", "POOL"), field("share_name", "SHARE"), field("name"),
               field("created"), field("read_only"), field("visible"),
               field("usage.exclusive", "EXCLUSIVE", size=True), field("id")]
    return listing(rows, columns)


SNAPSHOT = arg("snapshot", type=snapshot_arg, metavar="POOL/SHARE@NAME",
               help="say tank/media@daily")


@command("snapshot create", "snapshot a share",
         uses=[POOLS, SHARES,
               use("post", "/api/v1/shares/{id}/snapshots", body=["name", "writable", "visible"])],
         args=[SNAPSHOT, arg("--writable", action="store_true"),
               arg("--visible", action="store_true", help="shown in the share's .snapshots")])
async def snapshot_create(client: Client, args: argparse.Namespace) -> Out:
    pool_name, share_name, name = args.snapshot
    share = await share_named(client, pool_name, share_name)
    body = {"name": name, "writable": args.writable, "visible": args.visible}
    snapshot = await client.call("POST", f"/api/v1/shares/{share['id']}/snapshots", body)
    return Out(snapshot, text=f"created snapshot {pool_name}/{share_name}@{name}")


@command("snapshot delete", "delete a snapshot",
         uses=[POOLS, SNAPSHOTS, use("delete", "/api/v1/snapshots/{id}")], args=[SNAPSHOT])
async def snapshot_delete(client: Client, args: argparse.Namespace) -> Out:
    snapshot = await snapshot_named(client, *args.snapshot)
    await client.call("DELETE", f"/api/v1/snapshots/{snapshot['id']}")
    pool_name, share_name, name = args.snapshot
    return Out({"deleted": snapshot["id"]},
               text=f"deleted snapshot {pool_name}/{share_name}@{name}")


def _progress(job: dict[str, Any]) -> str:
    progress = job.get("progress")
    return "-" if progress is None else f"{progress:.0%}"


def job_columns(names: dict[str, str]) -> list[Column]:
    return [field("id"), field("kind"), _named(names, "target", "TARGET"), field("state"),
            Column("PROGRESS", _progress), field("started"), field("ended"), field("error")]


@command("jobs", "list the jobs", uses=[JOBS, POOLS, SHARES])
async def jobs(client: Client, args: argparse.Namespace) -> Out:
    names = await names_by_id(client, SHARES)
    rows = sorted(await client.call("GET", JOBS.path), key=lambda j: j.get("started") or "")
    return listing(rows, job_columns(names))


JOB = arg("job", help="the job's id")


@command("job show", "one job, with the last lines of its log",
         uses=[use("get", "/api/v1/jobs/{id}"), POOLS, SHARES], args=[JOB])
async def job_show(client: Client, args: argparse.Namespace) -> Out:
    job = await client.call("GET", f"/api/v1/jobs/{args.job}")
    names = await names_by_id(client, SHARES)
    return shown(job, [*job_columns(names), field("detail"),
                       Column("LOG", lambda j: "\n".join(j.get("log") or []) or "-")])


def _job_verb(verb: str) -> None:
    @command(f"job {verb}", f"{verb} a job", uses=[use("post", f"/api/v1/jobs/{{id}}/{verb}")],
             args=[JOB])
    async def act(client: Client, args: argparse.Namespace) -> Out:
        job = await client.call("POST", f"/api/v1/jobs/{args.job}/{verb}")
        return Out(job, text=f"job {args.job}: {job.get('state', verb)}")


for _verb in ("cancel", "pause", "resume"):
    _job_verb(_verb)
