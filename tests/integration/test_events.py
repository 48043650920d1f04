"""The event log on real daemons: the audit of every write request (who, from where, which
route, which id, how it ended), system events from the tree (a loop disk detached by hand, a
pool mounted degraded), paging, filters, export, retention, and an acknowledged write's entry
surviving kill -9."""

from __future__ import annotations

import re

import orjson

from tests.support.rig import wait_for

WRITES = ("post", "put", "patch", "delete")


async def events(api, **query) -> dict:
    params = "&".join(f"{k}={v}" for k, v in query.items())
    status, page = await api.call("GET", f"/api/v1/events?{params}")
    assert status == 200, page
    return page


async def audits(api, **query) -> list[dict]:
    return (await events(api, kind="audit", limit=1000, **query))["items"]


async def test_deleting_a_share_names_who_where_what_and_how_it_ended(rockd):
    box = await rockd(devices=1, pool="single")
    status, share = await box.api.call("POST", "/api/v1/shares",
                                       {"pool": box.pool["id"], "name": "photos"})
    assert status == 201, share
    token = await box.api.make_token(["read", "write"], name="cleaner")
    by_token = box.client(token=token)
    status, _ = await by_token.call("DELETE", f"/api/v1/shares/{share['id']}")
    assert status == 204

    made, deleted = [e for e in await audits(box.api)
                     if e["action"].startswith(("POST /api/v1/shares", "DELETE /api/v1/shares"))]
    assert made["principal"] == "admin" and made["resource"] == share["id"]
    assert made["result"] == {"status": 201}
    assert deleted["principal"] == "admin (token cleaner)"
    assert deleted["address"] == "127.0.0.1"
    assert deleted["action"] == "DELETE /api/v1/shares/{id}"
    assert deleted["resource"] == share["id"]
    assert deleted["result"] == {"status": 204}
    assert deleted["message"] == (f"admin (token cleaner): DELETE /api/v1/shares/{share['id']} "
                                  "(photos): 204 No Content.")
    assert "(photos)" in made["message"]
    # "who deleted this share, and when": one query by its id
    found = (await events(box.api, resource=share["id"]))["items"]
    assert [e["action"] for e in found] == ["POST /api/v1/shares", "DELETE /api/v1/shares/{id}"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", deleted["time"])


async def test_every_write_route_is_audited_with_its_principal(rockd):
    """Each write operation of the served document, asked with a read-only token (refused
    before it does anything), is one audit entry naming the token, the route and 403."""
    box = await rockd()
    status, document = await box.api.call("GET", "/api/v1/openapi.json")
    assert status == 200
    reader = box.client(token=await box.api.make_token(["read"], name="reader"))
    start = (await events(box.api))["next"]
    asked = []
    for template, operations in document["paths"].items():
        for method in operations:
            if method in WRITES:
                path = re.sub(r"{\w+}", "x", template)
                await reader.call(method.upper(), path, raw=orjson.dumps({}))
                asked.append((method.upper(), template, operations[method].get("security")))
    assert len(asked) > 50
    logged = await audits(box.api, since=start)
    assert [e["action"] for e in logged] == [f"{m} {t}" for m, t, _ in asked]
    for entry, (_method, _template, security) in zip(logged, asked, strict=True):
        if security == []:  # public: sign-in and setup, whose principal is the name given
            assert entry["result"]["status"] in (400, 401, 409), entry
        else:
            assert entry["principal"] == "admin (token reader)", entry
            assert entry["result"] == {"status": 403, "error": "insufficient_scope"}, entry
        assert entry["address"] == "127.0.0.1"


async def test_failed_sign_ins_and_unauthenticated_writes_are_logged(rockd):
    box = await rockd()
    stranger = box.client()
    status, _ = await stranger.call("POST", "/api/v1/auth/login",
                                    {"username": "admin", "password": "wrong password"})
    assert status == 401
    status, _ = await stranger.call("DELETE", "/api/v1/shares/abc")
    assert status == 401
    failed, anonymous = (await audits(box.api))[-2:]
    assert failed["principal"] == "admin" and failed["result"]["status"] == 401
    assert "Sign-in as admin" in failed["message"] and "wrong password" not in str(failed)
    assert "principal" not in anonymous and anonymous["resource"] == "abc"
    assert anonymous["result"] == {"status": 401, "error": "unauthorized"}

    guesser = box.client(source="127.0.0.2")
    statuses = [(await guesser.call("POST", "/api/v1/auth/login",
                                    {"username": "root", "password": "guess"}))[0]
                for _ in range(11)]
    assert statuses == [401] * 10 + [429]
    refused = (await audits(box.api, principal="root"))[-1]
    assert refused["address"] == "127.0.0.2" and refused["result"]["status"] == 429
    assert refused["message"] == "Sign-in as root from 127.0.0.2 refused: too many attempts."


async def test_an_acknowledged_write_survives_kill_9(rockd):
    box = await rockd(process=True)
    status, token = await box.api.call("POST", "/api/v1/tokens",
                                       {"name": "last-words", "scopes": ["read"]})
    assert status == 201
    box.kill()
    await box.start()
    await box.login()
    entry = [e for e in await audits(box.api) if e["action"] == "POST /api/v1/tokens"][-1]
    assert entry["resource"] == token["id"] and entry["result"] == {"status": 201}
    assert token["token"] not in orjson.dumps(await audits(box.api)).decode()


async def test_a_loop_disk_detached_by_hand_is_a_disk_gone_event(rockd, loops):
    box = await rockd(devices=2)
    name = box.devices[1].rsplit("/", 1)[1]
    loops.detach(box.devices[1])

    async def gone():
        return (await events(box.api, kind="disk_gone"))["items"]

    entry = (await wait_for(gone))[-1]
    assert entry["message"].startswith(f"Disk {name} is gone")
    assert entry["resource"] == box.disks[1]


async def _has(kinds, kind: str) -> bool:
    return kind in await kinds


async def test_a_pool_mounted_degraded_is_an_event(rockd, loops):
    box = await rockd(devices=2, pool="raid1")
    url = f"/api/v1/pools/{box.pool['id']}"
    status, _ = await box.api.call("POST", url + "/unmount")
    assert status == 200
    loops.detach(box.devices[1])

    async def kinds_of_pool() -> list[str]:
        return [e["kind"] for e in (await events(box.api, resource=box.pool["id"]))["items"]
                if e["kind"] != "audit"]

    # the device is found missing as soon as its udev event is read, while still unmounted
    await wait_for(lambda: _has(kinds_of_pool(), "pool_degraded"), timeout=15)
    status, pool = await box.api.call("POST", url + "/mount", {"degraded": True})
    assert status == 200, pool
    kinds = await kinds_of_pool()
    assert kinds == ["pool_mounted", "pool_unmounted", "pool_degraded", "pool_mounted"], kinds
    degraded = (await events(box.api, kind="pool_degraded"))["items"][-1]
    assert degraded["message"].startswith("Pool tank is degraded: 1 device is missing.")


async def test_paging_filters_and_export(rockd):
    box = await rockd()
    start = (await events(box.api))["next"]
    for n in range(5):
        await box.api.call("POST", "/api/v1/tokens", {"name": f"t{n}", "scopes": ["read"]})
    first = await events(box.api, since=start, kind="audit", limit=2)
    assert len(first["items"]) == 2 and first["next"] == first["items"][-1]["id"]
    rest = await events(box.api, since=first["next"], kind="audit", limit=10)
    ids = [e["id"] for e in first["items"] + rest["items"]]
    assert len(ids) == 5 and ids == sorted(ids)
    assert (await events(box.api, since=rest["next"], kind="audit"))["items"] == []
    assert (await events(box.api, since=rest["next"], kind="audit"))["next"] == rest["next"]
    newest = await events(box.api, before=ids[-1] + 1, kind="audit", limit=2)
    assert [e["id"] for e in newest["items"]] == ids[-2:]
    assert [e["resource"] for e in (await events(box.api, text="POST"))["items"]
            if e["id"] > start] != []
    for wrong in ("limit=0", "since=-1", "before=67452825458671828992",
                  "since=67452825458671828992"):  # past SQLite's integers
        status, answer = await box.api.call("GET", f"/api/v1/events?{wrong}")
        assert (status, answer["error"]["code"]) == (400, "invalid_field"), wrong
        status, _ = await box.api.call("GET", f"/api/v1/events/export?{wrong}")
        assert status == 400, wrong  # (the export takes no limit)
    async with box.api.session.get(box.url + "/api/v1/events/export?kind=audit") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/x-ndjson"
        lines = (await response.read()).decode().splitlines()
    exported = [orjson.loads(line) for line in lines]
    assert [e["id"] for e in exported if e["id"] in ids] == ids
    assert {e["kind"] for e in exported} == {"audit"}


async def test_retention_keeps_the_newest_n(rockd):
    box = await rockd(events_keep=5)
    for n in range(8):
        await box.api.call("POST", "/api/v1/tokens", {"name": f"t{n}", "scopes": ["read"]})
    items = (await events(box.api, limit=100))["items"]
    assert len(items) == 5
    assert items[-1]["action"] == "POST /api/v1/tokens" and items[-1]["result"]["status"] == 201


async def test_the_newest_event_is_in_the_tree(rockd):
    box = await rockd()
    await box.api.call("POST", "/api/v1/tokens", {"name": "seen", "scopes": ["read"]})
    latest = (await box.api.state("/events"))["value"]["latest"]
    assert latest["action"] == "POST /api/v1/tokens" and latest["principal"] == "admin"
