"""What the command line shows people: tables, colours and progress bars, drawn with ``rich``.

One module so every command looks alike. Colour and live redrawing appear only on a terminal;
piped or captured output (logs, CI, tests) is plain text with no escape codes, never wrapped.
"""

from __future__ import annotations

import io
import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # rich loads when something is drawn, not when a command starts
    from rich.console import Console
    from rich.progress import Progress as _RichProgress

_WIDE = 10_000  # rendering width off a terminal: a line is as long as its content


def console(stream: TextIO | None = None) -> Console:
    """A console on ``stream`` (stdout): colour on a terminal only, lines never wrapped."""
    from rich.console import Console

    stream = stream or sys.stdout
    tty = bool(getattr(stream, "isatty", lambda: False)())
    return Console(file=stream, highlight=False, soft_wrap=True, emoji=False,
                   color_system="auto" if tty else None, force_terminal=tty or None)


def clip(text: str, width: int) -> str:
    """One line of at most ``width`` characters (a long cell ends in "…")."""
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def table(headers: list[str], rows: list[list[str]], max_width: int = 70) -> str:
    """A text table with a header rule; long cells are clipped (use --json for everything)."""
    if not rows:
        return "  (none)"
    from rich import box
    from rich.console import Console
    from rich.table import Table

    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold",
                 padding=(0, 2, 0, 0))
    for header in headers:
        grid.add_column(header, no_wrap=True, overflow="ellipsis")
    for row in rows:
        grid.add_row(*(clip(cell, max_width) for cell in row))
    buffer = io.StringIO()
    Console(file=buffer, width=_WIDE, color_system=None, highlight=False,
            emoji=False).print(grid)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines() if line.strip())


def error(message: str) -> None:
    """``error: …`` on stderr, in red on a terminal; always one line."""
    err = console(sys.stderr)
    err.print(f"[bold red]error:[/] {_escape(message)}" if err.is_terminal
              else f"error: {message}", markup=err.is_terminal)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


class Progress:
    """A progress bar on stderr: redrawn in place on a terminal; elsewhere (logs, CI) one
    ``label [####----] n/total`` line per tenth of the way, so a log shows it moving."""

    def __init__(self, total: int | None, stream: TextIO | None = None, width: int = 24,
                 label: str = "") -> None:
        self.total, self.width, self.label = total, width, label
        self.stream = stream or sys.stderr
        self.count = 0
        self._last_tenth = -1
        self._live: _RichProgress | None = None
        if getattr(self.stream, "isatty", lambda: False)():
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
            from rich.progress import Progress as _RichProgress

            self._live = _RichProgress(TextColumn(label), BarColumn(bar_width=width),
                                       MofNCompleteColumn(), console=console(self.stream),
                                       transient=False)
            self._task = self._live.add_task(label, total=total)
            self._live.start()

    def render(self) -> str:
        """The plain-text bar, as written off a terminal."""
        prefix = f"{self.label} " if self.label else ""
        if not self.total:
            return f"{prefix}[???] {self.count}"
        filled = min(self.width, self.width * self.count // self.total)
        return f"{prefix}[{'#' * filled}{'-' * (self.width - filled)}] {self.count}/{self.total}"

    def tick(self, n: int = 1) -> None:
        self.count += n
        if self._live is not None:
            self._live.update(self._task, completed=self.count)
            return
        tenth = 10 * self.count // self.total if self.total else self.count
        if tenth != self._last_tenth:
            self._last_tenth = tenth
            self.stream.write(self.render() + "\n")

    def done(self) -> None:
        if self._live is not None:
            self._live.stop()
