"""portledger: one ledger for every host port, kept true by a pre-commit hook and CI gate."""

__version__ = "0.2.0"

from portledger import codecache as _codecache  # noqa: E402 (before any dataclass)

_codecache.install()
