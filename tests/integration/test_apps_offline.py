"""Apps on a box with no public registry: the demo's own engine and offline image, an image
file loaded through the API, and a registry setting pointed at a loopback docker-registry.

The demo is a real `rockd demo` process (its engine a real dockerd rockd runs as its docker
service); the others use the test engine and registry of tests/support/docker.py. Every test
ends with no container, engine process, bridge or upload left behind.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.integration import test_apps
from tests.integration.test_apps import fetch
from tests.support.client import free_port
from tests.support.rig import wait_for

engine = test_apps.engine  # the test engine and registry, with rtest/web:1 pushed

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def dockerd_of(state_dir: Path) -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"dockerd.*{state_dir}"], capture_output=True,
                         text=True).stdout
    return [int(p) for p in out.split()]


async def job_end(box, job: dict, timeout: float = 90.0) -> dict:
    async def ended():
        _, value = await box.api.call("GET", f"/api/v1/jobs/{job['id']}")
        return value if value["state"] in ("succeeded", "failed", "cancelled") else None
    return await wait_for(ended, timeout=timeout)


async def test_demo_installs_static_web_offline_and_it_serves(rockd, udevd):
    box = await rockd(process="demo", args=["--disks", "1", "--disk-size", "300M"])
    state_dir = box.settings.state_dir
    try:
        async def engine_up():
            value = (await box.api.state("/apps-engine"))["value"]
            return value if value["state"] == "up" else None
        engine = await wait_for(engine_up, timeout=60)
        assert engine["socket"].startswith("/run/rockd-demo-")  # its own, not the host's
        disks = (await box.api.state("/disks"))["value"]
        await box.make_pool({"data": "single", "disks": [
            d["id"] for d in disks.values() if d["managed"]]})
        status, share = await box.api.call("POST", "/api/v1/shares",
                                           {"pool": box.pool["id"], "name": "site"})
        assert status == 201, share
        Path(share["path"], "index.html").write_text("offline and served\n")
        port = free_port()
        status, answer = await box.api.call("POST", "/api/v1/apps", {
            "app": "static-web", "volumes": {"/www": share["id"]}, "ports": {"80": port}})
        assert status == 202, answer
        job = await job_end(box, answer["job"])
        assert job["state"] == "succeeded", job
        assert any("on this box already" in line for line in job["log"]), job["log"]
        status, body = await wait_for(lambda: (r := fetch(port, "/index.html"))[0] == 200
                                      and r, timeout=20)
        assert body == b"offline and served\n"
    finally:
        await box.api.close()
        box.proc.signal(15)
        assert box.proc.wait(timeout=30) == 0
    # the engine, its processes and its bridge are gone with the demo
    assert dockerd_of(state_dir) == []
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert "rkdemo" not in links


async def test_an_image_file_is_loaded_through_the_api(rockd, engine, tmp_path):
    ref = f"{engine.web}:1"
    engine.docker("pull", ref)
    archive = tmp_path / "image.tar"
    engine.docker("save", "-o", str(archive), ref)
    engine.docker("rmi", ref)
    box = await rockd(docker_socket=engine.socket, apps_image_max=archive.stat().st_size + 10)
    await wait_for(lambda: box.daemon.tree.get("/apps-engine/state") == "up", timeout=20)
    uploads = box.settings.state_dir / "uploads"
    tar = {"Content-Type": "application/x-tar"}

    status, body = await box.api.call("POST", "/api/v1/apps-engine/images",
                                      raw=b"not a tar" * 100, headers=tar)
    assert (status, body["error"]["code"]) == (400, "not_an_image_file"), body
    status, body = await box.api.call("POST", "/api/v1/apps-engine/images",
                                      raw=archive.read_bytes() + b"\0" * 1024, headers=tar)
    assert status == 413, body
    assert list(uploads.glob("*")) == []
    unauthenticated = box.client()
    status, body = await unauthenticated.call("POST", "/api/v1/apps-engine/images",
                                              raw=archive.read_bytes(), headers=tar)
    assert status == 401, body

    status, body = await box.api.call("POST", "/api/v1/apps-engine/images",
                                      raw=archive.read_bytes(), headers=tar)
    assert status == 202, body
    job = await job_end(box, body["job"])
    assert job["state"] == "succeeded", job
    assert job["detail"] == f"loaded {ref}", job
    assert engine.inspect(ref) is not None
    assert list(uploads.glob("*")) == []
    engine.docker("rmi", ref)


async def test_a_registry_setting_is_checked_and_images_come_from_it(rockd, engine, tmp_path):
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    port = free_port()
    (catalog / "box.json").write_text(
        '{"name": "box", "title": "Box", "description": "d", "website": "https://busybox.net",'
        '"containers": [{"name": "httpd", "image": "rtest/web", "tag": "1",'
        '"command": ["/bin/httpd", "-f", "-p", "80", "-h", "/www"],'
        f'"ports": [{{"container": 80, "host": {port}, "ui": true}}],'
        '"volumes": [{"container": "/www", "label": "Site"}]}]}')
    box = await rockd(devices=1, pool="single", docker_socket=engine.socket,
                      apps_catalog=catalog)
    await wait_for(lambda: box.daemon.tree.get("/apps-engine/state") == "up", timeout=20)
    path = "/api/v1/apps-engine/registry"

    status, body = await box.api.call("PUT", path, {"registry": "not a host!"})
    assert status == 400, body
    nobody = f"127.0.0.1:{free_port()}"
    status, body = await box.api.call("PUT", path, {"registry": nobody})
    assert (status, body["error"]["code"]) == (422, "registry_unreachable"), body
    assert box.daemon.tree.get("/apps-engine/registry") is None

    status, body = await box.api.call("PUT", path, {"registry": engine.registry_host})
    assert status == 200 and body["registry"] == engine.registry_host, body
    assert box.daemon.tree.get("/apps-engine/registry") == engine.registry_host

    status, share = await box.api.call("POST", "/api/v1/shares",
                                       {"pool": box.pool["id"], "name": "site"})
    Path(share["path"], "hello.txt").write_text("from the mirror\n")
    status, answer = await box.api.call("POST", "/api/v1/apps", {
        "app": "box", "volumes": {"/www": share["id"]}})
    assert status == 202, answer
    job = await job_end(box, answer["job"])
    assert job["state"] == "succeeded", job
    assert engine.inspect("rockd-box-httpd")["Config"]["Image"] == f"{engine.web}:1"
    status, body = await wait_for(lambda: (r := fetch(port, "/hello.txt"))[0] == 200 and r,
                                  timeout=20)
    assert body == b"from the mirror\n"

    # kept across a restart; null goes back to Docker Hub
    await box.stop()
    await box.start()
    assert box.daemon.tree.get("/apps-engine/registry") == engine.registry_host
    status, body = await box.api.call("PUT", path, {"registry": None})
    assert status == 200 and body["registry"] is None, body
    engine.remove_all_containers()
    engine.docker("rmi", f"{engine.web}:1", check=False)


def test_registry_resolution():
    from rockd.apps.images import resolve

    assert resolve("busybox", None) == "busybox"
    assert resolve("busybox", "mirror.lan:5000") == "mirror.lan:5000/library/busybox"
    assert resolve("syncthing/syncthing", "m.lan/hub") == "m.lan/hub/syncthing/syncthing"
    assert resolve("ghcr.io/x/y", "m.lan") == "ghcr.io/x/y"
    assert resolve("localhost:5000/y", "m.lan") == "localhost:5000/y"
