"""Apps (Rock-ons) against a real Docker engine and a real registry (tests/support/docker.py).

An app whose container serves a share over HTTP is installed (a real pull from the local
registry), the file written into the share is fetched from it, a `docker stop` by hand shows on
the stream within a second, the app is updated to a new tag and uninstalled with the share's
data intact. A port in use, a missing share and a malformed definition are refused with nothing
left behind, and so is an install whose pull fails half-way (rolled back). The engine going
away is shown, and rockd finds it again when it returns.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import orjson
import pytest

from tests.support.client import Api, free_port, receive
from tests.support.docker import DockerHarness
from tests.support.rig import Rockd, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@pytest.fixture(scope="module")
def engine():
    """One engine and registry for the module, with the test image's tags 1 and 2 pushed."""
    harness = DockerHarness()
    try:
        harness.start()
        harness.web = harness.push_image("rtest/web", "1", {"/etc/release": "1\n"})
        harness.push_image("rtest/web", "2", {"/etc/release": "2\n"})
        yield harness
    finally:
        harness.close()


def definition(image: str, tag: str = "1", port: int | None = None, name: str = "web") -> dict:
    """A two-container app: httpd serving the mapped share, and a probe started after it
    whose health check fetches from httpd by name (the app's own network)."""
    return {
        "name": name, "title": "Test web site", "website": "https://busybox.net",
        "description": "BusyBox httpd serving a share, and a probe that checks it.",
        "containers": [
            {"name": "httpd", "image": image, "tag": tag,
             "command": ["/bin/httpd", "-f", "-p", "80", "-h", "/www"],
             "ports": [{"container": 80, "host": port or free_port(), "label": "Site",
                        "ui": True}],
             "volumes": [{"container": "/www", "label": "Files to serve"}],
             "env": [{"name": "GREETING", "label": "Greeting", "default": "hello",
                      "pattern": "[a-z]+"},
                     {"name": "PASSWORD", "label": "Password", "secret": True},
                     {"name": "MODE", "value": "test"}],
             "init": True},
            {"name": "probe", "image": image, "tag": tag, "command": ["sleep", "3600"],
             "after": ["httpd"], "init": True,
             "health": {"test": ["CMD", "wget", "-q", "-O", "/dev/null",
                                 "http://httpd:80/hello.txt"],
                        "interval": 0.5, "timeout": 2, "retries": 3}},
        ],
    }


class Env:
    """The rig's rockd using the test engine, its catalog folder, and its share "site"."""

    def __init__(self, box: Rockd, catalog: Path, engine: DockerHarness):
        self.box, self.catalog, self.engine = box, catalog, engine
        self.share: dict = {}

    @property
    def daemon(self):
        return self.box.daemon

    @property
    def api(self) -> Api:
        return self.box.api

    async def engine_up(self) -> None:
        await wait_for(lambda: self.daemon.tree.get("/apps-engine/state") == "up", timeout=20)

    async def start(self) -> None:
        await self.box.start()
        await self.engine_up()

    async def stop(self) -> None:
        await self.box.stop()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    def publish(self, value: dict | str, name: str = "web") -> None:
        text = value if isinstance(value, str) else json.dumps(value)
        (self.catalog / f"{name}.json").write_text(text)

    async def job(self, job: dict, timeout: float = 60.0) -> dict:
        async def ended():
            value = self.daemon.tree.get(("jobs", job["id"]))
            return value if value["state"] in ("succeeded", "failed", "cancelled") else None
        return await wait_for(ended, timeout=timeout)

    async def intents(self) -> dict:
        return await self.daemon.store.intents("app")

    def apps(self) -> dict:
        return self.daemon.tree.get("/apps") or {}


@pytest.fixture
async def env(rockd, tmp_path, engine):
    """An in-process rockd using the test engine, with a pool "tank" and a share "site"."""
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    made = Env(await rockd(devices=1, pool="single", docker_socket=engine.socket,
                           apps_catalog=catalog), catalog, engine)
    try:
        await made.engine_up()
        status, made.share = await made.api.call("POST", "/api/v1/shares",
                                                 {"pool": made.box.pool["id"], "name": "site"})
        assert status == 201, made.share
        yield made
    finally:
        engine.remove_all_containers()


def fetch(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


async def fetched(port: int, path: str, timeout: float = 10.0) -> bytes:
    """The body of a GET once the server answers 200 (it may take a moment to listen)."""
    async def get():
        try:
            status, body = await asyncio.to_thread(fetch, port, path)
        except OSError:
            return None
        return body if status == 200 else None
    return await wait_for(get, timeout=timeout, interval=0.1)


async def subscribe(api, path: str):
    ws = await api.stream()
    await ws.send_str(orjson.dumps({"id": 1, "type": "subscribe", "path": path}).decode())
    assert (await receive(ws))["type"] == "subscribed"
    snapshot = await receive(ws)
    assert snapshot["type"] == "snapshot"
    return ws, snapshot["value"]


async def until_op(ws, predicate, timeout: float) -> float:
    """Read patches until an op satisfies `predicate`; answer when (monotonic) it came."""
    deadline = time.monotonic() + timeout
    while True:
        message = await receive(ws, timeout=max(0.01, deadline - time.monotonic()))
        for op in message.get("ops", []):
            if predicate(op):
                return time.monotonic()


async def test_install_serve_stop_by_hand_update_uninstall(env):
    engine = env.engine
    site = Path(env.share["path"])
    (site / "hello.txt").write_text("hello from the share\n")
    port = free_port()
    env.publish(definition(engine.web, "1"))

    status, catalog = await env.api.call("GET", "/api/v1/apps/catalog")
    assert status == 200
    assert {"web", "syncthing", "jellyfin", "static-web"} <= {d["name"] for d in catalog}

    status, body = await env.api.call("POST", "/api/v1/apps", {
        "app": "web", "volumes": {"/www": env.share["id"]}, "ports": {"80": port},
        "env": {"PASSWORD": "s3cret"}})
    assert status == 202, body
    assert env.apps()["web"]["state"] == "installing"
    job = await env.job(body["job"])
    assert job["state"] == "succeeded", job
    assert job["kind"] == "app_install" and job["target"] == "web"
    assert any("pulled" in line for line in job["log"]), job["log"]

    app = env.apps()["web"]
    assert app["state"] == "running", app
    assert app["containers"]["httpd"]["state"] == "running"
    assert app["containers"]["httpd"]["image"] == f"{engine.web}:1"
    assert app["ui"]["port"] == port and app["ui"]["url"] == f"http://127.0.0.1:{port}/"
    assert app["ports"][0]["host"] == port
    assert app["volumes"] == [{"container": "/www", "label": "Files to serve",
                               "share": env.share["id"], "share_name": "site",
                               "read_only": False}]
    assert app["env"] == {"GREETING": "hello"}  # the secret is never shown
    intents = await env.intents()
    assert intents["web"]["env"] == {"GREETING": "hello", "PASSWORD": "s3cret"}

    # the container serves the share; a file written into it now is served too
    assert await fetched(port, "/hello.txt") == b"hello from the share\n"
    (site / "new.txt").write_text("written after install\n")
    assert await fetched(port, "/new.txt") == b"written after install\n"

    # what the engine holds: labels, restart policy, the values, the start order
    httpd = engine.inspect("rockd-web-httpd")
    probe = engine.inspect("rockd-web-probe")
    assert httpd["Config"]["Labels"]["rockd.app"] == "web"
    assert httpd["Config"]["Labels"]["rockd.container"] == "httpd"
    assert httpd["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert {"GREETING=hello", "PASSWORD=s3cret", "MODE=test"} <= set(httpd["Config"]["Env"])
    assert httpd["State"]["StartedAt"] < probe["State"]["StartedAt"]
    assert [m["Source"] for m in httpd["Mounts"]] == [str(site)]

    # the probe reaches httpd by its name, on the app's own network: healthy
    try:
        await wait_for(lambda: (
            env.apps()["web"]["containers"]["probe"]["health"] == "healthy"), timeout=20)
    except AssertionError:
        raise AssertionError(engine.inspect("rockd-web-probe")["State"].get("Health")) from None

    # stopped by hand: the stream shows it within a second
    ws, apps = await subscribe(env.api, "/apps")
    try:
        assert apps["web"]["state"] == "running"
        engine.docker("stop", "-t", "1", "rockd-web-httpd")
        stopped = time.monotonic()
        seen = await until_op(ws, lambda op: op["path"] in (
            "/apps/web/containers/httpd/state", "/apps/web/containers/httpd", "/apps/web")
            and "exited" in json.dumps(op.get("value")), timeout=5)
        assert seen - stopped < 1.0, seen - stopped
    finally:
        await ws.close()
    assert env.apps()["web"]["state"] == "partial"
    assert env.apps()["web"]["containers"]["httpd"]["exit_code"] is not None

    status, app = await env.api.call("POST", "/api/v1/apps/web/start")
    assert status == 200 and app["state"] == "running", app
    assert await fetched(port, "/hello.txt") == b"hello from the share\n"
    status, app = await env.api.call("POST", "/api/v1/apps/web/stop")
    assert status == 200 and app["state"] == "stopped", app
    status, app = await env.api.call("POST", "/api/v1/apps/web/restart")
    assert status == 200 and app["state"] == "running", app

    # a new tag in the catalog: update pulls it and recreates, keeping share, port and values
    env.publish(definition(engine.web, "2"))
    await env.api.call("GET", "/api/v1/apps/catalog")  # the catalog is read again
    await wait_for(lambda: env.apps()["web"]["update_available"])
    old_id = engine.inspect("rockd-web-httpd")["Id"]
    status, body = await env.api.call("POST", "/api/v1/apps/web/update")
    assert status == 202, body
    job = await env.job(body["job"])
    assert job["state"] == "succeeded", job
    app = env.apps()["web"]
    assert app["state"] == "running" and app["update_available"] is False, app
    assert app["containers"]["httpd"]["image"] == f"{engine.web}:2"
    assert app["tags"] == {"httpd": "2", "probe": "2"}
    httpd = engine.inspect("rockd-web-httpd")
    assert httpd["Id"] != old_id and httpd["Config"]["Image"] == f"{engine.web}:2"
    assert "PASSWORD=s3cret" in httpd["Config"]["Env"]
    assert sorted(engine.containers()) == ["rockd-web-httpd", "rockd-web-probe"]
    assert await fetched(port, "/hello.txt") == b"hello from the share\n"
    assert (await env.intents())["web"]["definition"]["containers"][0]["tag"] == "2"

    # uninstall: containers and network gone, the share and its files intact
    status, body = await env.api.call("DELETE", "/api/v1/apps/web")
    assert status == 202, body
    job = await env.job(body["job"])
    assert job["state"] == "succeeded", job
    assert "web" not in env.apps()
    assert await env.intents() == {}
    assert engine.containers() == []
    assert "rockd-web" not in engine.docker("network", "ls").stdout.decode()
    assert (site / "hello.txt").read_text() == "hello from the share\n"
    assert (site / "new.txt").read_text() == "written after install\n"
    assert env.daemon.tree.get(("shares", env.share["id"]))["name"] == "site"
    status, _ = await env.api.call("GET", "/api/v1/apps/web")
    assert status == 404


async def nothing_left(env, jobs_before: int) -> None:
    assert env.engine.containers() == []
    assert await env.intents() == {}
    assert env.apps() == {}
    assert len(env.daemon.tree.get("/jobs") or {}) == jobs_before


async def test_refused_with_nothing_left_behind(env):
    engine = env.engine
    jobs_before = len(env.daemon.tree.get("/jobs") or {})
    env.publish(definition(engine.web, "1"))
    install = {"app": "web", "volumes": {"/www": env.share["id"]}}

    # a host port already in use
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        status, body = await env.api.call("POST", "/api/v1/apps",
                                          {**install, "ports": {"80": busy}})
        assert status == 409 and body["error"]["code"] == "port_in_use", body
        assert str(busy) in body["error"]["message"]
    await nothing_left(env, jobs_before)

    # a share that does not exist
    status, body = await env.api.call("POST", "/api/v1/apps", {
        "app": "web", "volumes": {"/www": "0f0e0d0c-0000-4000-8000-000000000000"}})
    assert status == 404 and body["error"]["code"] == "unknown_share", body
    await nothing_left(env, jobs_before)

    # a volume left unmapped, a value that does not match, an unknown port
    for bad, field in (({"app": "web"}, "volumes./www"),
                       ({**install, "env": {"GREETING": "Not Lower"}}, "env.GREETING"),
                       ({**install, "ports": {"81": 8081}}, "ports.81")):
        status, body = await env.api.call("POST", "/api/v1/apps", bad)
        assert status == 400 and body["error"]["detail"]["field"] == field, body
    await nothing_left(env, jobs_before)

    # a malformed definition: left out of the catalog with its reason, and not installable
    broken = definition(engine.web, "1", name="broken")
    broken["containers"][1]["after"] = ["nosuch"]
    env.publish(broken, "broken")
    env.publish('{"name": "half", "title": "cut off', "half")
    status, catalog = await env.api.call("GET", "/api/v1/apps/catalog")
    assert "broken" not in {d["name"] for d in catalog} and "web" in {d["name"] for d in catalog}
    status, problems = await env.api.call("GET", "/api/v1/apps/catalog/problems")
    reasons = {p["app"]: p["error"] for p in problems}
    assert "nosuch" in reasons["broken"] and "not JSON" in reasons["half"], problems
    status, body = await env.api.call("POST", "/api/v1/apps", {**install, "app": "broken"})
    assert status == 422 and body["error"]["code"] == "invalid_definition", body
    assert "nosuch" in body["error"]["message"]
    status, body = await env.api.call("POST", "/api/v1/apps/catalog/check", broken)
    assert status == 400 and "nosuch" in body["error"]["message"], body
    status, body = await env.api.call("POST", "/api/v1/apps/catalog/check",
                                      definition(engine.web))
    assert status == 200 and body["name"] == "web", body
    await nothing_left(env, jobs_before)

    # a failure inside the job (the second image's pull fails): what was made is removed
    half = definition(engine.web, "1", name="halfway")
    half["containers"][1]["tag"] = "no-such-tag"
    env.publish(half, "halfway")
    status, body = await env.api.call("POST", "/api/v1/apps", {**install, "app": "halfway"})
    assert status == 202, body
    job = await env.job(body["job"])
    assert job["state"] == "failed" and "no-such-tag" in job["error"], job
    assert engine.containers() == []
    assert await env.intents() == {}
    assert env.apps() == {}
    assert (Path(env.share["path"])).is_dir()


async def test_engine_down_is_shown_and_found_again(env):
    engine = env.engine
    (Path(env.share["path"]) / "hello.txt").write_text("still here\n")
    port = free_port()
    env.publish(definition(engine.web, "1", port=port))
    status, body = await env.api.call("POST", "/api/v1/apps",
                                      {"app": "web", "volumes": {"/www": env.share["id"]}})
    assert status == 202, body
    assert (await env.job(body["job"]))["state"] == "succeeded"
    assert await fetched(port, "/hello.txt") == b"still here\n"
    assert env.daemon.tree.get("/apps-engine")["version"]

    await asyncio.to_thread(engine.stop_engine)
    try:
        engine_state = await wait_for(lambda: (
            env.daemon.tree.get("/apps-engine")["state"] == "down"), timeout=10)
        assert engine_state
        assert env.daemon.tree.get("/apps-engine")["error"]
        await wait_for(lambda: env.apps()["web"]["state"] == "unknown")
        status, body = await env.api.call("POST", "/api/v1/apps/web/stop")
        assert status == 422 and body["error"]["code"] == "engine_down", body
        status, body = await env.api.call("GET", "/api/v1/apps")
        assert status == 200 and body[0]["containers"]["httpd"]["state"] == "unknown"
    finally:
        await asyncio.to_thread(engine.start_engine)
    started = time.monotonic()
    await wait_for(lambda: env.daemon.tree.get("/apps-engine")["state"] == "up",
                   timeout=15)
    found_in = time.monotonic() - started
    assert found_in < 5, found_in  # the socket's appearance wakes the watcher
    assert env.daemon.tree.get("/apps-engine")["reconnects"] >= 1
    # the restart policy brings the app back; rockd sees it without being asked
    await wait_for(lambda: env.apps()["web"]["state"] == "running", timeout=20)
    assert await fetched(port, "/hello.txt") == b"still here\n"
    status, body = await env.api.call("DELETE", "/api/v1/apps/web")
    assert (await env.job(body["job"]))["state"] == "succeeded"
    assert engine.containers() == []


async def test_a_restart_keeps_the_apps_and_clears_what_an_install_left(env):
    engine = env.engine
    port = free_port()
    env.publish(definition(engine.web, "1", port=port))
    (Path(env.share["path"]) / "hello.txt").write_text("kept\n")
    _, body = await env.api.call("POST", "/api/v1/apps",
                                      {"app": "web", "volumes": {"/www": env.share["id"]}})
    assert (await env.job(body["job"]))["state"] == "succeeded"
    instance = engine.inspect("rockd-web-httpd")["Config"]["Labels"]["rockd.instance"]
    # what an install interrupted by a crash would leave: a container of ours, no intent; and
    # a container of another rockd (another instance), which is not ours to touch
    for name, owner in (("leftover", instance), ("foreign", "someone-else")):
        engine.docker("create", "--name", name, "--label", "rockd.app=ghost", "--label",
                      f"rockd.instance={owner}", f"{engine.web}:1")
    await env.restart()
    await wait_for(lambda: env.apps().get("web", {}).get("state") == "running")
    await wait_for(lambda: "leftover" not in engine.containers())
    assert "foreign" in engine.containers()
    assert "ghost" not in env.apps()
    assert await fetched(port, "/hello.txt") == b"kept\n"
    # a stop made while rockd was down is seen at start
    await env.stop()
    engine.docker("stop", "-t", "1", "rockd-web-probe")
    await env.start()
    await wait_for(lambda: env.apps()["web"]["state"] == "partial")
    assert env.apps()["web"]["containers"]["probe"]["state"] == "exited"


def test_harness_leaves_nothing(tmp_path):
    """The harness's own clean-up: a second engine started and closed leaves no process, no
    mount, no bridge and no folder."""
    harness = DockerHarness()
    try:
        harness.start()
        base, bridge = harness.base, harness.bridge
    finally:
        harness.close()
    assert not base.exists()
    assert harness._ours() == []
    links = subprocess.run(["ip", "link"], capture_output=True, text=True).stdout
    assert bridge not in links
    with open("/proc/self/mountinfo") as f:
        assert str(base) not in f.read()
