"""The resource types (rockd.core.resources) against a real rockd holding one of each kind of
resource: its whole tree is what the types say, with no field they do not name, and every
answer of the API's reads is what the OpenAPI document declares for it."""

from __future__ import annotations

import re
from typing import Any

import jsonschema

from rockd.core.resources import TREE
from rockd.handlers.routes import ROUTE_TABLE
from tests.support.replication import fake_peer

SKIPPED = {
    "/api/v1/stream": "a websocket",
    "/metrics": "Prometheus text, not JSON",
    "/api/v1/events/export": "JSON lines, not one document (test_events.py reads them)",
    "/api/v1/disks/{id}/smart": "a loop device has no SMART (422)",
    "/api/v1/apps/{name}": "no app is installed without a Docker engine",
    "/api/v1/exports/sftp/{id}": "no SFTP export (see _one_of_each)",
}
"""GET routes this test does not read, and why."""


async def _one_of_each(api, disks: list[str], accounts) -> dict[str, str]:
    """A pool, share, snapshot, ended scrub job, schedule, SMB and NFS exports, a user, a
    group, a peer and a replication task: the ids to read them back by. (An SFTP export needs
    a chroot folder outside /tmp: tests/integration/test_sftp.py has one.)"""
    async def made(method: str, path: str, body: Any, status: int = 201) -> Any:
        got, value = await api.call(method, path, body)
        assert got == status, (path, value)
        return value

    pool = await made("POST", "/api/v1/pools", {"name": "tank", "disks": disks[:1],
                                               "data": "single"})
    share = await made("POST", "/api/v1/shares", {"pool": pool["id"], "name": "data"})
    snapshot = await made("POST", f"/api/v1/shares/{share['id']}/snapshots",
                          {"name": "s1", "visible": True})
    job = (await made("POST", f"/api/v1/pools/{pool['id']}/scrub", {}, 202))["job"]
    await api.ended_job(job["id"])
    schedule = await made("POST", "/api/v1/schedules", {
        "kind": "snapshot", "target": share["id"], "cron": "0 3 * * *",
        "retention": {"daily": 7}, "enabled": True})
    user = await made("POST", "/api/v1/users", {"name": accounts.user()})
    group = await made("POST", "/api/v1/groups", {"name": accounts.group()})
    smb = await made("POST", "/api/v1/exports/smb", {"share": share["id"]})
    nfs = await made("POST", "/api/v1/exports/nfs", {
        "share": share["id"], "clients": [{"host": "10.0.0.0/24"}]})
    with fake_peer() as other:  # pairing's test connection needs one that answers
        peer = await made("POST", "/api/v1/replication/peers", {"name": "other", **other})
    task = await made("POST", "/api/v1/replication/tasks", {
        "share": share["id"], "targets": [{"peer": peer["name"], "pool": "backup"}],
        "cron": "0 4 * * *"})
    return {"pools": pool["id"], "shares": share["id"], "snapshots": snapshot["id"],
            "disks": disks[0], "jobs": job["id"], "schedules": schedule["id"],
            "exports/smb": smb["id"], "exports/nfs": nfs["id"],
            "users": user["name"], "groups": group["name"], "services": "smbd",
            "replication/peers": peer["name"], "replication/tasks": task["id"]}


def _concrete(path: str, ids: dict[str, str]) -> str | None:
    """`path` with its parameter filled from `ids`, by the collection it names; None if no
    id fits."""
    if "{" not in path:
        return path
    collection = re.sub(r"^/api/v1/(.+?)/\{\w+\}.*$", r"\1", path)
    return re.sub(r"\{\w+\}", ids[collection], path) if collection in ids else None


def _schema(document: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The JSON schema the document declares for a GET's success answer, None for none (or
    for `{}`, what a route that declares no response is documented with)."""
    responses = document["paths"][path]["get"]["responses"]
    content = responses.get("200", {}).get("content", {}).get("application/json")
    return (content or {}).get("schema") or None


async def test_the_tree_is_what_the_resource_types_say(rockd, accounts):
    box = await rockd(devices=2)
    api = box.api
    await _one_of_each(api, box.disks, accounts)
    tree = (await api.state(""))["value"]
    TREE.validate_python(tree)  # raises, naming the field, where the tree differs
    assert tree["snapshots"] and tree["exports"]["nfs"] and tree["replication"]["tasks"]


async def test_every_read_answers_what_the_document_declares(rockd, accounts):
    box = await rockd(devices=2)
    daemon, api = box.daemon, box.api
    ids = await _one_of_each(api, box.disks, accounts)
    _, document = await api.call("GET", "/api/v1/openapi.json")
    components = {"components": document["components"]}
    read = set()
    for path, operations in document["paths"].items():
        if "get" not in operations or path in SKIPPED:
            continue
        concrete = _concrete(path, ids)
        assert concrete is not None, f"no resource to read {path} by: add it, or skip it"
        status, answer = await api.call("GET", concrete)
        assert status == 200, (concrete, answer)
        schema = _schema(document, path)
        if schema is not None:
            jsonschema.validate(answer, {**schema, **components})
            read.add(path)
    documented = {route.path for route in daemon.runner.app[ROUTE_TABLE]
                  if route.method == "GET" and route.response is not None}
    assert read == documented - set(SKIPPED)
