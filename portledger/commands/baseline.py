"""``portledger baseline [--output FILE]``: record today's findings, so that ``check``
reports only new ones (:mod:`portledger.check.baseline`).

The file is the one the ledger's ``settings.baseline`` names, else
``.portledger-baseline.json`` beside the ledger, which is then named in the ledger's
``settings`` (one line added, the rest of the ledger as it was) so that ``check``, the
hooks and the action read it by themselves. With ``--output FILE`` the ledger is left
alone and the command says which line would make ``check`` read it. Findings are those
``check`` reports with the same rules chosen (options, settings, per-path ignores, inline
suppressions), never through an older baseline. Exit 0 (the baseline written), 2 on a
usage or configuration error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from portledger.commands import (
    EXIT_CLEAN,
    add_mapping,
    create_file,
    mapping_path,
    rule_choice,
)

DESCRIPTION = ("write .portledger-baseline.json: today's findings, which check then "
               "leaves out (it reports only new ones)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_mapping(parser)
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="the baseline file (default: the ledger's settings.baseline, "
                        "else .portledger-baseline.json beside the ledger)")
    parser.add_argument("--select", action="append", default=[], metavar="RULES",
                        help="as check --select")
    parser.add_argument("--ignore", action="append", default=[], metavar="RULES",
                        help="as check --ignore")


def run(args: argparse.Namespace) -> int:
    from portledger import check
    from portledger.check import baseline as baseline_mod
    from portledger.fixes import edits
    from portledger.ledger import settings as settings_mod
    from portledger.paths import display_path

    select, ignore = rule_choice(args)
    mapping = mapping_path(args)
    result = check.run(mapping, select=select, ignore=ignore, cache=True, baseline=False)
    root = mapping.resolve().parent
    named = result.settings.baseline_path(root)
    path = Path(args.output) if args.output else named or root / settings_mod.BASELINE_NAME
    text = baseline_mod.render(result.findings, root)
    shown = display_path(path)
    if path.exists():
        source = edits.Source.read(str(path))
        if source.text != text:
            edits.write_atomically(source, text, ledger=mapping)
    else:
        create_file(path, text, ledger=mapping)
    kept = [f for f in result.findings if f.code not in settings_mod.ADOPTION_CODES]
    sys.stdout.write(f"portledger: wrote {shown}: {len(kept)} finding"
                     f"{'s' * (len(kept) != 1)}\n")
    if named is None and path.parent.resolve() == root and not args.output:
        _name_in_settings(mapping, path.name)
    elif named is None or named.resolve() != path.resolve():
        sys.stdout.write(f"portledger: check reads it with --baseline {shown}, or by itself "
                         f"once {display_path(mapping)} says:\nsettings:\n  baseline: "
                         f"{Path(_relative(path, root)).as_posix()}\n")
    return EXIT_CLEAN


def _relative(path: Path, root: Path) -> str:
    import os

    return os.path.relpath(os.path.abspath(path), root)


def _name_in_settings(mapping: Path, name: str) -> None:
    """Add ``baseline: NAME`` to the ledger's ``settings`` (made when there is none)."""
    from portledger import yamlio
    from portledger.findings import Edit
    from portledger.fixes.edits import Source, apply_edits, unified_diff, write_atomically
    from portledger.paths import display_path

    source = Source.read(str(mapping))
    doc = yamlio.load(str(mapping), data=source.data)
    shown = display_path(mapping)
    line = f"baseline: {name}"
    settings = doc.data.get("settings") if isinstance(doc.data, dict) else None
    if settings is None and "settings" not in (doc.data or {}):
        key = doc.key_spans.get(("version",)) or doc.key_spans.get((next(iter(doc.data)),))
        at = key.line + 1 if key is not None else 1
        edit = Edit(str(mapping), at, 1, at, 1, f"settings:\n  {line}\n")
    else:
        span = doc.span(("settings",))
        first = next(iter(settings), None) if isinstance(settings, dict) else None
        key = doc.key_spans.get(("settings", first)) if first is not None else None
        flow = source.slice(span.line, span.column, span.line, span.column + 1) == "{"
        if key is None or not isinstance(settings, dict) or flow:
            sys.stdout.write(f"portledger: add `{line}` to the settings of {shown} for "
                             "check to read it by itself\n")
            return
        last = doc.span(("settings", list(settings)[-1]))
        end = last.end_line if last.end_column > 1 else last.end_line - 1
        edit = Edit(str(mapping), end + 1, 1, end + 1, 1, " " * (key.column - 1) + line + "\n")
    text, _ = apply_edits(source, [edit])
    write_atomically(source, text, ledger=mapping)
    sys.stdout.write(unified_diff(shown, source.text, text))
