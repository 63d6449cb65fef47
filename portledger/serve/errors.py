"""The one exception a handler raises for an HTTP error: its status and a located message
(the app answers it as JSON)."""

from __future__ import annotations

from typing import Any


class HTTPError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra
