"""Rich consoles for the command line: terminal width on a terminal, wide enough for tables elsewhere."""

from __future__ import annotations

from rich.console import Console

#: Width when output goes to a file, a pipe or CI logs, where rich would otherwise assume 80 columns and
#: wrap every table cell; a terminal keeps its own width.
PIPE_WIDTH = 160


def make_console(*, stderr: bool = False) -> Console:
    console = Console(stderr=stderr)
    if not console.is_terminal:
        console.width = max(console.width, PIPE_WIDTH)
    return console
