"""Variable interpolation exactly as Docker Compose v2 (compose-go ``template``) does it.

The algorithm is a port of compose-go v2's ``template.SubstituteWithOptions``, quirks
included, because a "cleaner" parser would read some files differently from Compose:

* the pattern is ``$$`` (a literal ``$``), ``$NAME``, ``${NAME}``, ``${NAME<op>...}`` with
  ``<op>`` one of ``:-  -  :?  ?  :+  +``, or ``${`` followed by anything else (an error);
  a ``$`` followed by anything else (``$-``, ``$1``, a trailing ``$``) is left as it is;
* the braced form matches greedily up to the *last* ``}`` of the string; the first
  balanced ``}`` then ends the expression and the remainder is substituted again, which
  is how nesting (``${A:-${B}}``) works;
* the operator applied is the one whose text occurs first in the expression;
* defaults, alternatives and error messages are themselves substituted, eagerly (so a
  ``${X:?}`` inside a default fails even when the default is not used, as in Compose).

Unset variables read by ``$NAME``/``${NAME}`` are reported to the caller (Compose logs a
warning and substitutes an empty string).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

_PATTERN = re.compile(
    r"\$(?:(?P<escaped>\$)|(?P<named>[_a-z][_a-z0-9]*)"
    r"|\{(?:(?P<braced>[_a-z][_a-z0-9]*(?::?[-+?](.*))?)\}|(?P<invalid>)))",
    re.IGNORECASE,
)

_OPERATORS = (":?", "?", ":-", "-", ":+", "+")


class TemplateError(Exception):
    """A string that Compose refuses to interpolate.

    ``variable`` is set for a required variable (``${X:?msg}``) that is missing.
    """

    def __init__(self, message: str, variable: str | None = None,
                 stricter: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.variable = variable
        self.stricter = stricter
        """The row of docs/compose-stricter.md when Compose accepts the string."""


Lookup = Callable[[str], "str | None"]


def _first_brace_closing_index(s: str) -> int:
    # compose-go counts every "{" (skipping the character after it) and stops at the
    # "}" that balances the first one.
    depth = 0
    i = 0
    while i < len(s):
        if s[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        if s[i] == "{":
            depth += 1
            i += 1
        i += 1
    return -1


def _operator(substring: str) -> str | None:
    found = [(substring.find(op), n, op) for n, op in enumerate(_OPERATORS) if op in substring]
    if not found:
        return None
    return min(found)[2]


class Interpolator:
    """Substitutes variables from ``environ``; records the names it read, and of those
    the unset ones."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.read: list[str] = []
        self.unset: list[str] = []

    def substitute(self, template: str) -> str:
        """Interpolate one string, raising :class:`TemplateError` as Compose would fail."""
        if "$" not in template:
            return template
        try:
            return self._substitute(template)
        except RecursionError:
            # compose-go's algorithm recurses once per "${" (nested or one after another);
            # Go's stack grows, Python's does not: hundreds of them are refused, located.
            raise TemplateError(
                f"invalid interpolation format: {template.count('${')} substitutions in "
                "one value, nested or repeated too deeply to read", stricter="S9"
            ) from None

    def _substitute(self, template: str) -> str:
        if "$" not in template:
            return template
        error: TemplateError | None = None
        out: list[str] = []
        pos = 0
        for m in _PATTERN.finditer(template):
            out.append(template[pos : m.start()])
            pos = m.end()
            try:
                out.append(self._replace(m.group(0)))
            except TemplateError as e:
                # Compose keeps going and reports the first error.
                error = error or e
        out.append(template[pos:])
        if error is not None:
            if error.variable is None and not error.message:
                raise TemplateError(f"invalid interpolation format: {template!r}")
            raise error
        return "".join(out)

    def _replace(self, substring: str) -> str:
        op = _operator(substring)
        closing = _first_brace_closing_index(substring)
        rest = ""
        if closing > -1:
            rest = substring[closing + 1 :]
            substring = substring[: closing + 1]
        m = _PATTERN.match(substring)
        if m is None:  # pragma: no cover - the substring always starts with a match
            raise TemplateError("")
        if m.group("escaped"):
            return "$"
        named = m.group("named")
        braced = m.group("braced")
        if not named and not braced:
            raise TemplateError("")
        if braced and op is not None and op in braced:
            return self._apply(braced, op) + self._substitute(rest)
        name = named or braced or ""
        self.read.append(name)
        value = self.environ.get(name)
        if value is None:
            self.unset.append(name)
            return ""
        return value

    def _apply(self, substitution: str, op: str) -> str:
        name, _, arg = substitution.partition(op)
        arg = self._substitute(arg)
        self.read.append(name)
        value = self.environ.get(name)
        if op in (":?", "?"):
            if value is None or (op == ":?" and value == ""):
                message = f"required variable {name} is missing a value"
                if arg:
                    message += f": {arg}"
                raise TemplateError(message, variable=name)
            return value
        if op in (":-", "-"):
            if value is None or (op == ":-" and value == ""):
                return arg
            return value
        # ":+" / "+": the alternative when set (and, for ":+", not empty)
        if value is not None and (op == "+" or value != ""):
            return arg
        return value or ""


def substitute(template: str, environ: Mapping[str, str]) -> tuple[str, list[str]]:
    """Interpolate ``template``; return the result and the unset variables it read."""
    interp = Interpolator(environ)
    return interp.substitute(template), interp.unset
