"""A plain-text progress bar on stderr: ``[########--------] 12/40``."""

from __future__ import annotations

import sys
from typing import TextIO


class Progress:
    """Redrawn in place on a terminal; elsewhere (logs, CI) one line per tenth of the way."""

    def __init__(self, total: int | None, stream: TextIO | None = None, width: int = 24,
                 label: str = "") -> None:
        self.total, self.width, self.label = total, width, label
        self.stream = stream or sys.stderr
        self.count = 0
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_tenth = -1

    def render(self) -> str:
        prefix = f"{self.label} " if self.label else ""
        if not self.total:
            return f"{prefix}[{'?' * 3}] {self.count}"
        filled = min(self.width, self.width * self.count // self.total)
        return f"{prefix}[{'#' * filled}{'-' * (self.width - filled)}] {self.count}/{self.total}"

    def tick(self, n: int = 1) -> None:
        self.count += n
        if self._tty:
            self.stream.write("\r" + self.render())
            self.stream.flush()
            return
        tenth = 10 * self.count // self.total if self.total else self.count
        if tenth != self._last_tenth:
            self._last_tenth = tenth
            self.stream.write(self.render() + "\n")

    def done(self) -> None:
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()
