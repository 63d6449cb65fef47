"""``portledger init [--write] [--update] [--ranges seed|none|FILE]``: the first ledger of a
repository, from its compose projects as they are today (:mod:`portledger.check.adoption`).

Without ``--write`` the ledger is printed (``--update``: the diff) and nothing is written;
the findings ``check`` will report of it go to stderr then, to stdout after a write.
Exit 0 when the ledger passes ``check``, 1 when it records conflicts that exist today
(each printed as a finding and written as a comment), 2 on a usage error: an existing
ledger without ``--force`` or ``--update``, no compose project found, a bad ranges file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from portledger.commands import EXIT_CLEAN, EXIT_FINDINGS, create_file
from portledger.errors import FatalError

if TYPE_CHECKING:  # imported where used: the loader brings PyYAML
    from portledger.check.adoption import Loaded, Plan, RangeSpec
    from portledger.findings import Edit
    from portledger.fixes.edits import Source
    from portledger.fixes.planner import Planner
    from portledger.ledger.model import ComposeConfig, Ledger

DESCRIPTION = ("write port-mapping.yml from the repository's compose projects as they are "
               "today (printed; --write to write it)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mapping", metavar="FILE",
                        help="the ledger to write (default: port-mapping.yml in this folder); "
                        "compose projects are found below its folder")
    parser.add_argument("--write", action="store_true",
                        help="write the ledger (atomically); without it, print it")
    parser.add_argument("--force", action="store_true",
                        help="with --write: replace an existing ledger")
    parser.add_argument("--update", action="store_true",
                        help="add what an existing ledger lacks, leaving its entries and "
                        "comments as they are")
    parser.add_argument("--ranges", default="seed", metavar="seed|none|FILE",
                        help="the ranges: the eight of the seed (default), none (one range "
                        "of every port), or a YAML file of ranges (a ledger's ranges: mapping)")


def run(args: argparse.Namespace) -> int:
    from portledger.check import adoption
    from portledger.paths import display_path
    from portledger.report import reporters

    path = Path(args.mapping) if args.mapping else Path("port-mapping.yml")
    shown = display_path(path)
    if args.force and not args.write:
        raise FatalError("init: --force goes with --write")
    if args.update and args.force:
        raise FatalError("init: --update and --force exclude each other")
    if path.is_dir():
        raise FatalError(f"{shown}: is a directory; --mapping takes a file")
    if args.update:
        if not path.is_file():
            raise FatalError(f"{shown}: no such file; --update adds to an existing ledger "
                             "(run `portledger init --write` first)")
        text, source, result = _update(path, shown)
    else:
        if path.exists() and args.write and not args.force:
            raise FatalError(f"{shown}: already exists; not overwriting it (--update adds "
                             "what it lacks, --force replaces it)")
        ranges = _ranges(args.ranges)
        loaded = _load(path, None)
        result = adoption.plan(loaded, ranges)
        text, source = adoption.render(result, ranges), None
    findings = sorted(set(adoption.verify(text, shown, result.published, result.selection))
                      | set(result.load_findings))
    out = sys.stdout
    if args.write:
        _write(path, text, source)
        ports = sum(len(e) for e in result.services.values())
        verb = "added to" if args.update else "wrote"
        out.write(f"portledger: {verb} {shown}: {_n(ports, 'port')} of "
                  f"{_n(len(result.services), 'service')} from "
                  f"{_n(result.projects, 'compose project')}\n")
        report_to = out
    else:
        if source is None:
            out.write(text)
        else:
            from portledger.fixes.edits import unified_diff

            out.write(unified_diff(shown, source.text, text))
        report_to = sys.stderr
    reporters.text(findings, result.files + 1, report_to)
    return EXIT_FINDINGS if any(f.severity.value == "error" for f in findings) else EXIT_CLEAN


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'s' * (count != 1)}"


def _ranges(choice: str) -> list[RangeSpec]:
    from portledger.check import adoption

    if choice == "seed":
        return adoption.seed_ranges()
    if choice == "none":
        return [adoption.RangeSpec(*r) for r in adoption.NO_RANGES]
    return adoption.ranges_from_file(choice)


def _load(path: Path, config: ComposeConfig | None) -> Loaded:
    from portledger.check import adoption
    from portledger.paths import display_path

    root = path.resolve().parent
    loaded = adoption.load_projects(root, config)
    if not loaded.selection.specs:
        raise FatalError(f"init: no compose project below {display_path(root)} (no file "
                         "matches the compose.files globs)")
    return loaded


def _update(path: Path, shown: str) -> tuple[str, Source, Plan]:
    """The ledger's text with what it lacks added, its text before, and the plan."""
    from portledger.check import adoption
    from portledger.fixes.edits import apply_edits
    from portledger.fixes.planner import Planner
    from portledger.ledger import model as ledger_mod

    ledger = ledger_mod.load_valid(shown)
    ranges = [adoption.RangeSpec(r.name, r.start, r.end, r.description, r.reserved)
              for r in ledger.ranges.values()]
    result = adoption.plan(_load(path, ledger.compose), ranges, existing=ledger)
    planner = Planner(ledger, [])
    src = planner.source(ledger.path)
    edits: list[Edit] = []
    new_lines: list[str] = []
    for name in sorted(result.services):
        entries = result.services[name]
        old = ledger.services.get(name)
        if old is None:
            new_lines += adoption.service_block(
                name, result.categories[name], sorted(result.aliases.get(name, ())),
                entries, indent="")
            continue
        ports_path = ("services", name, "ports")
        last = planner._last_line(ports_path)
        first = ledger.doc.key_spans.get(ports_path + (old.ports[0].name,)) \
            if old.ports else None
        span = ledger.doc.span(ports_path)
        if last is None or first is None or src.slice(
                span.line, span.column, span.line, span.column + 1) == "{":
            raise FatalError(
                f"{shown}: cannot add {name}'s new ports: its ports are not in block style "
                "(one port a line); add them by hand:\n" + "\n".join(
                    adoption.port_lines(entries, "    ")))
        edits.append(planner._insert_after(src, last, first.column - 1, "\n".join(
            adoption.port_lines(entries, ""))))
    new_lines += adoption.comment_lines(result, indent="")
    if new_lines:
        edits.append(_services_edit(planner, ledger, src, new_lines, shown))
    text, _ = apply_edits(src, edits)
    return text, src, result


def _services_edit(planner: Planner, ledger: Ledger, src: Source, lines: list[str],
                   shown: str) -> Edit:
    """An edit adding ``lines`` (new services, comments) at the end of ``services``."""
    from portledger.findings import Edit

    doc = ledger.doc
    names = list(ledger.services)
    span = doc.span(("services",))
    if not names:
        # `services: {}`: the empty mapping becomes a block.
        body = "\n" + "\n".join(f"  {t}" if t else "" for t in lines)
        column = span.column
        while column > 1 and src.slice(span.line, column - 1, span.line, column) == " ":
            column -= 1  # no space left after `services:`
        return Edit(src.path, span.line, column, span.end_line, span.end_column, body)
    first = doc.key_spans.get(("services", names[0]))
    if first is None or src.slice(span.line, span.column, span.line, span.column + 1) == "{":
        raise FatalError(f"{shown}: cannot add services: `services` is not in block style")
    last = planner._last_line(("services",))
    if last is None:
        raise FatalError(f"{shown}: cannot add services: `services` is not in block style")
    return planner._insert_after(src, last, first.column - 1, "\n".join(lines))


def _write(path: Path, text: str, source: Source | None) -> None:
    """Write atomically, under the ledger's lock: over ``source`` (refused if the file
    changed since it was read), over an existing file (--force), or as a new file."""
    from portledger.fixes import edits

    if source is None and path.exists():
        source = edits.Source.read(str(path))
    if source is not None:
        edits.write_atomically(source, text)
        return
    create_file(path, text, ledger=path)
