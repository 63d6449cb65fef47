"""Reporters: they only format findings; checks never print.

``text`` (the default), ``json``, ``github`` (workflow commands: annotations on the
offending lines), ``sarif`` (2.1.0, for GitHub code scanning) and ``markdown`` (for
``$GITHUB_STEP_SUMMARY``). ``python -m portledger.reporters`` renders the JSON output of
``portledger check`` again in another format, so a CI job checks once and reports in
several formats.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from portledger.findings import Finding, Rule, Severity
from portledger.paths import for_output

FORMATS = ("text", "json", "github", "sarif", "markdown")

SUMMARY_LIMIT = 1024 * 1024
"""GitHub refuses a step summary over 1 MiB (and then shows none of it)."""
SUMMARY_BUDGET = 1_000_000
"""What the markdown reporter allows itself: the limit less room for the step's other
writes to ``$GITHUB_STEP_SUMMARY``."""

ChangeRow = Mapping[str, Any]
"""One port change: ``kind, service, name, old, new, protocol, file`` (plain values)."""


@dataclass(frozen=True)
class Commits:
    """The commit check's outcome, as ``portledger check-commits --format json`` writes it.

    ``result`` is passed, failed or skipped (``reason`` says why); ``undocumented`` holds
    ``{"sha", "subject", "trailers"}`` per failing commit (``sha`` None for a squash
    merge's one message)."""

    result: str
    checked: int = 0
    reason: str = ""
    undocumented: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class Run:
    """What a CI run adds to a report (``portledger render``'s options).

    ``reasons``: why the run fails (always annotated, listed first in the summary);
    ``commits``: the commit check; ``link``: a URL prefix that makes a file a link
    (``https://github.com/OWNER/REPO/blob/SHA/``); ``annotate``: which findings may be
    annotations (``filter: changed``); ``category``: SARIF's ``automationDetails.id``."""

    reasons: tuple[str, ...] = ()
    commits: Commits | None = None
    link: str | None = None
    annotate: Callable[[Finding], bool] | None = field(default=None, compare=False)
    category: str | None = None


def default_format(environ: Mapping[str, str]) -> str:
    """The format when none is given: ``github`` inside GitHub Actions, else ``text``."""
    return "github" if environ.get("GITHUB_ACTIONS") == "true" else "text"


def summary(findings: Sequence[Finding], files: int,
            suppressed: int | None = None, baselined: int | None = None) -> dict[str, int]:
    counts = {
        "errors": sum(f.severity is Severity.ERROR for f in findings),
        "warnings": sum(f.severity is Severity.WARNING for f in findings),
        "notices": sum(f.severity is Severity.NOTICE for f in findings),
        "files": files,
    }
    if suppressed is not None:  # check's: left out by inline suppressions
        counts["suppressed"] = suppressed
    if baselined is not None:  # check's: left out because the baseline holds them
        counts["baselined"] = baselined
    return counts


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def text(findings: Sequence[Finding], files: int, out: TextIO, *,
         suppressed: int | None = None, baselined: int | None = None,
         quiet: bool = False) -> None:
    """``path:line:col: CODE rule message``, the resolution plan on a second line, then
    the count (not with ``quiet``; also when all findings were ``suppressed``)."""
    for f in findings:
        level = "" if f.severity is Severity.ERROR else f" [{f.severity.value}]"
        out.write(f"{f.file}:{f.line}:{f.column}: {f.code} {f.rule}{level} {f.message}\n")
        if f.fix:
            out.write(f"    fix: {f.fix}\n")
    if (findings or suppressed or baselined) and not quiet:
        s = summary(findings, files)
        parts = [_plural(s["errors"], "error"), _plural(s["warnings"], "warning")]
        left_out = [f"{suppressed} suppressed"] if suppressed else []
        left_out += [f"{baselined} in the baseline"] if baselined else []
        more = f" ({', '.join(left_out)})" if left_out else ""
        out.write(f"Found {', '.join(parts)} in {_plural(files, 'file')}{more}.\n")


def json_(findings: Sequence[Finding], files: int, out: TextIO, *,
          suppressed: int | None = None, baselined: int | None = None) -> None:
    """The JSON of DESIGN.md: ``{"findings": [...], "summary": {...}}``."""
    doc = {"findings": [f.as_dict() for f in findings],
           "summary": summary(findings, files, suppressed, baselined)}
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
    from portledger.report.sarif import span

    props = [("file", f.file.replace(os.sep, "/")), ("line", str(f.line)), ("col", str(f.column))]
    end_line, end_column = span(f)
    if end_line is not None:
        props.append(("endLine", str(end_line)))
        if end_column is not None:
            props.append(("endColumn", str(end_column)))
    props.append(("title", f"{f.code} {f.rule}"))
    message = f.message if not f.fix else f"{f.message}\nfix: {f.fix}"
    joined = ",".join(f"{k}={escape_property(v)}" for k, v in props)
    return f"::{f.severity.value} {joined}::{escape_data(message)}"


ANNOTATION_LIMIT = 10
"""GitHub shows at most 10 annotations of each severity (error, warning, notice) a step;
the steps of a composite action share one such budget, and the rest are dropped unsaid."""

_SEVERITIES = (Severity.ERROR, Severity.WARNING, Severity.NOTICE)


def plain_command(level: str, message: str, title: str = "portledger") -> str:
    """A workflow command with a title and no file: an annotation on the run."""
    return f"::{level} title={escape_property(title)}::{escape_data(message)}"


def github(findings: Sequence[Finding], files: int, out: TextIO, *,
           run: Run | None = None, limit: int = ANNOTATION_LIMIT) -> None:
    """Annotations within GitHub's budget of ``limit`` a severity a step.

    Errors first, then warnings, then notices, each by file and line; the failure reasons
    of ``run`` are errors that always get a place. A severity with more findings than
    places (or findings off the lines a change touched, under ``filter: changed``) ends
    with one notice "N more errors not annotated ...", and those findings are written to
    the log as plain lines, so none is lost.
    """
    run = run or Run()
    reasons = list(run.reasons)[:limit]
    wanted = {sev: [f for f in sorted(findings) if f.severity is sev] for sev in _SEVERITIES}
    shown: dict[Severity, list[Finding]] = {}
    caps = {Severity.ERROR: limit - len(reasons), Severity.WARNING: limit}
    for sev in (Severity.ERROR, Severity.WARNING):
        pool = [f for f in wanted[sev] if run.annotate is None or run.annotate(f)]
        shown[sev] = pool[:caps[sev]]
    more = sum(len(wanted[s]) > len(shown[s]) for s in (Severity.ERROR, Severity.WARNING))
    pool = [f for f in wanted[Severity.NOTICE] if run.annotate is None or run.annotate(f)]
    room = limit - more
    if len(wanted[Severity.NOTICE]) > min(len(pool), room):
        room -= 1
    shown[Severity.NOTICE] = pool[:max(room, 0)]
    for sev in _SEVERITIES:
        for f in shown[sev]:
            out.write(workflow_command(f) + "\n")
        if sev is Severity.ERROR:
            for reason in reasons:
                out.write(plain_command("error", reason) + "\n")
    rest: list[Finding] = []
    for sev in _SEVERITIES:
        kept = set(shown[sev])
        left = [f for f in wanted[sev] if f not in kept]
        if not left:
            continue
        off = sum(1 for f in left if run.annotate is not None and not run.annotate(f))
        why = [f"{off} off the lines this change touches"] if off else []
        if len(left) - off:
            why.append(f"{len(left) - off} past GitHub's {limit} annotations a step")
        out.write(plain_command(
            "notice", f"{_plural(len(left), 'more ' + sev.value)} not annotated "
            f"({', '.join(why)}): see the job summary") + "\n")
        rest.extend(left)
    for f in sorted(rest):
        out.write(f"{f.file}:{f.line}:{f.column}: {f.code} {f.rule} [{f.severity.value}] "
                  f"{f.message}\n")


# --- sarif -----------------------------------------------------------------------------

def sarif(findings: Sequence[Finding], files: int, out: TextIO,
          rules: Sequence[Rule] = (), category: str | None = None) -> None:
    """SARIF 2.1.0, within GitHub code scanning's upload limits (see :mod:`.sarif`)."""
    from portledger.report import sarif as sarif_mod

    json.dump(sarif_mod.document(findings, files, rules=rules, category=category), out,
              indent=1, ensure_ascii=False)
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


def _where(file: str, line: int | None, link: str | None, shown: str | None = None) -> str:
    """``file:line`` as a cell, a link to the line when ``link`` is a blob URL prefix."""
    text = md_cell(shown if shown is not None else (f"{file}:{line}" if line else file))
    if not link:
        return text
    from urllib.parse import quote

    url = link + quote(file.replace("\\", "/")) + (f"#L{line}" if line else "")
    return f"[{text}]({url.replace(')', '%29')})"


def _finding_row(f: Finding, link: str | None = None) -> str:
    from portledger.report.sarif import RULES_DOC

    rule = f"[{f.code}]({RULES_DOC}#{f.code.lower()}-{f.rule}) {md_cell(f.rule)}"
    message = md_cell(f.message) + (f"<br>fix: {md_cell(f.fix)}" if f.fix else "")
    if link:
        return _row([f"{_ICONS[f.severity]} {f.severity.value}", rule,
                     _where(f.file, f.line, link, f"{f.file}:{f.line}:{f.column}"), message])
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


def _change_row(c: ChangeRow, also: Sequence[ChangeRow] = (), link: str | None = None) -> str:
    """One change; ``old``/``new`` may be plain values or port records (with protocol).
    ``also``: the same change written elsewhere (the ledger's row and the compose file's
    of one move): their files join this row's."""
    old, new = c.get("old"), c.get("new")
    records = [v for v in (new, old) if isinstance(v, Mapping)]
    protocol = c.get("protocol") or (records[0].get("protocol") if records else None)
    values = {"kind": c.get("kind"), "service": c.get("service"), "name": c.get("name"),
              "old": _port_text(old), "new": _port_text(new), "protocol": protocol}
    cells = [md_cell(values[k]) for k in _CHANGE_COLUMNS[:-1]]
    wheres = []
    for row in (c, *also):
        if row.get("file"):
            where = _where(str(row["file"]), row.get("line"), link)
            if where not in wheres:
                wheres.append(where)
    return _row([*cells, "<br>".join(wheres)])


def _change_rows(changes: Sequence[ChangeRow], link: str | None) -> list[str]:
    """One row a change: rows with one trailer (a move in the ledger and in its compose
    file) are one event, shown once with both files."""
    groups: dict[Any, list[ChangeRow]] = {}
    for i, c in enumerate(changes):
        groups.setdefault(str(c["trailer"]).lower() if c.get("trailer") else i, []).append(c)
    rows = []
    for group in groups.values():
        # The ledger's row names the ledger's port name; compose rows follow it.
        first = next((c for c in group if c.get("source") == "ledger"), group[0])
        rows.append(_change_row(first, [c for c in group if c is not first], link))
    return rows


def _commit_rows(commits: Commits) -> list[str]:
    rows = []
    for c in commits.undocumented:
        block = "".join(f"Port-Change: {t}\n" for t in c.get("trailers", ()))
        if c.get("sha"):
            who = f"**{md_cell(str(c['sha'])[:7])}** {md_cell(c.get('subject'))}"
        else:
            who = "**The pull request's title and body** (the squash commit's message)"
        rows.append(f"{who}\n\n```text\n{block}```\n\n")
    return rows


def _headline(s: Mapping[str, int], findings: int, files: int, run: Run | None) -> str:
    if findings:
        what = (f"{_plural(s['errors'], 'error')}, {_plural(s['warnings'], 'warning')}, "
                f"{_plural(s['notices'], 'notice')} in {_plural(files, 'file')}")
    else:
        what = f"no port problems in {_plural(files, 'file')}"
    commits = run.commits if run else None
    if commits is not None:
        n = len(commits.undocumented)
        if commits.result == "failed" and commits.undocumented and \
                commits.undocumented[0].get("sha") is None:
            what += "; the squash commit's message does not document its port changes"
        elif commits.result == "failed":
            what += (f"; {n} of {_plural(commits.checked, 'commit')} change ports "
                     "without saying so")
        elif commits.result == "passed":
            what += f"; every commit documents its port changes ({commits.checked} checked)"
        else:
            what += f"; commits not checked ({commits.reason or 'no commit range'})"
    if run is not None and run.reasons:
        icon = " :x:"
    elif run is not None or not findings:
        icon = " :white_check_mark:"
    else:
        icon = ""
    head = f"### portledger: {what}{icon}\n\n"
    if run is not None and run.reasons:
        head += "".join(f"- **Failed:** {md_cell(r)}\n" for r in run.reasons) + "\n"
    return head


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
                    "to 1 MiB. Every one is in the job's log and in "
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
    run: Run | None = None,
    budget: int = SUMMARY_BUDGET,
) -> None:
    """Job-summary Markdown: a headline (the verdict, with ``run``'s failure reasons), the
    port changes (when given), every finding, and every undocumented commit with the
    trailer lines to paste.

    ``changes`` are ``portledger diff --format json`` rows (or plain rows ``kind, service,
    name, old, new, protocol, file``). Past ``budget`` bytes the tables are cut, with a note
    saying how many were left out, and a per-rule count stands in for the rest.
    """
    link = run.link if run else None
    # With the commit check's outcome, its PL301 findings are its clause of the headline.
    own = [f for f in findings if not (run and run.commits and f.code == "PL301")]
    head = _headline(summary(own, files), len(own), files, run)
    parts = [head]
    used = _size(head)
    if len(findings) > 20:
        counts = Counter((f.code, f.rule, f.severity) for f in findings)
        by_rule = "| rule | severity | findings |\n|---|---|---|\n" + "".join(
            _row([f"{code} {md_cell(name)}", sev.value, str(n)])
            for (code, name, sev), n in sorted(counts.items(), key=lambda kv: kv[0][0])
        ) + "\n"
        parts.append(by_rule)
        used += _size(by_rule)
    commits = run.commits if run else None
    if commits is not None and commits.undocumented:
        header = (f"#### Commits that change ports without saying so "
                  f"({len(commits.undocumented)})\n\n"
                  "Add these lines at the end of each message, after a blank line "
                  "(`git rebase -i`, then `reword`):\n\n")
        text_, n = _fill(header, _commit_rows(commits), (budget - used) // 3, "commits")
        parts.append(text_)
        used += n
    if changes is not None:
        rows = _change_rows(changes, link)
        header = (f"#### Port changes ({len(rows)})\n\n"
                  + _row(["change", "service", "port name", "old", "new", "protocol", "file"])
                  + _row(["---"] * 7))
        if not changes:
            header = "#### Port changes\n\nThis change touches no port.\n"
        # Port changes are what reviewers read first: they may use half the budget.
        text_, n = _fill(header, rows, (budget - used) // 2 + (budget - used) % 2, "port changes")
        parts.append(text_ + "\n")
        used += n + 1
    if findings:
        header = (f"#### Findings ({len(findings)})\n\n"
                  + (_row(["severity", "rule", "file:line:col", "message"])
                     + _row(["---"] * 4) if link else
                     _row(["severity", "rule", "file", "line:col", "message"])
                     + _row(["---"] * 5)))
        text_, n = _fill(header, [_finding_row(f, link) for f in sorted(findings)],
                         budget - used, "findings")
        parts.append(text_)
    out.write("".join(parts).rstrip("\n") + "\n")


_REPORTERS: dict[str, Callable[..., None]] = {
    "text": text, "json": json_, "github": github, "sarif": sarif, "markdown": markdown}


def report(
    fmt: str,
    findings: Sequence[Finding],
    files: int,
    out: TextIO,
    *,
    changes: Sequence[ChangeRow] | None = None,
    rules: Sequence[Rule] = (),
    run: Run | None = None,
    suppressed: int | None = None,
    baselined: int | None = None,
    quiet: bool = False,
) -> None:
    """Write ``findings`` in format ``fmt`` (one of :data:`FORMATS`) to ``out``.

    ``changes`` (port-change rows) are shown by the ``markdown`` format only; ``rules``
    (the rules to describe) by ``sarif`` only; ``run`` (a CI run's verdict, commits,
    links, annotation filter, SARIF category) by ``github``, ``markdown`` and ``sarif``;
    ``suppressed`` and ``baselined`` (check's counts of findings left out) by ``text``
    and ``json``; ``quiet`` leaves out the text format's count line.
    """
    # Non-UTF-8 file names and, in a GitHub Actions log, what the runner would execute.
    actions = fmt == "text" and os.environ.get("GITHUB_ACTIONS") == "true"
    if fmt != "text" or actions:
        findings = [for_output(f, file=fmt != "sarif", actions=actions) for f in findings]
    if fmt == "markdown":
        markdown(findings, files, out, changes=changes, run=run)
    elif fmt == "sarif":
        sarif(findings, files, out, rules, category=run.category if run else None)
    elif fmt == "github":
        github(findings, files, out, run=run)
    elif fmt == "text":
        text(findings, files, out, suppressed=suppressed, baselined=baselined, quiet=quiet)
    elif fmt == "json":
        json_(findings, files, out, suppressed=suppressed, baselined=baselined)
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
