"""The verdict cache: a check of a repository where nothing it reads changed answers
from its last verdict instead of checking again.

``check`` (and the compose hook, on every commit) reads the ledger, every compose
project's files and the variables they use, the baseline and the well-known ports list;
the compose and ledger caches (:mod:`.cache`) spare reading YAML again, but a warm check
of a large repository still rebuilt the ledger, compared every project with it, and
planned every conflict again. A verdict records everything its findings depend on:

* the code (:func:`portledger.check.cache.cache_key`: portledger's files, its readers,
  Python, the current folder) and the run's options;
* the SHA-256 of the ledger's bytes (its settings, hosts and globs are in them), of the
  baseline file the settings name, of ``$PORTLEDGER_SERVICES_FILE`` and /etc/services;
* the projects the ledger's globs select now (discovery runs again: a new compose file
  is a new project), and what the selection could not select;
* for each project, every path its load looked at with the SHA-256 of what it read there
  (or "no file") and every variable it read with its value (the compose cache's inputs).

Only when all of those are as recorded are the stored findings used. When only some
projects' inputs changed (at most :data:`SETTLE_MAX`), those are loaded again and the
verdict still stands if nothing the check reads of them changed (:meth:`Verdicts.settle`:
a build system's early cutoff). Anything else, or a project whose inputs are not all
known (one that did not load), is a miss and the check runs as usual, then records its
verdict. Like every cache file, a verdict is signed with
this user's key (:func:`portledger.check.cache.sign`), so a planted one is never used.
A verdict never differs from ``--no-cache``: tests/test_verdict.py changes each input in
turn and compares.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portledger.check import cache as cache_mod
from portledger.findings import Edit, Finding, Severity

if TYPE_CHECKING:
    from portledger.compose.discovery import Selection

FORMAT = 2

COUNTS = ("files", "suppressed", "baselined", "fail_level")
"""What a verdict keeps besides its findings (``check.Result``'s fields of those names;
``fail_level`` is the settings')."""

SYSTEM_SERVICES = "/etc/services"


def _digest_of(path: str | Path | None) -> list[Any]:
    """[path, SHA-256 of its bytes or None when there is no such file]."""
    if path is None:
        return [None, None]
    try:
        with open(path, "rb") as f:
            return [str(path), hashlib.sha256(f.read()).hexdigest()]
    except OSError:
        return [str(path), None]


def selection_digest(chosen: Selection) -> str:
    """What discovery selected and could not select, as one digest."""
    text = repr((chosen.specs, chosen.unmatched, chosen.missing, chosen.orphans))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def side_inputs(baseline: Path | None, environ: Mapping[str, str]) -> list[Any]:
    """The files besides the ledger and compose projects that findings depend on."""
    services = environ.get("PORTLEDGER_SERVICES_FILE")
    return [_digest_of(baseline), services or "", _digest_of(services or None),
            _digest_of(SYSTEM_SERVICES)]


def _rows(findings: Sequence[Finding]) -> tuple[list[list[Any]], list[list[Any]]]:
    """(finding rows, edit rows): each edit once (every finding of one plan carries the
    same ledger edit, which may span most of a large ledger), referred to by index."""
    edits: dict[Edit, int] = {}
    rows = []
    for f in findings:
        refs = [edits.setdefault(e, len(edits)) for e in f.edits]
        rows.append([f.file, f.line, f.column, f.code, f.rule, f.severity.value, f.message,
                     f.end_line, f.end_column, f.service, f.port, f.protocol, f.fix, refs,
                     [list(d) for d in f.details], f.identity])
    return rows, [list(astuple(e)) for e in edits]


def _findings(rows: list[list[Any]], edit_rows: list[list[Any]]) -> list[Finding]:
    edits = [Edit(*e) for e in edit_rows]
    out = []
    for (file, line, column, code, rule, severity, message, end_line, end_column, service,
         port, protocol, fix, refs, details, identity) in rows:
        out.append(Finding(file, line, column, code, rule, Severity(severity), message,
                           end_line, end_column, service, port, protocol, fix,
                           tuple(edits[i] for i in refs), (),
                           tuple((k, v) for k, v in details), identity))
    return out


@dataclass
class Stored:
    """A stored verdict whose ledger, options, selection and side files are as recorded."""

    findings: list[Finding]
    counts: dict[str, Any]
    changed: list[int]
    """The projects (indexes in the selection) whose inputs are not as recorded: none
    for a verdict that holds as it is."""
    body: dict[str, Any]


SETTLE_MAX = 16
"""At most this many changed projects are loaded to see whether a verdict still holds;
more, and the check runs as usual."""


_FILES = ',"files":'


def split_entry(line: str) -> tuple[list[Any], list[Any], str]:
    """(inputs, variables, derived) of a compose cache entry (:func:`.cache.entry_line`):
    the paths and variables it was loaded from, and the digest of what a check reads of
    it (its files, unset variables and bindings: everything after them). Only the short
    head is parsed; ``,"files":`` can stand nowhere else in the line (JSON escapes every
    quote inside a string, and only the top level is an object). ValueError for a line
    that is not such an entry."""
    at = line.index(_FILES)
    head = json.loads(line[:at] + "}")
    if not isinstance(head, dict):
        raise ValueError("not an entry")
    return head["inputs"], head["variables"], _rest_digest(line, at)


def _rest_digest(line: str, at: int) -> str:
    return hashlib.sha256(line[at + 1:].encode("utf-8", "surrogateescape")).hexdigest()


class Verdicts:
    """The stored verdict of one ledger checked with one set of options."""

    def __init__(self, path: Path, key: str, secret: bytes | None) -> None:
        self.path = path
        self.key = key
        self.secret = secret
        self.fresh: dict[str, str] = {}
        """The compose cache entries of the projects :meth:`settle` loaded in vain."""

    @classmethod
    def open(cls, mapping: Path, options: Sequence[Any],
             environ: Mapping[str, str] | None = None) -> Verdicts:
        env = os.environ if environ is None else environ
        key = json.dumps([FORMAT, cache_mod.cache_key(os.getcwd()), str(mapping.resolve()),
                          list(options)], separators=(",", ":"), default=str)
        name = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:24]
        return cls(cache_mod.directory(env) / f"verdict-{name}.json", key,
                   cache_mod.secret(env))

    def lookup(self, ledger_digest: str, chosen: Selection,
               environ: Mapping[str, str]) -> Stored | None:
        """The stored verdict, when the ledger, the selection and the side files are as
        it has them; the projects whose inputs are not are its ``changed``."""
        try:
            with open(self.path, encoding="utf-8") as f:
                body = cache_mod.signed_body(f.read(), self.secret)
            if body is None:
                return None
            key, _, rest = body.partition("\n")
            if key != self.key:
                return None
            stored = json.loads(rest)
            if (stored["ledger"] != ledger_digest
                    or stored["selection"] != selection_digest(chosen)
                    or len(stored["projects"]) != len(chosen.specs)):
                return None
            baseline = stored["side"][0][0]
            if stored["side"] != side_inputs(Path(baseline) if baseline else None, environ):
                return None
            changed = []
            for i, (inputs, variables, _) in enumerate(stored["projects"]):
                if not cache_mod.unchanged(inputs, variables, environ):
                    changed.append(i)
                    if len(changed) > SETTLE_MAX:
                        return None
            findings = _findings(stored["findings"], stored["edits"])
            counts = {k: stored[k] for k in COUNTS}
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return None
        return Stored(findings, counts, changed, stored)

    def settle(self, stored: Stored, chosen: Selection, root: Path,
               environ: Mapping[str, str]) -> Stored | None:
        """``stored`` when it still holds although some projects' inputs changed (None
        when it may not): each changed project is loaded, and the verdict holds when
        what the check reads of it (:func:`split_entry`) is as recorded, it reads no
        variable only the ledger sets, no plan was made on its files' text, and their
        suppression comments are as they were. This is a build system's early cutoff:
        an edit that moves no port (a comment, an environment variable, an image tag)
        costs loading that project. When it holds, the loaded projects go into the
        compose cache and the verdict is recorded with their new inputs; when not, they
        are :attr:`fresh` for the check that runs now (its compose cache's entries)."""
        from portledger.check import loading
        from portledger.check.suppress import rows, scan
        from portledger.compose import loader
        from portledger.paths import display_path

        body = stored.body
        consulted = set(body["consulted"])
        scanned = body["suppressions"]
        lines: dict[str, str] = {}
        holds = True
        for i in stored.changed:
            spec = chosen.specs[i]
            loaded = loading.load_fresh(spec, environ)
            line = loaded.cache_line
            if loaded.error is not None or line is None:
                holds = False
                break
            lines[loading.cache_key_of(spec)] = line
            entry = json.loads(line)  # a line just made: whole, and the digest of its rest
            inputs, variables = entry["inputs"], entry["variables"]
            digest = _rest_digest(line, line.index(_FILES))
            if entry["unset"] or digest != body["projects"][i][2]:
                holds = False
                break
            files = {p.file for p in loaded.published} | {
                display_path(f) for f in entry["files"]}
            if files & consulted or any(rows(scan(f)) != scanned.get(f, []) for f in files):
                holds = False
                break
            body["projects"][i] = [inputs, variables, digest]
        if not holds:
            self.fresh = lines  # for the check that runs now, not written twice
            return None
        if lines:
            compose = cache_mod.ComposeCache.open(root, bound=loader.READ_UNDER)
            compose.save(lines, keep_others=True)
        self._write(body)
        return Stored(stored.findings, stored.counts, [], body)

    def store(self, ledger_digest: str, chosen: Selection, baseline: Path | None,
              environ: Mapping[str, str], projects: list[tuple[Any, Any, str]],
              findings: Sequence[Finding], counts: Mapping[str, Any],
              consulted: Sequence[str] = (),
              suppressions: Mapping[str, list[list[Any]]] | None = None) -> None:
        """Record a verdict (quietly nothing when it cannot be written or signed):
        ``projects`` are each project's :func:`split_entry`,
        ``consulted`` the files plans were made on, ``suppressions`` the suppression
        comments looked at (:attr:`.suppress.Outcome.scanned`)."""
        rows, edits = _rows(findings)
        self._write({"ledger": ledger_digest, "selection": selection_digest(chosen),
                     "side": side_inputs(baseline, environ),
                     "projects": [list(p) for p in projects], "findings": rows,
                     "edits": edits, "consulted": sorted(consulted),
                     "suppressions": dict(suppressions or {}), **counts})

    def _write(self, stored: Mapping[str, Any]) -> None:
        if self.secret is None:
            return
        try:
            text = json.dumps(stored, separators=(",", ":"))
        except (TypeError, ValueError):
            return
        cache_mod.write(self.path, cache_mod.sign(f"{self.key}\n{text}", self.secret))


def ledger_digest(mapping: Path) -> str | None:
    """The SHA-256 of the ledger's bytes (None when it cannot be read)."""
    return _digest_of(mapping)[1]
