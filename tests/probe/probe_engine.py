#!/usr/bin/env python3
"""A private, throw-away Docker engine for the probe's tests and benchmark.

``Engine.start(folder)`` runs ``dockerd`` on its own socket, data root, exec root and
bridge (so it touches no engine or ``docker0`` of anyone else on the machine), with
``--iptables=false``: published ports are served by ``docker-proxy`` on the host, as
on a default engine. ``Engine.stop()`` removes its containers, stops it with SIGTERM,
deletes its bridge and its folder. ``BusyBox`` builds the one image the tests use (no
registry is reachable): ``/bin/busybox`` from Debian's ``busybox-static``, imported
from a tarball, serving ``/www`` over HTTP with ``httpd``.

Start and stop need only the standard library, so CI can run them from any Python:

    python3 tests/probe/probe_engine.py start /tmp/pl-engine   # prints DOCKER_HOST=...
    python3 tests/probe/probe_engine.py stop /tmp/pl-engine

Everything else talks to the engine through the ``docker`` SDK.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BUSYBOX = Path("/bin/busybox")
IMAGE = "portledger-probe-busybox:test"
HEALTHY = "/health"
"""A path the test image answers with 200."""
HUNG = "/cgi-bin/hang"
"""A path the test image accepts and never answers (a CGI script that sleeps)."""


SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""Where Debian puts dockerd, docker-proxy, containerd and runc (dockerd finds its
helpers on PATH, which a CI environment may have cut short)."""


def _path() -> str:
    return os.pathsep.join([os.environ.get("PATH", ""), SYSTEM_PATH]).strip(os.pathsep)


def dockerd() -> str | None:
    return shutil.which("dockerd", path=_path())


_used: set[int] = set()


def free_port() -> int:
    """A TCP port from 18000 up that nothing on this host holds (IPv4 or IPv6), and that
    this process has not handed out before."""
    base = 18000 + (os.getpid() * 37) % 1500
    for port in range(base, 20000):
        if port in _used:
            continue
        if all(_bindable(family, host, port) for family, host in
               ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::"))):
            _used.add(port)
            return port
    raise RuntimeError("no free port in 18000-19999")


def _bindable(family: int, host: str, port: int) -> bool:
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((host, port))
        return True
    except OSError as e:
        return family == socket.AF_INET6 and e.errno == 97  # no IPv6 on this host: fine


class EngineError(Exception):
    """The engine cannot run here; the message is the reason (tests skip with it)."""


def unavailable_reason() -> str | None:
    """Why no private engine can start on this machine, or None when one can try."""
    if not sys.platform.startswith("linux"):
        return "the private Docker engine of the probe tests needs Linux"
    if dockerd() is None:
        return "dockerd is not installed (.ci/docker-engine install: Debian's docker.io)"
    if os.geteuid() != 0:
        return "dockerd needs root to start"
    if shutil.which("ip", path=_path()) is None:
        return "the ip command (iproute2) is missing, needed for the engine's own bridge"
    if not BUSYBOX.is_file():
        return "/bin/busybox is missing (.ci/docker-engine install: Debian's busybox-static)"
    if not _is_static(BUSYBOX):
        return "/bin/busybox is not statically linked (install busybox-static)"
    return None


def _is_static(path: Path) -> bool:
    """An ELF file with no program interpreter (PT_INTERP) runs in an empty image."""
    import struct

    with path.open("rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:  # 64-bit ELF only
            return False
        end = "<" if head[5] == 1 else ">"
        phoff, = struct.unpack_from(end + "Q", head, 32)
        phentsize, phnum = struct.unpack_from(end + "HH", head, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    for i in range(phnum):
        kind, = struct.unpack_from(end + "I", table, i * phentsize)
        if kind == 3:  # PT_INTERP
            return False
    return True


def _ip(*args: str, check: bool = True) -> str:
    ip = shutil.which("ip", path=_path()) or "ip"
    done = subprocess.run([ip, *args], capture_output=True, text=True, timeout=10)
    if check and done.returncode != 0:
        raise EngineError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _free_subnet(seed: int) -> ipaddress.IPv4Network:
    """A /24 in 10.200.0.0/13 that no interface or route of this host uses."""
    taken = []
    for line in (_ip("-o", "-4", "addr", "show") + _ip("-4", "route", "show")).splitlines():
        for word in line.split():
            with contextlib.suppress(ValueError):
                taken.append(ipaddress.ip_network(word, strict=False))
    for i in range(2048):
        n = (seed + i * 7919) % 2048
        net = ipaddress.ip_network(f"10.{200 + n // 256}.{n % 256}.0/24")
        if not any(net.overlaps(t) for t in taken):
            return net
    raise EngineError("no free /24 in 10.200.0.0/13 for the engine's bridge")


def _ping(sock: Path, timeout: float) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(sock))
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return s.recv(64).split(b" ")[1:2] == [b"200"]
    except (OSError, IndexError):
        return False


@dataclass
class Engine:
    """A running private dockerd."""

    root: Path
    pid: int
    bridge: str

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @classmethod
    def start(cls, root: Path | None = None, timeout: float = 60.0) -> Engine:
        """Start dockerd in ``root`` (a new folder under /tmp by default); raise
        :class:`EngineError` with the reason when it cannot."""
        reason = unavailable_reason()
        if reason:
            raise EngineError(reason)
        # A unix socket path must stay under 108 bytes: keep the folder short.
        root = Path(tempfile.mkdtemp(prefix="pl-dockerd-", dir="/tmp")) if root is None else root
        root.mkdir(parents=True, exist_ok=True)
        bridge = f"plbr{os.getpid() % 100000}"
        _ip("link", "delete", bridge, check=False)
        net = _free_subnet(os.getpid())
        _ip("link", "add", "name", bridge, "type", "bridge")
        try:
            _ip("addr", "add", f"{next(net.hosts())}/{net.prefixlen}", "dev", bridge)
            _ip("link", "set", bridge, "up")
            engine = cls._launch(root, bridge, timeout, driver=None)
        except BaseException:
            _ip("link", "delete", bridge, check=False)
            raise
        (root / "engine.json").write_text(json.dumps({**asdict(engine), "root": str(root)}))
        return engine

    @classmethod
    def _launch(cls, root: Path, bridge: str, timeout: float, driver: str | None) -> Engine:
        args = [
            dockerd() or "dockerd", "--host", f"unix://{root}/docker.sock",
            "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
            "--pidfile", str(root / "docker.pid"), "--bridge", bridge,
            "--iptables=false", "--ip-forward=false", "--ip-masq=false",
            "--log-level", "warn",
        ]
        if driver:
            args += ["--storage-driver", driver]
        log = (root / "dockerd.log").open("ab")
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "PATH": _path()})
        log.close()
        engine = cls(root, proc.pid, bridge)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = (root / "dockerd.log").read_text(errors="replace").strip()
                tail = tail.splitlines()[-1] if tail else "(no output)"
                if driver is None and ("overlay" in tail or "storage" in tail):
                    return cls._launch(root, bridge, timeout, driver="vfs")
                raise EngineError(f"dockerd exited with {proc.returncode}: {tail}")
            if _ping(engine.socket, 1.0):
                return engine
            time.sleep(0.05)
        engine._terminate()
        raise EngineError(f"dockerd did not answer /_ping within {timeout:g} s")

    @classmethod
    def attach(cls, root: Path) -> Engine:
        """The engine that :meth:`start` left in ``root``."""
        state = json.loads((root / "engine.json").read_text())
        return cls(Path(state["root"]), int(state["pid"]), state["bridge"])

    def client(self, timeout: float = 60.0) -> Any:
        import docker

        return docker.APIClient(base_url=self.url, version="auto", timeout=timeout)

    def remove_containers(self) -> None:
        """Force-remove every container, over the raw API (no SDK needed)."""
        ids = json.loads(self._request("GET", "/containers/json?all=1") or "[]")
        for c in ids:
            self._request("DELETE", f"/containers/{c['Id']}?force=1&v=1")

    def _request(self, method: str, path: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(60)
            s.connect(str(self.socket))
            s.sendall(f"{method} {path} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return data.split(b"\r\n\r\n", 1)[-1].decode(errors="replace")

    def stop(self) -> None:
        """Remove the containers, stop dockerd, delete the bridge and the folder."""
        with contextlib.suppress(OSError):
            self.remove_containers()
        self._terminate()
        _ip("link", "delete", self.bridge, check=False)
        self._unmount()
        shutil.rmtree(self.root, ignore_errors=True)

    def _terminate(self) -> None:
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(self.pid, os.WNOHANG)[0]:
                    return
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)

    def _unmount(self) -> None:
        """Mounts dockerd may leave below its folder (an unclean stop) block removal."""
        root = str(self.root.resolve())
        with open("/proc/self/mounts") as f:
            points = [line.split()[1] for line in f]
        for point in sorted((p for p in points if p.startswith(root + "/")), reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True, timeout=10)


class BusyBox:
    """The tests' image and its containers: busybox httpd serving ``/www``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.api = engine.client()

    def build(self) -> str:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for d in ("bin", "tmp", "www"):
                info = tarfile.TarInfo(d)
                info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
                tar.addfile(info)
            tar.add(str(BUSYBOX), "bin/busybox")
            for name in ("sh", "httpd", "nc", "sleep"):
                info = tarfile.TarInfo(f"bin/{name}")
                info.type, info.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(info)
            info = tarfile.TarInfo("www/cgi-bin")
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
            for name, text, mode in ((HEALTHY.lstrip("/"), "ok\n", 0o644),
                                     ("index.html", "portledger\n", 0o644),
                                     (HUNG.lstrip("/"), "#!/bin/sh\nexec sleep 3600\n", 0o755)):
                data = text.encode()
                info = tarfile.TarInfo(f"www/{name}")
                info.size, info.mode = len(data), mode
                tar.addfile(info, io.BytesIO(data))
        repo, tag = IMAGE.rsplit(":", 1)
        self.api.import_image_from_data(buf.getvalue(), repository=repo, tag=tag)
        return IMAGE

    def run(self, name: str, publish: dict[int, tuple[str, int] | int | None] | None = None,
            labels: dict[str, str] | None = None, *, port: int = 8080,
            network_mode: str | None = None) -> str:
        """Start an httpd container listening on ``port``; ``publish`` maps container
        ports to ``(host_ip, host_port)``, a host port, or None (Docker picks one);
        ``network_mode="host"`` puts it on the host's network (no publishing)."""
        publish = publish if publish is not None else {}
        host_config = self.api.create_host_config(port_bindings=publish, init=True,
                                                  network_mode=network_mode)
        created = self.api.create_container(
            IMAGE, command=["/bin/busybox", "httpd", "-f", "-p", str(port), "-h", "/www"],
            name=name, labels=labels or {}, ports=list(publish), host_config=host_config)
        self.api.start(created["Id"])
        return str(created["Id"])

    def remove(self, container: str) -> None:
        self.api.remove_container(container, force=True)


class StallingProxy:
    """A unix socket in front of the engine that answers every request as the engine
    does, except those ``stall(path)`` picks: those it reads and never answers (an engine
    that stops answering after the container list). Each request is passed on with
    ``Connection: close``, so one client connection is one request."""

    def __init__(self, engine: Engine, folder: Path, stall: Any) -> None:
        import threading

        self.engine, self.stall = engine, stall
        self.path = folder / "stall.sock"
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(self.path))
        self.server.listen(64)
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def _serve(self) -> None:
        import threading

        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(client,), daemon=True).start()

    def _one(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(65536)
            if not chunk:
                client.close()
                return
            head += chunk
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        path = line.split(" ")[1] if " " in line else ""
        if self.stall(path):
            self.held.append(client)  # read, never answered
            return
        lines = [x for x in head.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
                 if not x.lower().startswith(b"connection:")]
        request = b"\r\n".join(lines) + b"\r\nConnection: close\r\n\r\n"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as up:
            up.connect(str(self.engine.socket))
            up.sendall(request + head.split(b"\r\n\r\n", 1)[1])
            while chunk := up.recv(65536):
                client.sendall(chunk)
        client.close()

    def close(self) -> None:
        self.server.close()
        for c in self.held:
            c.close()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop", "check"):
        sys.stderr.write("usage: probe_engine.py start|stop FOLDER | check -\n")
        return 2
    if argv[0] == "check":
        reason = unavailable_reason()
        print(reason or "ok")
        return 1 if reason else 0
    root = Path(argv[1])
    try:
        if argv[0] == "start":
            engine = Engine.start(root)
            print(f"DOCKER_HOST={engine.url}")
        else:
            Engine.attach(root).stop()
    except (EngineError, OSError) as e:
        sys.stderr.write(f"probe_engine: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
