"""A small HTTP server per process: /healthz (alive), /readyz (can do work), /metrics (Prometheus)."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

#: A check returns None when fine, or a short reason why not.
Check = Callable[[], str | None]


@dataclass
class HealthServer:
    registry: CollectorRegistry
    host: str = "127.0.0.1"
    port: int = 0
    liveness: dict[str, Check] = field(default_factory=dict)
    readiness: dict[str, Check] = field(default_factory=dict)
    extra_routes: list[tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]] = field(
        default_factory=list
    )
    ssl_context: ssl.SSLContext | None = None  # serve HTTPS with it
    _runner: web.AppRunner | None = None
    bound_port: int | None = None

    def _report(self, checks: dict[str, Check]) -> web.Response:
        failures = {name: reason for name, check in checks.items() if (reason := check()) is not None}
        body = {"status": "ok" if not failures else "failing", "checks": {n: failures.get(n, "ok") for n in checks}}
        return web.json_response(body, status=200 if not failures else 503)

    async def _healthz(self, _: web.Request) -> web.Response:
        return self._report(self.liveness)

    async def _readyz(self, _: web.Request) -> web.Response:
        return self._report({**self.liveness, **self.readiness})

    async def _metrics(self, _: web.Request) -> web.Response:
        payload = generate_latest(self.registry)
        return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self) -> int:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        for method, path, handler in self.extra_routes:
            app.router.add_route(method, path, handler)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self.ssl_context)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self.port
        log.info("health server listening", extra={"http_port": self.bound_port})
        return self.bound_port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
