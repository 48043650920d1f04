"""monitoring/: the alerting rules pass `promtool check rules` and their unit tests (`promtool
test rules`), the example configuration passes `promtool check config` once its token files
exist, and the Grafana dashboard is a dashboard with a box variable. (That the rules and the
dashboard read only metrics rockd exports is checked against a real scrape in
tests/integration/test_prometheus.py.)"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.support.prometheus import DASHBOARD, MONITORING, RULES, names_in, rule_exprs

PROMETHEUS = MONITORING / "prometheus"


def promtool(*args: str, cwd: Path = PROMETHEUS) -> str:
    done = subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_rules_pass_promtool_and_their_unit_tests():
    assert "SUCCESS: 16 rules found" in promtool("check", "rules", str(RULES))
    assert "SUCCESS" in promtool("test", "rules", "rockd-rules.test.yml")


def test_every_rule_has_a_severity_and_words_for_the_owner():
    groups = yaml.safe_load(RULES.read_text())["groups"]
    for rule in (r for g in groups for r in g["rules"]):
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    assert {"RockdDown", "RockdPoolAlmostFull", "RockdPoolFull", "RockdDeviceErrorsRising",
            "RockdScrubFoundErrors", "RockdScrubOverdue", "RockdSmartFailing",
            "RockdReplicationStale", "RockdServiceDown"} <= set(rule_exprs())


def test_the_example_configuration_passes_promtool_with_its_token_files(tmp_path):
    example = (PROMETHEUS / "prometheus.example.yml").read_text()
    tokens = [line.split(":", 1)[1].strip() for line in example.splitlines()
              if "credentials_file:" in line]
    assert len(tokens) == 2
    for token in tokens:
        mine = tmp_path / Path(token).name
        mine.write_text("a-read-token\n")
        example = example.replace(token, str(mine))
    (tmp_path / "prometheus.yml").write_text(example)
    shutil.copy(RULES, tmp_path / RULES.name)
    out = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert "SUCCESS: 1 rule files found" in out and "SUCCESS: 16 rules found" in out


def test_the_dashboard_has_a_box_variable_and_a_query_in_every_panel():
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["instance"]["multi"] and variables["instance"]["includeAll"]
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert 'instance=~"$instance"' in target["expr"] and names_in(target["expr"])
    titles = " ".join(p["title"] for p in panels).lower()
    for topic in ("pool", "share", "jobs", "replication", "alerts", "latency"):
        assert topic in titles


def test_names_in_reads_metric_names_only():
    assert names_in('histogram_quantile(0.99, sum by (le, route) (rate(x_bucket{a="b"}[5m])))'
                    ) == {"x_bucket"}
    assert names_in("a / b > 0.8 and on(instance) c unless d == 1") == {"a", "b", "c", "d"}
    assert names_in("time() - max_over_time(t_seconds[7d]) > 35 * 86400") == {"t_seconds"}
