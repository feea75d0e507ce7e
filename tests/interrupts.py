"""A user's Ctrl-C for commands the tests and benches start: a shell running them in the background leaves SIGINT
ignored, a child inherits that, and Python then never raises KeyboardInterrupt. Pass as ``preexec_fn``."""

from __future__ import annotations

import signal


def hear_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
