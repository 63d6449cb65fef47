#!/usr/bin/env python3
"""Check that a release is consistent before it is tagged; exit 1 naming each problem.

Usage: python .github/scripts/release_check.py [ROOT]

- ``pyproject.toml``'s ``version`` equals ``portledger/__init__.py``'s ``__version__``;
- ``CHANGELOG.md`` has a ``## [VERSION] - YYYY-MM-DD`` section;
- every ``rev: vX.Y.Z`` and ``portledger/portledger@vX.Y.Z`` in README.md names that
  version (the snippets users paste must resolve to the tag being made).

Prints ``vVERSION`` on success, for the release workflow to tag.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PINS = re.compile(r"(?:\brev:\s*|portledger/portledger@)(v\d+\.\d+\.\d+(?:[-+][\w.]+)?)")


def problems(root: Path) -> tuple[str, list[str]]:
    found: list[str] = []
    # The [project] table's version line (tomllib is 3.11+; this runs on 3.10 too).
    project = (root / "pyproject.toml").read_text(encoding="utf-8").partition("[project]")[2]
    v = re.search(r'^version = "([^"]+)"', project.partition("\n[")[0], re.M)
    version = v.group(1) if v else "?"
    init = (root / "portledger" / "__init__.py").read_text(encoding="utf-8")
    m = re.search(r'^__version__ = "([^"]+)"', init, re.M)
    if not m or m.group(1) != version:
        found.append(f"portledger/__init__.py: __version__ is {m.group(1) if m else 'missing'}"
                     f", pyproject.toml says {version}")
    changelog = root / "CHANGELOG.md"
    text = changelog.read_text(encoding="utf-8") if changelog.is_file() else ""
    if not re.search(rf"^## \[{re.escape(version)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", text, re.M):
        found.append(f"CHANGELOG.md: no '## [{version}] - YYYY-MM-DD' section")
    readme = (root / "README.md").read_text(encoding="utf-8").splitlines()
    pins = 0
    for number, line in enumerate(readme, 1):
        for pin in PINS.finditer(line):
            pins += 1
            if pin.group(1) != f"v{version}":
                found.append(f"README.md:{number}:{pin.start(1) + 1}: {pin.group(1)} is not "
                             f"v{version}")
    if not pins:
        found.append("README.md: no 'rev: vX.Y.Z' or 'portledger/portledger@vX.Y.Z' line")
    return version, found


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path(__file__).resolve().parents[2]
    version, found = problems(root)
    for p in found:
        print(p, file=sys.stderr)
    if found:
        return 1
    print(f"v{version}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
