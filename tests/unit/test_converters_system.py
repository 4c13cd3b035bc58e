"""SystemService conversions (api/converters/system.py): the health report."""

from __future__ import annotations

import insights
from insights.api.converters.system import health
from insights.infra.health import DependencyState, HealthReport


def test_health_reports_each_dependency_and_the_version() -> None:
    """Each dependency's state, detail and latency (rounded to 0.01 ms), and the server's version."""
    report = HealthReport(status="degraded", dependencies={
        "postgres": DependencyState("up", "", 1.23456), "redis": DependencyState("down", "connection refused", 0.0),
    })
    message = health(report)
    assert (message.status, message.version) == ("degraded", insights.__version__)
    assert {n: (d.status, d.detail, d.latency_ms) for n, d in message.dependencies.items()} == {
        "postgres": ("up", "", 1.23), "redis": ("down", "connection refused", 0.0)}
