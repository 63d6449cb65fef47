"""Reporters: github workflow commands, SARIF 2.1.0 (against the official schema), the
markdown job summary (rendered by GitHub's own cmark-gfm), and re-rendering JSON."""

from __future__ import annotations

import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from ledger_fixtures import INVALID, ROOT, expectations

from portledger import cli
from portledger.check import run as check_run
from portledger.findings import Finding, Severity
from portledger.report import reporters, sarif
from portledger.rules import BY_CODE, RULES

TESTS = Path(__file__).resolve().parent
COMPOSE = TESTS / "compose_check"
SARIF_SCHEMA = TESTS / "data" / "sarif-schema-2.1.0.json"
COMPOSE_EXPECT = re.compile(r"#\s*expect:\s*(.+)$")

# Ledger and compose rules: what the fixtures can show (PL3xx/PL4xx need git or Docker).
FIXTURE_CODES = {r.code for r in RULES if r.code[2] in "12"}

LEDGER_CASES = sorted(p for p in INVALID.glob("*.yml") if expectations(p))
COMPOSE_CASES = sorted((COMPOSE / "invalid").iterdir())
GLOB_CASE = COMPOSE / "typo-glob" / "port-mapping.yml"
"""A ledger whose compose glob matches nothing (PL208 is about the ledger's globs)."""


def compose_expectations(case: Path) -> set[tuple[str, str, int, int]]:
    found = set()
    for f in sorted(case.rglob("*.yaml")):
        for text in f.read_text(encoding="utf-8").splitlines():
            m = COMPOSE_EXPECT.search(text)
            if m:
                for item in m.group(1).split(","):
                    code, where = item.split()
                    line, col = where.split(":")
                    found.add((str(f.relative_to(COMPOSE)), code, int(line), int(col)))
    return found


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = cli.main(list(args))
    out, _ = capsys.readouterr()
    return code, out


# --- github ------------------------------------------------------------------------------

COMMAND = re.compile(r"^::(error|warning|notice) ([^:]*)::(.*)$")


def unescape_property(s: str) -> str:
    # The runner's order: everything but %25 first, so "%253A" stays "%3A".
    for code, char in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        s = s.replace(code, char)
    return s


def unescape_data(s: str) -> str:
    for code, char in (("%0D", "\r"), ("%0A", "\n"), ("%25", "%")):
        s = s.replace(code, char)
    return s


def parse_commands(out: str) -> list[dict[str, str]]:
    """Every line of ``out`` as a workflow command: level, properties, message."""
    parsed = []
    for line in out.splitlines():
        m = COMMAND.match(line)
        assert m, f"not a workflow command: {line!r}"
        props = dict(item.split("=", 1) for item in m.group(2).split(","))
        cmd = {k: unescape_property(v) for k, v in props.items()}
        cmd["level"] = m.group(1)
        cmd["message"] = unescape_data(m.group(3))
        parsed.append(cmd)
    return parsed


def _check_commands(commands: list[dict[str, str]]) -> set[tuple[str, str, int, int]]:
    got = set()
    for c in commands:
        code, _, name = c["title"].partition(" ")
        rule = BY_CODE[code]
        assert name == rule.name
        assert c["level"] in ("error", "warning")
        assert int(c["endLine"]) >= int(c["line"]) if "endLine" in c else True
        assert c["message"]
        got.add((c["file"], code, int(c["line"]), int(c["col"])))
    return got


@pytest.mark.parametrize("case", LEDGER_CASES, ids=lambda p: p.name)
def test_github_format_of_each_ledger_fixture(
    case: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(case.parent)
    code, out = run_cli(capsys, "check", "--no-compose", "--mapping", case.name,
                        "--format", "github")
    got = _check_commands(parse_commands(out))
    assert got == {(case.name, c, line, col) for c, line, col in expectations(case)}
    assert code == (1 if any(c["level"] == "error" for c in parse_commands(out)) else 0)


@pytest.mark.parametrize("case", COMPOSE_CASES, ids=lambda p: p.name)
def test_github_format_of_each_compose_fixture(
    case: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(COMPOSE)
    monkeypatch.delenv("PORTLEDGER_TEST_UNSET_PORT", raising=False)
    _, out = run_cli(capsys, "check", "--mapping", "port-mapping.yml", "--format", "github",
                     str(case.relative_to(COMPOSE)))
    assert _check_commands(parse_commands(out)) == compose_expectations(case)


def test_the_fixtures_show_every_ledger_and_compose_rule() -> None:
    shown = {c for case in LEDGER_CASES for c, _, _ in expectations(case)}
    shown |= {c for case in COMPOSE_CASES for _, c, _, _ in compose_expectations(case)}
    shown |= {c for c, _, _ in expectations(GLOB_CASE)}
    assert FIXTURE_CODES <= shown


def test_github_escapes_as_the_actions_toolkit() -> None:
    f = Finding(file="dir,a:b/compose.yaml", line=3, column=7, code="PL202",
                rule="owner-mismatch", severity=Severity.WARNING,
                message="100% sure:\r\nnext, line", end_line=3, end_column=9,
                fix="move it: to 8001")
    assert reporters.workflow_command(f) == (
        "::warning file=dir%2Ca%3Ab/compose.yaml,line=3,col=7,endLine=3,endColumn=9,"
        "title=PL202 owner-mismatch::100% sure:%0D%0Anext, line%0Afix: move it: to 8001"
        .replace("100%", "100%25")
    )
    (parsed,) = parse_commands(reporters.workflow_command(f))
    assert parsed["file"] == "dir,a:b/compose.yaml"
    assert parsed["message"] == "100% sure:\r\nnext, line\nfix: move it: to 8001"


def test_escape_functions() -> None:
    assert reporters.escape_data("%\r\n:,") == "%25%0D%0A:,"
    assert reporters.escape_property("%\r\n:,") == "%25%0D%0A%3A%2C"
    # Escaping '%' first keeps a literal "%0A" from turning into a newline.
    assert reporters.escape_data("%0A") == "%250A"


def test_notice_level_and_no_end_line() -> None:
    f = Finding("a.yml", 1, 2, "PL999", "some-rule", Severity.NOTICE, "m")
    assert reporters.workflow_command(f) == (
        "::notice file=a.yml,line=1,col=2,title=PL999 some-rule::m")


def test_github_is_the_default_under_github_actions(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert reporters.default_format({"GITHUB_ACTIONS": "true"}) == "github"
    assert reporters.default_format({"GITHUB_ACTIONS": "false"}) == "text"
    assert reporters.default_format({}) == "text"
    case = INVALID / "PL104-duplicate-allocation.yml"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    _, out = run_cli(capsys, "check", "--no-compose", "--mapping", str(case))
    assert out.startswith("::error file=")
    _, out = run_cli(capsys, "check", "--no-compose", "--mapping", str(case), "--format", "text")
    assert not out.startswith("::")


def test_cli_offers_every_format() -> None:
    parser = cli.build_parser(every=True)
    sub = next(a for a in parser._actions if a.dest == "command")
    check = sub.choices["check"]  # type: ignore[index]
    fmt = next(a for a in check._actions if a.dest == "format")
    assert tuple(fmt.choices) == reporters.FORMATS


# --- sarif ----------------------------------------------------------------------------------

def all_fixture_findings(monkeypatch: pytest.MonkeyPatch) -> tuple[list[Finding], int]:
    """Findings of every rule the fixtures show, paths relative to tests/."""
    monkeypatch.chdir(TESTS)
    monkeypatch.delenv("PORTLEDGER_TEST_UNSET_PORT", raising=False)
    findings: list[Finding] = []
    files = 0
    for case in LEDGER_CASES:
        r = check_run(case.relative_to(TESTS), compose=False)
        findings += r.findings
        files += r.files
    for case in COMPOSE_CASES:
        r = check_run(COMPOSE.relative_to(TESTS) / "port-mapping.yml",
                      [str(case.relative_to(TESTS))])
        findings += r.findings
        files += r.files
    r = check_run(GLOB_CASE.relative_to(TESTS))
    assert [(f.code, f.line, f.column) for f in r.findings] == expectations(GLOB_CASE)
    findings += r.findings
    files += r.files
    return sorted(set(findings)), files


@pytest.fixture(scope="module")
def sarif_validator() -> object:
    import jsonschema

    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_sarif_of_every_rule_is_valid_against_the_official_schema(
    monkeypatch: pytest.MonkeyPatch, sarif_validator: object
) -> None:
    findings, files = all_fixture_findings(monkeypatch)
    assert FIXTURE_CODES <= {f.code for f in findings}
    out = io.StringIO()
    reporters.report("sarif", findings, files, out, rules=RULES)
    doc = json.loads(out.getvalue())
    errors = list(sarif_validator.iter_errors(doc))  # type: ignore[attr-defined]
    assert not errors, [e.message for e in errors[:5]]
    assert doc["version"] == "2.1.0"
    (run,) = doc["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [r.code for r in RULES]
    results = run["results"]
    assert len(results) == len(findings)
    for result, f in zip(results, sorted(findings), strict=True):
        assert result["ruleId"] == f.code == rules[result["ruleIndex"]]["id"]
        assert result["level"] == {"error": "error", "warning": "warning"}[f.severity.value]
        loc = result["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] == f.file
        assert loc["region"]["startLine"] == f.line
        assert loc["region"]["startColumn"] == f.column
        assert result["message"]["text"].startswith(f.message)
    prints = [r["partialFingerprints"][sarif.FINGERPRINT_KEY] for r in results]
    assert len(set(prints)) == len(prints)


def test_sarif_rules_carry_descriptions_help_and_a_working_help_uri() -> None:
    doc = sarif.document([], 0)
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line[3:].strip().lower()).replace(" ", "-")
        for line in (ROOT / "docs" / "rules.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    }
    for entry in doc["runs"][0]["tool"]["driver"]["rules"]:
        rule = BY_CODE[entry["id"]]
        assert entry["name"] == rule.name
        assert rule.summary in entry["shortDescription"]["text"]
        assert entry["fullDescription"]["text"]
        assert "Failing" in entry["help"]["text"] and "```yaml" in entry["help"]["markdown"]
        base, _, anchor = entry["helpUri"].partition("#")
        assert base == sarif.RULES_DOC
        assert anchor in anchors, f"{entry['helpUri']} names no section of docs/rules.md"
        assert entry["defaultConfiguration"]["level"] in ("error", "warning", "note")


def test_sarif_fingerprints_survive_moved_lines() -> None:
    a = Finding("c.yaml", 5, 9, "PL202", "owner-mismatch", Severity.ERROR,
                "pcs publishes 8000/tcp (port-mapping.yml line 14)", service="pcs", port=8000,
                protocol="tcp")
    moved = Finding("c.yaml", 9, 3, "PL202", "owner-mismatch", Severity.ERROR,
                    "pcs publishes 8000/tcp (port-mapping.yml line 20)", service="pcs",
                    port=8000, protocol="tcp")
    other = Finding("c.yaml", 5, 9, "PL202", "owner-mismatch", Severity.ERROR,
                    "pcs publishes 8001/tcp", service="pcs", port=8001, protocol="tcp")
    assert sarif.fingerprints([a]) == sarif.fingerprints([moved])
    assert sarif.fingerprints([a]) != sarif.fingerprints([other])
    twice = sarif.fingerprints([a, moved])
    assert twice[0] != twice[1]


def _many(errors: int, warnings: int) -> list[Finding]:
    return [Finding(f"f{i % 50}.yaml", i + 1, 1, "PL202" if i < errors else "PL109",
                    "owner-mismatch" if i < errors else "well-known-port",
                    Severity.ERROR if i < errors else Severity.WARNING, f"message {i}")
            for i in range(errors + warnings)]


def test_sarif_keeps_githubs_5000_results_most_severe_first(sarif_validator: object) -> None:
    findings = _many(1_000, 29_000)
    doc = sarif.document(findings, 50)
    run = doc["runs"][0]
    assert len(run["results"]) == sarif.MAX_RESULTS
    assert sum(r["level"] == "error" for r in run["results"]) == 1_000
    assert run["properties"] == {"files": 50, "results": 30_000, "resultsLeftOut": 25_000}
    note = run["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"]
    assert note.startswith("25000 of 30000 results were left out")
    assert not list(sarif_validator.iter_errors(doc))  # type: ignore[attr-defined]


def test_sarif_halves_the_results_until_the_file_fits() -> None:
    findings = _many(100, 0)
    # Room for the rule catalogue and about a third of the results.
    limit = len(json.dumps(sarif.document([], 1)).encode()) + 10_000
    doc = sarif.document(findings, 1, max_bytes=limit)
    size = len(json.dumps(doc).encode())
    assert size <= limit
    assert 0 < len(doc["runs"][0]["results"]) < 100
    assert doc["runs"][0]["properties"]["resultsLeftOut"] == 100 - len(doc["runs"][0]["results"])


def test_sarif_uris() -> None:
    assert sarif.artifact_uri("examples/a b/compose.yaml") == "examples/a%20b/compose.yaml"
    assert sarif.artifact_uri("/abs/x.yml") == "file:///abs/x.yml"


def test_cli_sarif_output_is_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, "check", "--no-compose", "--mapping",
                        str(INVALID / "PL104-duplicate-allocation.yml"), "--format", "sarif")
    assert code == 1
    assert json.loads(out)["runs"][0]["results"][0]["ruleId"] == "PL104"


# --- markdown ---------------------------------------------------------------------------------

class Tables(HTMLParser):
    """The cells of every <table> in rendered HTML, as text."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def render_gfm(markdown: str) -> str:
    """Markdown as GitHub renders it (cmark-gfm, GitHub's own parser)."""
    cmarkgfm = pytest.importorskip(
        "cmarkgfm", reason="cmarkgfm (GitHub's Markdown parser) is a test dependency")
    html: str = cmarkgfm.github_flavored_markdown_to_html(markdown)
    return html


def tables_of(markdown: str) -> list[list[list[str]]]:
    parser = Tables()
    parser.feed(render_gfm(markdown))
    return parser.tables


CHANGES = [
    {"kind": "changed", "service": "pcs-api", "name": "http", "old": 8000, "new": 8002,
     "protocol": "tcp", "file": "port-mapping.yml"},
    {"kind": "added", "service": "odd|name <b>x</b>", "name": "metrics_v2", "old": None,
     "new": "9100-9102", "protocol": "udp", "file": "services/a*b*/compose.yaml"},
]


def test_markdown_renders_the_port_change_table(monkeypatch: pytest.MonkeyPatch) -> None:
    findings, files = all_fixture_findings(monkeypatch)
    out = io.StringIO()
    reporters.report("markdown", findings, files, out, changes=CHANGES)
    tables = tables_of(out.getvalue())
    changes = next(t for t in tables if t[0][0] == "change")
    assert changes == [
        ["change", "service", "port name", "old", "new", "protocol", "file"],
        ["changed", "pcs-api", "http", "8000", "8002", "tcp", "port-mapping.yml"],
        ["added", "odd|name <b>x</b>", "metrics_v2", "", "9100-9102", "udp",
         "services/a*b*/compose.yaml"],
    ]
    found = next(t for t in tables if t[0][0] == "severity")
    assert len(found) == len(findings) + 1
    for row, f in zip(found[1:], findings, strict=True):
        assert row[1] == f"{f.code} {f.rule}"
        assert row[2] == f.file
        assert row[3] == f"{f.line}:{f.column}"
        assert row[4].startswith(f.message.replace("\n", ""))


def test_markdown_takes_portdiff_records() -> None:
    """``portledger diff``'s change records: old and new are port records."""
    change = {"kind": "moved", "source": "ledger", "service": "pcs-api", "name": "http",
              "file": "port-mapping.yml", "line": 12, "column": 15,
              "old": {"port": "8000", "protocol": "tcp", "host_ip": None},
              "new": {"port": "8002", "protocol": "tcp", "host_ip": "127.0.0.1"}}
    out = io.StringIO()
    reporters.markdown([], 1, out, changes=[change])
    (table,) = tables_of(out.getvalue())
    assert table[1] == ["moved", "pcs-api", "http", "8000", "127.0.0.1:8002", "tcp",
                        "port-mapping.yml:12"]


def test_markdown_without_problems_or_changes() -> None:
    out = io.StringIO()
    reporters.markdown([], 4, out, changes=[])
    text = out.getvalue()
    assert text.startswith("### portledger: no port problems in 4 files")
    assert "This change touches no port." in text
    out = io.StringIO()
    reporters.markdown([], 1, out)
    assert "Port changes" not in out.getvalue()


def test_markdown_stays_under_githubs_summary_limit() -> None:
    long = "x" * 300
    findings = [Finding(f"services/s{i}/compose.yaml", i + 1, 9, "PL201", "unmapped-port",
                        Severity.ERROR, f"s{i} publishes {i}/tcp {long}") for i in range(20_000)]
    changes = [dict(CHANGES[0], service=f"svc-{i}") for i in range(50_000)]
    out = io.StringIO()
    reporters.markdown(findings, 20_000, out, changes=changes)
    text = out.getvalue()
    assert len(text.encode("utf-8")) <= reporters.SUMMARY_BUDGET < reporters.SUMMARY_LIMIT
    assert re.search(r"_\d+ more findings not shown", text)
    assert re.search(r"_\d+ more port changes not shown", text)
    tables = tables_of(text)
    by_rule = next(t for t in tables if t[0][0] == "rule")
    assert by_rule[1] == ["PL201 unmapped-port", "error", "20000"]
    shown = next(t for t in tables if t[0][0] == "severity")
    assert 100 < len(shown) < 20_000


def test_md_cell_is_inert() -> None:
    assert reporters.md_cell("a|b\nc <img src=x> *d* `e` [f](g) #1") == (
        "a\\|b<br>c &lt;img src=x&gt; \\*d\\* \\`e\\` \\[f\\](g) \\#1")
    assert reporters.md_cell(None) == ""


# --- re-rendering check's JSON ---------------------------------------------------------------

def test_json_round_trip_and_module_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    findings, files = all_fixture_findings(monkeypatch)
    buf = io.StringIO()
    reporters.report("json", findings, files, buf)
    again, n = reporters.findings_from_json(json.loads(buf.getvalue()))
    assert (again, n) == (findings, files)
    src = tmp_path / "findings.json"
    src.write_text(buf.getvalue(), encoding="utf-8")
    changes = tmp_path / "changes.json"
    changes.write_text(json.dumps({"changes": CHANGES}), encoding="utf-8")
    assert cli.main(["render", "--input", str(src), "--format", "github"]) == 0
    direct = io.StringIO()
    reporters.report("github", findings, files, direct)
    assert capsys.readouterr().out == direct.getvalue()
    md = tmp_path / "summary.md"
    assert cli.main(["render", "--input", str(src), "--format", "markdown", "--changes",
                           str(changes), "-o", str(md)]) == 0
    assert "| changed | pcs-api |" in md.read_text(encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    assert cli.main(["render", "--input", str(bad), "--format", "text"]) == 2
    assert "cannot read the input" in capsys.readouterr().err


def test_a_long_syntax_port_region_ends_at_its_own_last_line() -> None:
    """YAML ends a block mapping where the next token starts (the next service's key):
    the region and the annotation stop at the entry's last line instead."""
    f = Finding("compose.yaml", 5, 9, "PL203", "port-mismatch", Severity.ERROR, "m",
                end_line=7, end_column=3)
    assert sarif.span(f) == (6, None)
    assert sarif.document([f], 1)["runs"][0]["results"][0]["locations"][0][
        "physicalLocation"]["region"] == {"startLine": 5, "startColumn": 9, "endLine": 6}
    assert reporters.workflow_command(f).startswith(
        "::error file=compose.yaml,line=5,col=9,endLine=6,title=")
    one_line = Finding("compose.yaml", 5, 9, "PL203", "port-mismatch", Severity.ERROR, "m",
                       end_line=5, end_column=18)
    assert sarif.span(one_line) == (5, 18)


def test_sarif_category_problem_severity_and_message_free_fingerprints() -> None:
    f = Finding("a.yml", 3, 1, "PL104", "duplicate-allocation", Severity.ERROR, "one text",
                service="web", port=8080, protocol="tcp")
    g = Finding("a.yml", 9, 1, "PL104", "duplicate-allocation", Severity.ERROR, "reworded",
                service="web", port=8080, protocol="tcp")
    doc = sarif.document([f], 1, rules=[BY_CODE["PL104"]], category="ports")
    run = doc["runs"][0]
    assert run["automationDetails"] == {"id": "ports/"}
    assert run["tool"]["driver"]["rules"][0]["properties"]["problem.severity"] == "error"
    again = sarif.document([g], 1)["runs"][0]["results"][0]["partialFingerprints"]
    assert again == run["results"][0]["partialFingerprints"]
