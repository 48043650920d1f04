"""GET /metrics: Prometheus text from a daemon with a real pool; each metric against what
the tree holds (shares, scrubs, SMART, replication, services, alerts)."""

import os
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rockd.core.times import parse_iso
from tests.integration.test_replication import boxes, pair, run, share_with_files
from tests.support.prometheus import scraper, values
from tests.support.rig import wait_for


async def test_metrics_need_a_read_token_and_describe_pools(rockd):
    box = await rockd(devices=2)
    daemon, api = box.daemon, box.api
    _, pool = await api.call("POST", "/api/v1/pools", {
        "name": "watched", "disks": box.disks, "data": "raid1"})
    anonymous = box.client()
    token = box.client(token=await api.make_token(["read"], "prometheus"))
    async with anonymous.session.get(box.url + "/metrics") as response:
        assert response.status == 401
    async with api.session.get(box.url + "/metrics") as response:
        assert response.status == 401  # a browser session is not a scraper
    async with token.session.get(box.url + "/metrics",
                                 headers=token.headers("GET")) as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    size = {s.labels["name"]: s.value for s in families["rockd_pool_size_bytes"].samples}
    assert size == {"watched": pool["usage"]["size"]}
    errors = families["rockd_device_errors"].samples
    assert {s.labels["devid"] for s in errors} == {"1", "2"} and all(s.value == 0 for s in errors)
    assert 0 < families["rockd_revisions"].samples[0].value <= daemon.tree.rev
    latency = families["rockd_http_request_duration_seconds"].samples
    assert any(s.labels.get("route") == "/api/v1/pools" for s in latency)


async def test_metrics_public_needs_no_token(rockd):
    box = await rockd(devices=1)
    daemon = box.daemon
    daemon.settings.metrics_public = True
    anonymous = box.client()
    async with anonymous.session.get(box.url + "/metrics") as response:
        assert response.status == 200
        assert "rockd_stream_subscribers" in await response.text()


def share_key(share: dict, pool: dict) -> tuple[str, str, str]:
    return (pool["id"], pool["name"], share["name"])


async def test_shares_scrub_pool_services_and_alerts_as_the_tree_has_them(rockd):
    box = await rockd(devices=1, pool="single")
    daemon, api, tank = box.daemon, box.api, box.pool
    scrape = await scraper(box)
    status, capped = await api.call("POST", "/api/v1/shares", {
        "pool": tank["id"], "name": "capped", "quota": 16 << 20})
    assert status == 201, capped
    _, free = await api.call("POST", "/api/v1/shares", {"pool": tank["id"], "name": "free"})
    with (Path(capped["path"]) / "data").open("wb") as f:
        f.write(os.urandom(4 << 20))
        os.fsync(f.fileno())
    subprocess.run(["btrfs", "quota", "rescan", "-w", tank["mount_point"]], check=True)
    await daemon.context.pools.settle(tank["id"])

    before = time.time()
    status, answer = await api.call("POST", f"/api/v1/pools/{tank['id']}/scrub", {})
    assert status == 202, answer
    job = await wait_for(lambda: (lambda j: j if j["ended"] else None)(
        daemon.tree.get(("jobs", answer["job"]["id"]))), timeout=60, interval=0.1)
    assert job["state"] == "succeeded", job
    await daemon.context.pools.settle(tank["id"])

    text = await scrape()
    assert values(text, "rockd_share_quota_bytes", "share") == {"capped": 16 << 20}
    shares = daemon.tree.get("/shares")
    for kind in ("referenced", "exclusive"):
        assert values(text, f"rockd_share_{kind}_bytes", "pool", "pool_name", "share") == {
            share_key(s, tank): s["usage"][kind] for s in shares.values()}
    assert values(text, "rockd_share_referenced_bytes", "share")["capped"] >= 4 << 20
    assert free["quota"] is None

    key = (tank["id"], "tank")
    ended = values(text, "rockd_pool_scrub_last_end_timestamp_seconds", "pool", "name")
    assert ended == {key: parse_iso(job["ended"]).timestamp()}
    assert int(before) <= ended[key] <= time.time()
    assert values(text, "rockd_pool_scrub_last_success", "pool", "name") == {key: 1.0}
    assert values(text, "rockd_pool_scrub_last_errors", "pool", "name") == {key: 0}
    assert values(text, "rockd_jobs", "kind", "state")[("scrub", "succeeded")] == 1

    usage = daemon.tree.get(("pools", tank["id"], "usage"))
    for metric, field in (("stored", "stored"), ("capacity", "capacity"),
                          ("free", "free_estimate")):
        assert values(text, f"rockd_pool_{metric}_bytes", "pool", "name") == {key: usage[field]}
    assert values(text, "rockd_pool_missing_devices", "pool", "name") == {
        key: daemon.tree.get(("pools", tank["id"], "missing_devices"))}

    services = daemon.tree.get("/services")
    assert services
    for metric, truth in (("active", lambda s: s["active"] == "active"),
                          ("enabled", lambda s: s["enabled"]),
                          ("available", lambda s: s["available"])):
        assert values(text, f"rockd_service_{metric}", "service") == {
            name: float(truth(s)) for name, s in services.items()}

    active = Counter(a["severity"] for a in (daemon.tree.get("/alerts") or {}).values()
                     if a["cleared"] is None)
    assert values(text, "rockd_alerts_active", "severity") == {
        s: active[s] for s in ("info", "warning", "critical")}


async def test_smart_health_and_attributes_as_the_tree_has_them(rockd, tmp_path, monkeypatch):
    """smartctl stood in for by one answering a real drive's report (tests/data/smartctl), as
    in test_disk_actions: every disk that is not a loop device carries it."""
    report = Path(__file__).resolve().parents[1] / "data" / "smartctl" / \
        "WDC_WD20EFRX-68EUZN0_18.json"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "smartctl").write_text(f"#!/bin/sh\nexec cat '{report}'\n")
    (bin_dir / "smartctl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    box = await rockd(devices=1)
    text = await (await scraper(box))()
    disks = {d["id"]: d for d in box.daemon.tree.get("/disks").values() if d["smart"]}
    if not disks:
        pytest.skip("this machine has no disk besides loop devices")
    healthy = values(text, "rockd_disk_smart_healthy", "disk")
    assert healthy == {i: float(d["smart"]["health"] == "passed") for i, d in disks.items()}
    assert set(healthy.values()) == {1.0}
    for name, field, factor in (("temperature_celsius", "temperature", 1),
                                ("power_on_seconds", "power_on_hours", 3600),
                                ("reallocated_sectors", "reallocated_sectors", 1),
                                ("pending_sectors", "pending_sectors", 1)):
        assert values(text, f"rockd_disk_{name}", "disk") == {
            i: d["smart"][field] * factor for i, d in disks.items()}, name
    assert box.disks[0] not in healthy  # a loop device has no SMART


async def test_replication_last_success_and_peers_as_the_tree_has_them(rockd):
    a, b = await boxes(rockd, "a", "b")
    await pair(a, b)
    share = await share_with_files(a, count=2, size=1 << 20)
    _, task = await a.api.call("POST", "/api/v1/replication/tasks", {
        "share": share["id"], "targets": [{"peer": "b", "pool": "tank"}]})
    job = await run(a, task["id"])
    assert job["state"] == "succeeded", job
    scrape = await scraper(a)
    last = a.daemon.tree.get(("replication", "tasks", task["id"], "targets", "b/tank", "last"))
    key = (task["id"], "home", "b/tank", "b", "tank")
    labels = ("task", "share", "target", "peer", "pool")
    text = await scrape()
    at = parse_iso(last["at"]).timestamp()
    assert values(text, "rockd_replication_last_success_timestamp_seconds", *labels) == {
        key: at}
    assert values(text, "rockd_replication_last_run_timestamp_seconds", *labels) == {key: at}
    assert values(text, "rockd_replication_last_run_success", *labels) == {key: 1.0}
    assert values(text, "rockd_replication_peer_up", "peer") == {"b": 1.0}
