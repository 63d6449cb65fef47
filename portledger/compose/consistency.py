"""Checking a loaded project's consistency as compose-go checks it, and the profile rule
(for :mod:`portledger.compose.loader`)."""

from __future__ import annotations

from typing import Any

from portledger.compose.model import LoadedProject, _Context, _model_error


def _named_volume(entry: Any) -> str | None:
    """The named volume a service's volume entry mounts (None: a bind or anonymous)."""
    if isinstance(entry, dict):
        source = entry.get("source")
        kind = entry.get("type", "volume")
        return source if kind == "volume" and isinstance(source, str) and source else None
    if not isinstance(entry, str):
        return None
    source, sep, _ = entry.partition(":")
    if not sep or not source or source.startswith((".", "/", "~", "$")) or "/" in source:
        return None
    if len(source) == 1 and source.isalpha() and entry[2:3] in ("\\", "/"):
        return None  # a Windows drive letter
    return source


def _names(value: Any) -> list[str]:
    """The names of a list or mapping of references (depends_on, networks, secrets)."""
    if isinstance(value, dict):
        return [str(k) for k in value]
    if isinstance(value, list):
        out = []
        for v in value:
            if isinstance(v, dict) and isinstance(v.get("source"), str):
                out.append(v["source"])
            elif isinstance(v, str):
                out.append(v)
        return out
    return []


def _dependencies(service: dict[str, Any]) -> list[str]:
    """compose-go's normalized ``depends_on``: its own entries, then ``links``,
    ``volumes_from`` and ``service:`` namespaces (network_mode, ipc, pid, uts, cgroup)."""
    names = _names(service.get("depends_on"))
    for link in service.get("links") or []:
        if isinstance(link, str):
            names.append(link.partition(":")[0])
    for source in service.get("volumes_from") or []:
        if isinstance(source, str) and not source.startswith("container:"):
            names.append(source.partition(":")[0])
    for namespace in ("network_mode", "ipc", "pid", "uts", "cgroup"):
        ref = service.get(namespace)
        if isinstance(ref, str) and ref.startswith("service:"):
            names.append(ref[len("service:"):])
    return list(dict.fromkeys(names))


def check_consistency(loaded: LoadedProject, ctx: _Context) -> None:
    """compose-go's ``checkConsistency`` (and Compose's container name check) on the
    enabled services, as far as a project can fail it without running anything."""
    model = loaded.model
    services = model.get("services") or {}
    on = {n: s for n, s in services.items() if isinstance(s, dict) and enabled(s, loaded.profiles)}
    top = {k: (model.get(k) or {}) for k in ("networks", "volumes", "secrets", "configs")}
    containers: dict[str, str] = {}
    for name, s in on.items():
        here = ("services", name)
        if not s.get("image") and s.get("build") is None and s.get("provider") is None:
            raise _model_error(ctx, here, f"service {name!r} has neither an image nor a "
                               "build context specified")
        networks = s.get("networks")
        if s.get("network_mode") and networks:
            raise _model_error(ctx, here + ("network_mode",), f"service {name!r} declares "
                               "mutually exclusive network_mode and networks")
        for net in _names(networks):
            if net not in top["networks"] and net != "default":
                raise _model_error(ctx, here + ("networks",),
                                   f"service {name!r} refers to undefined network {net!r}")
        depends = s.get("depends_on")
        for dep in _dependencies(s):
            if dep in on:
                continue
            cfg = depends.get(dep) if isinstance(depends, dict) else None
            required = not isinstance(cfg, dict) or cfg.get("required", True) is not False
            if dep in services and not required:
                continue
            raise _model_error(ctx, here + ("depends_on",),
                               f"service {name!r} depends on undefined service {dep!r}")
        mode = s.get("network_mode")
        if isinstance(mode, str) and mode.startswith("service:") and mode[8:] not in on:
            raise _model_error(ctx, here + ("network_mode",),
                               f"service {mode[8:]!r} not found for network_mode {mode!r}")
        for volume in s.get("volumes") or []:
            vname = _named_volume(volume)
            if vname is not None and vname not in top["volumes"]:
                raise _model_error(ctx, here + ("volumes",),
                                   f"service {name!r} refers to undefined volume {vname!r}")
        for kind in ("secrets", "configs"):
            for ref in _names(s.get(kind)):
                if ref not in top[kind]:
                    raise _model_error(ctx, here + (kind,), f"service {name!r} refers to "
                                       f"undefined {kind[:-1]} {ref!r}")
        cname = s.get("container_name")
        if isinstance(cname, str) and cname:
            if cname in containers:
                raise _model_error(ctx, here + ("container_name",), f"container name "
                                   f"{cname!r} is already used by service {containers[cname]!r}")
            containers[cname] = name
    _check_cycles(on, ctx)


def _check_cycles(on: dict[str, dict[str, Any]], ctx: _Context) -> None:
    state: dict[str, int] = {}  # 1: on the path, 2: done
    for name in on:
        if name not in state:
            _visit(on, ctx, state, name, [name])


def _visit(on: dict[str, dict[str, Any]], ctx: _Context, state: dict[str, int], name: str,
           path: list[str]) -> None:
    # A function of its own, not a closure calling itself: that would be a reference
    # cycle holding the project's whole YAML node graph until the cyclic collector ran
    # (it is off during a run).
    state[name] = 1
    for dep in _dependencies(on[name]):
        if dep not in on:
            continue
        if state.get(dep) == 1:
            cycle = " -> ".join([*path[path.index(dep):], dep])
            raise _model_error(ctx, ("services", name, "depends_on"),
                               f"dependency cycle detected: {cycle}")
        if dep not in state:
            _visit(on, ctx, state, dep, [*path, dep])
    state[name] = 2


def enabled(service: dict[str, Any], active: list[str]) -> bool:
    """Compose's profile rule: no profiles, or one of them active (``*`` enables all)."""
    own = service.get("profiles") or []
    if not own:
        return True
    return "*" in active or any(p in active for p in own)
