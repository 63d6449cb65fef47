"""``/metrics``: the last probe in the Prometheus exposition format, through the official
``prometheus-client`` (a custom collector over the monitor's snapshot, so a scrape never
waits for a probe and a series disappears with its ledger port)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from portledger.serve.monitor import Monitor

PORT_LABELS = ["service", "port_name", "port", "protocol", "host"]


def registry(monitor: Monitor, rules: Any) -> Any:
    """A registry holding only portledger's collector (no process metrics of the client:
    they describe the Python process, not the ports)."""
    from prometheus_client import CollectorRegistry

    reg = CollectorRegistry(auto_describe=False)
    reg.register(_Collector(monitor, rules))
    return reg


def exposition(reg: Any) -> tuple[bytes, str]:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return generate_latest(reg), CONTENT_TYPE_LATEST


class _Collector:
    def __init__(self, monitor: Monitor, rules: Any) -> None:
        self.monitor = monitor
        self.rules = list(rules)

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        m = self.monitor
        snap = m.snapshot
        host = m.host
        runs = CounterMetricFamily("portledger_probe_runs", "Probes run by this server, by "
                                   "result (error: the ledger could not be read)",
                                   labels=["result", "host"])
        for result, n in sorted(m.runs.items()):
            runs.add_metric([result, host], n)
        yield runs
        last = GaugeMetricFamily("portledger_probe_last_success_timestamp_seconds",
                                 "When the last probe that ran ended (Unix time)",
                                 labels=["host"])
        if m.last_success is not None:
            last.add_metric([host], m.last_success)
        yield last
        if snap is None:
            return
        yield _one("portledger_probe_duration_seconds", "How long the last probe took",
                   host, snap.duration)
        yield _one("portledger_probe_success", "1 when the last probe ran (the ledger read), "
                   "0 when it failed", host, 1.0 if snap.ok else 0.0)
        info = GaugeMetricFamily("portledger_ledger_info", "The ledger the last probe read; "
                                 "revision: the first 12 hex digits of its SHA-256",
                                 labels=["path", "revision", "host"])
        info.add_metric([snap.ledger_path, snap.revision, host], 1.0)
        yield info
        engine = GaugeMetricFamily("portledger_containers_checked", "1 when a Docker engine "
                                   "answered the last probe", labels=["host"])
        engine.add_metric([host], 1.0 if snap.containers_checked else 0.0)
        yield engine
        counts = GaugeMetricFamily("portledger_findings", "Findings of the last probe, per "
                                   "rule", labels=["code", "rule", "severity", "host"])
        by_rule: dict[tuple[str, str], int] = {}
        for f in snap.findings:
            by_rule[(f.code, f.rule)] = by_rule.get((f.code, f.rule), 0) + 1
        for r in self.rules:
            counts.add_metric([r.code, r.name, r.severity.value, host],
                              by_rule.get((r.code, r.name), 0))
        yield counts
        up = GaugeMetricFamily("portledger_port_up", "1 when something holds the ledger port "
                               "on this host (its service or another)", labels=PORT_LABELS)
        owner = GaugeMetricFamily("portledger_port_owner_ok", "0 when the ledger port is held "
                                  "by anything but its service, else 1", labels=PORT_LABELS)
        health = GaugeMetricFamily("portledger_health_up", "1 when the port's health path "
                                   "answered as healthy, 0 when it did not (asked only for "
                                   "running services)", labels=PORT_LABELS)
        latency = GaugeMetricFamily("portledger_health_latency_seconds", "How long the "
                                    "health request took", labels=PORT_LABELS)
        for p in snap.ports:
            labels = [p.service, p.name, p.port, p.protocol, host]
            up.add_metric(labels, 1.0 if p.up else 0.0)
            owner.add_metric(labels, 1.0 if p.owner_ok else 0.0)
            if p.health_ok is not None:
                health.add_metric(labels, 1.0 if p.health_ok else 0.0)
            if p.health_seconds is not None:
                latency.add_metric(labels, p.health_seconds)
        yield from (up, owner, health, latency)


def _one(name: str, doc: str, host: str, value: float) -> Any:
    from prometheus_client.core import GaugeMetricFamily

    g = GaugeMetricFamily(name, doc, labels=["host"])
    g.add_metric([host], value)
    return g
