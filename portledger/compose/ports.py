"""Port entries of a compose service: short syntax parsed as Compose parses it, long
syntax checked more strictly than Compose does.

Short syntax follows go-connections v0.6.0 ``nat.ParsePortSpec`` (what Compose v2.40
calls): ``[IP:][HOST:]CONTAINER[/PROTO]`` split on ``:`` (all but the last two parts are
the IP, so a bare IPv6 address works: ``::1:80:80``), brackets stripped from an IPv6
address, the protocol lower-cased and one of tcp/udp/sctp, port numbers plain decimal
digits in 0-65535, ranges ``a-b`` with ``a <= b``. Equal-length ranges become one record
per port; a host range against a single container port stays one record whose published
port is the range.

Where Compose is laxer than its own specification, this module is stricter, on purpose
(a port ledger must not accept what the engine would fail on at ``up``):

* long syntax ``target`` must be an integer (or a string of digits) in 1-65535; Compose
  accepts 70000 and silently drops ``target: 0`` (``S1`` of docs/compose-stricter.md);
* long syntax ``published`` must be a port or an ascending ``a-b`` range in 0-65535
  (Compose accepts any string, e.g. ``"abc"`` or ``"8000-7000"``: ``S2``);
* long syntax ``protocol`` must be tcp, udp or sctp in any case (``S3``), and ``mode``
  host or ingress (``S4``) (Compose accepts any string for these);
* the protocol is reported lower-cased for long syntax too (Compose prints ``UDP``
  as written there, and lower-cases it for short syntax; not a refusal).

Each refusal that Compose would not make carries its row's id (``PortSpecError.stricter``).
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import Any

_DIGITS = re.compile(r"[0-9]+\Z")  # \Z: "443\n" (a block scalar) is not a number
PROTOCOLS = ("tcp", "udp", "sctp")
MODES = ("host", "ingress")
LONG_KEYS = ("name", "mode", "host_ip", "target", "published", "protocol", "app_protocol")


_ATOI = re.compile(r"[+-]?[0-9]+\Z")


def go_atoi(text: str) -> int | None:
    """Go's ``strconv.Atoi``: an optional sign and ASCII digits, nothing else (Python's
    ``int()`` also takes spaces, underscores and other scripts' digits)."""
    return int(text) if _ATOI.match(text) else None


class PortSpecError(ValueError):
    """A port entry Compose (or this stricter reader) refuses; ``str()`` says why.

    ``stricter`` names the row of docs/compose-stricter.md (``S1``...) when Compose
    itself accepts the entry and only this reader refuses it."""

    def __init__(self, message: str, stricter: str | None = None) -> None:
        super().__init__(message)
        self.stricter = stricter


def _number(text: str, what: str) -> int:
    # strconv.ParseUint(s, 10, 16): digits only, no sign, no spaces, at most 65535.
    if not _DIGITS.match(text) or int(text) > 65535:
        raise PortSpecError(f"invalid {what}: {text!r} is not a port number (0-65535)")
    return int(text)


def parse_range(text: str, what: str) -> tuple[int, int]:
    """Parse ``N`` or ``N-M`` as go-connections does; return (start, end)."""
    if text == "":
        raise PortSpecError(f"invalid {what}: empty")
    # go-connections splits on every "-" and reads the first two parts: "80-81-82" is
    # the range 80-81.
    parts = text.split("-")
    start_text, dash, end_text = parts[0], len(parts) > 1, parts[1] if len(parts) > 1 else ""
    start = _number(start_text, what)
    if not dash or start_text == end_text:
        return start, start
    end = _number(end_text, what)
    if end < start:
        raise PortSpecError(f"invalid {what}: range {text!r} ends before it starts")
    return start, end


@lru_cache(maxsize=1024)  # the same few addresses, in entry after entry
def valid_ip(text: str) -> bool:
    """Go's ``net.ParseIP``: IPv4 dotted quad or IPv6, no zone, no prefix."""
    if "%" in text or "/" in text:
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse_short(spec: str) -> list[dict[str, Any]]:
    """Parse one short-syntax entry into Compose's canonical port mappings.

    Each mapping holds what compose-go's canonical form holds: ``target`` (int),
    ``protocol``, ``mode`` and, when not empty, ``host_ip`` and ``published`` (str).
    """
    parts = spec.split(":")
    if len(parts) == 1:
        ip, host, container = "", "", parts[0]
    elif len(parts) == 2:
        ip, host, container = "", parts[0], parts[1]
    else:
        ip, host, container = ":".join(parts[:-2]), parts[-2], parts[-1]
    container, _, proto = container.partition("/")
    if container == "":
        raise PortSpecError("no container port specified")
    proto = proto.lower() or "tcp"
    if proto not in PROTOCOLS:
        raise PortSpecError(f"invalid protocol {proto!r} (tcp, udp or sctp)")
    if ip.startswith("["):
        if not ip.endswith("]") or "]" in ip[1:-1]:
            raise PortSpecError(f"invalid IP address {ip!r}: misplaced brackets")
        ip = ip[1:-1]
    if ip and not valid_ip(ip):
        raise PortSpecError(f"invalid IP address {ip!r}")
    start, end = parse_range(container, "container port")
    host_start = host_end = 0
    if host:
        host_start, host_end = parse_range(host, "host port")
        if end - start != host_end - host_start and end != start:
            raise PortSpecError(
                f"invalid ranges: host ports {host} and container ports {container} "
                "differ in length"
            )
    count = end - start + 1
    result: list[dict[str, Any]] = []
    for i in range(count):
        if start + i == 0:
            # compose-go drops a zero target and then fails: "missing a target port".
            raise PortSpecError("container port 0 is not a port")
        entry: dict[str, Any] = {"mode": "ingress"}
        if ip:
            entry["host_ip"] = ip
        entry["target"] = start + i
        if host:
            published = str(host_start + i)
            if count == 1 and host_start != host_end:
                published += f"-{host_end}"
            entry["published"] = published
        entry["protocol"] = proto
        result.append(entry)
    return result


def check_long(entry: dict[str, Any]) -> None:
    """Refuse a long-syntax entry that would not publish a real port (see module doc)."""
    for key in entry:
        if key not in LONG_KEYS and not str(key).startswith("x-"):
            raise PortSpecError(f"unknown port attribute {key!r}")
    if "target" not in entry or entry["target"] is None:
        raise PortSpecError("long-syntax port has no target")
    target = entry["target"]
    if isinstance(target, float) and target.is_integer():
        target = int(target)  # Compose decodes a float target (!!float 80) as a number
    if isinstance(target, bool) or not isinstance(target, (int, str)):
        raise PortSpecError(f"target {target!r} is not a port number")
    if isinstance(target, str):
        try:
            target_n = _number(target, "target")
        except PortSpecError as e:
            raise PortSpecError(str(e), "S1") from None
    else:
        target_n = target
    if not 1 <= target_n <= 65535:
        raise PortSpecError(f"target {target} is outside 1-65535", "S1")
    published = entry.get("published")
    if isinstance(published, bool) or not isinstance(published, (int, str, type(None))):
        raise PortSpecError(f"published {published!r} is not a port or range")
    if isinstance(published, int) and not 0 <= published <= 65535:
        raise PortSpecError(f"published {published} is outside 0-65535", "S2")
    if isinstance(published, str) and published != "":
        try:
            parse_range(published, "published port")
        except PortSpecError as e:
            raise PortSpecError(str(e), "S2") from None
    protocol = entry.get("protocol")
    if protocol is not None and (
        not isinstance(protocol, str) or protocol.lower() not in PROTOCOLS
    ):
        raise PortSpecError(f"invalid protocol {protocol!r} (tcp, udp or sctp)", "S3")
    mode = entry.get("mode")
    if mode is not None and mode not in MODES:
        raise PortSpecError(f"invalid mode {mode!r} (host or ingress)", "S4")
    host_ip = entry.get("host_ip")
    if host_ip is not None and not (isinstance(host_ip, str) and valid_ip(host_ip)):
        raise PortSpecError(f"invalid host_ip {host_ip!r}")
    for key in ("name", "app_protocol"):
        if key in entry and not isinstance(entry[key], str):
            raise PortSpecError(f"{key} must be a string")


def loose(value: Any) -> Any:
    """A value as compose-go's schema validator compares list items for ``uniqueItems``:
    it holds ``published: 8081`` equal to ``published: "8081"``."""
    if isinstance(value, dict):
        return tuple(sorted((str(k), loose(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(loose(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def target_of(entry: dict[str, Any]) -> int:
    """The target of a checked canonical entry, as an int."""
    return int(entry["target"])


def published_of(entry: dict[str, Any]) -> str | None:
    """The published port of a checked canonical entry, as Compose prints it."""
    value = entry.get("published")
    if value is None or value == "":
        return None
    return str(value)


def _go_s(value: Any) -> str:
    # fmt.Sprintf("%s", v) of the value compose-go holds in its map.
    if isinstance(value, str):
        return value
    if value is None:
        return "%!s(<nil>)"
    if isinstance(value, bool):
        return f"%!s(bool={str(value).lower()})"
    if isinstance(value, int):
        return f"%!s(int={value})"
    return f"%!s({type(value).__name__}={value})"


def _go_d(value: Any) -> str:
    # fmt.Sprintf("%d", v)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return f"%!d(string={value})"
    return f"%!d({type(value).__name__}={value})"


def unicity_key(value: Any) -> str | None:
    """compose-go's ``portIndexer``: the key under which a later port entry replaces an
    earlier one. ``None`` when compose-go would fail (a mapping without a target)."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "target" not in value:
            return None
        host = value["host_ip"] if "host_ip" in value else "0.0.0.0"
        protocol = value["protocol"] if "protocol" in value else "tcp"
        return f"{_go_s(host)}:{_go_s(value.get('published'))}:{_go_d(value['target'])}/" + (
            _go_s(protocol)
        )
    return ""
