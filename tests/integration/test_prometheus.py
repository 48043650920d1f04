"""A real Prometheus (Debian's /usr/bin/prometheus) watching two rockd boxes, as a fleet is
watched: it scrapes both with each box's read token, sees each box's pool by name, and the
shipped rules fire where their condition holds (a third box that does not answer is down).
The shipped rules and the Grafana dashboard read only metrics a real rockd exports."""

from __future__ import annotations

import json

from tests.support.client import free_port
from tests.support.prometheus import (
    DASHBOARD,
    NOT_ROCKD,
    RULES,
    Prometheus,
    exported_names,
    instant,
    names_in,
    rule_exprs,
    scraper,
)
from tests.support.rig import wait_for


def scrape_job(name: str, target: str, token_file: str) -> dict:
    return {"job_name": name, "scrape_interval": "1s", "scrape_timeout": "1s",
            "authorization": {"type": "Bearer", "credentials_file": token_file},
            "static_configs": [{"targets": [target]}]}


async def test_prometheus_sees_both_boxes_pools_and_fires_a_rule(rockd, tmp_path):
    north = await rockd(name="north", devices=1, pool={"name": "north-tank", "data": "single"})
    south = await rockd(name="south", devices=1, pool={"name": "south-tank", "data": "single"})
    folder = tmp_path / "prometheus"
    folder.mkdir()
    jobs = []
    for box in (north, south):
        token = folder / f"{box.name}.token"
        token.write_text(await box.api.make_token(["read"], "prometheus"))
        jobs.append(scrape_job(f"rockd-{box.name}", box.settings.listen, str(token)))
    gone = f"127.0.0.1:{free_port()}"  # a box that does not answer
    jobs.append(scrape_job("rockd-gone", gone, str(folder / "north.token")))
    instant(RULES, folder / "rules.yml")
    config = folder / "prometheus.yml"
    config.write_text(json.dumps({  # JSON is YAML
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["rules.yml"], "scrape_configs": jobs}))

    server = Prometheus(config, folder)
    try:
        await server.start()

        async def pools_of_both():
            found = await server.query("rockd_pool_mounted == 1")
            return {(s["metric"]["instance"], s["metric"]["name"]) for s in found} == {
                (north.settings.listen, "north-tank"), (south.settings.listen, "south-tank")}
        await wait_for(pools_of_both, timeout=30, interval=0.5)

        async def up():
            found = await server.query('up{job=~"rockd.*"}')
            return {s["metric"]["job"]: s["value"][1] for s in found} == {
                "rockd-north": "1", "rockd-south": "1", "rockd-gone": "0"}
        await wait_for(up, timeout=10, interval=0.5)
        size = await server.query("rockd_pool_size_bytes")
        assert {s["metric"]["name"]: int(s["value"][1]) for s in size} == {
            "north-tank": north.pool["usage"]["size"], "south-tank": south.pool["usage"]["size"]}

        # the box that does not answer is down; the two pools have never been scrubbed
        expected = {("RockdDown", gone), ("RockdScrubNeverRun", north.settings.listen),
                    ("RockdScrubNeverRun", south.settings.listen)}

        async def firing():
            alerts = (await server.api("alerts"))["alerts"]
            found = {(a["labels"]["alertname"], a["labels"].get("instance")) for a in alerts
                     if a["state"] == "firing"}
            return found if expected <= found else None
        fired = await wait_for(firing, timeout=30, interval=0.5)
        assert not any(name == "RockdDown" and instance != gone for name, instance in fired)
        rules = (await server.api("rules"))["groups"]
        assert all(r["health"] == "ok" for g in rules for r in g["rules"]), rules
    finally:
        server.stop()


async def test_rules_and_dashboard_read_only_metrics_rockd_exports(rockd):
    box = await rockd(devices=1, pool="single")
    exported = exported_names(await (await scraper(box))()) | NOT_ROCKD
    for alert, expr in rule_exprs().items():
        assert names_in(expr) and names_in(expr) <= exported, (alert, names_in(expr) - exported)
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"].removeprefix("label_values(").split(",")[0]
              for v in dashboard["templating"]["list"] if v["type"] == "query"]
    for expr in exprs:
        assert names_in(expr) and names_in(expr) <= exported, (expr, names_in(expr) - exported)
