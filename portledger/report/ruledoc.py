"""A rule's docstring as Markdown (for docs/rules.md and SARIF's rule help)."""

from __future__ import annotations

import re


def markdown_body(doc: str) -> str:
    """Docstring prose as Markdown: ``Failing:``/``Passing:`` blocks become YAML fences."""
    out: list[str] = []
    lines = doc.splitlines()[1:]
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^(Failing|Passing):$", line.strip())
        if m:
            out.append(f"**{m.group(1)}**")
            out.append("")
            out.append("```yaml")
            i += 1
            while i < len(lines) and not lines[i].strip():
                i += 1
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith("    ")):
                out.append(lines[i][4:])
                i += 1
            while out and not out[-1].strip():
                out.pop()
            out.append("```")
            out.append("")
            continue
        out.append(line.replace("``", "`"))
        i += 1
    return "\n".join(out).strip() + "\n"
