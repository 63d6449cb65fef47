"""Reporters: they only format findings; checks never print."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TextIO

from portledger.findings import Finding, Severity

FORMATS = ("text", "json")


def summary(findings: Sequence[Finding], files: int) -> dict[str, int]:
    return {
        "errors": sum(f.severity is Severity.ERROR for f in findings),
        "warnings": sum(f.severity is Severity.WARNING for f in findings),
        "notices": sum(f.severity is Severity.NOTICE for f in findings),
        "files": files,
    }


def text(findings: Sequence[Finding], files: int, out: TextIO) -> None:
    """``path:line:col: CODE rule message``, the resolution plan on a second line."""
    for f in findings:
        level = "" if f.severity is Severity.ERROR else f" [{f.severity.value}]"
        out.write(f"{f.file}:{f.line}:{f.column}: {f.code} {f.rule}{level} {f.message}\n")
        if f.fix:
            out.write(f"    fix: {f.fix}\n")
    if findings:
        s = summary(findings, files)
        parts = [f"{s['errors']} error{'s' * (s['errors'] != 1)}",
                 f"{s['warnings']} warning{'s' * (s['warnings'] != 1)}"]
        out.write(f"Found {', '.join(parts)} in {files} file{'s' * (files != 1)}.\n")


def json_(findings: Sequence[Finding], files: int, out: TextIO) -> None:
    """The JSON of DESIGN.md: ``{"findings": [...], "summary": {...}}``."""
    doc = {"findings": [f.as_dict() for f in findings], "summary": summary(findings, files)}
    json.dump(doc, out, indent=2)
    out.write("\n")


def report(fmt: str, findings: Sequence[Finding], files: int, out: TextIO) -> None:
    {"text": text, "json": json_}[fmt](findings, files, out)
