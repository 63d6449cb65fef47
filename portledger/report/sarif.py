"""SARIF 2.1.0 for GitHub code scanning: one run, a rule entry per catalogue rule.

GitHub's limits on an upload (docs.github.com, "SARIF support for code scanning" and
"SARIF results exceed limit"): at most 25,000 results a run, of which only the first
5,000 by severity are shown, and at most 10 MB a file (gzip-compressed). portledger keeps
the :data:`MAX_RESULTS` most severe results (errors first, then by file and line), and
while the file is still over :data:`MAX_BYTES` uncompressed (a bound that holds before
compression, so it holds after) it halves the results again. What was left out is said in
the run's ``invocations[0].toolExecutionNotifications`` and counted in
``runs[0].properties``, so a truncated upload never passes for a complete one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from portledger import __version__
from portledger.findings import Finding, Rule, Severity

SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
REPOSITORY = "https://github.com/portledger/portledger"
RULES_DOC = f"{REPOSITORY}/blob/main/docs/rules.md"

MAX_RESULTS = 5_000
"""GitHub accepts 25,000 results a run but shows only the top 5,000 by severity."""
MAX_BYTES = 10_000_000
"""GitHub rejects an upload over 10 MB (gzip-compressed); this bounds the plain text."""

LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTICE: "note"}
PROBLEM_SEVERITY = {Severity.ERROR: "error", Severity.WARNING: "warning",
                    Severity.NOTICE: "recommendation"}
"""GitHub code scanning's ``problem.severity`` rule property (its severity filter)."""
FINGERPRINT_KEY = "portledgerFinding/v2"



def help_uri(rule: Rule) -> str:
    """The rule's section of docs/rules.md (GitHub's anchor for ``## PL202 owner-mismatch``)."""
    return f"{RULES_DOC}#{rule.code.lower()}-{rule.name}"


def artifact_uri(path: str) -> str:
    """A finding's file as a SARIF URI: relative (to the checkout root) when it is."""
    pure = PurePath(path)
    if pure.is_absolute():
        return "file://" + quote(os.fsencode(path))  # the name's own bytes, UTF-8 or not
    return quote(os.fsencode(path.replace(os.sep, "/")))


def fingerprints(findings: Sequence[Finding]) -> list[str]:
    """Stable ``partialFingerprints`` values, one per finding.

    A finding keeps its fingerprint when lines are added above it and when its message is
    worded otherwise: the hash covers the rule, file, service, port and protocol (and a
    finding's ``identity``, when it has one), not the position or the message; equal keys
    in one file are told apart by their order.
    """
    seen: Counter[str] = Counter()
    out = []
    for f in findings:
        key = "\0".join(
            [f.code, f.file, f.service or "", str(f.port or ""), f.protocol or "",
             f.identity or ""]
        )
        seen[key] += 1
        digest = hashlib.sha256(
            f"{key}\0{seen[key]}".encode("utf-8", "surrogateescape")).hexdigest()
        out.append(f"{digest[:32]}:{seen[key]}")
    return out


def _rule_entry(rule: Rule) -> dict[str, Any]:
    from portledger.report.ruledoc import markdown_body

    first = rule.doc.splitlines()[0].replace("``", "`") if rule.doc else rule.summary
    markdown = f"{first}\n\n{markdown_body(rule.doc)}" if rule.doc else rule.summary
    text = rule.doc.replace("``", "`") if rule.doc else rule.summary
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": f"{rule.code} {rule.name}: {rule.summary}"},
        "fullDescription": {"text": first},
        "help": {"text": f"{text}\n\nReference: {help_uri(rule)}", "markdown": markdown},
        "helpUri": help_uri(rule),
        "defaultConfiguration": {"level": LEVELS[rule.severity]},
        "properties": {"tags": ["ports", "docker-compose"], "precision": "very-high",
                       "problem.severity": PROBLEM_SEVERITY[rule.severity]},
    }


def span(f: Finding) -> tuple[int | None, int | None]:
    """A finding's end (line, column) as a region's, or Nones.

    A block mapping (a long-syntax port entry) ends where YAML's next token starts: column
    1 of the next line, or the next key's column on it. An end on a later line at or left
    of the start column is the end of the line before it, so the region ends there (no
    end column: the whole line) and never reaches into the next service. (A real end on
    a later line is past the entry's indentation.)
    """
    end_line, end_column = f.end_line, f.end_column
    if end_line is None or end_line < f.line:
        return None, None
    if end_line > f.line and end_column is not None and end_column <= max(f.column, 1):
        end_line, end_column = end_line - 1, None
    if end_line == f.line and end_column is not None and end_column <= f.column:
        end_column = None
    return end_line, end_column


def _region(f: Finding) -> dict[str, int]:
    """The finding's region; a block mapping's end (YAML's next token) is moved back to
    the end of the entry's last line (:func:`span`)."""
    region = {"startLine": max(f.line, 1), "startColumn": max(f.column, 1)}
    end_line, end_column = span(f)
    if end_line is not None and end_line >= region["startLine"]:
        region["endLine"] = end_line
        if end_column is not None:
            region["endColumn"] = end_column
    return region


def _result(f: Finding, index: dict[str, int], fingerprint: str) -> dict[str, Any]:
    text = f.message if not f.fix else f"{f.message}\nFix: {f.fix}"
    result: dict[str, Any] = {
        "ruleId": f.code,
        "level": LEVELS[f.severity],
        "message": {"text": text},
        "locations": [{
            "physicalLocation": {
                "artifactLocation": {"uri": artifact_uri(f.file), "uriBaseId": "%SRCROOT%"},
                "region": _region(f),
            }
        }],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint},
    }
    if f.code in index:
        result["ruleIndex"] = index[f.code]
    properties = {k: v for k, v in (("service", f.service), ("port", f.port),
                                      ("protocol", f.protocol), ("fix", f.fix)) if v is not None}
    properties.update(f.details)
    if properties:
        result["properties"] = properties
    return result


def document(
    findings: Sequence[Finding],
    files: int,
    *,
    rules: Sequence[Rule] = (),
    max_results: int = MAX_RESULTS,
    max_bytes: int = MAX_BYTES,
    category: str | None = None,
) -> dict[str, Any]:
    """The SARIF log of ``findings``, within GitHub's limits (see the module docstring).

    ``rules`` are the rules to describe (the catalogue's, handed in by the command: a
    reporter does not import the catalogue); a finding's rule that is not among them still
    gets an entry, so that every result has its rule. ``category`` becomes the run's
    ``automationDetails.id`` (``CATEGORY/``), as upload-sarif's ``category`` does, so two
    portledger runs uploaded from one workflow do not replace each other's results."""
    rules = list(rules)
    known = {r.code for r in rules}
    for f in findings:
        if f.code not in known:
            known.add(f.code)
            rules.append(Rule(f.code, f.rule, f.severity, f.rule))
    index = {r.code: i for i, r in enumerate(rules)}
    ordered = sorted(findings)
    prints = dict(zip(ordered, fingerprints(ordered), strict=True))
    ranked = sorted(findings, key=lambda f: (-f.severity.rank, f))
    keep = min(len(ranked), max_results)
    while True:
        doc = _log(rules, ranked[:keep], index, prints, len(ranked), files)
        if category:
            doc["runs"][0]["automationDetails"] = {
                "id": category if category.endswith("/") else f"{category}/"}
        size = len(json.dumps(doc, ensure_ascii=False).encode("utf-8"))
        if size <= max_bytes or keep == 0:
            return doc
        keep //= 2


def _log(rules: list[Rule], kept: Sequence[Finding], index: dict[str, int],
         prints: dict[Finding, str], total: int, files: int) -> dict[str, Any]:
    invocation: dict[str, Any] = {"executionSuccessful": True}
    left_out = total - len(kept)
    if left_out:
        invocation["toolExecutionNotifications"] = [{
            "level": "warning",
            "message": {"text": f"{left_out} of {total} results were left out to stay within "
                                "GitHub code scanning's limits (5,000 results shown a run, "
                                "10 MB a file); the most severe are kept. Run portledger "
                                "check --format json for all of them."},
        }]
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "portledger",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": REPOSITORY,
                "rules": [_rule_entry(r) for r in rules],
            }},
            "invocations": [invocation],
            "results": [_result(f, index, prints[f]) for f in sorted(kept)],
            "columnKind": "unicodeCodePoints",
            "properties": {"files": files, "results": total, "resultsLeftOut": left_out},
        }],
    }
