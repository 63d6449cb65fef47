"""What loading a compose project works with and hands back: the errors, where a port
entry was written, the load's context and the loaded project (:mod:`portledger.compose.loader`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from portledger import yamlio

if TYPE_CHECKING:
    from portledger.compose.loader import Inputs


class ComposeError(Exception):
    """A project Compose would refuse to load; carries where and why.

    ``code`` is ``PL101`` (unreadable YAML, invalid template, schema or structure error),
    ``PL102`` (a repeated mapping key: go-yaml refuses those), ``PL205`` (an invalid port
    entry) or ``PL206`` (a required variable is missing).
    """

    def __init__(self, file: str, line: int, column: int, message: str, code: str,
                 stricter: str | None = None) -> None:
        super().__init__(f"{file}:{line}:{column}: {code} {message}")
        self.file = file
        self.line = line
        self.column = column
        self.message = message
        self.code = code
        self.stricter = stricter
        """The row of docs/compose-stricter.md (``S1``...) when Compose accepts this."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its fields when it crosses a process boundary (parallel loading).
        return (ComposeError,
                (self.file, self.line, self.column, self.message, self.code, self.stricter))


@dataclass(unsafe_hash=True)  # by value, as if frozen, but quicker to make (ledger.Allocation)
class Origin:
    """Where a port entry was written, and what it read."""

    file: str
    span: yamlio.Span
    raw: str | None
    plain: bool
    variables: tuple[str, ...]
    read: tuple[str, ...] = field(default=(), compare=False)
    """Every variable the entry's own text names, set or not (messages name them instead
    of quoting what they gave)."""


@dataclass
class RawPort:
    """A port entry as written (after interpolation), not yet made canonical."""

    value: Any
    origin: Origin


@dataclass
class CanonicalPort:
    """One canonical port record (compose-go's map) with where it came from."""

    fields: dict[str, Any]
    origin: Origin


@dataclass
class UnsetVariable:
    """A variable read while unset (Compose warns and substitutes "")."""

    name: str
    file: str
    line: int
    column: int
    path: tuple[Any, ...]


@dataclass
class _Context:
    environ: dict[str, str]
    inputs: Inputs
    unset: list[UnsetVariable] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    include_stack: tuple[str, ...] = ()
    docs: list[yamlio.Document] = field(default_factory=list)
    """Every file read, latest last: where a path of the merged model was written."""


def _where(ctx: _Context, path: tuple[Any, ...], fallback: yamlio.Document | None = None
           ) -> tuple[str, yamlio.Span]:
    """The file and span where the merged model's ``path`` was last written (or the
    nearest ancestor that was)."""
    for p in [tuple(path[:n]) for n in range(len(path), 0, -1)]:
        for seen in reversed(ctx.docs):
            sp = seen.spans.get(p)
            if sp is not None:
                return seen.path, sp
    doc = fallback or (ctx.docs[-1] if ctx.docs else None)
    if doc is None:
        return ".", yamlio.Span(1, 1, 1, 1)
    return doc.path, doc.span(path)


def _model_error(ctx: _Context, path: tuple[Any, ...], message: str, code: str = "PL101",
                 fallback: yamlio.Document | None = None) -> ComposeError:
    file, sp = _where(ctx, path, fallback)
    return ComposeError(file, sp.line, sp.column, message, code)


def _error_at(doc: yamlio.Document, path: tuple[Any, ...], message: str, code: str) -> ComposeError:
    sp = doc.span(path)
    return ComposeError(doc.path, sp.line, sp.column, message, code)


@dataclass
class LoadedProject:
    """The merged model plus what loading it noticed."""

    model: dict[str, Any]
    files: list[str]
    unset: list[UnsetVariable]
    environ: dict[str, str]
    profiles: list[str]
    working_dir: str
    inputs: Inputs
