"""The Grafana dashboard shipped in the package plots only metrics the gateway exports."""

from __future__ import annotations

import json
import re
from importlib import resources

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.ops.conftest import OpsStand

METRIC = re.compile(r"\b(gateway_[a-z0-9_]+)\b")


def _dashboard() -> dict:
    text = (resources.files("gateway.ops") / "grafana" / "hcs-gateway.json").read_text("utf-8")
    return json.loads(text)


def _targets(dashboard: dict) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_dashboard_is_an_importable_grafana_model() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 30
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}" and panel["targets"], panel["title"]
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])


def test_every_metric_the_dashboard_plots_is_served_by_a_real_gateway(
    ops_stand: OpsStand,
) -> None:
    body = requests.get(ops_stand.url + "/metrics", timeout=10).text
    served = {
        sample.name for family in text_string_to_metric_families(body) for sample in family.samples
    }
    plotted = {name for expr in _targets(_dashboard()) for name in METRIC.findall(expr)}
    assert len(plotted) >= 10
    missing = plotted - served
    assert not missing, f"plotted but not served: {sorted(missing)}"
    # and each family the gateway serves is on the dashboard
    families = {re.sub(r"_(total|bucket|count|sum|created)$", "", n) for n in served}
    shown = {re.sub(r"_(total|bucket|count|sum|created)$", "", n) for n in plotted}
    gateway_families = {f for f in families if f.startswith("gateway_")}
    assert gateway_families <= shown, sorted(gateway_families - shown)
