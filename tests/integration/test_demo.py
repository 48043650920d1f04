"""Demo mode and --devices on real loop devices. The rig detaches any loop left on a demo's
images, even on failure."""

import subprocess
import time

from rockd.storage.devices import root_disk


def attached(image) -> list[str]:
    out = subprocess.run(["losetup", "--noheadings", "--output", "NAME", "--associated",
                          str(image)], capture_output=True, text=True, check=True).stdout
    return out.split()


async def test_demo_attaches_disks_shows_them_and_detaches_on_sigterm(rockd, udevd):
    box = await rockd(process="demo", args=["--disks", "2", "--disk-size", "300M"])
    demo_dir = box.settings.state_dir
    images = sorted((demo_dir / "disks").glob("*.img"))
    assert len(images) == 2
    devices = [attached(image)[0] for image in images]
    client = box.api
    disks = (await client.state("/disks"))["value"]
    ours = {d["path"]: d for d in disks.values() if d["transport"] == "loop"}
    assert sorted(ours) == sorted(devices)
    for disk in ours.values():
        assert disk["size"] == 300 << 20 and disk["managed"] is True
        assert disk["backing_file"] in {str(i) for i in images}
        assert disks[disk["id"]] is disk or disks[disk["id"]] == disk
    system = (await client.state("/system"))["value"]
    assert system["hostname"] and system["kernel"] and system["versions"]["btrfs_progs"]
    # a demo keeps its service configuration to itself, never /etc's
    configs = (await client.state("/configs"))["value"]
    assert {c["path"] for c in configs.values()} <= {
        str(demo_dir / "samba" / "smb.conf"), str(demo_dir / "exports.d" / "rockd.exports"),
        str(demo_dir.with_name(demo_dir.name + "-sftp") / "sshd_config")}, configs
    assert "smb" in configs
    await client.close()
    # images are sparse: 300 MiB each, nearly nothing on disk
    assert all(i.stat().st_blocks * 512 < (1 << 20) for i in images)
    started = time.monotonic()
    box.proc.signal(15)
    assert box.proc.wait(timeout=5) == 0 and time.monotonic() - started < 5
    assert all(attached(image) == [] for image in images)


async def test_devices_allowlist_and_root_disk(rockd, loops):
    mine, other = loops(name="mine.img"), loops(name="other.img")
    root = root_disk()
    patterns = f"{mine},/dev/{root}" if root else mine
    box = await rockd(process=True, args=["--devices", patterns])
    disks = (await box.api.state("/disks"))["value"]
    by_path = {d["path"]: d for d in disks.values()}
    assert by_path[mine]["managed"] is True
    assert other not in by_path  # loops outside the allowlist are not this box's disks
    if root:
        assert by_path[f"/dev/{root}"]["managed"] is False  # never, whatever the list says
    ids = [d["id"] for d in disks.values()]
    assert len(set(ids)) == len(ids) and all(disks[i]["id"] == i for i in ids)
