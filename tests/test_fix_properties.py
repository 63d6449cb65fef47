"""Properties of ``check --fix`` over generated repositories (issue 17): deterministic
under every ``PYTHONHASHSEED``; ``--diff`` is what ``--fix`` writes (the diff applied
with ``git apply`` to a copy, compared byte for byte); one run converges: a second
``--fix``, run for real, changes nothing and finds nothing with an automatic plan; no
published port disappears, merges or widens (``portledger ports`` per project before and
after); every service keeps its own ports (each ledger port the ledger gives one service
alone, and each compose port that is its service's alone, by the ledger or because no
one else has it). The generator is tests/fix_repos.py; bench/fuzz_fixes.py runs it for
longer.

Every command of an example runs in this process (``cli.main``), the work folders on
a memory file system where there is one (the writer's fsyncs are most of a write on a
disk); the hash-seed comparison needs fresh interpreters, so it runs one process per
seed over the first examples' folders.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from fix_repos import Repo, diffs_under_seeds, repositories, scratch, violations
from hypothesis import HealthCheck, given, settings

EXAMPLES = 300
SEEDS = ("0", "1", "4242")
SEEDED = 30
"""How many of the examples the PYTHONHASHSEED comparison runs again (one process per
seed runs them all)."""


def test_fix_properties(tmp_path: Path) -> None:
    kept: list[Path] = []
    count = 0
    work_root = scratch(tmp_path)

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(repositories())
    def one(repo: Repo) -> None:
        nonlocal count
        count += 1
        work = Path(tempfile.mkdtemp(dir=work_root))
        try:
            problems = violations(repo, work)
            assert not problems, "\n".join(problems) + "\n\n" + "\n".join(
                f"--- {name}\n{text}" for name, text in sorted(repo.files.items()))
            if len(kept) < SEEDED:
                folder = tmp_path / f"seeded-{len(kept)}"
                repo.write(folder)
                kept.append(folder)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    try:
        one()
    finally:
        if work_root != tmp_path:
            shutil.rmtree(work_root, ignore_errors=True)
    assert count >= EXAMPLES
    outputs = diffs_under_seeds(kept, SEEDS)
    assert len(set(outputs.values())) == 1, "the plans differ between hash seeds"
    # The comparison compared something: most generated repositories need a fix.
    assert outputs[SEEDS[0]].count("--- a/") >= SEEDED // 2
