"""The one finding record every check returns and every reporter formats."""

from __future__ import annotations

import enum
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTICE = "notice"

    @property
    def rank(self) -> int:
        return {"error": 3, "warning": 2, "notice": 1}[self.value]


@dataclass(frozen=True)
class Rule:
    """A rule: stable code, kebab-case name, default severity, documentation."""

    code: str
    name: str
    severity: Severity
    summary: str
    doc: str = field(default="", compare=False)


@dataclass(frozen=True, order=True)
class Edit:
    """Replace the text between two places of a file (1-based; the end is exclusive).

    An insertion has the same start and end.
    """

    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    text: str
    digest: str = field(default="", compare=False)
    """The SHA-256 of the file's bytes the edit was planned on (empty: not recorded); the
    writer refuses an edit whose file's bytes are no longer those."""


@dataclass(frozen=True, order=True)
class Finding:
    """One problem at one place. Lines and columns are 1-based."""

    file: str
    line: int
    column: int
    code: str
    rule: str
    severity: Severity
    message: str
    end_line: int | None = None
    end_column: int | None = None
    service: str | None = None
    port: int | None = None
    protocol: str | None = None
    fix: str | None = None
    edits: tuple[Edit, ...] = field(default=(), compare=False)
    """The edits that carry out ``fix`` (none: the fix is manual)."""
    context: tuple[Any, ...] = field(default=(), compare=False, repr=False)
    """The objects the finding is about (ledger allocations, compose bindings), for the
    resolution planner; never printed."""
    details: tuple[tuple[str, Any], ...] = field(default=(), compare=False, repr=False)
    """Structured extra keys (the probe's ``holder``): added to the JSON object and to the
    SARIF result's properties."""
    identity: str | None = field(default=None, compare=False, repr=False)
    """What the SARIF fingerprint hashes instead of the message, for a message that names
    what changes from run to run (a pid, a container id)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "rule": self.rule,
            "severity": self.severity.value,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "message": self.message,
            "service": self.service,
            "port": self.port,
            "protocol": self.protocol,
            "fix": self.fix,
            **dict(self.details),
        }


CODE_RE = re.compile(r"^PL[1-9][0-9]{2}$")
NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")

F = TypeVar("F", bound=Callable[..., Any])


def rule(code: str, name: str, severity: str, summary: str) -> Callable[[F], F]:
    """Attach a :class:`Rule` to the function that documents (and usually checks) it.

    The function's docstring is the rule's documentation, rendered into docs/rules.md.
    """

    def attach(func: F) -> F:
        doc = inspect.cleandoc(func.__doc__ or "")
        func.rule = Rule(code, name, Severity(severity), summary, doc)  # type: ignore[attr-defined]
        return func

    return attach


def rule_of(func: Callable[..., Any]) -> Rule:
    """The :class:`Rule` that :func:`rule` attached to ``func``."""
    found = getattr(func, "rule", None)
    if not isinstance(found, Rule):
        raise TypeError(f"{func!r} carries no rule")
    return found


def make(
    rule_: Rule,
    file: str,
    line: int,
    column: int,
    message: str,
    *,
    severity: Severity | None = None,
    end_line: int | None = None,
    end_column: int | None = None,
    service: str | None = None,
    port: int | None = None,
    protocol: str | None = None,
    fix: str | None = None,
    context: tuple[Any, ...] = (),
    details: tuple[tuple[str, Any], ...] = (),
    identity: str | None = None,
) -> Finding:
    """Build a finding of ``rule_`` (its default severity unless one is given)."""
    return Finding(
        file=file,
        line=line,
        column=column,
        code=rule_.code,
        rule=rule_.name,
        severity=severity or rule_.severity,
        message=message,
        end_line=end_line,
        end_column=end_column,
        service=service,
        port=port,
        protocol=protocol,
        fix=fix,
        context=context,
        details=details,
        identity=identity,
    )

