"""Prometheus for the tests: a scrape of a rockd's /metrics, the metric names a PromQL
expression reads, monitoring/'s rules and dashboard, and a real Prometheus server (Debian's
/usr/bin/prometheus) of the test's own, with its own config, port and data folder."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.support.client import free_port
from tests.support.rig import Rockd, wait_for

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"
RULES = MONITORING / "prometheus" / "rockd-rules.yml"
DASHBOARD = MONITORING / "grafana" / "rockd.json"
NOT_ROCKD = {"up"}
"""Metrics the rules and dashboard may read that Prometheus itself makes."""

_NOT_NAMES = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
              "group_left", "group_right", "inf", "nan"}
_SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count",
                                                              "_created")}


async def scraper(box: Rockd) -> Callable[[], Awaitable[str]]:
    """A scrape of the box's GET /metrics (its text), as Prometheus does it: with a token of
    the read scope."""
    client = box.client(token=await box.api.make_token(["read"], "prometheus"))

    async def scrape() -> str:
        async with client.session.get(box.url + "/metrics",
                                      headers=client.headers("GET")) as response:
            assert response.status == 200, await response.text()
            return await response.text()
    return scrape


def samples(text: str, name: str) -> list[Sample]:
    """The samples of one family (a counter by its name without _total)."""
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return families[name].samples


def values(text: str, name: str, *labels: str) -> dict[Any, float]:
    """One family's samples as {label value (or a tuple of them): value}."""
    found: dict[Any, float] = {}
    for sample in samples(text, name):
        key = tuple(sample.labels[label] for label in labels)
        found[key[0] if len(key) == 1 else key] = sample.value
    return found


def exported_names(text: str) -> set[str]:
    """Every series name a scrape offers, families without samples included."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names


def names_in(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (not functions, labels or keywords)."""
    text = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'', "", expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    found = re.finditer(r"(?<![\w.$])([a-zA-Z_:][\w:]*)\b(?!\s*\()", text)
    return {m.group(1) for m in found} - _NOT_NAMES


def rule_exprs() -> dict[str, str]:
    """rockd-rules.yml's expressions, by alert name."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}


def instant(rules: Path, target: Path) -> None:
    """rockd-rules.yml as it would be with every `for` of 0 s (an alert fires the moment its
    condition holds), written to `target`."""
    document = yaml.safe_load(rules.read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            rule.pop("for", None)
    target.write_text(yaml.safe_dump(document))


class Prometheus:
    """`prometheus` on a free port of 127.0.0.1 with `config`, its data under `folder`."""

    def __init__(self, config: Path, folder: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "prometheus.log"
        self.argv = ["prometheus", f"--config.file={config}",
                     f"--storage.tsdb.path={folder / 'data'}",
                     f"--web.listen-address=127.0.0.1:{self.port}"]
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> Prometheus:
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)
        await wait_for(self.ready, timeout=30, interval=0.2)
        return self

    async def ready(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
        try:
            async with aiohttp.ClientSession() as session, \
                    session.get(self.url + "/-/ready") as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    async def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/{path}: its `data`."""
        async with aiohttp.ClientSession() as session, \
                session.get(f"{self.url}/api/v1/{path}", params=params) as response:
            body = await response.json()
            assert body["status"] == "success", body
            return body["data"]

    async def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's series: [{"metric": labels, "value": [time, "value"]}]."""
        return (await self.api("query", query=expr))["result"]  # type: ignore[no-any-return]

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
