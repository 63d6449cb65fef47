"""Random but plausible compose projects, for differential testing against Docker Compose.

``generate(seed)`` returns a :class:`Case`: the files of one project (compose files,
override files, ``.env`` files, an ``extends`` base, an ``include``d sub-project) and how
to run it (``-f`` list, ``--project-directory``, ``--env-file``, ``--profile``, the
environment, the folder to run from). The same seed always gives the same project, so
a disagreement is one command to reproduce::

    python bench/fuzz_compose.py --seed SEED --count 1 --show

What it stresses is what published ports depend on: short and long port syntax in
every form (IPv4, IPv6 with and without brackets, ranges, protocols), interpolation in
every form (``$V``, ``${V}``, defaults, alternatives, required, nesting, ``$$``), ``.env``
quoting, comments, ``export`` and multi-line values, ``COMPOSE_PROFILES`` and
``COMPOSE_FILE``, override files and ``-f`` lists, ``extends`` across files,
``include`` with its own folder and ``.env``, profiles, anchors, aliases, merge keys,
``!reset`` / ``!override``, ``network_mode``, ``expose``, and invalid variants of each
(about one project in four is meant to be refused).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Case:
    """One generated project: its files (relative path -> text) and how to load it."""

    seed: int
    files: dict[str, str]
    compose_files: list[str] | None = None
    project_directory: str | None = None
    env_files: list[str] | None = None
    profiles: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = "."

    def write(self, root: Path) -> Path:
        """Write the files under ``root``; return the folder to run from."""
        for rel, text in self.files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        (root / self.cwd).mkdir(parents=True, exist_ok=True)
        (root / "case.json").write_text(json.dumps(self.case_json(), indent=2) + "\n")
        return root / self.cwd

    def case_json(self) -> dict[str, Any]:
        """The fixture ``case.json`` of this project (see compose_reference.case_of)."""
        out: dict[str, Any] = {}
        if self.compose_files:
            out["files"] = self.compose_files
        if self.project_directory:
            out["project_directory"] = self.project_directory
        if self.env_files:
            out["env_files"] = self.env_files
        if self.profiles:
            out["profiles"] = self.profiles
        if self.env:
            out["env"] = self.env
        if self.cwd != ".":
            out["cwd"] = self.cwd
        return out


# -- YAML text --------------------------------------------------------------------------


@dataclass
class Raw:
    """A scalar already written as YAML (quotes, tags and all)."""

    text: str


@dataclass
class Tagged:
    """``!reset`` / ``!override`` (or any tag) on a value."""

    tag: str
    value: Any


@dataclass
class Anchored:
    """A collection carrying an anchor ``&name``."""

    name: str
    value: Any


@dataclass
class Alias:
    name: str


@dataclass
class Flow:
    """A collection written in flow style (``[a, b]``, ``{k: v}``)."""

    value: Any


BLOCK = "\x00"
"""Stands for the line break and indentation of a block scalar's text (``|-``)."""


def _in_flow(text: str) -> str:
    # A block scalar cannot stand in a flow collection: the same string, quoted.
    if BLOCK not in text:
        return text
    style, _, body = text.partition(BLOCK)
    return json.dumps(body + ("\n" if style == "|" else ""))


def _flow(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Alias):
        return f"*{value.name}"
    if isinstance(value, Tagged):
        return f"{value.tag} {_flow(value.value)}"
    if isinstance(value, Anchored):
        return f"&{value.name} {_flow(value.value)}"
    if isinstance(value, Flow):
        return _flow(value.value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_in_flow(_flow(v))}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_in_flow(_flow(v)) for v in value) + "]"
    return scalar_text(value)


def scalar_text(value: Any) -> str:
    """A Python scalar as plain-as-possible YAML."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _inline(value: Any) -> str | None:
    """The text after ``key:`` (or ``-``) when the value fits on that line."""
    if isinstance(value, (Raw, Alias, Flow)):
        return _flow(value)
    if not isinstance(value, (dict, list, Tagged, Anchored)):
        return _flow(value)
    if isinstance(value, (dict, list)) and not value:
        return _flow(value)
    return None


def emit(value: Any, indent: int = 0) -> list[str]:
    """Block-style lines of a mapping or sequence at ``indent``."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            lines += _entry(f"{pad}{k}:", v, indent)
    elif isinstance(value, list):
        for v in value:
            lines += _entry(f"{pad}-", v, indent)
    else:
        raise TypeError(value)
    return lines


def _entry(head: str, v: Any, indent: int) -> list[str]:
    text = _inline(v)
    if text is not None:
        return [f"{head} {text}".replace(BLOCK, "\n" + " " * (indent + 4))]
    prefix = ""
    while isinstance(v, (Tagged, Anchored)):
        prefix += f" {v.tag}" if isinstance(v, Tagged) else f" &{v.name}"
        v = v.value
        inner = _inline(v)
        if inner is not None:
            return [f"{head}{prefix} {inner}"]
    return [f"{head}{prefix}", *emit(v, indent + 2)]


def document(value: dict[str, Any]) -> str:
    return "\n".join(emit(value)) + "\n"


# -- the generator ----------------------------------------------------------------------

VARS = ["HTTP_PORT", "DB_PORT", "BIND", "PROTO", "TARGET", "RANGE", "EMPTY", "COMPOSE_X"]
SERVICE_NAMES = ["web", "db", "api", "cache", "worker", "proxy"]
IPS = ["127.0.0.1", "0.0.0.0", "::1", "[::1]", "::", "[fe80::1]", "10.0.0.7", "192.168.1.1"]
BAD_IPS = ["1.2.3", "localhost", "[::1", "::1]", "300.1.1.1", "fe80::1%eth0"]
TARGETS = [80, 443, 8080, 5432, 3000, 6379, 9000, 1, 65535]
PROTOS = ["tcp", "udp", "sctp", "UDP", "Tcp"]


class Gen:
    """One project's worth of random choices."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.r = random.Random(seed)
        self.env: dict[str, str] = {}
        self.dotenv: dict[str, str] = {}
        self.anchors: list[tuple[str, dict[str, Any]]] = []
        self.invalid = self.r.random() < 0.25  # meant to hold at least one error, maybe

    def chance(self, p: float) -> bool:
        return self.r.random() < p

    def pick(self, seq: list[Any]) -> Any:
        return self.r.choice(seq)

    def bad(self, p: float = 0.05) -> bool:
        return self.invalid and self.chance(p * 2)

    # -- values
    def port_number(self) -> str:
        if self.bad(0.03):
            return self.pick(["70000", "-1", "8o", "0x50", " 80", "８０", "80 ", "1_000", "65536"])
        return str(self.pick([*TARGETS, 8000, 8001, 5433, 0] if self.chance(0.1) else TARGETS))

    def var_ref(self, name: str, default: str | None = None) -> str:
        form = self.r.randrange(9)
        if form == 0:
            return f"${name}"
        if form == 1 or default is None:
            return "${" + name + "}"
        op = self.pick([":-", "-", ":+", "+", ":-", "-", ":?", "?"])
        if op in (":?", "?") and not self.chance(0.3):
            op = ":-"
        if form == 8 and default is not None:
            other = self.pick(VARS)
            default = "${" + other + ":-" + default + "}"
        return "${" + name + op + default + "}"

    def maybe_var(self, text: str, p: float = 0.25) -> str:
        """``text`` or a variable that (maybe) holds it."""
        if not self.chance(p):
            return text
        name = self.pick(VARS)
        if (name in self.env or name in self.dotenv) and self.chance(0.8):
            name = f"{name}_{len(self.env) + len(self.dotenv)}"
        where = self.r.randrange(4)
        if where == 0:
            self.env[name] = text
        elif where == 1:
            self.dotenv[name] = text
        elif where == 2 and self.chance(0.3):
            self.env[name] = ""
        return self.var_ref(name, text)

    def quote(self, text: str, plain_ok: bool = True) -> str:
        style = self.r.randrange(5)
        if style == 0 and plain_ok and _plain_safe(text):
            return text
        if style == 1 and "'" not in text:
            return f"'{text}'"
        if style == 2 and self.chance(0.1) and "\n" not in text:
            return self.pick(["|-", "|-", ">-", "|"]) + BLOCK + text
        return json.dumps(text, ensure_ascii=self.chance(0.5))

    def short_port(self) -> Any:
        container = self.port_number()
        if self.chance(0.15):
            a = int(self.pick(TARGETS[:7]))
            n = self.r.randrange(0, 3)
            container = f"{a}-{a + n}"
            if self.bad(0.05):
                container = self.pick([f"{a + 2}-{a}", f"{a}-{a + 1}-{a + 2}", f"{a}-",
                                       f"{a}-{a + 1}-x"])
        parts = [self.maybe_var(container, 0.15)]
        host = None
        if self.chance(0.75):
            if "-" in container and not self.bad(0.3):
                lo = self.r.randrange(1024, 9000)
                ends = container.split("-")
                width = self.r.randrange(0, 4)
                if len(ends) == 2 and ends[0].isdigit() and ends[1].isdigit() and not self.bad(0.2):
                    width = int(ends[1]) - int(ends[0])
                host = f"{lo}-{lo + width}"
            elif self.chance(0.1):
                host = ""
            else:
                host = self.port_number() if self.chance(0.3) else str(self.r.randrange(1024, 9999))
            parts.insert(0, self.maybe_var(host))
        if host is not None and self.chance(0.3):
            ip = self.pick(BAD_IPS) if self.bad(0.1) else self.pick(IPS)
            parts.insert(0, self.maybe_var(ip, 0.1))
        elif host is not None and self.chance(0.05):
            parts.insert(0, "")
        text = ":".join(parts)
        if self.chance(0.3):
            proto = self.pick(["foo", "", "tcp/udp"]) if self.bad(0.1) else self.pick(PROTOS)
            text += "/" + self.maybe_var(proto, 0.1)
        if self.chance(0.01):
            text = text.replace("$", "$$", 1) if "$" in text else text + "$$"
        if self.chance(0.1) and text.isdigit() and int(text) < 65536:
            forms = [text, f"0x{int(text):x}", f"0X{int(text):X}", f"0o{int(text):o}",
                     f"0O{int(text):o}", f"0B{int(text):b}", f"+{text}", f'"0X{int(text):X}"']
            return Raw(self.pick(forms if self.chance(0.5) else [text]))
        if self.bad(0.01):
            return Raw(self.pick(["!!float 80", "80.0", "true", "null", "[80]", "{}", "~", "''"]))
        return Raw(self.quote(text, plain_ok=":" not in text or self.chance(0.5)))

    def long_port(self) -> Any:
        entry: dict[str, Any] = {}
        if self.chance(0.2):
            entry["name"] = Raw(self.quote(self.pick(["http", "web-ui", "metrics"])))
        t = self.port_number()
        if self.chance(0.2):
            entry["target"] = Raw(self.quote(self.maybe_var(t, 0.5)))
        elif not self.bad(0.02):
            entry["target"] = Raw(t if t.lstrip("-").isdigit() else self.quote(t))
        if self.chance(0.7):
            p = self.pick([str(self.r.randrange(1024, 9999)), "8000-8002", "0"])
            if self.bad(0.05):
                p = self.pick(["abc", "8002-8000", "70000", "", " 80", "80-81-82"])
            if p.isdigit() and self.chance(0.5):
                entry["published"] = Raw(p)
            else:
                entry["published"] = Raw(self.quote(self.maybe_var(p)))
        if self.chance(0.3):
            plain_ips = [i for i in IPS if "[" not in i]
            ip = self.pick(BAD_IPS) if self.bad(0.05) else self.pick(plain_ips)
            entry["host_ip"] = Raw(self.quote(self.maybe_var(ip, 0.1)))
        if self.chance(0.3):
            proto = self.pick(["foo", "TCPX"]) if self.bad(0.05) else self.pick(PROTOS)
            entry["protocol"] = Raw(self.quote(self.maybe_var(proto, 0.1)))
        if self.chance(0.2):
            modes = ["swarm", "bridge"] if self.bad(0.05) else ["host", "ingress"]
            mode = self.pick(modes)
            entry["mode"] = Raw(mode)
        if self.chance(0.05):
            entry["app_protocol"] = Raw("http")
        if self.bad(0.02):
            entry["x-extra"] = Raw("1")
        if self.bad(0.01):
            entry["unknown"] = Raw("1")
        items = list(entry.items())
        self.r.shuffle(items)
        entry = dict(items)
        return Flow(entry) if self.chance(0.4) else entry

    def ports(self) -> Any:
        n = self.pick([0, 1, 1, 2, 2, 3, 4])
        out = []
        for _ in range(n):
            out.append(self.long_port() if self.chance(0.3) else self.short_port())
        if out and self.chance(0.1):
            out.append(self.pick(out))  # a repeat: Compose drops it
        if self.chance(0.15) and all(isinstance(p, Raw) and "\n" not in p.text for p in out):
            return Flow(out)
        return out

    def expose(self) -> list[Any]:
        out: list[Any] = []
        for _ in range(self.r.randrange(1, 3)):
            if self.bad(0.1):
                out.append(Raw(self.quote(self.pick(["abc", "80:80", "70000", "80-", ""]))))
            else:
                v = self.pick(["8080", "3000-3001", "9000/udp", "5000"])
                out.append(Raw(v if self.chance(0.3) and v.isdigit() else self.quote(v)))
        return out

    def service(self, name: str, names: list[str]) -> dict[str, Any]:
        s: dict[str, Any] = {}
        r = self.r.random()
        if r < 0.85 or not self.invalid:
            s["image"] = Raw(self.quote(self.maybe_var("nginx:alpine", 0.1)))
        elif r < 0.93:
            s["build"] = Raw(".") if self.chance(0.5) else {
                "context": Raw("."), "args": [Raw("A=1"), Raw("A=1")]}
        ports = self.ports()
        if ports or self.chance(0.2):
            s["ports"] = ports
        if self.chance(0.1):
            s["expose"] = self.expose()
        if self.chance(0.15):
            s["profiles"] = [Raw(self.pick(["dev", "debug", "prod"]))]
        if self.chance(0.05):
            mode = self.pick(["host", "bridge", "none", f"service:{self.pick(names)}"])
            if self.bad(0.1):
                mode = "service:nosuch"
            s["network_mode"] = Raw(self.quote(mode))
        if self.chance(0.1):
            others = [n for n in names if n != name]
            dep = self.pick(others) if others else name
            if self.bad(0.1):
                dep = "nosuch"
            if dep != name:
                s["depends_on"] = [Raw(dep)]
        if self.chance(0.08):
            s["environment"] = self.pick([[Raw("A=1"), Raw("A=1")], {"A": Raw("1")}])
        if self.chance(0.05):
            s["labels"] = [Raw("a=b"), Raw("a=b")] if self.chance(0.5) else [Raw("a=b")]
        if self.chance(0.05):
            s["dns"] = [Raw("8.8.8.8"), Raw("8.8.8.8")]
        if self.chance(0.05):
            s["container_name"] = Raw(self.pick(["same", name]))
        if self.chance(0.05):
            s["networks"] = [Raw(self.pick(["front", "back"]))]
        if self.chance(0.04):
            s["volumes"] = [Raw(self.pick(["data:/data", "./x:/x", "missing:/m"]))]
        if self.bad(0.01):
            s["unknown_key"] = Raw("1")
        return s

    def top(self, services: dict[str, Any]) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        if self.chance(0.2):
            doc["name"] = Raw(self.pick(["demo", "app"]))
        if self.chance(0.1):
            doc["version"] = Raw('"3.8"')
        doc["services"] = services
        used_nets = {v.text for s in services.values() if isinstance(s, dict)
                     for v in (s.get("networks") or [])}
        if used_nets and not self.bad(0.2):
            doc["networks"] = {n: {} for n in sorted(used_nets)}
        vols = {v.text.split(":")[0] for s in services.values() if isinstance(s, dict)
                for v in (s.get("volumes") or []) if not v.text.startswith(".")}
        vols.discard("missing")
        if vols:
            doc["volumes"] = {n: {} for n in sorted(vols)}
        return doc

    def with_anchors(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Move a service's ports (or the whole service) behind an anchor."""
        services = doc["services"]
        if not services or not self.chance(0.25):
            return doc
        name = self.pick(list(services))
        s = services[name]
        common: dict[str, Any] = {"image": Raw("busybox")}
        if self.chance(0.7):
            common["ports"] = [self.short_port()]
        out: dict[str, Any] = {"x-common": Anchored("common", common)}
        if self.chance(0.2):  # the same anchor again: the later one wins
            out["x-other"] = Anchored("common", {"image": Raw("alpine"),
                                                 "ports": [self.short_port()]})
        form = self.r.randrange(4)
        if form == 0:
            services[name] = {"<<": Alias("common"), **{k: v for k, v in s.items() if k != "image"}}
        elif form == 1:
            services[name] = Alias("common")
        elif form == 2:
            out["x-more"] = Anchored("more", {"expose": [Raw('"9999"')]})
            services[name] = {"<<": Flow([Alias("common"), Alias("more")]), **s}
            if self.bad(0.2):  # two merge keys in one mapping: go-yaml refuses it
                services[name] = {"<<": Alias("common"), "<< ": Alias("more"), **s}
        else:
            services[name] = {"<<": Alias("common"), **s}
        out.update(doc)
        return out

    def dotenv_text(self, values: dict[str, str]) -> str:
        lines = []
        for k, v in values.items():
            form = self.r.randrange(8)
            if self.chance(0.15):
                lines.append(self.pick(["# a comment", "", "   "]))
            if form == 0:
                lines.append(f"{k}={v}")
            elif form == 1 and '"' not in v and "\\" not in v:
                lines.append(f'{k}="{v}"')
            elif form == 2 and "'" not in v and "$" not in v:
                lines.append(f"{k}='{v}'")
            elif form == 3:
                lines.append(f"export {k}={v}")
            elif form == 4 and " " not in v and "#" not in v:
                lines.append(f"{k}={v} # note")
            elif form == 5:
                lines.append(f"{k} = {v}")
            elif form == 6 and '"' not in v:
                lines.append(f'{k}="{v}" # quoted')
            else:
                lines.append(f"{k}={v}")
        if self.chance(0.1):
            lines.append(self.pick([
                'MULTI="a\nb"', "REF=${HTTP_PORT}", "BARE", "E=", "T=1\t# tab",
                "COLON: 8081", "C2:=1", 'ESC="a\\tb"', "SQ='${HTTP_PORT}'", "X= # c"]))
            if self.chance(0.3):
                k = self.pick(list(values) or ["HTTP_PORT"])
                lines.append(self.pick([f"{k}= # not a comment", f"{k}=1\t# tab", f"{k}: 8000",
                                        f'{k}="80\\\n" # escaped', f"export {k}:8001"]))
        if self.bad(0.03):
            lines.append(self.pick(["not a line", "=x", "A B=1", "K:=1"]))
        self.r.shuffle(lines)
        return "\n".join(lines) + ("\n" if self.chance(0.9) else "")


def _plain_safe(text: str) -> bool:
    if not text or text != text.strip():
        return False
    if text[0] in "!&*[]{}|>'\"%@`#,?-" and not (text[0] == "-" and text[1:2].isdigit()):
        return False
    if text[0] == ":" or any(c in text for c in ",[]{}"):
        return False  # these would end a plain scalar in a flow collection
    return ": " not in text and " #" not in text and not text.endswith(":") and "\n" not in text


def generate(seed: int) -> Case:
    """The project of ``seed``."""
    g = Gen(seed)
    r = g.r
    files: dict[str, str] = {}
    names = r.sample(SERVICE_NAMES, r.randrange(1, 4))
    if g.chance(0.03):
        # a service named 8080: a string key only when quoted
        names.append(g.pick(['"8080"', "'9090'", "8080", "true", "1.5", "~", "web2"]))
    services: dict[str, Any] = {n: g.service(n, names) for n in names}
    compose_files: list[str] | None = None
    project_directory = None
    env_files = None
    cwd = "."

    # extends, in the same file or another one
    if g.chance(0.15) and names:
        child = g.pick(names)
        if g.chance(0.5):
            files["base.yaml"] = document({"services": {"base": g.service("base", ["base"])}})
            services[child]["extends"] = {"file": Raw("base.yaml"), "service": Raw("base")}
            if g.bad(0.1):
                services[child]["extends"] = {"file": Raw("nosuch.yaml"), "service": Raw("base")}
        else:
            services["template"] = g.service("template", names)
            services[child]["extends"] = Flow({"service": Raw("template")})
            if g.chance(0.3):
                services[child]["extends"] = Raw("template")

    # !reset / !override in an override file, or null / empty values
    override: dict[str, Any] | None = None
    if g.chance(0.3):
        over_services: dict[str, Any] = {}
        for n in r.sample(names, r.randrange(1, len(names) + 1)):
            choice = r.randrange(7)
            if choice == 0:
                over_services[n] = {"ports": Tagged("!reset", [])}
            elif choice == 1:
                over_services[n] = {"ports": Tagged("!override", [g.short_port()])}
            elif choice == 2:
                over_services[n] = {"ports": Raw("null")} if g.chance(0.5) else Raw("null")
            elif choice == 3:
                over_services[n] = {"ports": [g.short_port()]}
            elif choice == 4:
                over_services[n] = {"profiles": [Raw("debug")]}
            elif choice == 5:
                over_services[n] = {"ports": [Tagged("!reset", Raw("null")), g.short_port()]}
            else:
                over_services[n] = {"image": Raw("busybox"), "ports": g.ports()}
        if g.chance(0.2):
            over_services["extra"] = {"image": Raw("redis"), "ports": g.ports()}
        override = {"services": over_services}

    main_doc = g.with_anchors(g.top(services))
    layout = r.randrange(5)
    if layout == 0 and override is not None:
        files["compose.yaml"] = document(main_doc)
        files["compose.override.yaml"] = document(override)
    elif layout == 1 and override is not None:
        files["docker-compose.yml"] = document(main_doc)
        files["prod.yml"] = document(override)
        compose_files = ["docker-compose.yml", "prod.yml"]
    elif layout == 2:
        files["app/compose.yaml"] = document(main_doc)
        extra = []
        if override is not None:
            files["app/over.yaml"] = document(override)
            extra = ["app/over.yaml"]
        g.env["COMPOSE_FILE"] = ":".join(["app/compose.yaml", *extra])
        if g.chance(0.3):
            g.env["COMPOSE_FILE"] = g.env["COMPOSE_FILE"].replace(":", ",")
            g.env["COMPOSE_PATH_SEPARATOR"] = ","
        for rel in [k for k in files if k in ("base.yaml",)]:
            files["app/" + rel] = files.pop(rel)
    elif layout == 3:
        files["deploy/compose.yml"] = document(main_doc)
        compose_files = ["deploy/compose.yml"]
        if override is not None:
            files["deploy/compose.override.yml"] = document(override)
            compose_files.append("deploy/compose.override.yml")
        if "base.yaml" in files:
            files["deploy/base.yaml"] = files.pop("base.yaml")
        if g.chance(0.3):
            project_directory = "deploy"
    else:
        files["compose.yaml"] = document(main_doc)
        if override is not None and g.chance(0.5):
            files["compose.override.yml"] = document(override)

    # include a sub-project with its own folder and .env
    if g.chance(0.12) and layout != 2:
        sub_env = {"SUB_PORT": str(r.randrange(2000, 3000))}
        sub = {"services": {"sub": {"image": Raw("redis"), "ports": [
            Raw(json.dumps("${SUB_PORT}:6379")), g.short_port()]}}}
        files["lib/compose.yaml"] = document(sub)
        files["lib/.env"] = g.dotenv_text(sub_env)
        if g.chance(0.3):
            g.env["SUB_PORT"] = "2999"
        main_path = next(k for k in files if k.endswith(("compose.yaml", "compose.yml"))
                         and not k.startswith("lib/") and "override" not in k)
        prefix = "../" * main_path.count("/")
        text = files[main_path]
        entry = Raw(json.dumps(prefix + "lib/compose.yaml"))
        if g.chance(0.3):
            inc = document({"include": [{"path": entry}]})
        else:
            inc = document({"include": [entry]})
        files[main_path] = inc + text

    # .env and the environment
    if g.dotenv or g.chance(0.2):
        where = "app/.env" if layout == 2 else ".env"
        if layout == 3 and project_directory:
            where = "deploy/.env"
        if g.chance(0.1):
            where = "custom.env"
            env_files = ["custom.env"]
        files[where] = g.dotenv_text(g.dotenv)
    if g.chance(0.1):
        g.env["COMPOSE_PROFILES"] = g.pick(["dev", "debug,prod", "*", ""])
    profiles = [g.pick(["dev", "debug"])] if g.chance(0.08) else None
    if layout == 4 and g.chance(0.1) and compose_files is None:
        files = {("sub/" + k if k != "case.json" else k): v for k, v in files.items()}
        cwd = "sub"
    if g.bad(0.02):
        files["compose.yaml" if "compose.yaml" in files else next(iter(files))] = g.pick(
            ["", "# nothing\n", "services:\n  web: [\n", "- a\n", "services: {}\n"])
    return Case(seed, files, compose_files, project_directory, env_files, profiles,
                dict(g.env), cwd)
