"""This user's cache signing key, and signing with it: a cache file someone else could
write (a shared cache folder, a CI cache restored from another branch's run) must not
change a verdict, even when every digest in it matches.

The key is ``$XDG_STATE_HOME/portledger/cache-key`` (``~/.local/state/portledger/
cache-key``): 32 random bytes, mode 0600, made on first use, outside the cache folder. A
file is signed by an HMAC-SHA256 first line (``hmac-sha256 HEX``) over the rest. A key
that cannot be read or made, or that is not this user's alone, is no key: then nothing
is cached. The same key and format as :mod:`portledger.check.cache` (a primitive here so
that rooms below ``check``, the git room's staged diff, can sign too).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path

SCHEME = "hmac-sha256 "


def key_file(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                         "state")
    return Path(base) / "portledger" / "cache-key"


@functools.lru_cache(maxsize=4)
def _secret_at(path: Path) -> bytes | None:
    for _ in range(2):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            try:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            except FileExistsError:
                continue  # another process made it first: read theirs
            except OSError:
                return None
            try:
                made = os.urandom(32)
                os.write(fd, made)
                os.fsync(fd)
            except OSError:
                return None
            finally:
                os.close(fd)
            return made
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            found = os.read(fd, 64)
        except OSError:
            return None
        finally:
            os.close(fd)
        mine = not hasattr(os, "getuid") or st.st_uid == os.getuid()
        if not mine or st.st_mode & 0o077 or len(found) != 32:
            return None
        return found
    return None


def secret(environ: Mapping[str, str] | None = None) -> bytes | None:
    """This user's signing key (None: there is none to be had; cache nothing)."""
    return _secret_at(key_file(os.environ if environ is None else environ))


def _mac(body: str, key: bytes) -> str:
    import hmac

    return hmac.new(key, body.encode("utf-8", "surrogatepass"), "sha256").hexdigest()


def sign(body: str, key: bytes) -> str:
    """``body`` with its signature line in front."""
    return f"{SCHEME}{_mac(body, key)}\n{body}"


def signed_body(text: str, key: bytes | None) -> str | None:
    """The body of a signed file's ``text``, when its signature is this user's."""
    import hmac

    head, newline, body = text.partition("\n")
    if key is None or not newline or not head.startswith(SCHEME):
        return None
    return body if hmac.compare_digest(head[len(SCHEME):], _mac(body, key)) else None
