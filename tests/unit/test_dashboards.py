"""Grafana dashboard and Prometheus rules: valid PromQL over metrics that exist (deploy/grafana, deploy/prometheus)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from services.common.contracts import StageName
from services.common.metrics import create_metrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "deploy" / "grafana").glob("*.json"))
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "alerts.test.yml"

#: Metrics that other exporters provide, by source. Anything else must come from the services' registry.
EXTERNAL_METRICS = {
    "kafka_consumergroup_lag": "kafka-exporter",
    "kafka_consumergroup_current_offset": "kafka-exporter",
    "container_cpu_usage_seconds_total": "cAdvisor (kubelet)",
    "container_memory_working_set_bytes": "cAdvisor (kubelet)",
    "container_cpu_cfs_periods_total": "cAdvisor (kubelet)",
    "container_cpu_cfs_throttled_periods_total": "cAdvisor (kubelet)",
    "kube_horizontalpodautoscaler_status_current_replicas": "kube-state-metrics",
    "kube_horizontalpodautoscaler_spec_max_replicas": "kube-state-metrics",
    "kube_horizontalpodautoscaler_spec_min_replicas": "kube-state-metrics",
    "kube_pod_status_unschedulable": "kube-state-metrics",
    "kube_pod_container_resource_requests": "kube-state-metrics",
    "kube_pod_container_status_last_terminated_reason": "kube-state-metrics",
    "kube_pod_container_status_restarts_total": "kube-state-metrics",
    "DCGM_FI_DEV_GPU_UTIL": "NVIDIA DCGM exporter",
    "DCGM_FI_DEV_FB_USED": "NVIDIA DCGM exporter",
    "up": "Prometheus (per scrape target)",
}
#: Grafana variables, replaced by values Prometheus accepts, so the expressions can be parsed and run.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$namespace": ".*", "$stage": "|".join(s.value for s in StageName)}

_PROMQL_WORDS = {
    "sum", "avg", "min", "max", "count", "rate", "irate", "increase", "deriv", "histogram_quantile", "by",
    "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset",
    "label_values", "absent", "topk", "bottomk", "clamp_min", "clamp_max", "le", "inf", "nan",
}  # fmt: skip


def sightline_metric_names() -> set[str]:
    """Every series name the services expose, read from a registry where each metric has been used once."""
    metrics = create_metrics()
    for metric in vars(metrics).values():
        if isinstance(metric, Counter | Gauge | Histogram):
            labels = {name: "x" for name in metric._labelnames}
            child = metric.labels(**labels) if labels else metric
            if isinstance(child, Histogram):
                child.observe(1.0)
            elif isinstance(child, Counter):
                child.inc()
            else:
                child.set(1)
    exposition = generate_latest(metrics.registry).decode()
    return {sample.name for family in text_string_to_metric_families(exposition) for sample in family.samples}


def substitute(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def metric_names(expr: str) -> set[str]:
    """Names of the series an expression selects (identifiers outside label matchers, groupings and ranges)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\w+", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?", text):
        if match[2] is None and match[1].lower() not in _PROMQL_WORDS:
            names.add(match[1])
    return names


def dashboard_expressions(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target and every query variable."""
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r}", target["expr"]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict) and (match := re.fullmatch(r"label_values\((\w+),\s*\w+\)", query["query"])):
            yield f"variable {variable['name']!r}", match[1]


def rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def rule_expressions() -> Iterator[tuple[str, str]]:
    for rule in rules():
        yield f"rule {rule.get('alert') or rule.get('record')}", rule["expr"]


def recorded_names() -> set[str]:
    """Series the recording rules make, which alerts and panels may select like any other."""
    return {rule["record"] for rule in rules() if "record" in rule}


def all_expressions() -> list[tuple[str, str]]:
    found = list(rule_expressions())
    for path in DASHBOARDS:
        found += [(f"{path.name} {where}", expr) for where, expr in dashboard_expressions(json.loads(path.read_text()))]
    return found


def test_metric_names_are_found_in_promql() -> None:
    expr = 'histogram_quantile(0.95, sum by (stage, le) (rate(foo_bucket{stage=~"a|b", x="by (y)"}[5m]))) / on(z) up'
    assert metric_names(expr) == {"foo_bucket", "up"}


def test_rules_load_in_promtool() -> None:
    done = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules())} rules found" in done.stdout


def test_alerts_fire_on_the_situations_they_describe() -> None:
    done = subprocess.run(["promtool", "test", "rules", str(RULE_TESTS)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_test_where_it_fires_and_one_where_it_stays_quiet() -> None:
    """Quiet: at an earlier time, or for other series (another stage, group or namespace) in the same test."""
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    fires: set[str] = set()
    quiet: set[str] = set()
    for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for case in test.get("alert_rule_test", []):
            (fires if case["exp_alerts"] else quiet).add(case["alertname"])
            series = {s["series"] for s in test["input_series"]}
            if case["exp_alerts"] and len(series) > len(case["exp_alerts"]):
                quiet.add(case["alertname"])
    assert alerts - fires == set(), "alerts without a test where they fire"
    assert alerts - quiet == set(), "alerts without a test where they stay quiet"
    checked = {
        metric_name
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test.get("promql_expr_test", [])
        for metric_name in metric_names(case["expr"])
    }
    assert recorded_names() - checked == set(), "recording rules without a test of their values"


@pytest.mark.parametrize(("where", "expr"), all_expressions())
def test_every_expression_uses_metrics_that_exist(where: str, expr: str) -> None:
    known = sightline_metric_names() | set(EXTERNAL_METRICS) | recorded_names()
    names = metric_names(substitute(expr))
    assert names, f"{where}: no metric found in {expr!r}"
    assert names <= known, f"{where}: unknown metrics {sorted(names - known)}"


def test_dashboard_expressions_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses each expression as a recording rule, with the Grafana variables filled in."""
    for path in DASHBOARDS:
        rules = [
            {"record": f"check:{index}", "expr": substitute(expr)}
            for index, (_, expr) in enumerate(dashboard_expressions(json.loads(path.read_text())))
        ]
        rule_file = tmp_path / f"{path.stem}.rules.yml"
        rule_file.write_text(yaml.safe_dump({"groups": [{"name": path.stem, "rules": rules}]}))
        done = subprocess.run(["promtool", "check", "rules", str(rule_file)], capture_output=True, text=True)
        assert done.returncode == 0, f"{path.name}: {done.stdout}{done.stderr}"


def test_the_dashboard_covers_every_service_metric_and_the_issue_topics() -> None:
    (path,) = [p for p in DASHBOARDS if p.name == "sightline.json"]
    dashboard = json.loads(path.read_text())
    used = set().union(*(metric_names(substitute(e)) for _, e in dashboard_expressions(dashboard)))
    families = {re.sub(r"_(total|bucket|sum|count|created)$", "", n) for n in sightline_metric_names()}
    assert {f for f in families if not any(u.startswith(f) for u in used)} == set()
    # Lag, CPU and GPU come from exporters beside the services.
    assert {"kafka_consumergroup_lag", "container_cpu_usage_seconds_total", "DCGM_FI_DEV_GPU_UTIL"} <= used
    by_title = {p["title"]: [t["expr"] for t in p.get("targets", [])] for p in dashboard["panels"]}
    # What a peak asks: time to drain per group, replicas against their maximum, throttling, end-to-end latency.
    (drain,) = by_title["Time to drain per group"]
    assert "kafka_consumergroup_lag" in drain and "kafka_consumergroup_current_offset" in drain
    assert any("kube_horizontalpodautoscaler_spec_max_replicas" in e for e in by_title["Replicas against the maximum"])
    assert "container_cpu_cfs_throttled_periods_total" in by_title["CPU throttling per pod"][0]
    assert all(
        "sightline_profile_latency_seconds" in e for e in by_title[next(t for t in by_title if "End-to-end" in t)]
    )
    # The lag panel shows the sink's side groups (status, dead letters, erasure, callback) beside the stages'.
    (lag,) = by_title["Consumer lag per group"]
    selector = re.search(r'consumergroup=~"([^"]+)"', lag)
    assert selector is not None
    pattern = selector[1].replace("${prefix}", "staging\\.").replace("$stage", GRAFANA_VARIABLES["$stage"])
    for group in ("sightline-sink-status", "sightline-sink-dead-letters", "sightline-vision"):
        assert re.fullmatch(pattern, "staging." + group), group
    assert not re.fullmatch(pattern, "staging.other-app")
    # Panels do not overlap.
    cells = [
        (x, y)
        for p in dashboard["panels"]
        for g in [p["gridPos"]]
        for x in range(g["x"], g["x"] + g["w"])
        for y in range(g["y"], g["y"] + g["h"])
    ]
    assert len(cells) == len(set(cells))
    (stage,) = [v for v in dashboard["templating"]["list"] if v["name"] == "stage"]
    assert stage["query"].split(",") == [s.value for s in StageName]
    assert all(p["datasource"]["uid"] == "${datasource}" for p in dashboard["panels"] if p["type"] != "row")
