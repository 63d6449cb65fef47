"""``portledger report``: Markdown tables and the self-contained HTML page, the page
checked in a real browser (headless Chromium over the DevTools protocol)."""

from __future__ import annotations

import os
import re
import shutil
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from cdp import find_browser, load
from ledger_fixtures import INVALID, ROOT, SHIPPED_LEDGER

from portledger import check, cli
from portledger.report import portmap as report

EXAMPLE_1 = ROOT / "examples" / "conflicts" / "example-1-digi-core-vs-pcs" / "port-mapping.yml"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
DOCS_SHOT = ROOT / "docs" / "report.png"


def render(fmt: str, mapping: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert cli.main(["report", "--format", fmt, "--mapping", str(mapping)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def shipped_services() -> list[tuple[str, str]]:
    pm = report.build(check.run(SHIPPED_LEDGER))
    return [(m.allocation.service, m.allocation.label) for m in pm.marks]


# --- markdown --------------------------------------------------------------------------------

def test_markdown_tables_by_category(capsys: pytest.CaptureFixture[str]) -> None:
    text = render("markdown", SHIPPED_LEDGER, capsys)
    assert text.startswith("# Port map\n")
    assert "## user-facing (8000-8999)" in text
    assert "## monitoring (3000-3999)" in text
    assert "| digi-core | digi-core team | active | http | 8000 | tcp |  | 8000 | /health | " \
           "postgresql, neo4j, redis, qdrant |  |" in text
    assert "| future | 5000-5999 | yes | 2 |" in text
    for service, port in shipped_services():
        assert re.search(rf"^\| {re.escape(service)} \|.*\| {port} \|", text, re.M), service
    assert "No problems: `portledger check` passes." in text


def test_markdown_marks_conflicts(capsys: pytest.CaptureFixture[str]) -> None:
    text = render("markdown", EXAMPLE_1, capsys)
    assert "| digi-core |  | active | http | **8000** :x: |" in text
    assert "| pcs-api |  | active | http | **8000** :x: |" in text
    assert "## Problems (2)" in text


def test_markdown_renders_as_tables(capsys: pytest.CaptureFixture[str]) -> None:
    from test_reporters import tables_of

    tables = tables_of(render("markdown", SHIPPED_LEDGER, capsys))
    headers = [t[0][0] for t in tables]
    assert headers[0] == "range"
    # One table a category that has services: core-infrastructure, monitoring, user-facing.
    assert headers.count("service") == 3
    assert all(len(row) == len(report.COLUMNS) for t in tables[1:] for row in t)


# --- html ------------------------------------------------------------------------------------

def test_html_is_self_contained(capsys: pytest.CaptureFixture[str]) -> None:
    page = render("html", SHIPPED_LEDGER, capsys)
    assert page.startswith("<!DOCTYPE html>")
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    for fetching in ("<script", "<link", "<img", "<iframe", "@import", "src=", "url(http"):
        assert fetching not in page, fetching
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert hrefs and all(h.startswith("#") for h in hrefs)


def test_html_svg_draws_every_allocation(capsys: pytest.CaptureFixture[str]) -> None:
    page = render("html", SHIPPED_LEDGER, capsys)
    svg = page[page.index("<svg"):page.index("</svg>") + 6]
    root = ET.fromstring(svg)  # well-formed XML
    ns = {"s": "http://www.w3.org/2000/svg"}
    marks = {(g.get("data-service"), g.get("data-port"))
             for g in root.iterfind(".//s:g[@data-service]", ns)}
    assert marks == set(shipped_services())
    bands = [g.get("data-range") for g in root.iterfind(".//s:g[@data-range]", ns)]
    assert bands[:8] == ["core-infrastructure", "application", "monitoring", "development",
                         "future", "backup", "high-priority", "user-facing"]
    assert "outside every range" in bands  # prometheus 9090
    assert 'fill="url(#reserved)"' in svg and "url(#ephemeral)" in svg
    assert 'class="mark conflict"' not in svg


def test_html_conflicts_are_red(capsys: pytest.CaptureFixture[str]) -> None:
    page = render("html", EXAMPLE_1, capsys)
    conflicts = re.findall(r'<g class="mark conflict" data-service="([^"]+)" data-port="(\d+)"',
                           page)
    assert sorted(conflicts) == [("digi-core", "8000"), ("pcs-api", "8000")]
    assert page.count('<tr class="conflict">') >= 2
    assert re.search(r"<td>PL(104|202|204) [a-z-]+</td>", page)


def test_html_escapes_ledger_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger = tmp_path / "port-mapping.yml"
    ledger.write_text(
        "version: 1\nranges:\n  app: {start: 2000, end: 2999, description: '<b>x</b> & y'}\n"
        "services:\n  web:\n    category: app\n    owner: '<script>alert(1)</script>'\n"
        "    ports: {http: {port: 2000, health: '/h?a=1&b=<2>'}}\n", encoding="utf-8")
    page = render("html", ledger, capsys)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;x&lt;/b&gt; &amp; y" in page


# --- command line ----------------------------------------------------------------------------

def test_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "map.html"
    assert cli.main(["report", "--format", "html", "--mapping", str(SHIPPED_LEDGER),
                              "-o", str(target)]) == 0
    assert capsys.readouterr() == ("", "")
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["map.html"]


def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", "--mapping", str(tmp_path / "none.yml")]) == 2
    assert capsys.readouterr().err.startswith(f"portledger: {tmp_path / 'none.yml'}: no such file")
    assert cli.main(["report", "--mapping", str(INVALID / "PL100-schema-unknown-key.yml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("portledger: report: the ledger cannot be read (")
    assert err.count("\n") == 1
    assert cli.main(["report", "--format", "pdf"]) == 2
    assert "invalid choice: 'pdf'" in capsys.readouterr().err


def test_cli_report_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", "--mapping", str(SHIPPED_LEDGER)]) == 0
    assert capsys.readouterr().out.startswith("# Port map\n")


# --- in a real browser -----------------------------------------------------------------------

BROWSER = find_browser()
needs_browser = pytest.mark.skipif(
    BROWSER is None,
    reason="no Chromium or Chrome on PATH (Debian: apt-get install -y chromium; "
           "or set PORTLEDGER_CHROMIUM)")


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@needs_browser
def test_browser_detects_console_errors_and_fetches(tmp_path: Path) -> None:
    """The check below would catch a broken page: a console error and a fetch show up."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><p>hi</p><script>console.error("boom")</script>'
                   '<img src="http://192.0.2.1/x.png">', encoding="utf-8")
    run = load(str(BROWSER), bad.as_uri(), tmp_path / "profile")
    assert "console.error: boom" in run.errors()
    assert "http://192.0.2.1/x.png" in run.requests


@needs_browser
def test_html_report_in_a_browser(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    assert cli.main(["report", "--format", "html", "--mapping", str(SHIPPED_LEDGER),
                              "-o", str(page)]) == 0
    run = load(str(BROWSER), page.as_uri(), tmp_path / "profile")
    assert run.errors() == []
    assert run.requests == [page.as_uri()]  # nothing fetched but the page itself
    text = run.text
    assert text.startswith("Port map")
    assert "11 services, 13 allocations in 8 ranges" in text
    for name in ("core-infrastructure", "user-facing", "Ranges", "depends on", "/api/health"):
        assert name in text
    for service, port in shipped_services():
        assert f"{service} {port}" in text  # the SVG labels are page text too
    width, height = png_size(run.screenshot)
    assert width == 1280 and height > 1500
    assert len(run.screenshot) > 50_000  # a drawn page, not a blank one
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "report.png").write_bytes(run.screenshot)
    if os.environ.get("PORTLEDGER_UPDATE_DOCS") == "1":
        shutil.copyfile(ARTIFACTS / "report.png", DOCS_SHOT)


@needs_browser
def test_conflict_report_in_a_browser(tmp_path: Path) -> None:
    page = tmp_path / "conflicts.html"
    assert cli.main(["report", "--format", "html", "--mapping", str(EXAMPLE_1),
                              "-o", str(page)]) == 0
    run = load(str(BROWSER), page.as_uri(), tmp_path / "profile")
    assert run.errors() == []
    assert "2 conflicts (in red)" in run.text
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "report-conflicts.png").write_bytes(run.screenshot)


# Every text node's colour against the first opaque background behind it (SVG text: its
# fill on the page's white), as WCAG 2 computes contrast; and what a narrow screen shows.
LAYOUT_JS = r"""
(() => {
  const rgb = (s) => (s.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((c) => { c /= 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; })
    .reduce((s, c, i) => s + c * [0.2126, 0.7152, 0.0722][i], 0);
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05); };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const low = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || el.closest("title, style")) continue;
    const style = getComputedStyle(el);
    const fg = rgb(el.closest("svg") ? style.fill : style.color).slice(0, 3);
    const r = ratio(fg, background(el));
    if (r < 4.5) low.add(`${el.tagName.toLowerCase()}.${el.getAttribute("class") || ""} `
                         + `${style.color} ${r.toFixed(2)}`);
  }
  const svg = document.querySelector("svg");
  return {
    low: [...low].sort(),
    pageWidth: document.documentElement.scrollWidth,
    svgWidth: Math.round(svg.getBoundingClientRect().width),
    smallestSvgText: Math.min(...[...svg.querySelectorAll("text")].map(
      (t) => t.getBoundingClientRect().height).filter((h) => h > 0)),
    marks: svg.querySelectorAll(".mark").length,
    focusableMarks: svg.querySelectorAll('.mark[tabindex="0"][aria-label]').length,
    tables: document.querySelectorAll("table").length,
    captioned: document.querySelectorAll("table > caption").length,
    unscrolledTables: [...document.querySelectorAll("table")].filter(
      (t) => !t.parentElement.classList.contains("scroll")).length,
  };
})()
"""


@needs_browser
@pytest.mark.parametrize("width", [390, 1400])
@pytest.mark.parametrize("ledger", [SHIPPED_LEDGER, EXAMPLE_1], ids=["shipped", "conflicts"])
def test_html_report_on_a_phone_and_a_wide_screen(tmp_path: Path, width: int,
                                                  ledger: Path) -> None:
    page = tmp_path / "report.html"
    assert cli.main(["report", "--format", "html", "--mapping", str(ledger), "-o",
                     str(page)]) == 0
    run = load(str(BROWSER), page.as_uri(), tmp_path / "profile", width=width,
               evaluate=LAYOUT_JS)
    got = run.value
    assert run.errors() == []
    assert got["low"] == []  # WCAG AA: every text at 4.5:1 or more
    # The page itself never scrolls sideways; the map keeps its own size (its labels
    # readable) and scrolls in its own box, as do the tables.
    assert got["pageWidth"] == width
    assert got["svgWidth"] == report.WIDTH
    assert got["smallestSvgText"] >= 9
    assert got["marks"] > 0 and got["focusableMarks"] == got["marks"]
    assert got["tables"] == got["captioned"] > 0
    assert got["unscrolledTables"] == 0
    assert png_size(run.screenshot)[0] == width
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"report-{ledger.parent.name}-{width}.png").write_bytes(run.screenshot)
