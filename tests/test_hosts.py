"""Hosts (``hosts:`` in the ledger): port spaces that run together. Ports conflict only
between things that share a host; alternatives (``each``) never collide; one ledger
serves many machines. Real files, the real command line (``cli.main``), exact output."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from test_portdiff import make_repo

from portledger import cli
from portledger.ledger import hosts as hosts_mod


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("COMPOSE_PROFILES", "COMPOSE_FILE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text), encoding="utf-8")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


TWO_HOSTS = """\
version: 1
hosts:
  edge:
    projects: ["deploy/edge/**"]
    services: [digi-core, pcs-api]
  batch:
    projects: ["deploy/batch/**"]
    services: [reports]
ranges:
  application: {start: 8000, end: 8099}
services:
  digi-core:
    category: application
    ports: {http: {port: 8000, target: 80}}
  pcs-api:
    category: application
    ports: {http: {port: 8002, target: 80}}
  reports:
    category: application
    ports:
      http: {port: 8000, target: 80, hosts: [batch]}
"""


def two_hosts(root: Path, ledger: str = TWO_HOSTS) -> None:
    write(root, {
        "port-mapping.yml": ledger,
        "deploy/edge/compose.yaml": """\
            services:
              digi-core: {image: x, ports: ["8000:80"]}
              pcs-api: {image: x, ports: ["8002:80"]}
            """,
        "deploy/batch/compose.yaml": """\
            services:
              reports: {image: x, ports: ["8000:80"]}
            """,
    })


# -- the model ----------------------------------------------------------------------------


def test_globs_match_folders_and_names() -> None:
    assert hosts_mod.matches("deploy/edge/**", ("deploy/edge",))
    assert hosts_mod.matches("deploy/edge/**", ("deploy/edge/a/b",))
    assert not hosts_mod.matches("deploy/edge/**", ("deploy/edgy",))
    assert hosts_mod.matches("examples/*", ("examples/a",))
    assert not hosts_mod.matches("examples/*", ("examples/a/b",))
    assert hosts_mod.matches("**/compose.edge.yaml", ("x/y/compose.edge.yaml",))
    assert hosts_mod.matches("frappe", ("frappe", "."))


def test_placements_share_a_host_or_an_alternatives_family() -> None:
    share = hosts_mod.share
    assert share(None, frozenset({"edge"}))
    assert not share(frozenset({"edge"}), frozenset({"batch"}))
    assert share(frozenset({"edge", "batch"}), frozenset({"batch"}))
    assert not share(frozenset({"examples:a"}), frozenset({"examples:b"}))
    # what a host with `each` shares stands beside every one of its projects
    assert share(frozenset({"examples"}), frozenset({"examples:b"}))
    assert share(frozenset({"examples:b"}), frozenset({"examples"}))


# -- two hosts ----------------------------------------------------------------------------


def test_two_services_owning_one_port_on_two_hosts_is_clean(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    two_hosts(repo)
    assert run(capsys, "check") == (0, "", "")


def test_the_same_two_services_on_one_host_are_a_duplicate_allocation(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    two_hosts(repo, TWO_HOSTS.replace("services: [reports]", "services: [reports, digi-core]"))
    code, out, _ = run(capsys, "check", "--select", "PL104")
    assert code == 1
    assert out.splitlines()[0] == (
        "port-mapping.yml:21:20: PL104 duplicate-allocation reports.http 8000/tcp is already "
        "allocated to digi-core.http (8000/tcp, line 14) on batch")


def test_without_hosts_the_same_ledger_is_todays_duplicate_allocation(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger = TWO_HOSTS.replace(TWO_HOSTS[TWO_HOSTS.index("hosts:"):TWO_HOSTS.index("ranges:")],
                               "").replace(", hosts: [batch]", "")
    two_hosts(repo, ledger)
    code, out, _ = run(capsys, "check", "--select", "PL104,PL202")
    assert code == 1
    assert out.splitlines()[:1] == [
        "port-mapping.yml:14:20: PL104 duplicate-allocation reports.http 8000/tcp is already "
        "allocated to digi-core.http (8000/tcp, line 7)"]


def test_a_project_on_edge_publishing_batchs_port_is_judged_by_edges_allocations(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    two_hosts(repo)
    # pcs-api on edge publishes 8000: on edge it is digi-core's (owner mismatch), and
    # reports' 8000 (batch only) plays no part.
    write(repo, {"deploy/edge/compose.yaml": """\
        services:
          digi-core: {image: x, ports: ["8000:80"]}
          pcs-api: {image: x, ports: ["8000:80"]}
        """})
    code, out, _ = run(capsys, "check", "--select", "PL2")
    assert code == 1
    lines = [line for line in out.splitlines() if not line.startswith(" ")]
    assert lines[:2] == [
        "deploy/edge/compose.yaml:3:31: PL202 owner-mismatch pcs-api publishes 8000/tcp, "
        "which the ledger gives to digi-core.http (port-mapping.yml:14)",
        "deploy/edge/compose.yaml:3:31: PL204 duplicate-published-port pcs-api publishes "
        "8000/tcp, already published by digi-core (deploy/edge/compose.yaml:2)",
    ]
    # reports on edge: batch's port is not edge's (unmapped there)
    write(repo, {"deploy/edge/compose.yaml": """\
        services:
          digi-core: {image: x, ports: ["8000:80"]}
          pcs-api: {image: x, ports: ["8002:80"]}
          reports: {image: x, ports: ["8000:80"]}
        """})
    code, out, _ = run(capsys, "check", "--select", "PL201,PL202,PL203")
    assert code == 1
    assert out.splitlines()[0] == (
        "deploy/edge/compose.yaml:4:31: PL202 owner-mismatch reports publishes 8000/tcp, "
        "which the ledger gives to digi-core.http (port-mapping.yml:14)")


def test_a_port_limited_to_another_host_is_unmapped_on_this_one(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    two_hosts(repo, TWO_HOSTS.replace("services: [digi-core, pcs-api]",
                                      "services: [digi-core, pcs-api, reports]")
              .replace("8000, target: 80, hosts: [batch]", "8010, target: 80, hosts: [batch]"))
    write(repo, {
        "deploy/batch/compose.yaml": "services:\n  reports: {image: x, ports: [\"8010:80\"]}\n",
        "deploy/edge/reports/compose.yaml":
            "services:\n  reports: {image: x, ports: [\"8010:80\"]}\n"})
    code, out, _ = run(capsys, "check", "--select", "PL2")
    assert code == 1
    assert [line for line in out.splitlines() if not line.startswith(" ")][:1] == [
        "deploy/edge/reports/compose.yaml:2:31: PL201 unmapped-port reports publishes "
        "8010/tcp, which port-mapping.yml does not allocate"]


def test_unknown_hosts_and_services_are_located_schema_findings(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    two_hosts(repo, TWO_HOSTS.replace("services: [reports]", "services: [reprots]")
              .replace("hosts: [batch]", "hosts: [bach]"))
    code, out, _ = run(capsys, "check", "--select", "PL100")
    assert code == 1
    assert out.splitlines()[:2] == [
        "port-mapping.yml:8:16: PL100 schema hosts.batch.services: no ledger service 'reprots'",
        "port-mapping.yml:21:46: PL100 schema services.reports.ports.http.hosts: no host "
        "'bach' in hosts; did you mean 'batch'?",
    ]


def test_a_port_on_a_host_its_service_does_not_run_on_is_a_schema_finding(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    two_hosts(repo, TWO_HOSTS.replace("services: [reports]", "services: []")
              .replace("services: [digi-core, pcs-api]", "services: [digi-core, pcs-api, reports]"))
    code, out, _ = run(capsys, "check", "--select", "PL100")
    assert code == 1
    assert out.splitlines()[0] == (
        "port-mapping.yml:21:46: PL100 schema services.reports.ports.http.hosts: reports "
        "does not run on 'batch' (hosts.batch.services does not name it)")


# -- alternatives -------------------------------------------------------------------------


ALTERNATIVES = """\
version: 1
settings:
  per_path_ignores:
    "examples/**": [unmapped-port]
{hosts}ranges:
  application: {{start: 9000, end: 9099}}
  data: {{start: 5400, end: 5499}}
services:
  postgresql:
    category: data
    ports: {{pg: {{port: 5432, exception: standard PostgreSQL port}}}}
"""
EACH = """\
hosts:
  examples:
    each: ["examples/*"]
    services: [postgresql]
"""


def examples(root: Path, count: int, hosts: str) -> None:
    files = {"port-mapping.yml": ALTERNATIVES.format(hosts=hosts)}
    for i in range(count):
        files[f"examples/ex{i:03d}/compose.yaml"] = (
            f"services:\n  web{i}:\n    image: nginx\n    ports: [\"80:80\", \"443:443\"]\n"
            f"  app{i}:\n    image: x\n    ports: [\"8080:8080\"]\n")
    write(root, files)


def test_200_alternatives_declared_in_a_few_lines_check_clean(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    examples(repo, 200, EACH)
    assert run(capsys, "check") == (0, "", "")


def test_the_same_200_examples_without_hosts_give_todays_errors(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    examples(repo, 200, "")
    code, out, _ = run(capsys, "check", "--select", "PL204", "--format", "json")
    assert code == 1
    found = json.loads(out)["findings"]
    assert len(found) == 3 * 199
    assert {f["code"] for f in found} == {"PL204"}
    assert found[0]["message"] == (
        "web1 publishes 80/tcp, already published by web0 (examples/ex000/compose.yaml:4)")


def test_an_alternative_still_collides_with_a_shared_service(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    examples(repo, 3, EACH)
    write(repo, {"examples/ex001/compose.yaml": """\
        services:
          db: {image: postgres, ports: ["5432:5432"]}
        """})
    code, out, _ = run(capsys, "check")
    assert code == 1
    assert out.splitlines()[0] == (
        "examples/ex001/compose.yaml:2:33: PL202 owner-mismatch db publishes 5432/tcp, which "
        "the ledger gives to postgresql.pg (port-mapping.yml:15)")


def test_services_within_one_alternative_still_collide(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    examples(repo, 2, EACH)
    write(repo, {"examples/ex001/compose.yaml": """\
        services:
          a: {image: x, ports: ["8080:80"]}
          b: {image: x, ports: ["8080:81"]}
        """})
    code, out, _ = run(capsys, "check")
    assert code == 1
    assert [line for line in out.splitlines() if not line.startswith(" ")][:1] == [
        "examples/ex001/compose.yaml:3:25: PL204 duplicate-published-port b publishes "
        "8080/tcp, already published by a (examples/ex001/compose.yaml:2)"]


# -- who and allocate ---------------------------------------------------------------------


def test_who_answers_for_every_host_one_line_each(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    two_hosts(repo)
    code, out, _ = run(capsys, "who", "8000")
    assert code == 0
    assert out == (
        "8000/tcp on edge: digi-core.http (8000, active) port-mapping.yml:14\n"
        "8000/tcp on batch: reports.http (8000, active) port-mapping.yml:21\n"
        "  range: application (8000-8099)\n"
        "  published by reports (compose project deploy/batch, on batch) "
        "deploy/batch/compose.yaml:2\n"
        "  published by digi-core (compose project deploy/edge, on edge) "
        "deploy/edge/compose.yaml:2\n")
    code, out, _ = run(capsys, "who", "8000", "--host", "batch")
    assert (code, out) == (0, "8000/tcp on batch: reports.http (8000, active) "
                              "port-mapping.yml:21\n  range: application (8000-8099)\n"
                              "  published by reports (compose project deploy/batch, on batch) "
                              "deploy/batch/compose.yaml:2\n")
    code, out, _ = run(capsys, "who", "8002", "--host", "batch")
    assert (code, out) == (1, "8002/tcp on batch: free in port-mapping.yml\n"
                              "  range: application (8000-8099)\n"
                              "  allocate would give it (category application)\n")
    code, out, _ = run(capsys, "who", "8000", "--host", "batch", "--format", "json")
    info = json.loads(out)
    assert info["host"] == "batch"
    assert [(o["service"], o["hosts"]) for o in info["owners"]] == [("reports", ["batch"])]


def test_who_and_allocate_refuse_a_host_the_ledger_lacks(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    two_hosts(repo)
    assert run(capsys, "who", "8000", "--host", "egde") == (
        2, "", "portledger: who: --host egde: no such host in port-mapping.yml "
               "(hosts: edge, batch)\n")
    assert run(capsys, "allocate", "reports", "--category", "application", "--host",
               "edge") == (
        2, "", "portledger: allocate: reports does not run on edge (hosts.edge.services "
               "does not name it; it runs on batch)\n")


def test_allocate_on_a_host_takes_a_port_free_there_and_records_the_host(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    two_hosts(repo)
    # 8000 is digi-core's on edge, 8002 pcs-api's: on batch both are free but reports'
    # own 8000; the first free one there is 8001 (no host: 8001 too, as 8000 and 8002
    # are taken somewhere). Ask for two to see the difference.
    code, out, _ = run(capsys, "allocate", "reports", "--category", "application",
                       "--name", "admin", "--count", "2", "--host", "batch")
    assert (code, out) == (0, "reports.admin-1 8001/tcp on batch\n"
                              "reports.admin-2 8002/tcp on batch\n")
    code, out, _ = run(capsys, "allocate", "reports", "--category", "application",
                       "--name", "admin", "--count", "2")
    assert (code, out) == (0, "reports.admin-1 8003/tcp\nreports.admin-2 8004/tcp\n")
    code, out, _ = run(capsys, "allocate", "reports", "--category", "application",
                       "--name", "admin", "--host", "batch", "--write")
    assert code == 0
    assert "+      admin: {port: 8001, hosts: [batch]}\n" in out
    assert run(capsys, "check") == (0, "", "")


# -- trailers -----------------------------------------------------------------------------

EDGE_MOVED = {
    "port-mapping.yml": TWO_HOSTS.replace("8002, target", "8004, target"),
    "deploy/edge/compose.yaml": "services:\n  digi-core: {image: x, ports: [\"8000:80\"]}\n"
                                "  pcs-api: {image: x, ports: [\"8004:80\"]}\n",
}


def test_trailers_name_the_host_when_the_ledger_has_more_than_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_repo(tmp_path, monkeypatch)
    two_hosts(repo.path)
    repo.commit("init")
    repo.stage(EDGE_MOVED)
    code, out, _ = run(capsys, "diff", "--format", "json")
    assert code == 0
    assert json.loads(out)["trailers"] == [
        "Port-Change: pcs-api http 8002 -> 8004 (tcp) on edge"]
    message = tmp_path / "MSG"
    message.write_text("Move PCS\n\nPort-Change: pcs-api http 8002 -> 8004 (tcp)\n")
    assert run(capsys, "commit-msg", str(message))[0] == 1
    message.write_text("Move PCS\n\nPort-Change: pcs-api http 8002 -> 8004 (tcp) on edge\n")
    assert run(capsys, "commit-msg", str(message)) == (0, "", "")


def test_a_single_host_ledger_keeps_the_old_trailer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_repo(tmp_path, monkeypatch)
    one_host = TWO_HOSTS.replace("8000, target: 80, hosts: [batch]", "8010, target: 80")
    one_host = one_host[:one_host.index("  batch:")] + one_host[one_host.index("ranges:"):]
    two_hosts(repo.path, one_host)
    repo.write({"deploy/batch/compose.yaml":
                "services:\n  reports: {image: x, ports: [\"8010:80\"]}\n"})
    assert run(capsys, "check") == (0, "", "")
    repo.commit("init")
    repo.stage({**EDGE_MOVED, "port-mapping.yml": one_host.replace("8002, target",
                                                                   "8004, target")})
    code, out, _ = run(capsys, "diff", "--format", "json")
    assert json.loads(out)["trailers"] == ["Port-Change: pcs-api http 8002 -> 8004 (tcp)"]


# -- probe --host (a real listening socket; no container engine needed) -------------------


def test_probe_holds_the_machine_to_the_allocations_of_its_host(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        write(repo, {"port-mapping.yml": f"""\
            version: 1
            hosts:
              edge: {{services: [digi-core]}}
              batch: {{services: [reports]}}
            ranges:
              application: {{start: {port}, end: {port + 1}, description: test}}
            services:
              digi-core:
                category: application
                ports: {{http: {{port: {port}}}}}
              reports:
                category: application
                ports: {{http: {{port: {port}}}, admin: {{port: {port + 1}, hosts: [batch]}}}}
            """})
        flags = ("probe", "--no-docker", "--no-health")
        for host, line, service in (("batch", 13, "reports"), ("edge", 10, "digi-core")):
            code, out, _ = run(capsys, *flags, "--host", host)
            assert code == 1
            assert out.startswith(
                f"port-mapping.yml:{line}:26: PL401 port-in-use {port}/tcp ({service}.http) "
                "is held by python")
            assert f", not by {service};" in out
        code, out, _ = run(capsys, *flags, "--available", "reports", "--host", "batch")
        assert code == 1
        assert out.splitlines()[1:] == [f"reports.admin {port + 1}/tcp: free"]
        code, out, err = run(capsys, *flags, "--available", "digi-core", "--host", "batch")
        assert (code, out, err) == (
            0, "", "portledger: note: digi-core holds no port on host batch\n")
        assert run(capsys, *flags, "--host", "nope") == (
            2, "", "portledger: probe: --host nope: no such host in port-mapping.yml "
                   "(hosts: edge, batch)\n")


def test_export_on_a_host_has_only_its_ports(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    two_hosts(repo)
    assert run(capsys, "export", "--host", "batch") == (0, "REPORTS_HTTP_PORT=8000\n", "")
    assert run(capsys, "export", "--host", "edge") == (
        0, "DIGI_CORE_HTTP_PORT=8000\nPCS_API_HTTP_PORT=8002\n", "")
    assert run(capsys, "export") == (
        0, "DIGI_CORE_HTTP_PORT=8000\nPCS_API_HTTP_PORT=8002\nREPORTS_HTTP_PORT=8000\n", "")


def test_fix_records_an_alternatives_port_for_its_own_projects(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {
        "port-mapping.yml": "version: 1\nhosts:\n  examples:\n    each: [\"examples/*\"]\n"
                            "ranges:\n  application: {start: 9000, end: 9099}\nservices: {}\n",
        "examples/a/compose.yaml": "services:\n  web: {image: x, ports: [\"9010:80\"]}\n",
        "examples/b/compose.yaml": "services:\n  web: {image: x, ports: [\"9010:80\"]}\n"
                                   "  api: {image: x, ports: [\"9020:80\"]}\n",
        "examples/c/compose.yaml": "services:\n  db: {image: x, ports: [\"9010:5432\"]}\n",
    })
    code, _, _ = run(capsys, "check", "--fix")
    assert code == 0
    assert (repo / "port-mapping.yml").read_text() == (
        "version: 1\nhosts:\n  examples:\n    each: [\"examples/*\"]\n"
        "ranges:\n  application: {start: 9000, end: 9099}\nservices:\n"
        "  api:\n    category: application\n    ports:\n"
        "      tcp-80: {port: 9020, target: 80, hosts: [\"examples:examples/b\"]}\n"
        "  db:\n    category: application\n    ports:\n"
        "      tcp-5432: {port: 9010, target: 5432, hosts: [\"examples:examples/c\"]}\n"
        "  web:\n    category: application\n    ports:\n"
        "      tcp-80: {port: 9010, target: 80, hosts: [\"examples:examples/a\", "
        "\"examples:examples/b\"]}\n")
    assert run(capsys, "check") == (0, "", "")


def test_serve_probes_the_allocations_of_its_host(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from portledger.serve.monitor import probe_once

    two_hosts(repo)
    for host, expected in (("batch", ["reports.http"]),
                           ("edge", ["digi-core.http", "pcs-api.http"])):
        snap = probe_once(repo / "port-mapping.yml", "label", timeout=1, deadline=3,
                          ledger_host=host)
        assert snap.ok, snap.error
        assert [f"{p.service}.{p.name}" for p in snap.ports] == expected
    assert run(capsys, "serve", "--host", "nope") == (
        2, "", "portledger: serve: --host nope: no such host in port-mapping.yml "
               "(hosts: edge, batch)\n")


def test_a_project_of_a_host_without_each_cannot_be_named(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    two_hosts(repo, TWO_HOSTS.replace("hosts: [batch]", "hosts: [\"batch:deploy/batch\"]"))
    code, out, _ = run(capsys, "check", "--select", "PL100")
    assert code == 1
    assert out.splitlines()[0] == (
        "port-mapping.yml:21:46: PL100 schema services.reports.ports.http.hosts: "
        "'batch:deploy/batch': host 'batch' has no `each`, so it has no projects of its "
        "own to name")


def test_report_draws_each_hosts_port_space(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    two_hosts(repo)
    code, out, _ = run(capsys, "report", "--format", "markdown")
    assert code == 0
    start = out.index("## Hosts")
    assert out[start:out.index("\n## ", start + 1)] == (
        "## Hosts\n\nPorts conflict only between what shares a host.\n\n"
        "| host | projects | services | ports held there |\n| --- | --- | --- | --- |\n"
        "| edge | deploy/edge/\\*\\* | digi-core, pcs-api | 8000/tcp digi-core.http, "
        "8002/tcp pcs-api.http |\n"
        "| batch | deploy/batch/\\*\\* | reports | 8000/tcp reports.http |\n")
    code, out, _ = run(capsys, "report", "--format", "html")
    assert code == 0
    assert "<td>batch</td><td>deploy/batch/**</td><td>reports</td>" in out
