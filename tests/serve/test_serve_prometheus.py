"""``portledger serve`` scraped by a real Prometheus (Debian's ``prometheus``, on a loopback
port with a temporary config), against the private Docker engine of the probe tests; the
alert rules checked by ``promtool``; the file_sd export read by a second job."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from probe_engine import BusyBox, free_port

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "examples" / "prometheus" / "alerts.yml"


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        message = (f"{name} is not installed (Debian's prometheus package; .ci/run installs "
                   "it)")
        import os

        if os.environ.get("PORTLEDGER_REQUIRE_ENGINE") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


def test_the_alert_rules_pass_promtool() -> None:
    done = subprocess.run([_tool("promtool"), "check", "rules", str(ALERTS)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 4 rules found" in done.stdout


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Start Prometheus with a config (YAML text); returns its base URL."""
    started: list[subprocess.Popen[bytes]] = []

    def start(config: str) -> str:
        binary = _tool("prometheus")
        port = free_port()
        (tmp_path / "prometheus.yml").write_text(config, encoding="utf-8")
        log = (tmp_path / "prometheus.log").open("wb")
        proc = subprocess.Popen([binary, f"--config.file={tmp_path / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                 f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=log, stderr=subprocess.STDOUT)
        started.append(proc)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()
            try:
                with urllib.request.urlopen(base + "/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return base
            except OSError:
                time.sleep(0.2)
        raise AssertionError("prometheus was not ready within 60 s")

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(timeout=30)


def query(base: str, promql: str) -> list[dict[str, Any]]:
    doc = get(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': promql})}")
    assert doc["status"] == "success", doc
    return list(doc["data"]["result"])


def wait_for(what: str, check: Callable[[], Any], seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {seconds:g} s")


def test_prometheus_scrapes_a_conflict_and_reads_the_file_sd_export(
        containers: BusyBox, write_ledger: Callable[[str], Path], tmp_path: Path,
        serve: Any, prometheus: Callable[[str], str]) -> None:
    web, api = free_port(), free_port()
    ledger = write_ledger(f"""
        web:
          category: application
          ports: {{http: {{port: {web}, health: /health}}}}
        api:
          category: application
          ports: {{http: {{port: {api}}}}}
    """)
    containers.run("intruder", {8080: ("127.0.0.1", web)})
    served = serve("--mapping", str(ledger), "--interval", "5", "--deadline", "5",
                   "--host-label", "test-host")
    sd = tmp_path / "ledger-targets.json"
    done = subprocess.run([sys.executable, "-m", "portledger", "export", "--mapping",
                           str(ledger), "--format", "prometheus-file-sd"],
                          capture_output=True, text=True, timeout=60, check=True)
    sd.write_text(done.stdout, encoding="utf-8")
    base = prometheus(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: ["{ALERTS}"]
scrape_configs:
  - job_name: portledger
    static_configs: [{{targets: ["127.0.0.1:{served.port}"]}}]
  - job_name: ledger-targets
    file_sd_configs: [{{files: ["{sd}"], refresh_interval: 1s}}]
""")
    result = wait_for("portledger_port_owner_ok of web", lambda: query(
        base, 'portledger_port_owner_ok{job="portledger"} == 0'))
    assert [(r["metric"]["service"], r["metric"]["port_name"], r["metric"]["port"],
             r["metric"]["protocol"], r["metric"]["host"], r["value"][1]) for r in result] == [
        ("web", "http", str(web), "tcp", "test-host", "0")]
    up = query(base, 'portledger_port_up{job="portledger"}')
    assert sorted((r["metric"]["service"], r["value"][1]) for r in up) == [
        ("api", "0"), ("web", "1")]
    counts = query(base, 'portledger_findings{code="PL402"}')
    assert [r["value"][1] for r in counts] == ["1"]
    assert query(base, "portledger_probe_success")[0]["value"][1] == "1"
    rules = get(f"{base}/api/v1/rules")["data"]["groups"][0]["rules"]
    assert [r["name"] for r in rules] == ["PortHeldByWrongProcess", "HealthCheckFailing",
                                          "PortledgerProbeNotSucceeding", "PortledgerDown"]

    def sd_targets() -> list[dict[str, Any]]:
        active = get(f"{base}/api/v1/targets")["data"]["activeTargets"]
        return [t for t in active if t["labels"]["job"] == "ledger-targets"]

    targets = wait_for("the file_sd targets", lambda: len(sd_targets()) == 2 and sd_targets())
    assert sorted((t["labels"]["instance"], t["labels"]["service"],
                   t["discoveredLabels"]["__metrics_path__"]) for t in targets) == sorted([
        (f"127.0.0.1:{web}", "web", "/health"), (f"127.0.0.1:{api}", "api", "/metrics")])


def test_metrics_of_a_healthy_and_a_failing_service(
        containers: BusyBox, write_ledger: Callable[[str], Path], serve: Any) -> None:
    from probe_engine import HEALTHY
    from prometheus_client.parser import text_string_to_metric_families

    good, bad = free_port(), free_port()
    ledger = write_ledger(f"""
        good:
          category: application
          ports: {{http: {{port: {good}, health: {HEALTHY}}}}}
        bad:
          category: application
          ports: {{http: {{port: {bad}, health: /missing}}}}
    """)
    containers.run("good", {8080: ("127.0.0.1", good)})
    containers.run("bad", {8080: ("127.0.0.1", bad)})
    served = serve("--mapping", str(ledger), "--interval", "30", "--deadline", "10",
                   "--host-label", "h1")
    with urllib.request.urlopen(served.url + "/metrics", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=")
        text = r.read().decode()
    samples = {(s.name, s.labels.get("service")): (s.labels, s.value)
               for family in text_string_to_metric_families(text) for s in family.samples}
    labels, value = samples[("portledger_health_up", "good")]
    assert (labels, value) == ({"service": "good", "port_name": "http", "port": str(good),
                                "protocol": "tcp", "host": "h1"}, 1.0)
    assert samples[("portledger_health_up", "bad")][1] == 0.0
    assert 0 < samples[("portledger_health_latency_seconds", "good")][1] < 10
    assert samples[("portledger_port_owner_ok", "good")][1] == 1.0
    findings = {s.labels["code"]: s.value for family in text_string_to_metric_families(text)
                for s in family.samples if s.name == "portledger_findings"}
    # PL405 counts whatever else listens in the range on this machine (other tests).
    assert findings.pop("PL405") >= 0
    assert findings == {"PL401": 0, "PL402": 0, "PL403": 0, "PL404": 1, "PL406": 0}
    assert samples[("portledger_probe_runs_total", None)][1] == 1.0
