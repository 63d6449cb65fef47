"""``portledger report``: the port map for people, as Markdown (for wikis) or one HTML page.

The HTML page is self-contained (inline CSS and SVG, no script, a Content-Security-Policy
that forbids every fetch): a picture of the port space, one band per range with each
allocation a mark labelled with its service, reserved and ephemeral ports shaded, and
conflicts (error findings of ``portledger check``) in red; then the same tables as the
Markdown, one per category.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from portledger import __version__
from portledger.errors import FatalError
from portledger.findings import Finding, Severity

if TYPE_CHECKING:
    from portledger.check import Result as CheckResult
    from portledger.ledger.model import Allocation, Ledger, Range

FORMATS = ("markdown", "html")


# --- the model the two formats share ----------------------------------------------------

@dataclass
class Mark:
    """One allocation as drawn and tabled, with the findings about it."""

    allocation: Allocation
    problems: list[Finding] = field(default_factory=list)

    @property
    def level(self) -> str:
        """``conflict`` (an error finding), ``warning`` (a lesser one) or ``ok``."""
        if any(f.severity is Severity.ERROR for f in self.problems):
            return "conflict"
        return "warning" if self.problems else "ok"


@dataclass
class PortMap:
    ledger: Ledger
    findings: list[Finding]
    marks: list[Mark]

    def in_category(self, category: str) -> list[Mark]:
        return [m for m in self.marks
                if self.ledger.services[m.allocation.service].category == category]

    def categories(self) -> list[str]:
        """Range names by start, then categories that name no range (PL110)."""
        ordered = [r.name for r in sorted(self.ledger.ranges.values(), key=lambda r: r.start)]
        for s in self.ledger.services.values():
            if s.category not in ordered:
                ordered.append(s.category)
        return ordered


def _about(f: Finding, a: Allocation, ledger: Ledger) -> bool:
    """Does finding ``f`` concern allocation ``a``?"""
    if f.port is None or not a.start <= f.port <= a.end:
        return False
    if f.protocol is not None and f.protocol != a.protocol:
        return False
    if f.service == a.service:
        return True
    if f.service is not None:
        owner = ledger.service_for_compose_name(f.service)
        if owner is not None and owner.name == a.service:
            return True
    # A collision names the newcomer; the port's owner is in the conflict too.
    return f.code in ("PL104", "PL202", "PL204")


def build(result: CheckResult) -> PortMap:
    """The port map of a check's result (:func:`portledger.check.run`)."""
    if result.ledger is None:
        first = result.findings[0] if result.findings else None
        where = f"{first.file}:{first.line}:{first.column}: {first.message}" if first else ""
        raise FatalError(f"report: the ledger cannot be read ({where}); "
                         "run `portledger check` for every problem")
    ledger = result.ledger
    marks = []
    for a in ledger.allocations():
        problems = [f for f in result.findings if _about(f, a, ledger)]
        marks.append(Mark(a, problems))
    return PortMap(ledger, list(result.findings), marks)


def _deps(ledger: Ledger, service: str) -> str:
    return ", ".join(ledger.services[service].depends_on)


def _range_text(r: Range | None) -> str:
    return f"{r.start}-{r.end}" if r else ""


# --- markdown -----------------------------------------------------------------------------

def _md(value: object) -> str:
    from portledger.report.reporters import md_cell

    return md_cell(value)


def _table_rows(pm: PortMap, category: str) -> list[list[str]]:
    rows = []
    ledger = pm.ledger
    marks = pm.in_category(category)
    seen = {m.allocation.service for m in marks}
    for m in sorted(marks, key=lambda m: (m.allocation.start, m.allocation.service)):
        a = m.allocation
        s = ledger.services[a.service]
        notes = [f"{f.code} {f.rule}: {f.message}" for f in m.problems]
        if a.exception:
            notes.insert(0, f"exception: {a.exception}")
        rows.append([a.service, s.owner or "", s.status, a.name, a.label, a.protocol,
                     a.host_ip or "", "" if a.target is None else str(a.target),
                     a.health or "", _deps(ledger, a.service), "\n".join(notes), m.level])
    for s in ledger.services.values():  # services with no port still belong in the table
        if s.category == category and s.name not in seen:
            rows.append([s.name, s.owner or "", s.status, "", "", "", "", "", "",
                         _deps(ledger, s.name), "", "ok"])
    return rows


HOST_COLUMNS = ("host", "projects", "services", "ports held there")


def _host_rows(ledger: Ledger) -> list[list[str]]:
    """One row per host of the ledger's ``hosts``: what runs there and the ports held
    there (a port no host limits, of a service no host names, is on every host)."""
    from portledger.ledger.hosts import on

    rows = []
    for h in ledger.hosts.hosts:
        projects = [*h.projects, *(f"each {p}" for p in h.each)]
        held = [f"{a.label}/{a.protocol} {a.service}.{a.name}"
                for a in sorted(ledger.allocations(), key=lambda a: (a.start, a.order))
                if on(ledger.placement(a), h.name)]
        rows.append([h.name, ", ".join(projects), ", ".join(h.services), ", ".join(held)])
    return rows


COLUMNS = ("service", "owner", "status", "port name", "port", "protocol", "host address",
           "target", "health", "depends on", "notes")


def markdown(pm: PortMap, out: TextIO) -> None:
    """The port map as Markdown tables: ranges, then one table per category."""
    ledger = pm.ledger
    out.write(f"# Port map\n\n{len(ledger.services)} services, {len(pm.marks)} allocations "
              f"in {len(ledger.ranges)} ranges, from `{ledger.path}` "
              f"(portledger {__version__}).\n\n")
    out.write("## Ranges\n\n| range | ports | reserved | allocations | description |\n"
              "| --- | --- | --- | --- | --- |\n")
    for r in sorted(ledger.ranges.values(), key=lambda r: r.start):
        count = sum(1 for m in pm.marks if r.start <= m.allocation.start <= r.end)
        out.write(f"| {_md(r.name)} | {r.start}-{r.end} | {'yes' if r.reserved else ''} | "
                  f"{count} | {_md(r.description)} |\n")
    lo, hi = ledger.ephemeral
    out.write(f"\nThe OS ephemeral range is {lo}-{hi}; ports below 1024 are system ports.\n")
    if ledger.hosts:
        out.write("\n## Hosts\n\nPorts conflict only between what shares a host.\n\n| "
                  + " | ".join(HOST_COLUMNS) + " |\n| "
                  + " | ".join(["---"] * len(HOST_COLUMNS)) + " |\n")
        for row in _host_rows(ledger):
            out.write("| " + " | ".join(_md(c) for c in row) + " |\n")
    for category in pm.categories():
        rows = _table_rows(pm, category)
        if not rows:
            continue
        rng = ledger.ranges.get(category)
        title = f"{category} ({_range_text(rng)})" if rng else f"{category} (no such range)"
        out.write(f"\n## {_md(title)}\n\n")
        if rng and rng.description:
            out.write(f"{_md(rng.description)}\n\n")
        out.write("| " + " | ".join(COLUMNS) + " |\n| " + " | ".join(["---"] * len(COLUMNS))
                  + " |\n")
        for row in rows:
            cells = [_md(c) for c in row[:-1]]
            if row[-1] == "conflict":
                cells[4] = f"**{cells[4]}** :x:"
            elif row[-1] == "warning":
                cells[4] = f"{cells[4]} :warning:"
            out.write("| " + " | ".join(cells) + " |\n")
    _md_problems(pm.findings, out)


def _md_problems(findings: Sequence[Finding], out: TextIO) -> None:
    if not findings:
        out.write("\nNo problems: `portledger check` passes.\n")
        return
    out.write(f"\n## Problems ({len(findings)})\n\n| rule | severity | where | message |\n"
              "| --- | --- | --- | --- |\n")
    for f in findings:
        out.write(f"| {f.code} {_md(f.rule)} | {f.severity.value} | "
                  f"{_md(f'{f.file}:{f.line}:{f.column}')} | {_md(f.message)} |\n")


# --- html ---------------------------------------------------------------------------------

PALETTE = ("#4e79a7", "#59a14f", "#9c755f", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
           "#8cd17d", "#a0cbe8", "#f1ce63")
RED, AMBER = "#b3141b", "#8a5a00"
"""Conflict and warning colours: text in them keeps WCAG AA contrast (4.5:1) on white and on
the conflict and warning rows' backgrounds (tests/test_report.py measures it in Chromium)."""

WIDTH = 1200
LEFT = 200  # room for band titles
RIGHT = 30
ROW = 15  # height of one row of labels
CHAR = 6.4  # average width of a character at 11px, to keep labels apart


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


@dataclass
class _Band:
    title: str
    subtitle: str
    start: int
    end: int
    color: str
    reserved: bool
    marks: list[Mark]
    categorical: bool = False  # marks evenly spaced (ports outside every range)


def _bands(pm: PortMap) -> list[_Band]:
    ledger = pm.ledger
    bands = []
    ranges = sorted(ledger.ranges.values(), key=lambda r: r.start)
    placed: set[int] = set()
    for i, r in enumerate(ranges):
        inside = [m for m in pm.marks if r.start <= m.allocation.start <= r.end]
        placed.update(id(m) for m in inside)
        sub = f"{r.start}-{r.end}" + (" · reserved" if r.reserved else "")
        bands.append(_Band(r.name, sub, r.start, r.end, PALETTE[i % len(PALETTE)],
                           r.reserved, inside))
    lo, hi = ledger.ephemeral
    rest = [m for m in pm.marks if id(m) not in placed]
    ephemeral = [m for m in rest if lo <= m.allocation.start <= hi]
    if ephemeral:
        bands.append(_Band("ephemeral", f"{lo}-{hi} · OS", lo, hi, "#bbbbbb", False, ephemeral))
    others = [m for m in rest if not lo <= m.allocation.start <= hi]
    if others:
        bands.append(_Band("outside every range", "not to scale", 0, 0, "#cccccc", False,
                           others, categorical=True))
    return bands


def _label(m: Mark) -> str:
    return f"{m.allocation.service} {m.allocation.label}"


def _tooltip(m: Mark, ledger: Ledger) -> str:
    a = m.allocation
    s = ledger.services[a.service]
    lines = [f"{a.service}.{a.name}: {a.label}/{a.protocol}"
             + (f" on {a.host_ip}" if a.host_ip else ""),
             f"owner: {s.owner or '-'}; status: {s.status}"]
    if a.exception:
        lines.append(f"exception: {a.exception}")
    lines += [f"{f.code} {f.rule}: {f.message}" for f in m.problems]
    return "\n".join(lines)


def _place_labels(xs: Sequence[float], texts: Sequence[str], lo: float, hi: float
                  ) -> tuple[list[float], list[int]]:
    """Label centres and rows (0 nearest the bar) so that no two labels overlap."""
    ends: list[float] = []
    centres, rows = [], []
    for x, t in sorted(zip(xs, texts, strict=True), key=lambda p: p[0]):
        w = len(t) * CHAR
        c = min(max(x, lo + w / 2), hi - w / 2)
        for row, end in enumerate(ends):
            if c - w / 2 > end + 6:
                ends[row] = c + w / 2
                break
        else:
            row = len(ends)
            ends.append(c + w / 2)
        centres.append(c)
        rows.append(row)
    # Back to the callers' order.
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    out_c, out_r = [0.0] * len(xs), [0] * len(xs)
    for k, i in enumerate(order):
        out_c[i], out_r[i] = centres[k], rows[k]
    return out_c, out_r


def _svg_overview(pm: PortMap, y: float) -> tuple[list[str], float]:
    """The whole port space 0-65535 on one line: ranges, system and ephemeral ports."""
    ledger = pm.ledger
    x0, x1 = LEFT, WIDTH - RIGHT

    def sx(p: float) -> float:
        return x0 + (x1 - x0) * p / 65535

    h = 26
    parts = [f'<text class="band-title" x="{LEFT - 12}" y="{y + 12}" text-anchor="end">'
             'all ports</text>',
             f'<text class="band-sub" x="{LEFT - 12}" y="{y + 25}" text-anchor="end">'
             '0-65535, to scale</text>',
             f'<rect x="{x0}" y="{y}" width="{x1 - x0}" height="{h}" class="space"/>',
             f'<rect x="{sx(0):.1f}" y="{y}" width="{sx(1023) - sx(0):.1f}" height="{h}" '
             'fill="url(#system)"><title>system ports 0-1023</title></rect>']
    lo, hi = ledger.ephemeral
    parts.append(f'<rect x="{sx(lo):.1f}" y="{y}" width="{sx(hi) - sx(lo):.1f}" height="{h}" '
                 f'fill="url(#ephemeral)"><title>OS ephemeral range {lo}-{hi}</title></rect>')
    ranges = sorted(ledger.ranges.values(), key=lambda r: r.start)
    for i, r in enumerate(ranges):
        fill = "url(#reserved)" if r.reserved else PALETTE[i % len(PALETTE)]
        w = max(sx(r.end + 1) - sx(r.start), 1)
        parts.append(f'<rect x="{sx(r.start):.1f}" y="{y}" width="{w:.1f}" '
                     f'height="{h}" fill="{fill}" class="range"><title>{_e(r.name)} '
                     f'{r.start}-{r.end}</title></rect>')
    for m in pm.marks:
        x = sx(m.allocation.start)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y - 3}" y2="{y + h + 3}" '
                     f'class="tick {m.level}"><title>{_e(_label(m))}</title></line>')
    for p in (0, 10000, 20000, 30000, 40000, 50000, 65535):
        parts.append(f'<text class="axis" x="{sx(p):.1f}" y="{y + h + 14}" '
                     f'text-anchor="middle">{p}</text>')
    return parts, y + h + 30


def _svg_band(band: _Band, pm: PortMap, y: float) -> tuple[list[str], float]:
    x0, x1 = LEFT, WIDTH - RIGHT
    marks = sorted(band.marks, key=lambda m: (m.allocation.start, m.allocation.service))
    if band.categorical:
        step = (x1 - x0) / (len(marks) + 1)
        xs = [x0 + step * (i + 1) for i in range(len(marks))]
        widths = [0.0] * len(marks)
    else:
        span = band.end - band.start + 1

        def sx(p: float) -> float:
            return x0 + (x1 - x0) * (p - band.start) / span

        xs = [sx(m.allocation.start + 0.5) for m in marks]
        widths = [sx(m.allocation.end + 1) - sx(m.allocation.start) for m in marks]
    texts = [_label(m) for m in marks]
    centres, rows = _place_labels(xs, texts, x0, x1)
    nrows = max(rows, default=-1) + 1
    bar_y = y + nrows * ROW + 8
    bar_h = 22
    fill = "url(#reserved)" if band.reserved else band.color
    parts = [f'<g class="band" data-range="{_e(band.title)}">',
             f'<text class="band-title" x="{LEFT - 12}" y="{bar_y + 10}" '
             f'text-anchor="end">{_e(band.title)}</text>',
             f'<text class="band-sub" x="{LEFT - 12}" y="{bar_y + 23}" '
             f'text-anchor="end">{_e(band.subtitle)}</text>',
             f'<rect x="{x0}" y="{bar_y}" width="{x1 - x0}" height="{bar_h}" fill="{fill}" '
             f'class="bar"/>']
    if not band.categorical:
        lo, hi = pm.ledger.ephemeral
        a, b = max(lo, band.start), min(hi, band.end)
        if a <= b and band.title != "ephemeral":
            span = band.end - band.start + 1
            ex0 = x0 + (x1 - x0) * (a - band.start) / span
            ex1 = x0 + (x1 - x0) * (b + 1 - band.start) / span
            parts.append(f'<rect x="{ex0:.1f}" y="{bar_y}" width="{ex1 - ex0:.1f}" '
                         f'height="{bar_h}" fill="url(#ephemeral)"><title>ephemeral '
                         f'{a}-{b}</title></rect>')
        if band.start < 1024:
            sx1 = x0 + (x1 - x0) * (min(band.end, 1023) + 1 - band.start) / span
            parts.append(f'<rect x="{x0}" y="{bar_y}" width="{sx1 - x0:.1f}" height="{bar_h}" '
                         'fill="url(#system)"/>')
        parts.append(f'<text class="axis" x="{x0}" y="{bar_y + bar_h + 13}">{band.start}</text>')
        parts.append(f'<text class="axis" x="{x1}" y="{bar_y + bar_h + 13}" '
                     f'text-anchor="end">{band.end}</text>')
    for m, x, w, c, row, t in zip(marks, xs, widths, centres, rows, texts,
                                  strict=True):
        ty = bar_y - 6 - row * ROW
        tip = _e(_tooltip(m, pm.ledger))
        cls = m.level
        # Focusable, with the tooltip as its accessible name: the details reach keyboard
        # and screen-reader users too, not only a mouse hovering.
        parts.append(f'<g class="mark {cls}" data-service="{_e(m.allocation.service)}" '
                     f'data-port="{_e(m.allocation.label)}" tabindex="0" role="img" '
                     f'aria-label="{tip}"><title>{tip}</title>')
        if w > 3:
            parts.append(f'<rect x="{x - w / 2:.1f}" y="{bar_y}" width="{w:.1f}" '
                         f'height="{bar_h}" class="span {cls}"/>')
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{bar_y}" y2="{bar_y + bar_h}" '
                     f'class="pin {cls}"/>')
        parts.append(f'<line x1="{x:.1f}" x2="{c:.1f}" y1="{bar_y}" y2="{ty + 3}" '
                     f'class="leader {cls}"/>')
        parts.append(f'<text x="{c:.1f}" y="{ty}" text-anchor="middle" '
                     f'class="label {cls}">{_e(t)}</text></g>')
    parts.append("</g>")
    return parts, bar_y + bar_h + 26


def _legend(y: float) -> tuple[list[str], float]:
    items = [("url(#reserved)", "reserved range"), ("url(#ephemeral)", "OS ephemeral ports"),
             ("url(#system)", "system ports (below 1024)"), (RED, "conflict (error)"),
             (AMBER, "warning")]
    parts = []
    x = float(LEFT)
    for fill, text in items:
        parts.append(f'<rect x="{x}" y="{y}" width="18" height="12" fill="{fill}" '
                     'class="swatch"/>')
        parts.append(f'<text class="legend" x="{x + 24}" y="{y + 10}">{_e(text)}</text>')
        x += 34 + len(text) * CHAR
    return parts, y + 24


SVG_DEFS = (
    "<defs>"
    '<pattern id="reserved" width="8" height="8" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="8" height="8" fill="#e6e6e6"/>'
    '<line x1="0" y1="0" x2="0" y2="8" stroke="#9a9a9a" stroke-width="3"/></pattern>'
    '<pattern id="ephemeral" width="6" height="6" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(-45)"><rect width="6" height="6" fill="#c9b8e8" '
    'fill-opacity="0.45"/><line x1="0" y1="0" x2="0" y2="6" stroke="#7b5cb8" '
    'stroke-width="1.2" stroke-opacity="0.7"/></pattern>'
    '<pattern id="system" width="5" height="5" patternUnits="userSpaceOnUse">'
    '<rect width="5" height="5" fill="#d0d0d0"/><circle cx="2.5" cy="2.5" r="1" fill="#777"/>'
    "</pattern></defs>"
)

CSS = f"""
:root {{ color-scheme: light; }}
body {{ font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  margin: 24px 32px; color: #1f2328; background: #fff; }}
h1 {{ font-size: 24px; margin: 0 0 4px; }}
h2 {{ font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }}
p.meta {{ color: #57606a; margin: 0 0 16px; }}
svg {{ display: block; height: auto; }}
.scroll {{ overflow-x: auto; max-width: 100%; }}
.scroll:focus-visible, .mark:focus-visible {{ outline: 3px solid #0969da; outline-offset: 2px; }}
.mark:focus .pin, .mark:focus .tick {{ stroke-width: 4; }}
caption {{ text-align: left; font-weight: 600; padding: 0 0 4px; }}
@media (max-width: 600px) {{
  body {{ margin: 12px; }}
  h1 {{ font-size: 20px; }}
}}
svg text {{ font-family: system-ui, "DejaVu Sans", sans-serif; }}
.band-title {{ font-size: 13px; font-weight: 600; fill: #1f2328; }}
.band-sub, .axis {{ font-size: 10px; fill: #57606a; }}
.legend {{ font-size: 11px; fill: #1f2328; }}
.space {{ fill: #f6f8fa; stroke: #d0d7de; }}
.bar {{ stroke: #8c959f; stroke-width: 0.6; fill-opacity: 0.55; }}
.swatch {{ stroke: #8c959f; stroke-width: 0.6; }}
.label {{ font-size: 11px; fill: #1f2328; }}
.label.conflict {{ fill: {RED}; font-weight: 700; }}
.label.warning {{ fill: {AMBER}; }}
.pin {{ stroke: #1f2328; stroke-width: 2.5; }}
.pin.conflict, .tick.conflict {{ stroke: {RED}; stroke-width: 3.5; }}
.pin.warning, .tick.warning {{ stroke: {AMBER}; }}
.tick {{ stroke: #1f2328; stroke-width: 1.2; }}
.leader {{ stroke: #8c959f; stroke-width: 0.7; }}
.leader.conflict {{ stroke: {RED}; }}
.span {{ fill: #1f2328; fill-opacity: 0.35; }}
.span.conflict {{ fill: {RED}; fill-opacity: 0.5; }}
table {{ border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }}
th, td {{ border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f6f8fa; }}
tr.conflict td {{ background: #ffebe9; }}
tr.conflict td.port {{ color: {RED}; font-weight: 700; }}
tr.warning td {{ background: #fff8c5; }}
td.port, td.num {{ font-variant-numeric: tabular-nums; white-space: nowrap; }}
td.notes {{ max-width: 420px; }}
.pill {{ display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 12px;
  background: #ddf4ff; }}
.pill.planned {{ background: #fff8c5; }}
.pill.retired, .pill.deprecated {{ background: #eaeef2; }}
"""


def svg(pm: PortMap) -> str:
    """The picture of the port space, as one inline SVG element."""
    parts, y = _svg_overview(pm, 18)
    for band in _bands(pm):
        more, y = _svg_band(band, pm, y + 4)
        parts += more
    legend, y = _legend(y + 4)
    parts += legend
    height = int(y + 8)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="map-title">'
            f'<title id="map-title">Port map of {_e(pm.ledger.path)}</title>{SVG_DEFS}'
            + "\n".join(parts) + "</svg>")


def _html_table(pm: PortMap, category: str) -> str:
    rows = _table_rows(pm, category)
    if not rows:
        return ""
    r = pm.ledger.ranges.get(category)
    if r:
        note = f'{r.start}-{r.end}{" · reserved" if r.reserved else ""}'
    else:
        note = "no such range"
    out = [f'<h2 id="cat-{_e(category)}">{_e(category)} <small>{_e(note)}</small></h2>']
    if r and r.description:
        out.append(f"<p>{_e(r.description)}</p>")
    out.append(f'<div class="scroll" tabindex="0" role="region" aria-label="{_e(category)}">'
               f"<table><caption>{_e(category)}: allocations</caption><thead><tr>"
               + "".join(f"<th>{_e(c)}</th>" for c in COLUMNS) + "</tr></thead><tbody>")
    for row in rows:
        level = row[-1]
        cells = []
        for i, value in enumerate(row[:-1]):
            cls = {4: "port", 7: "num", 10: "notes"}.get(i, "")
            text = "<br>".join(_e(v) for v in value.split("\n"))
            if i == 2 and value:
                text = f'<span class="pill {_e(value)}">{text}</span>'
            cells.append(f'<td class="{cls}">{text}</td>' if cls else f"<td>{text}</td>")
        out.append(f'<tr class="{level}">' + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def html_page(pm: PortMap) -> str:
    """The whole self-contained page."""
    ledger = pm.ledger
    errors = sum(f.severity is Severity.ERROR for f in pm.findings)
    status = (f"{errors} conflict{'s' * (errors != 1)} (in red)" if errors
              else "no conflicts")
    body = ["<h1>Port map</h1>",
            f'<p class="meta">{len(ledger.services)} services, {len(pm.marks)} allocations in '
            f"{len(ledger.ranges)} ranges, from <code>{_e(ledger.path)}</code>; {status}. "
            f"Made by portledger {__version__}.</p>",
            # At its own size, scrolled sideways on a narrow screen: shrunk to a phone's
            # width its labels would be 3 px high.
            '<div class="scroll map" tabindex="0" role="region" aria-label="port map">'
            + svg(pm) + "</div>",
            "<h2>Ranges</h2>",
            '<div class="scroll" tabindex="0" role="region" aria-label="ranges">'
            "<table><caption>Ranges of the port space</caption><thead><tr><th>range</th>"
            "<th>ports</th><th>reserved</th>"
            "<th>allocations</th><th>description</th></tr></thead><tbody>"]
    for r in sorted(ledger.ranges.values(), key=lambda r: r.start):
        count = sum(1 for m in pm.marks if r.start <= m.allocation.start <= r.end)
        body.append(f'<tr><td><a href="#cat-{_e(r.name)}">{_e(r.name)}</a></td>'
                    f'<td class="port">{r.start}-{r.end}</td>'
                    f"<td>{'yes' if r.reserved else ''}</td><td class=\"num\">{count}</td>"
                    f"<td>{_e(r.description)}</td></tr>")
    lo, hi = ledger.ephemeral
    body.append(f"</tbody></table></div><p>The OS ephemeral range is {lo}-{hi}; "
                "ports below 1024 are system ports.</p>")
    if pm.ledger.hosts:
        body.append('<h2 id="hosts">Hosts</h2><p>Ports conflict only between what shares a '
                    'host.</p><div class="scroll" tabindex="0" role="region" aria-label="hosts">'
                    "<table><caption>hosts: what runs there, the ports held there</caption>"
                    "<thead><tr>" + "".join(f"<th>{_e(c)}</th>" for c in HOST_COLUMNS)
                    + "</tr></thead><tbody>"
                    + "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>"
                              for row in _host_rows(pm.ledger))
                    + "</tbody></table></div>")
    for category in pm.categories():
        body.append(_html_table(pm, category))
    if pm.findings:
        body.append(f"<h2>Problems ({len(pm.findings)})</h2>"
                    '<div class="scroll" tabindex="0" role="region" aria-label="problems">'
                    f"<table><caption>Problems ({len(pm.findings)})</caption><thead><tr>"
                    "<th>rule</th><th>severity</th><th>where</th><th>message</th></tr></thead>"
                    "<tbody>")
        for f in pm.findings:
            level = "conflict" if f.severity is Severity.ERROR else "warning"
            body.append(f'<tr class="{level}"><td>{_e(f.code)} {_e(f.rule)}</td>'
                        f"<td>{_e(f.severity.value)}</td>"
                        f"<td>{_e(f'{f.file}:{f.line}:{f.column}')}</td>"
                        f"<td>{_e(f.message)}</td></tr>")
        body.append("</tbody></table></div>")
    else:
        body.append("<p>No problems: <code>portledger check</code> passes.</p>")
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Port map: {_e(ledger.path)}</title><style>{CSS}</style></head>"
            "<body>\n" + "\n".join(body) + "\n</body></html>\n")


def write(pm: PortMap, fmt: str, out: TextIO) -> None:
    if fmt == "html":
        out.write(html_page(pm))
    else:
        markdown(pm, out)
