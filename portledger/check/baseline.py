"""The baseline: the findings a repository had when portledger was adopted, so that
``check`` reports only new ones (as detect-secrets' ``.secrets.baseline`` and the mypy
and ruff baselines do).

Each finding is kept by a fingerprint that survives edits elsewhere in its file: the
rule, the file (relative to the ledger's folder), the service, the port and the protocol;
never the line or the message (messages name lines). Findings with the same fingerprint
are counted, so a file with three such findings and a baseline of two reports one.

The file is JSON, one entry a line (wrapped here), sorted, so that it diffs well in
review and shrinks line by line as problems are fixed::

    {
      "version": 1,
      "findings": [
        {"code": "PL201", "file": "a/compose.yaml", "service": "web", "port": 8090,
         "protocol": "tcp", "count": 1, "rule": "unmapped-port"},
        ...
      ]
    }
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portledger.errors import FatalError
from portledger.findings import Finding
from portledger.ledger import settings as settings_mod
from portledger.paths import display_path

VERSION = 1
Key = tuple[str, str, str | None, int | None, str | None]


def fingerprint(f: Finding, root: Path) -> Key:
    rel = os.path.relpath(os.path.abspath(f.file), root).replace(os.sep, "/")
    return (f.code, rel, f.service, f.port, f.protocol)


def _own(f: Finding) -> bool:
    return f.code in settings_mod.ADOPTION_CODES


def render(findings: Sequence[Finding], root: Path) -> str:
    """The baseline file of ``findings`` (adoption's own findings left out)."""
    counts = Counter(fingerprint(f, root) for f in findings if not _own(f))
    names = {fingerprint(f, root): f.rule for f in findings}
    lines = []
    for key in sorted(counts, key=lambda k: tuple("" if v is None else str(v).zfill(5)
                                                   if isinstance(v, int) else v for v in k)):
        code, file, service, port, protocol = key
        entry = {"code": code, "file": file, "service": service, "port": port,
                 "protocol": protocol, "count": counts[key], "rule": names[key]}
        lines.append("    " + json.dumps(entry, ensure_ascii=False))
    body = ",\n".join(lines)
    return ("{\n" f'  "version": {VERSION},\n' '  "findings": [\n'
            + (body + "\n" if body else "") + "  ]\n}\n")


@dataclass
class Entry:
    key: Key
    count: int
    line: int


def load(path: Path) -> list[Entry]:
    """The entries of a baseline file; a FatalError (exit 2) naming file, line and
    column when it is not one."""
    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FatalError(f"{shown}: no such baseline file (write one with `portledger "
                         "baseline`)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise FatalError(f"{shown}: cannot read it: {e}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise FatalError(f"{shown}:{e.lineno}:{e.colno}: not JSON: {e.msg}") from None
    if not isinstance(doc, dict) or doc.get("version") != VERSION \
            or not isinstance(doc.get("findings"), list):
        raise FatalError(f"{shown}:1:1: not a portledger baseline (expected "
                         f'{{"version": {VERSION}, "findings": [...]}})')
    # Each entry's line: the lines that open an object, past the document's own brace.
    starts = [n + 1 for n, text_line in enumerate(text.splitlines())
              if n > 0 and text_line.lstrip().startswith("{")]
    out = []
    for i, item in enumerate(doc["findings"]):
        line = starts[i] if i < len(starts) else 1
        if not _valid(item):
            raise FatalError(f"{shown}:{line}:1: baseline entry {i + 1}: expected "
                             '{"code", "file", "service", "port", "protocol", "count"}')
        out.append(Entry((item["code"], item["file"], item.get("service"), item.get("port"),
                          item.get("protocol")), item.get("count", 1), line))
    return out


def _valid(item: Any) -> bool:
    if not isinstance(item, dict):
        return False
    if not (isinstance(item.get("code"), str) and isinstance(item.get("file"), str)):
        return False
    count = item.get("count", 1)
    port = item.get("port")
    return (isinstance(count, int) and not isinstance(count, bool) and count >= 1
            and (port is None or (isinstance(port, int) and not isinstance(port, bool)))
            and all(item.get(k) is None or isinstance(item.get(k), str)
                    for k in ("service", "protocol")))


@dataclass
class Outcome:
    findings: list[Finding]
    """The findings not in the baseline, and PL503 for entries that matched nothing."""
    baselined: int


def apply(findings: Sequence[Finding], path: Path, root: Path,
          ran: Any = None) -> Outcome:
    """Leave out the findings the baseline at ``path`` holds; ``ran(code)`` tells whether
    a rule ran (an entry of a rule that did not run is not stale)."""
    entries = load(path)
    left = Counter[Key]()
    for e in entries:
        left[e.key] += e.count
    kept: list[Finding] = []
    baselined = 0
    for f in findings:
        key = fingerprint(f, root)
        if not _own(f) and left[key] > 0:
            left[key] -= 1
            baselined += 1
        else:
            kept.append(f)
    shown = display_path(path)
    for e in entries:
        unmatched = min(left[e.key], e.count)
        if unmatched <= 0 or (ran is not None and not ran(e.key[0])):
            continue
        left[e.key] -= unmatched
        code, file, service, port, protocol = e.key
        what = " ".join(str(v) for v in (code, file, service,
                                         f"{port}/{protocol}" if port else protocol) if v)
        kept.append(settings_mod.stale_baseline_entry(shown, e.line, what, unmatched))
    return Outcome(sorted(kept), baselined)
