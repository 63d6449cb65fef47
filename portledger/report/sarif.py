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
import re
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
FINGERPRINT_KEY = "portledgerFinding/v1"

_LINE_REF = re.compile(r"\bline \d+\b")


def help_uri(rule: Rule) -> str:
    """The rule's section of docs/rules.md (GitHub's anchor for ``## PL202 owner-mismatch``)."""
    return f"{RULES_DOC}#{rule.code.lower()}-{rule.name}"


def artifact_uri(path: str) -> str:
    """A finding's file as a SARIF URI: relative (to the checkout root) when it is."""
    pure = PurePath(path)
    if pure.is_absolute():
        return pure.as_uri() if os.sep == "/" or pure.drive else "file://" + quote(path)
    return quote(path.replace(os.sep, "/"))


def fingerprints(findings: Sequence[Finding]) -> list[str]:
    """Stable ``partialFingerprints`` values, one per finding.

    A finding keeps its fingerprint when lines are added above it: the hash covers the
    rule, file, service, port, protocol and message (with "line N" references blanked),
    not the position; equal keys in one file are told apart by their order.
    """
    seen: Counter[str] = Counter()
    out = []
    for f in findings:
        key = "\0".join(
            [f.code, f.file, f.service or "", str(f.port or ""), f.protocol or "",
             _LINE_REF.sub("line _", f.message)]
        )
        seen[key] += 1
        digest = hashlib.sha256(f"{key}\0{seen[key]}".encode()).hexdigest()
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
        "properties": {"tags": ["ports", "docker-compose"], "precision": "very-high"},
    }


def _region(f: Finding) -> dict[str, int]:
    region = {"startLine": max(f.line, 1), "startColumn": max(f.column, 1)}
    if f.end_line is not None and f.end_line >= region["startLine"]:
        region["endLine"] = f.end_line
        if f.end_column is not None and (
            f.end_line > region["startLine"] or f.end_column > region["startColumn"]
        ):
            region["endColumn"] = f.end_column
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
) -> dict[str, Any]:
    """The SARIF log of ``findings``, within GitHub's limits (see the module docstring).

    ``rules`` are the rules to describe (the catalogue's, handed in by the command: a
    reporter does not import the catalogue); a finding's rule that is not among them still
    gets an entry, so that every result has its rule."""
    rules = list(rules)
    known = {r.code for r in rules}
    for f in findings:
        if f.code not in known:
            known.add(f.code)
            rules.append(Rule(f.code, f.rule, f.severity, f.rule))
    index = {r.code: i for i, r in enumerate(rules)}
    prints = dict(zip(findings, fingerprints(findings), strict=True))
    ranked = sorted(findings, key=lambda f: (-f.severity.rank, f))
    keep = min(len(ranked), max_results)
    while True:
        doc = _log(rules, ranked[:keep], index, prints, len(ranked), files)
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
