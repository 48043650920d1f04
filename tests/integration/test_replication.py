"""Replication between two rockd daemons in this process (each with its own loop device, state
dir and ZeroMQ port): pairing, full then incremental sends, checksums, refusals, promotion."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from pathlib import Path

from rockd.transfer import protocol
from tests.support.replication import checksums, write_files
from tests.support.rig import Rockd, wait_for
from tests.support.wire import Capture


async def boxes(rockd, *names: str, size: int = 1 << 30) -> list[Rockd]:
    """In-process daemons with replication, each with a pool "tank" of `size` bytes."""
    return [await rockd(name=name, devices=1, size=size, pool="single") for name in names]


def receiver(box: Rockd):
    return box.daemon.context.replication.receiver


async def identity(box: Rockd) -> dict:
    status, body = await box.api.call("GET", "/api/v1/replication/identity")
    assert status == 200, body
    return body


async def ended(box: Rockd, job_id: str, timeout: float = 60.0) -> dict:
    def final():
        job = box.daemon.tree.get(("jobs", job_id))
        return job if job["state"] not in ("queued", "running") else None
    return await wait_for(final, timeout=timeout)


async def pair(a: Rockd, b: Rockd) -> None:
    """Each box pairs the other, as two admins would."""
    for one, other in ((a, b), (b, a)):
        ident = await identity(other)
        status, peer = await one.api.call("POST", "/api/v1/replication/peers", {
            "name": other.name, "address": ident["address"],
            "public_key": ident["public_key"]})
        assert status == 201, peer


async def share_with_files(box: Rockd, name: str = "home", count: int = 12,
                           size: int = 2 << 20) -> dict:
    status, share = await box.api.call("POST", "/api/v1/shares",
                                       {"pool": box.pool["id"], "name": name})
    assert status == 201, share
    write_files(Path(share["path"]), count, size)
    return share


async def run(box: Rockd, task_id: str) -> dict:
    status, body = await box.api.call("POST", f"/api/v1/replication/tasks/{task_id}/run")
    assert status == 202, body
    return await ended(box, body["job"]["id"])


async def mid_transfer(a: Rockd, b: Rockd) -> tuple[dict, dict, str, object]:
    """a's share "home" of 600 MiB, a task to b, and its run caught while the data flows:
    (the share, the task, the job's id, b's incoming transfer)."""
    share = await share_with_files(a, count=6, size=100 << 20)
    _, task = await a.api.call("POST", "/api/v1/replication/tasks", {
        "share": share["id"], "targets": [{"peer": "b", "pool": "tank"}]})
    status, body = await a.api.call("POST", f"/api/v1/replication/tasks/{task['id']}/run")
    assert status == 202, body

    async def sending():
        incoming = receiver(b).incoming
        return next((i for i in incoming.values() if i.bytes > 0), None)
    return share, task, body["job"]["id"], await wait_for(sending, timeout=30)


def replica_of(box: Rockd, name: str) -> dict | None:
    for share in (box.daemon.tree.get("/shares") or {}).values():
        if share["pool"] == box.pool["id"] and share["name"] == name:
            return share
    return None


def subvolumes(box: Rockd, *options: str) -> list[str]:
    out = subprocess.run(["btrfs", "subvolume", "list", *options, box.pool["mount_point"]],
                         capture_output=True, text=True, check=True).stdout
    return sorted(line.split(" path ", 1)[1] for line in out.splitlines())


def half_made(box: Rockd, name: str = "home") -> list[str]:
    """Writable subvolumes among a replica's: what an unfinished receive leaves."""
    read_only = set(subvolumes(box, "-r"))
    return [p for p in subvolumes(box) if (p == name or p.startswith(f".snapshots/{name}/"))
            and p not in read_only]


async def test_full_then_incremental_replication_with_equal_content(rockd):
    a, b = await boxes(rockd, "a", "b")
    ident = await identity(a)
    assert len(ident["public_key"]) == 40 and ident["address"].endswith(
        a.daemon.settings.zmq_listen.rsplit(":", 1)[1])
    secret = a.daemon.settings.state_dir / "replication" / "curve.secret"
    assert oct(secret.stat().st_mode & 0o777) == "0o600"
    assert secret.read_text().strip() not in (a.daemon.settings.state_dir.parent /
                                               "nothing").as_posix()
    await pair(a, b)
    share = await share_with_files(a, count=12, size=4 << 20)  # 48 MiB
    status, task = await a.api.call("POST", "/api/v1/replication/tasks", {
        "share": share["id"], "targets": [{"peer": "b", "pool": "tank"}]})
    assert status == 201, task

    job = await run(a, task["id"])
    assert job["state"] == "succeeded", job
    assert job["bytes"] > 48 << 20 and "in full" in job["detail"], job
    replica = replica_of(b, "home")
    assert replica is not None and replica["read_only"] and replica["received_uuid"]
    assert replica["replica"]["peer"] == "a" and replica["replica"]["share"] == "home"
    assert checksums(Path(replica["path"])) == checksums(Path(share["path"]))

    # change files: one rewritten, one new, one deleted
    root = Path(share["path"])
    (root / "d0" / "f0").write_bytes(os.urandom(1 << 20))
    (root / "new").write_bytes(os.urandom(2 << 20))
    (root / "d1" / "f1").unlink()
    os.sync()
    job = await run(a, task["id"])
    assert job["state"] == "succeeded", job
    assert "incremental" in job["detail"], job
    assert job["bytes"] < 8 << 20, job  # far below the share's 48 MiB
    replica = replica_of(b, "home")
    assert checksums(Path(replica["path"])) == checksums(root)
    # both received snapshots are the replica share's snapshots, nothing half-made
    snaps = [s for s in b.daemon.tree.get("/snapshots").values() if s["share"] == replica["id"]]
    assert len(snaps) == 2 and all(s["read_only"] for s in snaps), snaps
    assert replica["replica"]["snapshot"] == max(s["name"] for s in snaps)
    assert half_made(b) == []
    last = a.daemon.tree.get(("replication", "tasks", task["id"], "targets", "b/tank", "last"))
    assert last["state"] == "succeeded" and last["incremental"], last


async def test_an_unpaired_key_is_refused_and_logged(rockd, caplog):
    a, b = await boxes(rockd, "a", "b")
    # a knows b, b does not know a
    ident = await identity(b)
    status, _ = await a.api.call("POST", "/api/v1/replication/peers", {
        "name": "b", "address": ident["address"], "public_key": ident["public_key"]})
    assert status == 201
    share = await share_with_files(a, count=2, size=1 << 20)
    _, task = await a.api.call("POST", "/api/v1/replication/tasks", {
        "share": share["id"], "targets": [{"peer": "b", "pool": "tank"}]})
    job = await run(a, task["id"])
    assert job["state"] == "failed" and "refused this box's key" in job["error"], job
    assert replica_of(b, "home") is None
    assert receiver(b).gate.refusals >= 1
    assert any("refused a connection" in r.getMessage() for r in caplog.records)
    assert not any(b.daemon.settings.state_dir.joinpath("replication", "curve.secret")
                   .read_text().strip() in r.getMessage() for r in caplog.records)

    # a key that is not that box's: pairing's test connection refuses it, nothing is saved
    import zmq

    status, refused = await a.api.call("POST", "/api/v1/replication/peers", {
        "name": "impostor", "address": ident["address"],
        "public_key": zmq.curve_keypair()[0].decode()})
    assert status == 422 and refused["error"]["code"] == "wrong_key", refused
    assert a.daemon.tree.get("/replication/peers/impostor") is None
    status, busy = await a.api.call("DELETE", "/api/v1/replication/peers/b")
    assert status == 409 and busy["error"]["code"] == "in_use", busy
    assert (await a.api.call("DELETE", f"/api/v1/replication/tasks/{task['id']}"))[0] == 204
    assert (await a.api.call("DELETE", "/api/v1/replication/peers/b"))[0] == 204


async def test_two_destinations_at_once_and_promotion(rockd):
    a, b, c = await boxes(rockd, "a", "b", "c")
    await pair(a, b)
    await pair(a, c)
    share = await share_with_files(a, count=6, size=2 << 20)
    _, task = await a.api.call("POST", "/api/v1/replication/tasks", {
        "share": share["id"], "targets": [{"peer": "b", "pool": "tank"},
                                          {"peer": "c", "pool": "tank", "name": "home-a"}]})
    job = await run(a, task["id"])
    assert job["state"] == "succeeded", job
    want = checksums(Path(share["path"]))
    assert checksums(Path(replica_of(b, "home")["path"])) == want
    assert checksums(Path(replica_of(c, "home-a")["path"])) == want

    # promote the replica on c: a writable share, no longer a replica; the chain ends there
    replica = replica_of(c, "home-a")
    status, promoted = await c.api.call("POST", f"/api/v1/shares/{replica['id']}/promote")
    assert status == 200, promoted
    assert not promoted["read_only"] and promoted["replica"] is None
    (Path(promoted["path"]) / "written-after-promotion").write_text("mine now")
    status, again = await c.api.call("POST", f"/api/v1/shares/{promoted['id']}/promote")
    assert status == 422 and again["error"]["code"] == "not_a_replica"
    job = await run(a, task["id"])
    assert job["state"] == "failed" and "promoted" in job["error"], job
    last = a.daemon.tree.get(("replication", "tasks", task["id"], "targets"))
    assert last["b/tank"]["last"]["state"] == "succeeded"
    assert last["c/tank"]["last"]["state"] == "failed"


async def test_nothing_crosses_the_wire_in_clear(rockd):
    """Files full of a marker are replicated while the loopback is captured: the marker never
    shows, on either port, though the capture sees it when it is sent in clear."""
    a, b = await boxes(rockd, "a", "b")
    await pair(a, b)
    marker = b"rockd-marker-" + os.urandom(8).hex().encode()
    share = await share_with_files(a, count=0)
    for i in range(4):
        (Path(share["path"]) / f"f{i}").write_bytes(marker * ((4 << 20) // len(marker)))
    os.sync()
    _, task = await a.api.call("POST", "/api/v1/replication/tasks", {
        "share": share["id"], "targets": [{"peer": "b", "pool": "tank"}]})
    port = int(b.daemon.settings.zmq_listen.rsplit(":", 1)[1])
    with Capture() as wire:
        job = await run(a, task["id"])
        with socket.create_connection(("127.0.0.1", b.daemon.settings.port)) as plain:
            plain.sendall(marker)  # the control: what the capture shows of a clear text
        await asyncio.sleep(0.3)
    assert job["state"] == "succeeded", job
    assert checksums(Path(replica_of(b, "home")["path"])) == checksums(Path(share["path"]))
    data = wire.payload(port + 1)
    assert len(data) > 15 << 20, len(data)  # the stream went by, through the data port
    assert b"rockd-marker-" not in data and marker not in wire.payload(port)
    assert marker in wire.everything()


async def test_the_data_port_admits_only_a_live_transfers_ticket(rockd, caplog):
    import zmq
    import zmq.asyncio
    from zmq.utils.monitor import recv_monitor_message

    (b,) = await boxes(rockd, "b")
    data = b.daemon.settings.zmq_listen.rsplit(":", 1)
    endpoint = f"tcp://127.0.0.1:{int(data[1]) + 1}"
    context = zmq.asyncio.Context()
    ticket = "f" * 32
    try:
        for credentials in ({"plain_username": b"0123456789abcdef",
                             "plain_password": ticket.encode()}, {}):
            sock = context.socket(zmq.DEALER)
            for option, value in credentials.items():
                setattr(sock, option, value)
            monitor = sock.get_monitor_socket()
            sock.connect(endpoint)
            events = []
            async with asyncio.timeout(10):
                while not events or events[-1] not in (
                        zmq.EVENT_HANDSHAKE_FAILED_AUTH, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
                        zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, zmq.EVENT_HANDSHAKE_SUCCEEDED):
                    events.append((await recv_monitor_message(monitor))["event"])
            assert events[-1] != zmq.EVENT_HANDSHAKE_SUCCEEDED, (credentials, events)
            sock.disable_monitor()
            monitor.close(0)
            sock.close(0)
    finally:
        context.destroy(linger=0)
    assert receiver(b).gate.refusals >= 1
    assert any("no transfer 0123456789abcdef is being received" in r.getMessage()
               for r in caplog.records)
    assert not any(ticket in r.getMessage() for r in caplog.records)
    assert receiver(b).received == 0 and subvolumes(b) == []


async def test_data_from_another_connection_ends_the_transfer(rockd):
    """Someone holding a live transfer's id and ticket (as one who watched the handshake
    would) but not its key: what they send ends the transfer, and nothing is left."""
    import zmq
    import zmq.asyncio

    a, b = await boxes(rockd, "a", "b", size=2 << 30)
    await pair(a, b)
    _, task, job_id, incoming = await mid_transfer(a, b)
    context = zmq.asyncio.Context()
    try:
        sock = context.socket(zmq.DEALER)
        sock.plain_username, sock.plain_password = incoming.id.encode(), incoming.ticket.encode()
        sock.connect(f"tcp://{protocol.data_address(b.daemon.settings.zmq_listen)}")
        forger = protocol.Channel(protocol.Channel.new_key(), sender=True)
        forger.sent = incoming.channel.expected
        await sock.send_multipart(forger.seal(protocol.DATA, incoming.id.encode(), b"x" * 100))
        job = await ended(a, job_id)
        sock.close(0)
    finally:
        context.destroy(linger=0)
    assert job["state"] == "failed" and "another connection" in job["error"], job
    await wait_for(lambda: not receiver(b).incoming, timeout=80)
    await b.daemon.context.shares.settled(b.pool["id"])
    assert replica_of(b, "home") is None and subvolumes(b) == [], subvolumes(b)
    job = await run(a, task["id"])
    assert job["state"] == "succeeded", job


async def test_a_corrupted_stream_is_discarded_and_nothing_is_left(rockd, monkeypatch):
    a, b = await boxes(rockd, "a", "b")
    await pair(a, b)
    share = await share_with_files(a, count=4, size=1 << 20)
    _, task = await a.api.call("POST", "/api/v1/replication/tasks", {
        "share": share["id"], "targets": [{"peer": "b", "pool": "tank"}]})
    from rockd.transfer import sender

    real = sender.checksum

    class Lying:
        """The sender's checksum of the stream, off by one bit."""

        def __init__(self):
            self.inner = real()

        def update(self, data):
            self.inner.update(data)

        def digest(self):
            good = self.inner.digest()
            return bytes([good[0] ^ 1]) + good[1:]

    monkeypatch.setattr(sender, "checksum", Lying)
    job = await run(a, task["id"])
    assert job["state"] == "failed" and "checksum" in job["error"], job
    await asyncio.sleep(0.2)
    assert replica_of(b, "home") is None
    assert subvolumes(b) == [], subvolumes(b)


async def test_hourly_runs_with_retention_on_both_sides(rockd):
    from datetime import UTC, datetime, timedelta

    a, b = await boxes(rockd, "a", "b")
    await pair(a, b)
    share = await share_with_files(a, count=2, size=1 << 20)
    start = (datetime.now(UTC) - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    now = [start - timedelta(minutes=30)]
    for box in (a, b):
        box.daemon.context.replication.clock = lambda: now[0]
    status, task = await a.api.call("POST", "/api/v1/replication/tasks", {
        "share": share["id"], "targets": [{"peer": "b", "pool": "tank"}], "cron": "0 * * * *",
        "retention": {"source": {"hourly": 2}, "target": {"hourly": 3}}, "keep_last": 1})
    assert status == 201 and task["next_run"], task
    status, bad = await a.api.call("POST", "/api/v1/replication/tasks", {
        "share": share["id"], "targets": [{"peer": "nobody", "pool": "tank"}]})
    assert status == 404, bad
    status, bad = await a.api.call("POST", "/api/v1/replication/tasks", {
        "share": share["id"], "targets": [{"peer": "b", "pool": "tank"}], "cron": "61 * * * *"})
    assert status == 400 and bad["error"]["code"] == "invalid_field", bad
    for hour in range(5):
        now[0] = start + timedelta(hours=hour, minutes=1)
        (Path(share["path"]) / f"hour{hour}").write_bytes(os.urandom(64 << 10))
        os.sync()
        (job,) = await a.daemon.context.replication.tasks.run_due(now[0])
        job = await ended(a, job["id"])
        assert job["state"] == "succeeded", job
        await a.daemon.context.jobs.wait()
        await b.daemon.context.jobs.wait()
    await a.daemon.context.shares.settled(a.pool["id"])
    await b.daemon.context.shares.settled(b.pool["id"])

    def names(box: Rockd, share_name: str) -> list[str]:
        return sorted(s["name"] for s in box.daemon.tree.get("/snapshots").values()
                      if s["share_name"] == share_name)

    stamp = [(start + timedelta(hours=h, minutes=1)).strftime("%Y%m%dT%H%M%SZ")
             for h in range(5)]
    assert names(a, "home") == [f"repl-{task['id']}-{s}" for s in stamp[3:]]
    assert names(b, "home") == [f"repl-{task['id']}-{s}" for s in stamp[2:]]
    replica = replica_of(b, "home")
    assert replica["replica"]["snapshot"] == f"repl-{task['id']}-{stamp[4]}"
    assert checksums(Path(replica["path"])) == checksums(Path(share["path"]))
    assert half_made(b) == []
    # a run while one runs is refused; a missed slot runs once
    assert a.daemon.tree.get(("replication", "tasks", task["id"], "running")) is None


async def test_a_cancelled_run_leaves_nothing_half_made(rockd):
    a, b = await boxes(rockd, "a", "b", size=2 << 30)
    await pair(a, b)
    share, task, job_id, _ = await mid_transfer(a, b)
    status, again = await a.api.call("POST", f"/api/v1/replication/tasks/{task['id']}/run")
    assert status == 409 and again["error"]["code"] == "busy", again
    status, _ = await a.api.call("POST", f"/api/v1/jobs/{job_id}/cancel")
    assert status == 200
    job = await ended(a, job_id)
    assert job["state"] == "cancelled", job
    await wait_for(lambda: not receiver(b).incoming, timeout=10)
    await b.daemon.context.shares.settled(b.pool["id"])
    assert replica_of(b, "home") is None
    assert subvolumes(b) == [], subvolumes(b)
    # and the next run goes through
    job = await run(a, task["id"])
    assert job["state"] == "succeeded", job
    assert checksums(Path(replica_of(b, "home")["path"])) == checksums(Path(share["path"]))
