"""The hostname: checked, written to a private host_etc, set in the kernel only inside a UTS
namespace of the test's (`unshare --uts`: this machine's hostname is never changed), live at
/system/hostname, and named by Samba in smb.conf."""

import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.support.client import receive
from tests.support.hostnamed import Hostnamed
from tests.support.rig import wait_for

WRONG = ["-lead", "trail-", "under_score", "a..b", "x" * 64, "a" * 30 + "." + "b" * 34,
         "1234", "", "sp ace", "dot.", "ünï"]


async def test_hostname_in_a_uts_namespace_reaches_the_kernel_the_tree_and_samba(rockd):
    before = socket.gethostname()
    box = await rockd(devices=1, pool="single", process=True, sharing=True,
                      prefix=["unshare", "--uts"])
    api, settings = box.api, box.settings
    pid = box.proc.proc.pid
    assert os.readlink(f"/proc/{pid}/ns/uts") != os.readlink("/proc/self/ns/uts")

    def kernel_hostname() -> str:
        return subprocess.run(["nsenter", "-t", str(pid), "-u", "hostname"], check=True,
                              capture_output=True, text=True).stdout.strip()

    status, share = await api.call("POST", "/api/v1/shares",
                                   {"pool": box.pool["id"], "name": "docs"})
    assert status == 201, share
    status, export = await api.call("POST", "/api/v1/exports/smb", {"share": share["id"]})
    assert status == 201, export
    conf = settings.samba_dir / "smb.conf"
    assert f"netbios name = {before.split('.')[0][:15].upper()}" in conf.read_text()

    ws = await api.stream()
    await ws.send_str('{"id": 1, "type": "subscribe", "path": "/system/hostname"}')
    assert (await receive(ws))["type"] == "subscribed"
    assert (await receive(ws))["value"] == before
    try:
        status, body = await api.call("PATCH", "/api/v1/system",
                                      {"hostname": "nas-cellar.example.org"})
        assert status == 200, body
        assert body["hostname"] == "nas-cellar.example.org"
        message = await receive(ws)
        assert message["ops"] == [{"op": "replace", "path": "/system/hostname",
                                   "value": "nas-cellar.example.org"}]
    finally:
        await ws.close()
    assert kernel_hostname() == "nas-cellar.example.org"
    assert (settings.host_etc / "hostname").read_text() == "nas-cellar.example.org\n"
    await wait_for(lambda: "netbios name = NAS-CELLAR\n" in conf.read_text())
    assert "server string = rockd on nas-cellar.example.org" in conf.read_text()
    status, configs = await api.call("GET", "/api/v1/state?path=/configs/smb")
    assert configs["value"]["drift"] is False

    for wrong in WRONG:
        status, body = await api.call("PATCH", "/api/v1/system", {"hostname": wrong})
        assert status == 400 and body["error"]["code"] == "invalid_field", (wrong, body)
    assert kernel_hostname() == "nas-cellar.example.org"
    assert socket.gethostname() == before  # this machine's own, never touched


@pytest.mark.parametrize("name", ["nas", "NAS-2", "a" * 63, "x.y.z", "a" * 31 + "." + "b" * 32])
def test_good_hostnames(name):
    from rockd.host.names import valid_hostname
    assert valid_hostname(name)


async def test_private_hostname_file_without_a_namespace_leaves_the_kernel_alone(rockd):
    before = socket.gethostname()
    box = await rockd()
    etc = box.settings.host_etc
    status, body = await box.api.call("PATCH", "/api/v1/system", {"hostname": "elsewhere"})
    assert status == 200 and body["hostname"] == "elsewhere", body
    assert (etc / "hostname").read_text() == "elsewhere\n"
    assert socket.gethostname() == before
    # edited by hand: the tree follows (inotify)
    (etc / "hostname").write_text("by-hand\n")
    await wait_for(lambda: box.daemon.tree.get("/system/hostname") == "by-hand")
    await box.restart()
    assert box.daemon.tree.get("/system/hostname") == "by-hand"


async def test_hostname_through_the_real_hostnamed_on_a_private_bus(rockd, tmp_path):
    before = socket.gethostname()
    with Hostnamed(tmp_path / "hostnamed") as hostnamed:
        box = await rockd(host_control="systemd", host_bus=hostnamed.address)
        tree = box.daemon.tree
        await wait_for(lambda: tree.get("/system/hostname") == hostnamed.property("Hostname"))
        status, body = await box.api.call("PATCH", "/api/v1/system", {"hostname": "nas-bus"})
        assert status == 200 and body["hostname"] == "nas-bus", body
        assert hostnamed.property("StaticHostname") == "nas-bus"
        assert hostnamed.property("Hostname") == "nas-bus"  # the kernel's, in its namespace
        assert (hostnamed.written / "hostname").read_text() == "nas-bus\n"
        status, body = await box.api.call("PATCH", "/api/v1/system", {"hostname": "a_b"})
        assert status == 400 and hostnamed.property("StaticHostname") == "nas-bus"

        # changed by someone else (hostnamectl): PropertiesChanged, and the tree follows
        hostnamed.set_static("renamed-elsewhere")
        await wait_for(lambda: tree.get("/system/hostname") == "renamed-elsewhere")
    assert socket.gethostname() == before
    assert Path("/etc/hostname").read_text().strip() == before
