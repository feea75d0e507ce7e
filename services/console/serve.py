"""Running the console: the users, the signing key and the HTTP server, until SIGTERM or SIGINT."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry

from services.common.health import HealthServer
from services.common.settings import Settings
from services.common.signals import until_terminated

from .app import ReviewConsole, session_secret
from .auth import UserDirectory
from .session import SessionSigner


def build_console(settings: Settings) -> tuple[ReviewConsole, HealthServer]:
    """The console and the server carrying its pages beside /healthz, /readyz and /metrics; raises
    UsersError or ValueError when the users or the session key are not usable."""
    directory = UserDirectory.from_settings(settings.console)
    signer = SessionSigner(session_secret(settings), settings.console.session_ttl_s)
    registry = CollectorRegistry(auto_describe=True)
    console = ReviewConsole(settings, directory, signer, registry)
    server = HealthServer(
        registry=registry,
        host=settings.console.host,
        port=settings.console.port,
        readiness={"users": lambda: None if len(directory) else "no users"},
        extra_routes=console.routes(),
    )
    return console, server


async def serve(settings: Settings, on_ready: Callable[[str], None]) -> None:
    console, server = build_console(settings)
    port = await server.start()
    on_ready(f"http://{settings.console.host}:{port}")
    try:
        await until_terminated()
    finally:
        await server.stop()
        await console.publisher.close()
