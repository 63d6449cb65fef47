"""``.env`` files, read by compose-go's rules (for :mod:`portledger.compose.loader`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from portledger import yamlio
from portledger.compose.interpolate import Interpolator, TemplateError
from portledger.compose.model import ComposeError

if TYPE_CHECKING:
    from portledger.compose.loader import Inputs


def read_env_file(path: str, environ: Mapping[str, str],
                  inputs: Inputs | None = None) -> dict[str, str]:
    """Read a ``.env`` file as Compose does: ``${VAR}`` in unquoted and double-quoted
    values expands from the environment first, then from earlier lines; single-quoted
    values are literal; a bare ``NAME`` takes its value from the environment."""
    data = inputs.read(path) if inputs is not None else None
    if data is None:
        try:
            data = yamlio.read_bytes(path)
        except OSError as e:
            raise ComposeError(
                path, 1, 1, f"cannot read env file: {e.strerror or e}", "PL101"
            ) from None
    try:
        text = yamlio.read_text(path, data)
    except yamlio.YamlError as e:
        # Compose passes the bytes of a .env that is not UTF-8 on: docs/compose-stricter.md
        raise ComposeError(path, e.line, e.column, f"env file: {e.message}", "PL101",
                           "S5") from None
    return _DotEnv(path, text, environ, inputs).parse()


_ENV_SPACE = "\t\v\f\r \x85\xa0"
"""compose-go's dotenv spaces: white space but not a line break."""

_EXPORT = re.compile(r"export\s+")
_ESCAPE = re.compile(r'\\(?:[abcfnrtv$"\\]|0\d{0,3})')
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
            "v": "\v", '"': '"', "\\": "\\", "$": "$$"}


def _unescape(match: re.Match[str]) -> str:
    text = match.group(0)
    if text[1] != "0":
        return _ESCAPES[text[1]]
    digits = text[2:]  # "\0ooo" is Go's "\ooo": three octal digits, else "\" + digits
    if len(digits) == 3 and all(c in "01234567" for c in digits) and int(digits, 8) < 256:
        return chr(int(digits, 8))
    return "\\" + digits


class _DotEnv:
    """compose-go's dotenv reader (``dotenv/parser.go``), behaviour for behaviour: a
    key ends at ``=``, ``:`` or a line break (a bare ``NAME`` takes its value from the
    environment); an unquoted value is the rest of the line cut at the first `` #``;
    quoted values may span lines, double-quoted ones expand ``\\n`` & co; unquoted and
    double-quoted values are interpolated, the environment first, then earlier lines."""

    def __init__(self, path: str, text: str, environ: Mapping[str, str],
                 inputs: Inputs | None) -> None:
        self.path = path
        self.src = text
        self.environ = environ
        self.inputs = inputs
        self.line = 1
        self.values: dict[str, str] = {}

    def fail(self, message: str, line: int | None = None) -> ComposeError:
        return ComposeError(self.path, line or self.line, 1, f"env file: {message}", "PL101")

    def lookup(self, name: str) -> str | None:
        if self.inputs is not None:
            self.inputs.looked_up([name])
        if name in self.environ:
            return self.environ[name]
        return self.values.get(name)

    def expand(self, value: str, line: int) -> str:
        interp = Interpolator({**self.values, **self.environ})
        try:
            return interp.substitute(value)
        except TemplateError as e:
            err = self.fail(e.message, line)
            err.stricter = e.stricter
            raise err from None
        finally:
            if self.inputs is not None:
                self.inputs.looked_up(interp.read)

    def statement_start(self, src: str) -> str:
        while True:
            i = 0
            while i < len(src) and src[i].isspace():
                if src[i] == "\n":
                    self.line += 1
                i += 1
            src = src[i:]
            if not src or src[0] != "#":
                return src
            newline = src.find("\n")
            if newline == -1:
                return ""
            src = src[newline:]

    def parse(self) -> dict[str, str]:
        src = self.src
        while True:
            src = self.statement_start(src)
            if not src:
                return self.values
            line = self.line
            if _EXPORT.match(src):
                src = src[len("export"):].lstrip(_ENV_SPACE)
            key, offset, inherited = "", 0, False
            for i, c in enumerate(src):
                if c in _ENV_SPACE:
                    continue
                if c in "=:\n":
                    key, offset, inherited = src[:i], i + 1, c == "\n"
                    break
                if c in "_.-[]" or c.isalpha() or c.isnumeric():
                    continue
                first = src.split("\n", 1)[0]
                raise self.fail(f"unexpected character {c!r} in variable name {first!r}")
            if inherited and " " not in key:
                self.line += 1
            key = key.rstrip()
            rest = src[offset:].lstrip(_ENV_SPACE)
            if " " in key:
                raise self.fail("key cannot contain a space", line)
            if inherited:
                value = self.lookup(key)
                if value is not None:
                    self.values[key] = value
                src = rest
                continue
            self.values[key], src = self.value(rest)

    def value(self, src: str) -> tuple[str, str]:
        line = self.line
        if not src or src[0] not in "'\"":
            text, _, rest = src.partition("\n")
            self.line += 1
            text = text.partition(" #")[0].rstrip()
            return self.expand(text, line), rest
        quote = src[0]
        chars: list[str] = []
        escape = False
        for i in range(1, len(src)):
            c = src[i]
            if c == "\n":
                self.line += 1
            if c != quote:
                if not escape and c == "\\":
                    escape = True
                    continue
                if escape:
                    escape = False
                    chars.append("\\")
                chars.append(c)
                continue
            if escape:
                escape = False
                chars.append(c)
                continue
            text = "".join(chars)
            if quote == '"':
                text = self.expand(_ESCAPE.sub(_unescape, text), line)
            return text, src[i + 1:]
        raise self.fail(f"unterminated quoted value {src.split(chr(10), 1)[0]}", line)
