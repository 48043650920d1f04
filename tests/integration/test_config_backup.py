"""Settings backup and restore on real daemons: a box with users, a group, two pools with
shares, SMB and SFTP exports, schedules, a replication peer and task is backed up; a second,
fresh box with a pool of the same name restores it, and its own backup then holds the same
intent, field by field (only box-specific ids mapped), while what it could not restore (the
share whose pool it lacks) is listed. A second restore changes nothing; a malformed or foreign
document changes nothing; a scheduled backup writes its file into a share."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.replication import fake_peer

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for users and mounts")

MiB = 1 << 20


def ssh_key(folder: Path) -> str:
    key = folder / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "backup-test",
                    "-f", str(key)], check=True)
    return (folder / "id.pub").read_text().strip()


async def ok(box, method: str, path: str, body=None, status: int = 200):
    got, answer = await box.api.call(method, path, body)
    assert got == status, (method, path, got, answer)
    return answer


async def backup(box) -> dict:
    return await ok(box, "GET", "/api/v1/config/backup")


async def furnish(a, accounts, tmp_path: Path, peer: dict) -> dict:
    """Box a's intent: answers the names it made."""
    group, alice, bob = accounts.group(), accounts.user(), accounts.user()
    await ok(a, "POST", "/api/v1/groups", {"name": group}, 201)
    await ok(a, "POST", "/api/v1/users", {"name": alice, "password": "pw-Alice-1",
                                          "groups": [group], "ssh_keys": [ssh_key(tmp_path)]},
             201)
    await ok(a, "POST", "/api/v1/users", {"name": bob, "password": "pw-Bob-22"}, 201)
    tank = await ok(a, "POST", "/api/v1/pools", {"name": "tank", "disks": [a.disks[0]],
                                                 "data": "single"}, 201)
    spare = await ok(a, "POST", "/api/v1/pools", {"name": "spare", "disks": [a.disks[1]],
                                                  "data": "single"}, 201)
    docs = await ok(a, "POST", "/api/v1/shares", {
        "pool": tank["id"], "name": "docs", "quota": 64 * MiB, "owner": alice,
        "group": group, "mode": "0770"}, 201)
    media = await ok(a, "POST", "/api/v1/shares", {"pool": tank["id"], "name": "media"}, 201)
    await ok(a, "POST", "/api/v1/shares", {"pool": spare["id"], "name": "attic"}, 201)
    await ok(a, "POST", "/api/v1/exports/smb", {"share": docs["id"],
                                                "valid_users": [alice]}, 201)
    await ok(a, "POST", "/api/v1/exports/sftp", {"share": media["id"], "users": [bob]}, 201)
    await ok(a, "POST", "/api/v1/schedules", {
        "kind": "snapshot", "target": docs["id"], "cron": "0 3 * * *",
        "retention": {"daily": 7, "last": 3}}, 201)
    await ok(a, "POST", "/api/v1/schedules", {"kind": "scrub", "target": tank["id"],
                                              "cron": "0 2 1 * *"}, 201)
    await ok(a, "POST", "/api/v1/schedules", {"kind": "dedup", "target": tank["id"],
                                              "cron": "0 4 * * 0",
                                              "options": {"shares": [media["id"]]}}, 201)
    await ok(a, "POST", "/api/v1/replication/peers", {"name": "remote", **peer}, 201)
    await ok(a, "POST", "/api/v1/replication/tasks", {
        "share": docs["id"], "targets": [{"peer": "remote", "pool": "tank"}],
        "cron": "0 5 * * *", "keep_last": 4}, 201)
    await ok(a, "PATCH", "/api/v1/system", {"hostname": "nas-a", "timezone": "Europe/Paris",
                                            "ntp_servers": ["192.0.2.123"]})
    await ok(a, "PUT", "/api/v1/alerts/settings", {
        "webhooks": [{"url": "http://127.0.0.1:9/hook", "secret": "signing-secret"}],
        "pool_used_percent": [70, 90]})
    return {"users": {alice, bob}, "groups": {group}}


def mine(doc: dict, names: dict) -> dict:
    """The document with only this test's accounts (the machine's others are not ours to
    restore: /etc/passwd is shared by every box on it)."""
    return {**doc, "users": [u for u in doc["users"] if u["name"] in names["users"]],
            "groups": [g for g in doc["groups"] if g["name"] in names["groups"]]}


def comparable(doc: dict, names: dict) -> dict:
    """The intent of `doc` with each share id replaced by "pool/name" and each pool UUID by
    the pool's name (the ids a box gives itself), lists in a stable order."""
    doc = mine(doc, names)
    shares = {s["id"]: f"{s['pool']}/{s['name']}" for s in doc["shares"]}
    pools = {p["uuid"]: p["name"] for p in doc["pools"]}

    def target(schedule: dict) -> str:
        return shares.get(schedule["target"]) or pools[schedule["target"]]

    def schedule(s: dict) -> dict:
        options = s.get("options") or {}
        if "shares" in options:
            options = {**options, "shares": [shares[i] for i in options["shares"]]}
        return {**s, "target": target(s), "options": options or None}
    key = json.dumps
    return {
        "groups": doc["groups"], "users": doc["users"], "services": doc["services"],
        "pools": sorted(({k: v for k, v in p.items() if k != "uuid"} for p in doc["pools"]),
                        key=key),
        "shares": sorted(({**s, "id": shares[s["id"]]} for s in doc["shares"]), key=key),
        "exports": sorted(({**e, "fields": {**e["fields"], "share": shares[e["fields"]["share"]]}}
                           for e in doc["exports"]), key=key),
        "schedules": sorted((schedule(s) for s in doc["schedules"]), key=key),
        "peers": doc["replication"]["peers"],
        "tasks": sorted(({**t, "share": shares[t["share"]]} for t in doc["replication"]["tasks"]),
                        key=key),
        "apps": doc["apps"], "other": doc["other"]}


def without(view: dict, pool: str) -> dict:
    """`view` (comparable) without pool `pool` and what is on it."""
    on = f"{pool}/"
    return {**view,
            "pools": [p for p in view["pools"] if p["name"] != pool],
            "shares": [s for s in view["shares"] if not s["id"].startswith(on)],
            "exports": [e for e in view["exports"] if not e["fields"]["share"].startswith(on)],
            "schedules": [s for s in view["schedules"]
                          if s["target"] != pool and not s["target"].startswith(on)],
            "tasks": [t for t in view["tasks"] if not t["share"].startswith(on)]}


async def test_backup_restores_onto_a_fresh_box_item_by_item(rockd, accounts, tmp_path):
    with fake_peer() as peer:
        a = await rockd(name="a", devices=2, sharing=True)
        names = await furnish(a, accounts, tmp_path, peer)
        doc = await backup(a)
        assert doc["format"] == "rockd-config" and doc["version"] == 1, doc
        assert not doc["secrets"] and "key_pair" not in doc["replication"], doc
        assert all("password_hash" not in u for u in doc["users"]), doc["users"]
        assert {s["name"] for s in doc["shares"]} >= {"docs", "media", "attic"}
        assert doc["other"]["alert_settings"]["settings"]["webhooks"] == [
            {"url": "http://127.0.0.1:9/hook"}], doc["other"]  # no secret without secrets
        media = next(s["id"] for s in doc["shares"] if s["name"] == "media")
        with_app = {**mine(doc, names), "apps": [{"name": "syncthing",
                                                  "volumes": {"/data": media}}]}

        # the accounts go from the machine (shared by both boxes): box b makes them again
        for user in names["users"]:
            await ok(a, "DELETE", f"/api/v1/users/{user}", status=204)
        for group in names["groups"]:
            await ok(a, "DELETE", f"/api/v1/groups/{group}", status=204)

        b = await rockd(name="b", devices=1, pool="single", sharing=True)
        fresh = await backup(b)
        outcome = await ok(b, "POST", "/api/v1/config/restore", with_app)
        skipped = {s["item"]: s["reason"] for s in outcome["skipped"]}
        assert skipped == {
            "pool spare": "no pool spare on this box (a restore never makes a pool)",
            "share spare/attic": "its pool spare is not on this box",
            "app syncthing": "the Docker engine is not running here: install it again once it "
                             "runs"}, outcome
        applied = set(outcome["applied"])
        assert {f"user {u}" for u in names["users"]} <= applied, outcome
        assert {"pool tank", "share tank/docs", "share tank/media", "smb export of tank/docs",
                "sftp export of tank/media", "replication peer remote",
                "replication task of tank/docs to remote/tank",
                "alert_settings settings", "host system"} <= applied, outcome
        assert len(outcome["applied"]) + len(outcome["skipped"]) == (
            len(names["users"]) + len(names["groups"]) + len(doc["pools"])
            + len(doc["shares"]) + len(doc["exports"]) + len(doc["schedules"])
            + len(doc["services"]) + 2 + 1 + sum(len(v) for v in doc["other"].values()))

        # the same intent, field by field
        restored = await backup(b)
        assert comparable(restored, names) == without(comparable(doc, names), "spare")
        # ... and really made: the accounts, the quota, the owner, the exports' files
        status, alice = await b.api.call("GET", f"/api/v1/users/{doc['users'][0]['name']}")
        assert status == 200 and alice["samba"] is False, alice  # no secrets: no password
        docs = next(s for s in (await b.api.call("GET", "/api/v1/shares"))[1]
                    if s["name"] == "docs")
        assert docs["quota"] == 64 * MiB and docs["mode"] == "0770", docs
        alerting = await ok(b, "GET", "/api/v1/alerts/settings")
        assert alerting["pool_used_percent"] == [70, 90], alerting
        system = await ok(b, "GET", "/api/v1/system")  # the host's name and time, as on a
        assert system["hostname"] == "nas-a", system
        assert (system["time"]["timezone"], system["time"]["ntp_servers"]) == (
            "Europe/Paris", ["192.0.2.123"]), system
        assert (b.settings.host_etc / "hostname").read_text().strip() == "nas-a"

        # a second restore changes nothing
        again = await ok(b, "POST", "/api/v1/config/restore", with_app)
        assert again == outcome
        assert {**await backup(b), "created": None} == {**restored, "created": None}
        assert fresh != restored


@pytest.mark.parametrize("change", [
    {"format": "someone-else"},
    {"version": 2},
    {"exports": [{"kind": "ftp", "fields": {"share": "x"}}]},
    {"users": [{"name": "bad name!", "uid": 5000, "shell": "/bin/sh"}]},
    {"schedules": [{"kind": "defrag", "target": "x", "cron": "0 1 * * *"}]},
    {"exports": [{"kind": "smb", "fields": {"share": "x", "browseable": "yes"}}]},
])
async def test_a_malformed_or_foreign_document_changes_nothing(rockd, accounts, change):
    box = await rockd(devices=1, pool="single")
    before = await backup(box)
    newcomer = accounts.user()
    doc = {**before, "users": [{"name": newcomer, "uid": 4321, "shell": "/usr/sbin/nologin"}],
           **change}
    status, body = await box.api.call("POST", "/api/v1/config/restore", doc)
    assert status == 400, body
    assert body["error"]["code"] in ("invalid_field", "invalid_name"), body
    status, _ = await box.api.call("GET", f"/api/v1/users/{newcomer}")
    assert status == 404
    assert {**await backup(box), "created": None} == {**before, "created": None}


async def test_secrets_only_for_a_session_and_write_scope(rockd):
    box = await rockd(devices=0)
    _, token = await box.api.call("POST", "/api/v1/tokens",
                                  {"name": "ro", "scopes": ["read"]})
    reader = box.client(token=token["token"])
    status, body = await reader.call("GET", "/api/v1/config/backup")
    assert status == 403 and body["error"]["code"] == "insufficient_scope", body
    _, token = await box.api.call("POST", "/api/v1/tokens",
                                  {"name": "rw", "scopes": ["read", "write"]})
    writer = box.client(token=token["token"])
    assert (await writer.call("GET", "/api/v1/config/backup"))[0] == 200
    status, body = await writer.call("GET", "/api/v1/config/backup?secrets=true")
    assert status == 403 and body["error"]["code"] == "session_required", body
    doc = await ok(box, "GET", "/api/v1/config/backup?secrets=true")
    assert doc["secrets"] is True
    assert doc["replication"]["key_pair"]["public"] == (
        await ok(box, "GET", "/api/v1/replication/identity"))["public_key"]
    # another box keeps its own key pair, and says how to take this one
    other = await rockd(devices=0, name="other")
    outcome = await ok(other, "POST", "/api/v1/config/restore",
                       {**doc, "users": [], "groups": []})
    reasons = {s["item"]: s["reason"] for s in outcome["skipped"]}
    assert "this box keeps its own key pair" in reasons["this box's replication key pair"]


async def test_a_scheduled_backup_is_written_into_a_share_keeping_the_last_n(rockd):
    box = await rockd(devices=1, pool="single")
    share = await ok(box, "POST", "/api/v1/shares", {"pool": box.pool["id"], "name": "keep"},
                     201)
    schedule = await ok(box, "POST", "/api/v1/schedules", {
        "kind": "config_backup", "target": share["id"], "cron": "0 4 * * *",
        "retention": {"last": 2}}, 201)
    assert schedule["next_run"], schedule
    scheduler = box.daemon.context.scheduler
    start = datetime.now(UTC)
    for day in range(1, 4):  # the cron loop's own entry point, three nights on
        await scheduler.run_due(start + timedelta(days=day))
    folder = Path(share["path"])
    files = sorted(p.name for p in folder.iterdir() if p.name.startswith("rockd-config-"))
    stamps = [(start + timedelta(days=d)).strftime("%Y%m%dT%H%M%SZ") for d in (2, 3)]
    assert files == [f"rockd-config-{s}.json" for s in stamps], files
    newest = folder / files[-1]
    assert stat.S_IMODE(newest.stat().st_mode) == 0o600
    written = json.loads(newest.read_text())
    assert written["format"] == "rockd-config" and written["secrets"] is False
    assert [s["kind"] for s in written["schedules"]] == ["config_backup"]
    # a schedule's target must be a share
    status, body = await box.api.call("POST", "/api/v1/schedules", {
        "kind": "config_backup", "target": "no-such-share", "cron": "0 4 * * *"})
    assert status == 404, body


async def test_password_hashes_come_back_with_secrets(rockd, accounts):
    box = await rockd(devices=0, sharing=True)
    name = accounts.user()
    made = await ok(box, "POST", "/api/v1/users", {"name": name, "password": "pw-Carol-3"},
                    201)
    assert made["samba"], made
    doc = await ok(box, "GET", "/api/v1/config/backup?secrets=true")
    record = next(u for u in doc["users"] if u["name"] == name)
    assert record["password_hash"].startswith("$") and len(record["nt_hash"]) == 32, record
    await ok(box, "DELETE", f"/api/v1/users/{name}", status=204)

    doc = {**doc, "users": [record], "groups": []}
    outcome = await ok(box, "POST", "/api/v1/config/restore", doc)
    assert f"user {name}" in outcome["applied"], outcome
    user = await ok(box, "GET", f"/api/v1/users/{name}")
    assert user["samba"] is True, user
    assert "this box's replication key pair" in outcome["applied"], outcome
    again = await ok(box, "GET", "/api/v1/config/backup?secrets=true")
    assert next(u for u in again["users"] if u["name"] == name) == record
