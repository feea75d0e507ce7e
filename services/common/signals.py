"""Termination signals for the long-running processes: workers, `sightline db serve`, `sightline console`."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

#: What Kubernetes sends before killing a pod, and what Ctrl-C sends.
TERMINATION = (signal.SIGTERM, signal.SIGINT)


def on_termination(callback: Callable[[], None]) -> None:
    """Call ``callback`` (it must be signal-handler safe) on SIGTERM or SIGINT, in the running loop."""
    loop = asyncio.get_running_loop()
    for sig in TERMINATION:
        loop.add_signal_handler(sig, callback)


async def until_terminated() -> None:
    """Return once SIGTERM or SIGINT arrives."""
    stop = asyncio.Event()
    on_termination(stop.set)
    await stop.wait()


__all__ = ["TERMINATION", "on_termination", "until_terminated"]
