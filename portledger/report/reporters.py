"""Reporters: they only format findings; checks never print.

``text`` (the default), ``json``, ``github`` (workflow commands: annotations on the
offending lines), ``sarif`` (2.1.0, for GitHub code scanning) and ``markdown`` (for
``$GITHUB_STEP_SUMMARY``). ``python -m portledger.reporters`` renders the JSON output of
``portledger check`` again in another format, so a CI job checks once and reports in
several formats.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from portledger.findings import Finding, Rule, Severity

FORMATS = ("text", "json", "github", "sarif", "markdown")

SUMMARY_LIMIT = 1024 * 1024
"""GitHub refuses a step summary over 1 MiB (and then shows none of it)."""
SUMMARY_BUDGET = 1_000_000
"""What the markdown reporter allows itself: the limit less room for the step's other
writes to ``$GITHUB_STEP_SUMMARY``."""

ChangeRow = Mapping[str, Any]
"""One port change: ``kind, service, name, old, new, protocol, file`` (plain values)."""


def default_format(environ: Mapping[str, str]) -> str:
    """The format when none is given: ``github`` inside GitHub Actions, else ``text``."""
    return "github" if environ.get("GITHUB_ACTIONS") == "true" else "text"


def summary(findings: Sequence[Finding], files: int) -> dict[str, int]:
    return {
        "errors": sum(f.severity is Severity.ERROR for f in findings),
        "warnings": sum(f.severity is Severity.WARNING for f in findings),
        "notices": sum(f.severity is Severity.NOTICE for f in findings),
        "files": files,
    }


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def text(findings: Sequence[Finding], files: int, out: TextIO) -> None:
    """``path:line:col: CODE rule message``, the resolution plan on a second line."""
    for f in findings:
        level = "" if f.severity is Severity.ERROR else f" [{f.severity.value}]"
        out.write(f"{f.file}:{f.line}:{f.column}: {f.code} {f.rule}{level} {f.message}\n")
        if f.fix:
            out.write(f"    fix: {f.fix}\n")
    if findings:
        s = summary(findings, files)
        parts = [_plural(s["errors"], "error"), _plural(s["warnings"], "warning")]
        out.write(f"Found {', '.join(parts)} in {_plural(files, 'file')}.\n")


def json_(findings: Sequence[Finding], files: int, out: TextIO) -> None:
    """The JSON of DESIGN.md: ``{"findings": [...], "summary": {...}}``."""
    doc = {"findings": [f.as_dict() for f in findings], "summary": summary(findings, files)}
    json.dump(doc, out, indent=2)
    out.write("\n")


# --- github: workflow commands ---------------------------------------------------------

def escape_data(s: str) -> str:
    """A workflow command's message, escaped as actions/toolkit's ``escapeData`` does."""
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s: str) -> str:
    """A workflow command's property value, as actions/toolkit's ``escapeProperty``."""
    return escape_data(s).replace(":", "%3A").replace(",", "%2C")


def workflow_command(f: Finding) -> str:
    """``::error file=F,line=L,col=C,endLine=E,endColumn=EC,title=CODE rule::message``."""
    props = [("file", f.file.replace("\\", "/")), ("line", str(f.line)), ("col", str(f.column))]
    if f.end_line is not None and f.end_line >= f.line:
        props.append(("endLine", str(f.end_line)))
        if f.end_column is not None:
            props.append(("endColumn", str(f.end_column)))
    props.append(("title", f"{f.code} {f.rule}"))
    message = f.message if not f.fix else f"{f.message}\nfix: {f.fix}"
    joined = ",".join(f"{k}={escape_property(v)}" for k, v in props)
    return f"::{f.severity.value} {joined}::{escape_data(message)}"


def github(findings: Sequence[Finding], files: int, out: TextIO) -> None:
    """One workflow command a finding: GitHub shows each as an annotation on its line.

    GitHub shows at most 10 annotations of each severity a step (50 a job); the job
    summary (``markdown``) and SARIF carry every finding.
    """
    for f in findings:
        out.write(workflow_command(f) + "\n")


# --- sarif -----------------------------------------------------------------------------

def sarif(findings: Sequence[Finding], files: int, out: TextIO,
          rules: Sequence[Rule] = ()) -> None:
    """SARIF 2.1.0, within GitHub code scanning's upload limits (see :mod:`.sarif`)."""
    from portledger.report import sarif as sarif_mod

    json.dump(sarif_mod.document(findings, files, rules=rules), out, indent=1, ensure_ascii=False)
    out.write("\n")


# --- markdown: the job summary ---------------------------------------------------------

_MD_SPECIAL = {"\\": "\\\\", "|": "\\|", "`": "\\`", "*": "\\*", "_": "\\_", "[": "\\[",
               "]": "\\]", "&": "&amp;", "<": "&lt;", ">": "&gt;", "#": "\\#", "~": "\\~"}
_ICONS = {Severity.ERROR: ":x:", Severity.WARNING: ":warning:",
          Severity.NOTICE: ":information_source:"}
_CHANGE_COLUMNS = ("kind", "service", "name", "old", "new", "protocol", "file")


def md_cell(value: object) -> str:
    """A value as one GitHub table cell: Markdown and HTML inert, one line."""
    if value is None or value == "":
        return ""
    s = str(value)
    s = "".join(_MD_SPECIAL.get(c, c) for c in s)
    return s.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |\n"


def _finding_row(f: Finding) -> str:
    from portledger.report.sarif import RULES_DOC

    rule = f"[{f.code}]({RULES_DOC}#{f.code.lower()}-{f.rule}) {md_cell(f.rule)}"
    message = md_cell(f.message) + (f"<br>fix: {md_cell(f.fix)}" if f.fix else "")
    return _row([f"{_ICONS[f.severity]} {f.severity.value}", rule, md_cell(f.file),
                 f"{f.line}:{f.column}", message])


def _port_text(value: Any) -> Any:
    """A change's old or new port: a plain value, or a port record (``portdiff.Port``)."""
    if isinstance(value, Mapping):
        host, port = value.get("host_ip"), value.get("port")
        if host:
            return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
        return port
    return value


def _change_row(c: ChangeRow) -> str:
    """One change; ``old``/``new`` may be plain values or port records (with protocol)."""
    old, new = c.get("old"), c.get("new")
    records = [v for v in (new, old) if isinstance(v, Mapping)]
    protocol = c.get("protocol") or (records[0].get("protocol") if records else None)
    where = c.get("file")
    if where and c.get("line"):
        where = f"{where}:{c['line']}"
    values = {"kind": c.get("kind"), "service": c.get("service"), "name": c.get("name"),
              "old": _port_text(old), "new": _port_text(new), "protocol": protocol,
              "file": where}
    return _row([md_cell(values[k]) for k in _CHANGE_COLUMNS])


def _size(s: str) -> int:
    return len(s.encode("utf-8"))


def _fill(header: str, rows: Sequence[str], budget: int, what: str) -> tuple[str, int]:
    """``header`` and as many ``rows`` as fit in ``budget`` bytes, with a note if not all."""
    used = _size(header)
    kept: list[str] = []
    for i, row in enumerate(rows):
        # Keep room for the note that says how many were left out.
        if used + _size(row) + 200 > budget:
            note = (f"\n_{len(rows) - i} more {what} not shown: the job summary is limited "
                    "to 1 MiB. Every one is in the annotations, the SARIF file and "
                    "`portledger check --format json`._\n")
            return header + "".join(kept) + note, used + _size(note)
        kept.append(row)
        used += _size(row)
    return header + "".join(kept), used


def markdown(
    findings: Sequence[Finding],
    files: int,
    out: TextIO,
    *,
    changes: Sequence[ChangeRow] | None = None,
    budget: int = SUMMARY_BUDGET,
) -> None:
    """Job-summary Markdown: a headline, the port changes (when given), the findings.

    ``changes`` are plain rows (``kind, service, name, old, new, protocol, file``), as
    ``portledger diff`` produces them. Past ``budget`` bytes the tables are cut and a
    per-rule count stands in for the rest.
    """
    s = summary(findings, files)
    if findings:
        head = (f"### portledger: {_plural(s['errors'], 'error')}, "
                f"{_plural(s['warnings'], 'warning')}, {_plural(s['notices'], 'notice')} "
                f"in {_plural(files, 'file')}\n\n")
    else:
        head = (f"### portledger: no port problems in {_plural(files, 'file')} "
                ":white_check_mark:\n\n")
    parts = [head]
    used = _size(head)
    by_rule = ""
    if len(findings) > 20:
        counts = Counter((f.code, f.rule, f.severity) for f in findings)
        by_rule = "| rule | severity | findings |\n|---|---|---|\n" + "".join(
            _row([f"{code} {md_cell(name)}", sev.value, str(n)])
            for (code, name, sev), n in sorted(counts.items(), key=lambda kv: kv[0][0])
        ) + "\n"
        parts.append(by_rule)
        used += _size(by_rule)
    if changes is not None:
        header = (f"#### Port changes ({len(changes)})\n\n"
                  + _row(["change", "service", "port name", "old", "new", "protocol", "file"])
                  + _row(["---"] * 7))
        if not changes:
            header = "#### Port changes\n\nThis change touches no port.\n"
            rows: list[str] = []
        else:
            rows = [_change_row(c) for c in changes]
        # Port changes are what reviewers read first: they may use half the budget.
        text_, n = _fill(header, rows, (budget - used) // 2 + (budget - used) % 2, "port changes")
        parts.append(text_ + "\n")
        used += n + 1
    if findings:
        header = (f"#### Findings ({len(findings)})\n\n"
                  + _row(["severity", "rule", "file", "line:col", "message"])
                  + _row(["---"] * 5))
        text_, n = _fill(header, [_finding_row(f) for f in findings], budget - used, "findings")
        parts.append(text_)
    out.write("".join(parts).rstrip("\n") + "\n")


_REPORTERS = {"text": text, "json": json_, "github": github, "sarif": sarif, "markdown": markdown}


def report(
    fmt: str,
    findings: Sequence[Finding],
    files: int,
    out: TextIO,
    *,
    changes: Sequence[ChangeRow] | None = None,
    rules: Sequence[Rule] = (),
) -> None:
    """Write ``findings`` in format ``fmt`` (one of :data:`FORMATS`) to ``out``.

    ``changes`` (port-change rows) are shown by the ``markdown`` format only; ``rules``
    (the rules to describe) by ``sarif`` only.
    """
    if fmt == "markdown":
        markdown(findings, files, out, changes=changes)
    elif fmt == "sarif":
        sarif(findings, files, out, rules)
    else:
        _REPORTERS[fmt](findings, files, out)


# --- re-rendering the JSON output ------------------------------------------------------

def findings_from_json(doc: Mapping[str, Any]) -> tuple[list[Finding], int]:
    """The findings and file count of ``portledger check --format json`` output."""
    fields = ("end_line", "end_column", "service", "port", "protocol", "fix")
    findings = [
        Finding(file=d["file"], line=d["line"], column=d["column"], code=d["code"],
                rule=d["rule"], severity=Severity(d["severity"]), message=d["message"],
                **{k: d.get(k) for k in fields})
        for d in doc["findings"]
    ]
    return findings, int(doc.get("summary", {}).get("files", 0))


def changes_from_json(doc: Any) -> list[ChangeRow]:
    """Port-change rows from a JSON list, or from ``{"changes": [...]}``."""
    rows = doc.get("changes", []) if isinstance(doc, Mapping) else doc
    if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
        raise ValueError("expected a list of change objects, or {\"changes\": [...]}")
    return list(rows)
