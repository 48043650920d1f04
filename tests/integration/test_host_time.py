"""/system/time: the time zone (files under a private host_etc), the NTP servers written for a
real chronyd (in its own network namespace, never adjusting the clock) and its sync state, live
on the stream while someone watches, and not sampled when no one does."""

import asyncio
import os

from pydantic import TypeAdapter

from rockd.core import pointer
from rockd.core.resources import System
from rockd.core.tree import apply
from rockd.host import chrony as chrony_module
from rockd.host import clock
from tests.support.chrony import Chrony
from tests.support.client import receive
from tests.support.rig import wait_for


async def test_time_zone_is_set_checked_and_followed(rockd, tmp_path):
    box = await rockd()
    etc = box.settings.host_etc
    time = (await box.api.state("/system/time"))["value"]
    assert time["timezone"] == "Etc/UTC" and time["synchronized"] is False  # no chronyd
    assert "chronyd" in time["error"]

    status, body = await box.api.call("PATCH", "/api/v1/system", {"timezone": "Europe/Paris"})
    assert status == 200, body
    assert body["time"]["timezone"] == "Europe/Paris"
    assert os.readlink(etc / "localtime") == "/usr/share/zoneinfo/Europe/Paris"
    assert (etc / "timezone").read_text() == "Europe/Paris\n"

    for wrong in ("Mars/Olympus", "../../etc/passwd", "", "Europe/Paris\n"):
        status, body = await box.api.call("PATCH", "/api/v1/system", {"timezone": wrong})
        assert (status, body["error"]["code"]) == (400, "invalid_field"), body
        assert body["error"]["detail"]["field"] == "timezone"
    status, body = await box.api.call("PATCH", "/api/v1/system",
                                      {"timezone": "Asia/Tokyo", "hostname": "-bad-"})
    assert status == 400, body  # one field wrong: nothing changed
    assert os.readlink(etc / "localtime") == "/usr/share/zoneinfo/Europe/Paris"

    # changed by hand: the tree follows (inotify)
    (etc / "new").symlink_to("/usr/share/zoneinfo/America/New_York")
    os.replace(etc / "new", etc / "localtime")
    await wait_for(lambda: box.daemon.tree.get("/system/time/timezone") == "America/New_York")


async def test_ntp_servers_reach_a_real_chronyd_and_sync_shows_live(rockd, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setattr(clock, "INTERVAL", 0.5)  # the sampling's pace, shortened for the test
    with Chrony(tmp_path / "chrony") as chrony:
        box = await rockd(chrony_sources=chrony.sources, chrony_socket=chrony.socket)
        tree = box.daemon.tree
        assert tree.get("/system/time")["synchronized"] is False
        assert "error" not in tree.get("/system/time")  # chronyd answers

        for wrong in (["bad name"], ["a;b"], ["x" * 300], ["-lead"]):
            status, body = await box.api.call("PATCH", "/api/v1/system", {"ntp_servers": wrong})
            assert (status, body["error"]["code"]) == (400, "invalid_field"), (wrong, body)
        assert not chrony.sources.exists()

        ws = await box.api.stream()
        await ws.send_str('{"id": 1, "type": "subscribe", "path": "/system/time"}')
        assert (await receive(ws))["type"] == "subscribed"
        doc = {"system": {"time": (await receive(ws))["value"]}}
        seen: list[dict] = []

        async def read() -> None:
            while True:
                message = await receive(ws, timeout=60)
                for op in message.get("ops", []):
                    apply(doc, op["op"], pointer.parse(op["path"]), op.get("value"))
                seen.append(dict(doc["system"]["time"]))

        reader = asyncio.create_task(read())
        try:
            status, body = await box.api.call("PATCH", "/api/v1/system",
                                              {"ntp_servers": ["127.0.0.1", "127.0.0.1"]})
            assert status == 200, body
            assert body["time"]["ntp_servers"] == ["127.0.0.1"]
            assert "server 127.0.0.1 iburst" in chrony.sources.read_text()
            assert "127.0.0.1" in chrony.chronyc("-c", "sources")  # reloaded, not restarted

            synced = await wait_for(lambda: next((t for t in seen if t["synchronized"]), None),
                                    timeout=40, interval=0.2)
            assert synced["reference"] == "127.0.0.1" and synced["stratum"] == 9
            assert synced["leap"] == "Normal" and abs(synced["offset"]) < 0.1
            TypeAdapter(System).validate_python(tree.get("/system"))  # as declared
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await ws.close()

        # nobody watching: chronyd is not asked again
        await wait_for(lambda: not box.daemon.bus.watching("/system/time"))
        await asyncio.sleep(clock.INTERVAL)  # a read under way when the stream closed ends
        calls = []
        asked = chrony_module.tracking

        async def counted(settings):
            calls.append(1)
            return await asked(settings)

        monkeypatch.setattr(chrony_module, "tracking", counted)
        await asyncio.sleep(clock.INTERVAL * 3)
        assert calls == []
        ws = await box.api.stream()
        await ws.send_str('{"id": 1, "type": "subscribe", "path": "/system"}')
        await wait_for(lambda: len(calls) >= 2, timeout=clock.INTERVAL * 3)
        await ws.close()
        assert tree.get("/system/time")["synchronized"] is True

        status, body = await box.api.call("PATCH", "/api/v1/system", {"ntp_servers": []})
        assert status == 200 and body["time"]["ntp_servers"] == []
        assert "server" not in chrony.sources.read_text().replace("servers", "")



def test_tracking_lines_as_chronyc_prints_them():
    """Lines `chronyc -c tracking` printed (chrony 4.3): before and after its first sync."""
    before = chrony_module.parse_tracking(
        "00000000,,0,0.000000000,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,"
        "1.000000000,1.000000000,0.0,Not synchronised\n")
    assert before == {"synchronized": False, "reference": None, "stratum": None,
                      "offset": None, "leap": "Not synchronised"}
    after = chrony_module.parse_tracking(
        "7F000001,127.0.0.1,9,1796409395.629078564,-0.000002500,-0.000000381,0.000000381,"
        "0.115,0.000,9.187,0.000006577,0.000066978,2.0,Normal\n")
    assert after == {"synchronized": True, "reference": "127.0.0.1", "stratum": 9,
                     "offset": 0.0, "leap": "Normal"}
