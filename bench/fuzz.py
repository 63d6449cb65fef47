#!/usr/bin/env python3
"""A fuzz campaign over every reader portledger has (hypothesis-based).

Each target feeds hostile input to one reader, the way a user would give it (a file on
disk and the real command line where the reader sits behind one), and holds it to the
product's promises:

- no internal error (``portledger: internal error``, a traceback, an exception escaping
  a reader other than its own located error type);
- no hang: each input gets 5 s (SIGALRM), after which it counts as a hang;
- exit codes 0, 1 or 2 only;
- every error located: a reader's error carries a file, a line and a column of at least 1;
  every finding line of the text output is ``file:line:col: PLnnn ...``; every line on
  stderr starts with ``portledger``;
- no value a variable gave quoted: the compose target's ``.env`` sets ``SECRET_TOKEN``
  (which its mutations read, ``${SECRET_TOKEN}``), whose value appears in no output of
  any format.

With ``--engine atheris`` (where atheris is installed) each target runs coverage-guided
under libFuzzer instead, seeded with the same fixture files, in a process of its own.

Targets: ``yaml`` (yamlio.load, both dialects), ``ledger`` (check --no-compose),
``compose`` (check of a project), ``dotenv`` (a project's .env), ``interpolation``
(interpolate.substitute), ``ports`` (ports.parse_short), ``commit-msg`` (the commit-msg
gate in a real git repository with a staged port change), ``arguments`` (argv for every
command but ``probe``), ``render`` (its JSON input). Inputs are drawn by hypothesis: raw
bytes, text from each reader's own alphabet, and mutations of the repository's own
fixture files (insertions of YAML/Compose tokens, deletions, splices).

    .venv/bin/python bench/fuzz.py --seconds 60                  # every target, 60 s in all
    .venv/bin/python bench/fuzz.py --seconds 3600 --jobs 2       # the long run
    .venv/bin/python bench/fuzz.py --target compose --seconds 300

Prints one line per target (inputs, failures by kind, inputs per second) and the total;
writes each failing input under ``--out`` (default: a temporary folder, named in the
output). Exit 0 when nothing failed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NO_CONFIG = str(ROOT / "tests" / "data" / "no-such-gitconfig")
"""A git configuration that is not there (not /dev/null: a misbehaving process on a shared
machine can turn it into a regular file)."""
HANG_SECONDS = 5.0
BATCH = 100
"""Examples per hypothesis run; each run of a target gets the next seed."""
VARIANTS = 20
"""Inputs per hypothesis example: the example and mutants of it (a seeded mutator, so
each is reproducible from the example): hypothesis' own drawing costs more than most
readers take on one input."""
CLI_EVERY = 10
"""One input in this many goes through the whole command line (argparse included)."""

LEDGER = """\
version: 1
ranges:
  user-facing: {start: 8000, end: 8999}
  application: {start: 2000, end: 2999}
services:
  web:
    category: user-facing
    compose: [web]
    ports:
      http: {port: 8000, target: 80}
  api:
    category: application
    ports:
      http: {port: 2000, target: 2000}
"""

COMPOSE = """\
services:
  web:
    image: nginx
    ports:
      - "8000:80"
      - "${WEB_PORT:-8001}:81"
  api:
    image: api
    env_file: [.env]
    ports:
      - target: 2000
        published: "${API_PORT}"
"""

SECRET_FIELDS = [
    'pull_policy: "${SECRET_TOKEN}"', "restart: ${SECRET_TOKEN}", "cpus: ${SECRET_TOKEN}",
    'network_mode: "service:${SECRET_TOKEN}"', 'container_name: "${SECRET_TOKEN}"',
    'cpus: {a: "${SECRET_TOKEN}"}', 'extends: {file: "${SECRET_TOKEN}", service: web}',
    "extends: ${SECRET_TOKEN}", 'ports: [{target: "${SECRET_TOKEN}"}]',
    'ports: [{target: 80, published: "${SECRET_TOKEN}"}]',
    'ports: [{target: 80, host_ip: "${SECRET_TOKEN}"}]', 'ports: ["${SECRET_TOKEN}:80"]',
    'depends_on: ["${SECRET_TOKEN}"]', 'volumes: ["${SECRET_TOKEN}:/x"]',
    'networks: ["${SECRET_TOKEN}"]', 'healthcheck: {interval: "${SECRET_TOKEN}"}',
]
COMPOSE_SECRETS = [f"services:\n  web:\n    image: nginx\n    {f}\n" for f in SECRET_FIELDS]
COMPOSE_SECRETS.append('include: ["${SECRET_TOKEN}"]\nservices:\n  web: {image: x}\n')
"""Seeds whose one value reads SECRET_TOKEN where a reader checks it (see SECRET); each
is also run as it is, mutations breaking most of them."""

TOKENS = [
    b"${", b"}", b"$$", b"${A:-", b"${A:?", b"${A+", b":-", b":?", b":", b"-", b"/", b"[",
    b"]", b"{", b"}", b",", b'"', b"'", b"\\", b"\n", b"\r\n", b"\r", b"\t", b" ", b"#",
    b"&a ", b"*a", b"<<: ", b"<<: *a", b"!reset ", b"!override ", b"!!int ", b"!!str ",
    b"!!float ", b"!!binary ", b"!!set ", b"%YAML 1.1\n", b"---\n", b"...\n", b"? ", b"|\n",
    b">-\n", b"0x", b"0o", b"0b", b"9e3", b"2000.0", b".inf", b"~", b"null", b"yes", b"on",
    b"65536", b"0", b"-1", b"99999999999999999999", b"\xff", b"\xef\xbb\xbf", b"\xff\xfe",
    b"\x00", b"\x1b", b"\xe2\x80\xa8", b"ports:", b"services:", b"extends:", b"include:",
    b"file: ../../etc/passwd", b"file: /etc/passwd", b"published:", b"target:",
    b"host_ip:", b"protocol:", b"port:", b"end:", b"start:", b"health: ", b"profiles:",
    b"export ", b"A=", b"=", b"\\n", b"::", b"Port-Change: ", b"web.http 8000 -> 8001",
    b"${SECRET_TOKEN}", b"x-${SECRET_TOKEN}",
]
SECRET = "fuzz-secret-0451-do-not-print"
"""The value of SECRET_TOKEN in the compose target's .env: never in any output."""
ENV = f"API_PORT=2000\nSECRET_TOKEN={SECRET}\n"


# --- inputs ---------------------------------------------------------------------------


def _corpus() -> list[bytes]:
    found = []
    for folder in ("tests", "examples"):
        for p in sorted((ROOT / folder).rglob("*")):
            if p.is_file() and not p.is_symlink() and (
                    p.suffix in (".yml", ".yaml") or p.name.startswith(".env")):
                if p.stat().st_size <= 16_384:
                    found.append(p.read_bytes())
    return found or [LEDGER.encode(), COMPOSE.encode()]


def strategies() -> dict[str, Any]:
    from hypothesis import strategies as st

    corpus = _corpus()
    token = st.sampled_from(TOKENS)

    @st.composite
    def mutated(draw: Any, seeds: list[bytes]) -> bytes:
        data = bytearray(draw(st.sampled_from(seeds)))
        for _ in range(draw(st.integers(1, 8))):
            at = draw(st.integers(0, len(data)))
            op = draw(st.integers(0, 4))
            if op == 0:
                data[at:at] = draw(token)
            elif op == 1:
                data[at:at + draw(st.integers(1, 16))] = b""
            elif op == 2:
                data[at:at + 1] = draw(st.binary(min_size=1, max_size=4))
            elif op == 3:  # a splice from another seed
                other = draw(st.sampled_from(seeds))
                start = draw(st.integers(0, len(other)))
                data[at:at] = other[start:start + draw(st.integers(1, 200))]
            else:  # a repeated chunk (nesting, long lines)
                chunk = bytes(data[at:at + draw(st.integers(1, 8))]) or b"${"
                data[at:at] = chunk * draw(st.integers(2, 600))
        return bytes(data)

    def texts(alphabet: str, max_size: int = 200) -> Any:
        return st.text(alphabet=st.sampled_from(alphabet), max_size=max_size)

    yaml_text = st.lists(token, max_size=40).map(b"".join)
    files = st.one_of(mutated(corpus), st.binary(max_size=300), yaml_text)
    ledger = st.one_of(mutated([LEDGER.encode()] + [c for c in corpus if b"ranges:" in c]),
                       yaml_text)
    compose = st.one_of(mutated([COMPOSE.encode()] + [c for c in corpus if b"services" in c]),
                        yaml_text, mutated([c.encode() for c in COMPOSE_SECRETS]),
                        st.sampled_from([c.encode() for c in COMPOSE_SECRETS]))
    dotenv = st.one_of(
        mutated([b"API_PORT=2000\nWEB_PORT=8001\n", b"export A='x'\nB=\"${A}\\n\"\n"]
                + [c for c in corpus if b"=" in c and b":" not in c[:20]]),
        texts("AB_=$'\"{}:-?\\ \n\r\t#x0é", 120).map(str.encode))
    template = st.one_of(
        texts("$${}AB_:-?+ x0", 120),
        st.integers(1, 600).map(lambda n: "${A:-" * n + "x" + "}" * n),
        st.integers(1, 600).map(lambda n: "${A:-}" * n))
    port = texts("0123456789:-/.[]abcdef:tcpud$ {}", 40)
    message = st.one_of(
        texts("Port-Change: web.http8000->1/tcpudp\n#:, -x", 300),
        st.lists(st.sampled_from(["subject\n\n", "Port-Change: web.http 8000 -> 8001\n",
                                  "Port-Change: \n", "# comment\n", "fixup! x\n",
                                  "Port-Change: web.http 8000 -> 8001/udp\n",
                                  "Signed-off-by: a <b>\n", "\n", "\x00", "\xff"]),
                 max_size=12).map("".join))
    words = ["check", "who", "allocate", "export", "ports", "diff", "report", "init",
             "projects", "rules", "render", "baseline", "--mapping", "port-mapping.yml",
             "--format", "json", "text", "sarif", "markdown", "github", "html", "--fix",
             "--diff", "--write", "--force", "--category", "user-facing", "--name", "x",
             "--count", "0", "3", "-1", "999999", "--target", "65536", "8000", "8000/udp",
             "--select", "PL2", "--ignore", "PL999", "--no-cache", "--no-compose",
             "--protocol", "sctp", "web", "x: y", "a\nb", "", "-", "--", ".", "..", "/",
             "a" * 300, "\udcff", "--help", "--version", "-o", "out.txt", "--input",
             "nope.json", "HEAD", "HEAD~5", "--base", "compose.yaml", "--update",
             "--ranges", "none", "--fail-level", "notice"]
    argv = st.lists(st.sampled_from(words), min_size=1, max_size=8)
    json_text = st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(-2, 70000), st.text(max_size=8),
                  st.floats(allow_nan=False)),
        lambda inner: st.one_of(st.lists(inner, max_size=4),
                                st.dictionaries(st.sampled_from(
                                    ["findings", "summary", "files", "file", "line",
                                     "column", "code", "rule", "severity", "message",
                                     "fix", "port", "end_line", "error"]), inner,
                                    max_size=6)),
        max_leaves=20).map(lambda v: json.dumps(v).encode())
    render_input = st.one_of(json_text, mutated([json.dumps(_check_json()).encode()]),
                             st.binary(max_size=200))
    return {"yaml": files, "ledger": ledger, "compose": compose, "dotenv": dotenv,
            "interpolation": template, "ports": port, "commit-msg": message,
            "arguments": argv, "render": render_input}


def _check_json() -> dict[str, Any]:
    return {"findings": [{"code": "PL202", "rule": "owner-mismatch", "severity": "error",
                          "file": "compose.yaml", "line": 5, "column": 9, "end_line": 5,
                          "end_column": 20, "message": "m", "service": "web", "port": 8000,
                          "protocol": "tcp", "fix": None}],
            "summary": {"errors": 1, "warnings": 0, "notices": 0, "files": 1}}


# --- the promises -----------------------------------------------------------------------


class Broken(Exception):
    """A promise the input broke: ``kind`` is internal, hang, exit, unlocated or leak."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


class _Hang(BaseException):
    """Raised by SIGALRM; a BaseException, so that no ``except Exception`` swallows it."""


def _alarm(signum: int, frame: Any) -> None:
    raise _Hang()


FINDING_LINE = re.compile(r"^.+:[1-9][0-9]*:[1-9][0-9]*: PL[1-9][0-9]{2} ")


def _cli(argv: list[str], stdin: bytes = b"") -> tuple[int, str, str]:
    """Run the real command line in this process; its exit code, stdout and stderr."""
    from portledger import cli

    out, err = io.StringIO(), io.StringIO()
    stdin_stream = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    saved = sys.stdin
    sys.stdin = stdin_stream
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(argv)
            except SystemExit as e:  # argparse's --help/--version
                code = e.code if isinstance(e.code, int) else 2
    finally:
        sys.stdin = saved
    return code, out.getvalue(), err.getvalue()


def _held_to_promises(code: int, out: str, err: str, *, text_findings: bool) -> None:
    if "internal error" in err or "Traceback (most recent call last)" in err + out:
        raise Broken("internal", err.strip().splitlines()[-1] if err.strip() else out[-300:])
    if code not in (0, 1, 2):
        raise Broken("exit", f"exit code {code}")
    for line in err.splitlines():
        if line and not line.startswith(("portledger", "usage:")) \
                and not line[:1].isspace() and not FINDING_LINE.match(line):
            raise Broken("unlocated", f"stderr line {line!r}")
    if text_findings:
        for line in out.splitlines():
            if " PL" in line[:400] and not line.startswith(("    ", "Found", "No ")) \
                    and re.search(r" PL[1-9][0-9]{2} ", line) and not FINDING_LINE.match(line):
                raise Broken("unlocated", f"finding line {line!r}")


def _no_secret(output: str) -> None:
    if SECRET in output:
        raise Broken("leak", "the value of SECRET_TOKEN in the output: "
                     + output[max(0, output.index(SECRET) - 150):][:300])


def _located(e: Any, what: str) -> None:
    if not (isinstance(e.line, int) and e.line >= 1 and isinstance(e.column, int)
            and e.column >= 1):
        raise Broken("unlocated", f"{what} at line {e.line!r} column {e.column!r}")


# --- the targets ------------------------------------------------------------------------


class Workspace:
    """The folders the file-based targets write their inputs into (made once)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.project = base / "project"
        self.project.mkdir()
        (self.project / "port-mapping.yml").write_text(LEDGER)
        (self.project / "compose.yaml").write_text(COMPOSE)
        (self.project / ".env").write_text(ENV)
        self.git = base / "git"
        self._git_repo()

    def _git_repo(self) -> None:
        g = self.git
        g.mkdir()

        def git(*args: str) -> None:
            subprocess.run(["git", *args], cwd=g, check=True, capture_output=True,
                           env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1",
                                "GIT_CONFIG_GLOBAL": NO_CONFIG,
                                "GIT_AUTHOR_NAME": "f", "GIT_AUTHOR_EMAIL": "f@x",
                                "GIT_COMMITTER_NAME": "f", "GIT_COMMITTER_EMAIL": "f@x"})

        git("init", "-q", "-b", "main")
        (g / "port-mapping.yml").write_text(LEDGER)
        (g / "compose.yaml").write_text(COMPOSE)
        git("add", ".")
        git("commit", "-q", "-m", "seed")
        (g / "port-mapping.yml").write_text(LEDGER.replace("port: 8000", "port: 8001"))
        (g / "compose.yaml").write_text(COMPOSE.replace('"8000:80"', '"8001:80"'))
        git("add", ".")

    @contextlib.contextmanager
    def inside(self, folder: Path) -> Iterator[None]:
        here = os.getcwd()
        os.chdir(folder)
        try:
            yield
        finally:
            os.chdir(here)


def target_function(name: str, ws: Workspace) -> Callable[[Any], None]:
    from portledger import yamlio
    from portledger.compose import interpolate
    from portledger.compose import ports as ports_mod

    def yaml_target(data: bytes) -> None:
        for compat in ("core", "goyaml"):
            try:
                yamlio.load("input.yml", data=data, compat=compat)
            except yamlio.YamlError as e:
                _located(e, "YamlError")
                if e.path != "input.yml":
                    raise Broken("unlocated", f"YamlError names {e.path!r}") from None

    calls = Counter[str]()

    def checked(argv: list[str], *, compose: bool) -> None:
        """``check`` as the CLI runs it: every CLI_EVERY-th input through the command
        line itself (argument parsing costs more than a small check), else check.run and
        every reporter, holding each finding to a place."""
        from portledger import check
        from portledger.errors import FatalError
        from portledger.report import reporters

        calls["check"] += 1
        if calls["check"] % CLI_EVERY == 0:
            code, out, err = _cli(argv)
            _held_to_promises(code, out, err, text_findings=True)
            _no_secret(out + err)
            return
        try:
            result = check.run(Path("port-mapping.yml"), [], compose=compose, cache=False)
        except FatalError as e:
            if "\n" in str(e):
                raise Broken("unlocated", f"a fatal error of several lines: {e}") from None
            return
        for f in result.findings:
            if not (f.file and f.line >= 1 and f.column >= 1):
                raise Broken("unlocated", f"finding {f.code} at {f.file!r}:{f.line}:{f.column}")
        for fmt in ("text", "json", "github", "sarif", "markdown"):
            shown = io.StringIO()
            reporters.report(fmt, result.findings, result.files, shown)
            _no_secret(shown.getvalue())

    def ledger_target(data: bytes) -> None:
        (ws.project / "port-mapping.yml").write_bytes(data)
        with ws.inside(ws.project):
            checked(["check", "--no-compose", "--no-cache"], compose=False)

    def compose_target(data: bytes) -> None:
        (ws.project / "port-mapping.yml").write_text(LEDGER)
        (ws.project / ".env").write_text(ENV)  # the dotenv target writes its own
        (ws.project / "compose.yaml").write_bytes(data)
        with ws.inside(ws.project):
            checked(["check", "--no-cache"], compose=True)
            if calls["check"] % CLI_EVERY == 1:
                code, out, err = _cli(["ports", "--format", "json"])
                _held_to_promises(code, out, err, text_findings=False)

    def dotenv_target(data: bytes) -> None:
        (ws.project / "port-mapping.yml").write_text(LEDGER)
        (ws.project / "compose.yaml").write_text(COMPOSE)
        (ws.project / ".env").write_bytes(data)
        with ws.inside(ws.project):
            checked(["check", "--no-cache"], compose=True)

    def interpolation_target(template: str) -> None:
        try:
            interpolate.substitute(template, {"A": "1", "B": ""})
        except interpolate.TemplateError as e:
            if not e.message:
                raise Broken("unlocated", "TemplateError without a message") from None

    def ports_target(spec: str) -> None:
        try:
            ports_mod.parse_short(spec)
        except ports_mod.PortSpecError as e:
            if not str(e):
                raise Broken("unlocated", "PortSpecError without a message") from None

    def commit_msg_target(message: str) -> None:
        path = ws.git / ".git" / "COMMIT_EDITMSG"
        path.write_bytes(message.encode("utf-8", "surrogateescape"))
        with ws.inside(ws.git):
            code, out, err = _cli(["commit-msg", str(path)])
            _held_to_promises(code, out, err, text_findings=True)

    def arguments_target(argv: list[str]) -> None:
        if any(w in ("probe",) for w in argv):
            return
        (ws.project / "port-mapping.yml").write_text(LEDGER)
        (ws.project / "compose.yaml").write_text(COMPOSE)
        (ws.project / ".env").write_text("API_PORT=2000\n")
        with ws.inside(ws.project):
            code, out, err = _cli(argv)
            _held_to_promises(code, out, err, text_findings="text" in argv)

    def render_target(data: bytes) -> None:
        from portledger.report import json_input, reporters

        calls["render"] += 1
        if calls["render"] % CLI_EVERY == 0:
            code, out, err = _cli(["render", "--format", "markdown"], stdin=data)
            _held_to_promises(code, out, err, text_findings=False)
            return
        try:  # what render does before a reporter sees the input
            found, files = json_input.findings(json_input.load(io.BytesIO(data), "in"), "in")
        except json_input.InputError:
            return
        for fmt in ("text", "json", "github", "sarif", "markdown"):
            reporters.report(fmt, found, files, io.StringIO())

    return {"yaml": yaml_target, "ledger": ledger_target, "compose": compose_target,
            "dotenv": dotenv_target, "interpolation": interpolation_target,
            "ports": ports_target, "commit-msg": commit_msg_target,
            "arguments": arguments_target, "render": render_target}[name]


TARGETS = ("yaml", "ledger", "compose", "dotenv", "interpolation", "ports", "commit-msg",
           "arguments", "render")


# --- the campaign -----------------------------------------------------------------------


def variants(example: Any) -> Iterator[Any]:
    """The example, then VARIANTS - 1 mutants of it (seeded by the example itself)."""
    import random
    import zlib

    yield example
    raw = repr(example).encode("utf-8", "surrogateescape")
    rng = random.Random(zlib.crc32(raw))
    for _ in range(VARIANTS - 1):
        if isinstance(example, bytes):
            yield _mutate(rng, example)
        elif isinstance(example, str):
            yield _mutate(rng, example.encode("utf-8", "surrogateescape")).decode(
                "utf-8", "surrogateescape")
        elif isinstance(example, list):
            words = list(example)
            if words:
                words[rng.randrange(len(words))] = rng.choice(example + ["--", "x", ""])
                if rng.random() < 0.5:
                    words.insert(rng.randrange(len(words) + 1), rng.choice(example))
            yield words
        else:
            return


def _mutate(rng: Any, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(out))
        op = rng.random()
        if op < 0.4:
            out[at:at] = rng.choice(TOKENS)
        elif op < 0.6:
            del out[at:at + rng.randint(1, 8)]
        elif op < 0.8 and out:
            out[min(at, len(out) - 1)] = rng.randrange(256)
        else:
            chunk = bytes(out[at:at + rng.randint(1, 6)]) or b"${"
            out[at:at] = chunk * rng.randint(2, 64)
    return bytes(out)


def run_target(name: str, seconds: float, out: Path, seed: int = 0) -> dict[str, Any]:
    """Fuzz one target for about ``seconds``; its counts and its failures' files."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    os.environ.setdefault("PORTLEDGER_SERVICES_FILE", str(ROOT / "tests" / "ledger" / "services"))
    signal.signal(signal.SIGALRM, _alarm)
    counts: Counter[str] = Counter()
    failures: list[str] = []
    strategy = strategies()[name]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PORTLEDGER_CACHE_DIR"] = str(Path(tmp) / "cache")
        ws = Workspace(Path(tmp))
        fn = target_function(name, ws)
        deadline = time.monotonic() + seconds

        def one(example: Any) -> None:
            for value in variants(example):
                if time.monotonic() > deadline:
                    return
                one_input(value)

        def one_input(value: Any) -> None:
            counts["inputs"] += 1
            signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
            try:
                fn(value)
            except _Hang:
                kind, detail = "hang", f"over {HANG_SECONDS:.0f} s"
            except Broken as e:
                kind, detail = e.kind, str(e)
            except Exception as e:  # noqa: BLE001 - a reader's exception escaped
                kind, detail = "internal", f"{type(e).__name__}: {e}"[:300]
            else:
                return
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            counts[kind] += 1
            saved = out / f"{name}-{counts['inputs']}-{kind}.input"
            raw = value if isinstance(value, bytes) else json.dumps(value).encode(
                "utf-8", "surrogateescape")
            saved.write_bytes(raw)
            if len(failures) < 20:
                failures.append(f"{name}: {detail} (input: {saved})")

        batch = 0
        started = time.monotonic()
        while time.monotonic() < deadline:
            run = settings(max_examples=BATCH, deadline=None, database=None,
                           phases=[Phase.generate], suppress_health_check=list(HealthCheck))(
                given(strategy)(one))
            try:
                hseed(seed * 1_000_003 + batch)(run)()
            except Exception as e:  # noqa: BLE001 - hypothesis itself gave up on a batch
                counts["campaign"] += 1
                if len(failures) < 20:
                    failures.append(f"{name}: hypothesis stopped a batch: {type(e).__name__}: "
                                    f"{str(e)[:300]}")
            batch += 1
        took = time.monotonic() - started
    return {"target": name, "inputs": counts["inputs"], "seconds": took,
            "failed": {k: v for k, v in counts.items() if k != "inputs"},
            "failures": failures}


def _from_bytes(name: str, data: bytes) -> Any:
    """A libFuzzer input as the target's value (atheris hands every target bytes)."""
    if name in ("interpolation", "ports", "commit-msg"):
        return data.decode("utf-8", "surrogateescape")
    if name == "arguments":
        return [w.decode("utf-8", "surrogateescape") for w in data.split(b"\0")][:12]
    return data


def _atheris_child(name: str, seconds: float, out: Path) -> None:
    """One target under atheris (coverage-guided, libFuzzer), for ``seconds``; run in a
    process of its own, since atheris.Fuzz() never returns."""
    import atheris

    with atheris.instrument_imports(include=["portledger"]):
        import portledger.check
        import portledger.cli
        import portledger.compose.interpolate
        import portledger.compose.ports
        import portledger.report.json_input
        import portledger.report.reporters
        import portledger.yamlio  # noqa: F401
    signal.signal(signal.SIGALRM, _alarm)
    tmp = Path(tempfile.mkdtemp(prefix="portledger-atheris-"))
    os.environ["PORTLEDGER_CACHE_DIR"] = str(tmp / "cache")
    ws = Workspace(tmp)
    fn = target_function(name, ws)
    corpus = tmp / "corpus"
    corpus.mkdir()
    for i, seed in enumerate(_corpus()[:200]):
        (corpus / f"seed-{i}").write_bytes(seed)

    def one(data: bytes) -> None:
        signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
        try:
            fn(_from_bytes(name, data))
        except _Hang:
            raise RuntimeError(f"hang: over {HANG_SECONDS:.0f} s") from None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    atheris.Setup([sys.argv[0], f"-max_total_time={max(1, int(seconds))}", "-timeout=30",
                   f"-artifact_prefix={out}/{name}-", "-print_final_stats=1", str(corpus)],
                  one)
    atheris.Fuzz()


def _run_atheris(name: str, seconds: float, out: Path) -> dict[str, Any]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, __file__, "--_atheris", name, str(seconds),
                           str(out)], capture_output=True, text=True,
                          timeout=seconds * 3 + 120)
    took = time.monotonic() - started
    runs = re.findall(r"stat::number_of_executed_units: (\d+)", done.stderr)
    failed: dict[str, int] = {}
    failures = []
    if done.returncode != 0:
        failed["internal"] = 1
        tail = [line for line in done.stderr.splitlines()
                if "Error" in line or "error" in line or "hang" in line][-3:]
        failures.append(f"{name}: atheris stopped (exit {done.returncode}): "
                        + " | ".join(tail) + f" (inputs: {out}/{name}-*)")
    return {"target": name, "inputs": int(runs[-1]) if runs else 0, "seconds": took,
            "failed": failed, "failures": failures}


def _run_packed(job: tuple[str, float, str, int, str]) -> dict[str, Any]:
    name, seconds, out, seed, engine = job
    if engine == "atheris":
        return _run_atheris(name, seconds, Path(out))
    return run_target(name, seconds, Path(out), seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fuzz every portledger reader.")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="the campaign's time, shared by the targets (default 60)")
    parser.add_argument("--target", action="append", choices=TARGETS,
                        help="only these targets (repeatable; default: all)")
    parser.add_argument("--jobs", type=int, default=1, help="targets fuzzed at once")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", metavar="DIR", help="where failing inputs are written")
    parser.add_argument("--engine", choices=("hypothesis", "atheris"), default="hypothesis",
                        help="atheris: coverage-guided (libFuzzer), where it is installed "
                        "(pip install atheris); else hypothesis")
    parser.add_argument("--_atheris", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._atheris:
        name, seconds, where = args._atheris
        _atheris_child(name, float(seconds), Path(where))
        return 0
    if args.engine == "atheris":
        try:
            import atheris  # noqa: F401
        except ImportError:
            print("atheris is not installed here: fuzzing with hypothesis", file=sys.stderr)
            args.engine = "hypothesis"
    targets = args.target or list(TARGETS)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="portledger-fuzz-"))
    out.mkdir(parents=True, exist_ok=True)
    share = args.seconds * max(1, args.jobs) / len(targets)
    jobs = [(t, share, str(out), args.seed, args.engine) for t in targets]
    if args.jobs > 1:
        with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
            results = pool.map(_run_packed, jobs, chunksize=1)
    else:
        results = [_run_packed(j) for j in jobs]
    total = sum(r["inputs"] for r in results)
    failed = sum(sum(r["failed"].values()) for r in results)
    for r in results:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(r["failed"].items())) or "none"
        print(f"{r['target']:14} {r['inputs']:>9} inputs  {r['inputs'] / r['seconds']:>8.0f}/s"
              f"  failures: {kinds}")
        for line in r["failures"]:
            print(f"    {line}")
    print(f"total          {total:>9} inputs  failures: {failed}  (failing inputs: {out})")
    if not failed and not args.out:
        shutil.rmtree(out, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
