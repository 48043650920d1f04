"""Users, groups, exports, services, schedules, alerts and the event log."""

from __future__ import annotations

import argparse
from typing import Any

from rockctl.client import Client
from rockctl.commands import SHARES, Out, arg, command, listing, names_by_id
from rockctl.openapi import use
from rockctl.output import Column, field

USERS = use("get", "/api/v1/users")
GROUPS = use("get", "/api/v1/groups")
EXPORT_KINDS = ("smb", "nfs", "sftp")
SERVICES = use("get", "/api/v1/services")
SCHEDULES = use("get", "/api/v1/schedules")
ALERTS = use("get", "/api/v1/alerts")
EVENTS = use("get", "/api/v1/events", query=["since", "kind", "limit"])
ALL = arg("--all", action="store_true", help="system accounts too (uid or gid below 1000)")


@command("users", "list the users", uses=[USERS], args=[ALL])
async def users(client: Client, args: argparse.Namespace) -> Out:
    rows = [u for u in await client.call("GET", USERS.path) if args.all or not u["system"]]
    return listing(rows, [field("name"), field("uid"), field("group"), field("groups"),
                          field("shell"), field("samba"), field("ssh_keys", "SSH KEYS")])


@command("groups", "list the groups", uses=[GROUPS], args=[ALL])
async def groups(client: Client, args: argparse.Namespace) -> Out:
    rows = [g for g in await client.call("GET", GROUPS.path) if args.all or not g["system"]]
    return listing(rows, [field("name"), field("gid"), field("members")])


def _export_detail(export: dict[str, Any]) -> Any:
    if export["kind"] == "smb":
        return f"//{export['name']}" + (" (read-only)" if export["read_only"] else "")
    if export["kind"] == "nfs":
        return [f"{c['host']}({'rw' if c['rw'] else 'ro'})" for c in export["clients"]]
    return export.get("users")


@command("exports", "list the SMB, NFS and SFTP exports",
         uses=[use("get", f"/api/v1/exports/{kind}") for kind in EXPORT_KINDS])
async def exports(client: Client, args: argparse.Namespace) -> Out:
    rows = [{"kind": kind, **export} for kind in EXPORT_KINDS
            for export in await client.call("GET", f"/api/v1/exports/{kind}")]
    return listing(rows, [field("kind"), field("share_name", "SHARE"), field("path"),
                          field("active"), Column("EXPORTED AS", _export_detail),
                          field("id")])


@command("services", "list the managed services and their state", uses=[SERVICES])
async def services(client: Client, args: argparse.Namespace) -> Out:
    return listing(await client.call("GET", SERVICES.path),
                   [field("name"), field("active"), field("sub"), field("enabled"),
                    field("backend"), field("since")])


@command("schedules", "list the schedules", uses=[SCHEDULES, use("get", "/api/v1/pools"),
                                                 SHARES])
async def schedules(client: Client, args: argparse.Namespace) -> Out:
    names = await names_by_id(client, SHARES)
    return listing(await client.call("GET", SCHEDULES.path),
                   [field("id"), field("kind"),
                    Column("TARGET", lambda s: names.get(s["target"], s["target"])),
                    field("cron"), field("enabled"), field("last_run", "LAST RUN"),
                    field("next_run", "NEXT RUN")])


@command("alerts", "list the alerts, active and recently cleared", uses=[ALERTS])
async def alerts(client: Client, args: argparse.Namespace) -> Out:
    return listing(await client.call("GET", ALERTS.path),
                   [field("severity"), field("kind"), field("subject"), field("message"),
                    field("first_seen", "SINCE"), field("cleared"),
                    field("acknowledged", "ACK"), field("id")])


@command("alert ack", "acknowledge an alert",
         uses=[use("post", "/api/v1/alerts/{id}/acknowledge")],
         args=[arg("alert", help="the alert's id")])
async def alert_ack(client: Client, args: argparse.Namespace) -> Out:
    alert = await client.call("POST", f"/api/v1/alerts/{args.alert}/acknowledge")
    return Out(alert, text=f"acknowledged alert {args.alert}")


@command("events", "the event log, oldest first (audit: every write, by whom)",
         uses=[EVENTS],
         args=[arg("--kind", help="only events of this kind (say audit)"),
               arg("--since", type=int, default=0, help="only events after this id"),
               arg("--limit", type=int, default=100, help="at most this many (up to 1000)")])
async def events(client: Client, args: argparse.Namespace) -> Out:
    query = {"since": str(args.since), "limit": str(args.limit)}
    if args.kind:
        query["kind"] = args.kind
    page = await client.call("GET", EVENTS.path, query=query)
    out = listing(page["items"], [field("id"), field("time"), field("kind"),
                                  field("principal"), field("action"), field("result"),
                                  field("message")])
    out.data = page
    return out
