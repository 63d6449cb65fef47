"""The ledger's text changes (portledger.fixes.ledger_text): the additions of one plan
made at once on one reading give exactly the text of making them one at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from portledger import yamlio
from portledger.fixes import ledger_text
from portledger.fixes.edits import Source
from portledger.fixes.ledger_text import LedgerChanges, NewPort

LEDGER = """\
version: 1
ranges:
  web: {start: 8000, end: 8999}
services:
  alpha:   # block ports
    category: web
    ports:
      http:
        port: 8000
  beta:
    category: web
    ports: {}   # none yet
  gamma:
    category: web
  delta:
    category: web
    ports: {http: {port: 8003}}
  omega:
    category: web
    ports:
      http: {port: 8009}
# the end
"""


def one_at_a_time(src: Source, changes: LedgerChanges) -> str:
    """render's additions as they were made before: each on the text so far."""
    for service in sorted(changes.added):
        src = src.with_text(ledger_text.add_ports(src, service, changes.added[service]))
    if changes.new_services:
        src = src.with_text(ledger_text.add_services(src, [
            (n, c, p) for n, (c, p) in sorted(changes.new_services.items())]))
    return src.text


CASES = {
    "block": {"alpha": [NewPort("admin", 8100, 80)]},
    "empty-flow": {"beta": [NewPort("http", 8001)]},
    "no-ports-key": {"gamma": [NewPort("http", 8002, 80), NewPort("metrics", 8202)]},
    "flow": {"delta": [NewPort("admin", 8103, protocol="udp")]},
    "last-service": {"omega": [NewPort("admin", 8109)]},
    "all": {"alpha": [NewPort("admin", 8100)], "beta": [NewPort("http", 8001)],
            "gamma": [NewPort("http", 8002)], "delta": [NewPort("x", 8103)],
            "omega": [NewPort("admin", 8109)]},
}


@pytest.mark.parametrize("new_services", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_additions_at_once_equal_one_at_a_time(tmp_path: Path, case: str,
                                               new_services: bool) -> None:
    path = tmp_path / "port-mapping.yml"
    path.write_text(LEDGER, encoding="utf-8")
    src = Source.read(str(path))
    doc = yamlio.load(path)
    changes = LedgerChanges(added=CASES[case])
    if new_services:
        changes.new_services = {"zeta": ("web", [NewPort("http", 8500)]),
                                "eta": ("web", [NewPort("http", 8501, 80)])}
    at_once = ledger_text.render(src, doc, changes)
    assert at_once == one_at_a_time(src, changes)
    assert at_once != LEDGER
    assert "# none yet" in at_once and "# the end" in at_once and "# block ports" in at_once
    yamlio.load(path, data=at_once.encode())  # still YAML


@pytest.mark.parametrize("case", sorted(CASES))
def test_additions_on_an_outlined_ledger_equal_those_on_the_whole(tmp_path: Path,
                                                                  case: str) -> None:
    """A ledger from the cache (its values known, its text outlined) gets the same text
    as one read whole, without its whole text being read again."""
    path = tmp_path / "port-mapping.yml"
    path.write_text(LEDGER, encoding="utf-8")
    src = Source.read(str(path))
    whole = yamlio.load(path)
    outline = yamlio.outline(whole, "services")
    assert outline is not None
    cached = yamlio.known(str(path), whole.data, whole.text, outline)
    changes = LedgerChanges(added=CASES[case], new_services={
        "zeta": ("web", [NewPort("http", 8500)])})
    assert ledger_text.render(src, cached, changes) == ledger_text.render(
        src, yamlio.load(path), changes)
    assert cached._locator._text is not None


def test_block_additions_read_the_ledger_once(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A plan adding ports to many services of a block-style ledger reads no text again
    (a 10,000-service ledger read again per service was most of a check)."""
    names = [f"svc-{i:03d}" for i in range(40)]
    text = "version: 1\nranges:\n  web: {start: 8000, end: 8999}\nservices:\n" + "".join(
        f"  {n}:\n    category: web\n    ports:\n      http:\n        port: {8000 + i}\n"
        for i, n in enumerate(names))
    path = tmp_path / "port-mapping.yml"
    path.write_text(text, encoding="utf-8")
    src = Source.read(str(path))
    doc = yamlio.load(path)
    loads: list[str] = []
    real = ledger_text._load
    monkeypatch.setattr(ledger_text, "_load", lambda s: loads.append(s.path) or real(s))
    changes = LedgerChanges(added={n: [NewPort("admin", 8100 + i)] for i, n in enumerate(names)},
                            new_services={"new": ("web", [NewPort("http", 8900)])})
    out = ledger_text.render(src, doc, changes)
    assert loads == []
    assert out.count("admin: {port: 81") == 40
    assert out.endswith("  new:\n    category: web\n    ports:\n      http: {port: 8900}\n")


def _by_lines(old: str, new: str) -> tuple[int, int, int, int, str]:
    edit = ledger_text._one_edit_by_lines(Source("f", old.encode(), old, False, "\n"), new)
    return edit.line, edit.column, edit.end_line, edit.end_column, edit.text


def test_one_edit_by_characters_is_the_edit_lines_give() -> None:
    """The edit a ledger's rewrite becomes is found by comparing characters (no list of
    a large ledger's lines, twice, in memory); it is the one comparing lines gives, for
    every pair of short texts of "a", "b" and line breaks (and for a long one)."""
    from hypothesis import given, settings
    from hypothesis import strategies as st


    texts = st.text(alphabet="ab\n", max_size=14)

    @settings(max_examples=3000, deadline=None, database=None, derandomize=True)
    @given(texts, texts)
    def check(old: str, new: str) -> None:
        edit = ledger_text.one_edit(Source("f", old.encode(), old, False, "\n"), new)
        if old == new:
            assert edit is None
        else:
            assert edit is not None
            assert (edit.line, edit.column, edit.end_line, edit.end_column,
                    edit.text) == _by_lines(old, new)

    check()
    old = "".join(f"  svc-{i}:\n    category: web\n" for i in range(20000))
    new = old.replace("  svc-7000:\n", "  svc-7000:\n    ports: {}\n", 1) + "  last:\n"
    edit = ledger_text.one_edit(Source("f", old.encode(), old, False, "\n"), new)
    assert edit is not None
    assert (edit.line, edit.column, edit.end_line, edit.end_column,
            edit.text) == _by_lines(old, new)
