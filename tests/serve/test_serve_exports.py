"""The service discovery exports and the shipped Grafana dashboard: exact output of
``export --format compose-env|prometheus-file-sd|consul``; the dashboard's JSON carries the
fields Grafana needs, and every query names a metric ``serve`` exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from portledger import cli

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "examples" / "grafana" / "portledger.json"


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "port-mapping.yml"
    path.write_text("version: 1\n"
                    "ranges:\n"
                    "  application: {start: 8000, end: 8999}\n"
                    "services:\n"
                    "  digi-core:\n"
                    "    category: application\n"
                    "    owner: core-team\n"
                    "    ports:\n"
                    "      http: {port: 8000, health: /health, health_scheme: https,\n"
                    "             health_host: core.local}\n"
                    "      rtp: {port: '8100-8103', protocol: udp}\n"
                    "  pcs-api:\n"
                    "    category: application\n"
                    "    ports:\n"
                    "      http: {port: 8002, host_ip: 127.0.0.1}\n", encoding="utf-8")
    return path


def export(capsys: pytest.CaptureFixture[str], ledger: Path, *args: str) -> str:
    assert cli.main(["export", "--mapping", str(ledger), *args]) == 0
    return capsys.readouterr().out


def test_compose_env(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert export(capsys, ledger, "--format", "compose-env") == (
        f"# Ports from {ledger}, written by portledger export --format compose-env.\n"
        "# Compose reads this file as .env (or: docker compose --env-file FILE).\n"
        "DIGI_CORE_HTTP_PORT=8000\nDIGI_CORE_RTP_PORT=8100-8103\n"
        "PCS_API_HTTP_PORT=8002\nPCS_API_HTTP_HOST=127.0.0.1\n")


def test_prometheus_file_sd(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads(export(capsys, ledger, "--format", "prometheus-file-sd", "--address",
                            "node-1.example"))
    assert doc == [
        {"targets": ["node-1.example:8000"],
         "labels": {"service": "digi-core", "port_name": "http", "category": "application",
                    "status": "active", "ledger_port": "8000", "host": "node-1.example",
                    "owner": "core-team", "__metrics_path__": "/health",
                    "__scheme__": "https"}},
        {"targets": ["node-1.example:8002"],
         "labels": {"service": "pcs-api", "port_name": "http", "category": "application",
                    "status": "active", "ledger_port": "8002", "host": "node-1.example"}}]


def test_consul(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads(export(capsys, ledger, "--format", "consul"))
    assert doc == {"services": [
        {"id": "digi-core-http", "name": "digi-core", "port": 8000,
         "tags": ["http", "application", "tcp"],
         "meta": {"port_name": "http", "category": "application", "status": "active",
                  "source": "portledger"},
         "checks": [{"id": "digi-core-http-health", "name": "digi-core.http health",
                     "http": "https://127.0.0.1:8000/health", "method": "GET",
                     "interval": "10s", "timeout": "2s", "tls_skip_verify": True,
                     "header": {"Host": ["core.local"]}}]},
        {"id": "pcs-api-http", "name": "pcs-api", "port": 8002,
         "tags": ["http", "application", "tcp"], "address": "127.0.0.1",
         "meta": {"port_name": "http", "category": "application", "status": "active",
                  "source": "portledger"}}]}


def test_the_grafana_dashboard_has_what_grafana_needs() -> None:
    from portledger.serve.metrics import _Collector

    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert {"uid", "title", "panels", "schemaVersion", "templating", "time"} <= set(dash)
    assert isinstance(dash["schemaVersion"], int) and dash["uid"] == "portledger"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    source = Path(_Collector.__module__.replace(".", "/") + ".py")
    exposed = set(re.findall(r'"(portledger_[a-z_]+)"', (ROOT / source).read_text()))
    exposed |= {f"{name}_total" for name in exposed}
    for p in dash["panels"]:
        assert {"type", "title", "gridPos", "targets", "datasource"} <= set(p), p["title"]
        assert {"x", "y", "w", "h"} <= set(p["gridPos"])
        for t in p["targets"]:
            assert t["refId"] and t["expr"]
            used = set(re.findall(r"portledger_[a-z_]+", t["expr"]))
            assert used and used <= exposed, (p["title"], used - exposed)


def test_check_and_export_never_load_the_server() -> None:
    import subprocess
    import sys

    code = ("import sys\n"
            "from portledger import cli\n"
            f"cli.main(['export', '--mapping', {str(ROOT / 'port-mapping.yml')!r}])\n"
            f"cli.main(['check', '--mapping', {str(ROOT / 'port-mapping.yml')!r}])\n"
            "heavy = [m for m in ('waitress', 'prometheus_client', 'docker', 'psutil')\n"
            "         if m in sys.modules]\n"
            "print(','.join(heavy), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1:] in ([], [""]), done.stderr
