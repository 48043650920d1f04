"""A disk's spin-down and APM as intent: kept, applied with the real hdparm at set, at start and
when the disk comes back, and shown at /disks/{id}/power. A loop device refuses hdparm's ATA
commands: the tree shows exactly hdparm's refusal as drift (applied false)."""

import subprocess
from pathlib import Path

from pydantic import TypeAdapter

from rockd.core.resources import Disk
from rockd.host import spindown
from tests.support.host import release
from tests.support.rig import wait_for


def hdparm_says(device: str, *args: str) -> str:
    result = subprocess.run(["hdparm", *args, device], capture_output=True, text=True)
    assert result.returncode != 0
    return result.stderr.strip()


async def test_spindown_is_kept_applied_and_its_refusal_shown(rockd, monkeypatch):
    calls: list[list[str]] = []
    real_run = spindown.run

    async def counted(argv, **kw):
        calls.append(argv)
        return await real_run(argv, **kw)

    monkeypatch.setattr(spindown, "run", counted)
    box = await rockd(devices=1)
    device, disk_id = box.devices[0], box.disks[0]
    tree = box.daemon.tree
    disk = tree.get(("disks", disk_id))
    assert disk["rotational"] is True and "power" not in disk  # offered, nothing asked yet

    for body in ({"spindown": -1, "apm": None}, {"spindown": 331, "apm": None},
                 {"spindown": None, "apm": 0}, {"spindown": None, "apm": 256},
                 {"spindown": "ten", "apm": None}, {"spindown": 5}):
        status, answer = await box.api.call("PUT", f"/api/v1/disks/{disk_id}/power", body)
        assert (status, answer["error"]["code"]) == (400, "invalid_field"), (body, answer)
    assert calls == []
    status, answer = await box.api.call("PUT", "/api/v1/disks/nosuchdisk/power",
                                        {"spindown": 5, "apm": None})
    assert status == 404, answer

    status, answer = await box.api.call("PUT", f"/api/v1/disks/{disk_id}/power",
                                        {"spindown": 10, "apm": 128})
    assert status == 200, answer
    assert calls == [["hdparm", "-S", "120", "-B", "128", device]]
    refused = hdparm_says(device, "-S", "120", "-B", "128")
    assert "HDIO_DRIVE_CMD" in refused and "failed" in refused
    assert answer["power"] == {"spindown": 10, "apm": 128, "applied": False, "error": refused}
    assert tree.get(("disks", disk_id, "power")) == answer["power"]
    TypeAdapter(Disk).validate_python(tree.get(("disks", disk_id)))  # as declared

    # kept: applied again at start
    calls.clear()
    await box.restart()
    assert calls == [["hdparm", "-S", "120", "-B", "128", device]]
    assert box.daemon.tree.get(("disks", disk_id, "power"))["error"] == refused

    # the disk goes and comes back (the same loop device, its file attached again)
    calls.clear()
    backing = Path(box.daemon.tree.get(("disks", disk_id, "backing_file")))
    release(device)  # detached, and gone (a probe may hold it open a moment)
    await wait_for(lambda: box.daemon.tree.get(("disks", disk_id)) is None, timeout=10)
    await wait_for(lambda: subprocess.run(["losetup", device, str(backing)]).returncode == 0,
                   timeout=10, interval=0.1)
    await wait_for(lambda: calls, timeout=10)
    assert calls == [["hdparm", "-S", "120", "-B", "128", device]]
    await wait_for(lambda: (box.daemon.tree.get(("disks", disk_id, "power")) or {}).get("error")
                   == refused)

    # a disk that does not spin is not offered it
    name = device.removeprefix("/dev/")
    rotational = Path(f"/sys/block/{name}/queue/rotational")
    rotational.write_text("0")
    try:
        await box.daemon.context.disks.rescan(name)
        assert "power" not in box.daemon.tree.get(("disks", disk_id))
        status, answer = await box.api.call("PUT", f"/api/v1/disks/{disk_id}/power",
                                            {"spindown": 0, "apm": None})
        assert (status, answer["error"]["code"]) == (409, "not_rotational"), answer
    finally:
        rotational.write_text("1")


def test_standby_values():
    assert [spindown.standby_value(m) for m in (0, 1, 20, 21, 30, 60, 330)] == \
        [0, 12, 240, 241, 241, 242, 251]
