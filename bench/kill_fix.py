"""SIGKILL at random moments of a multi-file ``check --fix``; after each, the next
writer must leave every file either fully old or fully fixed, and no stray file.

    .venv/bin/python bench/kill_fix.py --moments 200 [--seed N]

The fixture is tests/fixes/PL104-duplicate-allocation (one fix edits the ledger and two
compose files in two folders). Each moment: a forked child runs ``check --fix`` with
every file-system call of the writer slowed by a fraction of a millisecond (so the
transaction spans a window a timer can land in); the parent waits for the writer to
start, sleeps a random time within that window (or a little before it), and kills the
child with SIGKILL. Then the state on disk is checked, the ledger's lock is taken (what
every later ``check --fix`` or ``allocate --write`` does first: :func:`recover`), and
the state checked again. The suite runs 50 moments (tests/test_writes.py).

    .venv/bin/python bench/kill_fix.py --moments 200 --hard-links

gives every file of the fixture a second hard link outside the repository first: such
files are written in place (a rename would leave the other link with the old text), so
the child's ``pwrite`` is also cut to 16 bytes a call (a short write, which POSIX
allows and the writer loops over) for kills to land inside a file's write. Right after
a kill a file may then be torn (new bytes to an offset, old after it); after recovery
each is old or fixed again, and each link has its file's bytes and inode.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "tests" / "fixes" / "PL104-duplicate-allocation"
SLOW = 0.0003


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _child(work: Path, marker: int) -> None:
    """Run ``check --fix`` in ``work`` with the writer's file-system calls slowed."""
    try:
        from portledger import cli
        from portledger.fixes import edits

        os.chdir(work)
        for name in ("write", "fsync", "replace", "unlink", "open", "fchmod", "pwrite",
                     "ftruncate"):
            real = getattr(os, name)

            def slowed(*a: object, _real: object = real) -> object:
                time.sleep(SLOW)
                return _real(*a)  # type: ignore[operator]

            setattr(os, name, slowed)
        pwrite = os.pwrite

        def short(fd: int, data: bytes, offset: int) -> int:  # a short write, as POSIX allows
            return pwrite(fd, data[:16], offset)

        os.pwrite = short
        journal = edits._write_journal
        told = []

        def tell(*a: object) -> None:
            if not told:
                told.append(1)
                os.write(marker, b"w")
            journal(*a)  # type: ignore[arg-type]

        edits._write_journal = tell  # type: ignore[assignment]
        from portledger import fixes

        transaction = fixes.write_files

        def then_end(*a: object, **k: object) -> None:
            transaction(*a, **k)  # type: ignore[arg-type]
            os.write(marker, b"d")  # the transaction is over: nothing more to kill
            os._exit(0)

        fixes.write_files = then_end  # type: ignore[assignment]
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        code = cli.main(["check", "--fix", "--no-cache"])
    except BaseException:  # noqa: BLE001 - a forked child must never return
        code = 99
    os._exit(code)


def run_once(work: Path, delay: float | None) -> tuple[int, float]:
    """Run the child; kill it ``delay`` seconds after the writer starts (None: never).
    Returns its wait status's signal (negative) or exit code, and how long the
    transaction took (when it was not killed)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        _child(work, w)
    os.close(w)
    got = os.read(r, 1)  # the writer started (or the child ended: b"")
    began = time.monotonic()
    if got and delay is not None:
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
    took = time.monotonic() - began if os.read(r, 1) else 0.0
    os.close(r)
    _, status = os.waitpid(pid, 0)
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    return code, took


def _warm(work: Path) -> None:
    """Import and compile here what every check needs (schemas, validators), so that each
    forked child starts with them: a moment then costs a check, not a start-up."""
    from portledger import cli

    here = os.getcwd()
    os.chdir(work)
    out, err = sys.stdout, sys.stderr
    try:
        sys.stdout = sys.stderr = open(os.devnull, "w")
        cli.main(["check", "--no-cache"])
    finally:
        sys.stdout.close()
        sys.stdout, sys.stderr = out, err
        os.chdir(here)


def _link_all(work: Path, links: Path) -> dict[str, Path]:
    """A second hard link, in ``links``, to every file of ``work``."""
    links.mkdir()
    made = {}
    for name in files_of(work):
        made[name] = links / name.replace("/", "--")
        os.link(work / name, made[name])
    return made


def campaign(moments: int, base: Path, seed: int = 0,
             hard_links: bool = False) -> dict[str, int]:
    """Kill ``moments`` times; raise AssertionError on the first bad state. Returns how
    often the recovered state was all old / all fixed, and how many children the kill
    actually hit. ``hard_links``: every file has a second link (see the module's
    docstring)."""
    from portledger import paths
    from portledger.fixes import edits

    rng = random.Random(seed)
    before = files_of(CASE / "before")
    after = files_of(CASE / "after")
    shutil.copytree(CASE / "before", base / "warm")
    _warm(base / "warm")
    windows = []
    for k in range(3):  # how long the transaction takes here: the shortest of three, as
        probe = base / f"probe{k}"  # a busy machine makes one run slow (kills after it)
        shutil.copytree(CASE / "before", probe)
        links = _link_all(probe, base / f"probe{k}-links") if hard_links else {}
        code, took = run_once(probe, None)
        assert code == 0
        left = {k: v for k, v in files_of(probe).items() if not k.endswith(edits.LOCK_SUFFIX)}
        assert left == after, "the fixture's fix is not one transaction"
        assert all(link.read_bytes() == after[k] for k, link in links.items()), "links lost"
        windows.append(took)
    window = min(windows)
    counts = {"old": 0, "fixed": 0, "killed": 0}
    for i in range(moments):
        work = base / f"m{i}"
        shutil.copytree(CASE / "before", work)
        links = _link_all(work, base / f"m{i}-links") if hard_links else {}
        code, _ = run_once(work, rng.uniform(0, window * 1.1))
        counts["killed"] += code == -signal.SIGKILL
        state = files_of(work)
        for name, data in state.items():
            # Right after the kill: each file whole, old or fixed (a hard-linked one
            # possibly torn, written in place); besides them only the writer's own
            # names (temporary files, the journal, the lock).
            if name in before and hard_links:
                assert edits._torn(data, after[name], before[name]), \
                    f"moment {i}: {name} is neither old, fixed nor a torn write"
            elif name in before:
                assert data in (before[name], after[name]), f"moment {i}: {name} is torn"
            else:
                assert edits.TMP_MARK in name or name.endswith(
                    (paths.JOURNAL_SUFFIX, edits.LOCK_SUFFIX)), f"moment {i}: stray {name}"
        with edits.ledger_lock(work / "port-mapping.yml"):
            pass
        state = files_of(work)
        assert state in (before, after), f"moment {i}: after recovery, neither all old " \
            f"nor all fixed: {sorted(k for k in state if state[k] != before.get(k))}"
        for name, link in links.items():
            assert link.read_bytes() == state[name], f"moment {i}: link of {name} differs"
            assert link.stat().st_ino == (work / name).stat().st_ino, f"moment {i}: {name}"
        counts["old" if state == before else "fixed"] += 1
        shutil.rmtree(work)
        if hard_links:
            shutil.rmtree(base / f"m{i}-links")
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moments", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hard-links", action="store_true",
                        help="give every file a second hard link first")
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("PORTLEDGER_CACHE_DIR", str(Path(tmp) / "cache"))
        os.environ.setdefault("PORTLEDGER_SERVICES_FILE",
                              str(ROOT / "tests" / "ledger" / "services"))
        sys.stderr = open(os.devnull, "w")  # recover() reports what it did on stderr
        counts = campaign(args.moments, Path(tmp), args.seed, args.hard_links)
    print(f"{args.moments} kills: every file old or fixed after each; recovered to all "
          f"old {counts['old']}, all fixed {counts['fixed']}; "
          f"{counts['killed']} children killed by the signal (the rest ended first)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
