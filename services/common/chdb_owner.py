"""Sharing the embedded ClickHouse (chDB) between local processes.

chDB locks its data directory: only one process may open it. Locally that process is the *owner*
(the sink while the pipeline runs, or `sightline db serve`). The owner publishes its loopback
address in `<data dir>.owner.json`; everyone else — `sightline query`, `sightline db migrate`,
analysts' scripts — sends SQL there instead of opening the directory. Every request carries a token
(``Authorization: Bearer``) that the owner resolves to an identity. ``/named`` runs a named query
(services/common/named_queries.py) with its tenant parameter taken from the identity, for any role the
query lists; ``/sql`` runs arbitrary SQL for admins only. Both run with `readonly=1` under the tenant's
table filters (services/identity/bound.py), each is written to the access log (refusals too), and the
only writes a non-owner may ask for are applying migrations (admins) and access-log rows in its own name.

The endpoint listens on the loopback address. With ``clickhouse.owner_cert_file`` and ``owner_key_file`` it
serves HTTPS, and clients verify it against ``clickhouse.ca_file`` (the owner file then names an https://
address, so no client falls back to plain HTTP); tokens then never cross the loopback interface in clear.

A real ClickHouse server (http[s]:// DSN) needs none of this: every process connects directly.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from services.access import AccessDenied
from services.common.clickhouse import DirectWarehouse, Warehouse, chdb_path, is_chdb
from services.common.migrations import migrate
from services.common.named_queries import NamedQuery, ParameterError
from services.common.settings import ClickHouseSettings
from services.identity.access_log import AccessRecord, write_access
from services.identity.bound import TenantBoundWarehouse
from services.identity.named import catalogue
from services.identity.tokens import Identity, IdentityError, Role, TokenDirectory


class OwnerUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class OwnerRecord:
    pid: int
    url: str

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def owner_file(dsn: str) -> Path:
    return Path(chdb_path(dsn).rstrip("/") + ".owner.json")


def read_owner(dsn: str) -> OwnerRecord | None:
    path = owner_file(dsn)
    try:
        data = json.loads(path.read_text())
        record = OwnerRecord(pid=int(data["pid"]), url=str(data["url"]))
    except (OSError, ValueError, KeyError):
        return None
    return record if record.alive() else None


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class ChdbOwner:
    """Holds the chDB directory and answers other local processes over HTTP, as the identities of their
    tokens (``directory``; without one every request is refused)."""

    def __init__(self, settings: ClickHouseSettings, directory: TokenDirectory | None = None) -> None:
        if not is_chdb(settings.dsn):
            raise ValueError("only an embedded chdb:// DSN has an owner")
        self.settings = settings
        self.directory = directory
        self.warehouse = DirectWarehouse(settings)
        self._lock = threading.Lock()  # one statement at a time through the embedded engine
        self._file = owner_file(settings.dsn)

    def routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("POST", "/sql", self._sql),
            ("POST", "/named", self._named),
            ("POST", "/migrate", self._migrate),
            ("POST", "/access-log", self._log),
        ]

    def ssl_context(self) -> ssl.SSLContext | None:
        """The endpoint's TLS (certificate and key from the settings), or None for plain HTTP."""
        if self.settings.owner_cert_file is None or self.settings.owner_key_file is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.settings.owner_cert_file, self.settings.owner_key_file)
        return context

    def publish(self, port: int, host: str = "127.0.0.1") -> None:
        self._file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._file.with_suffix(".tmp")
        scheme = "http" if self.settings.owner_cert_file is None else "https"
        tmp.write_text(json.dumps({"pid": os.getpid(), "url": f"{scheme}://{host}:{port}"}))
        tmp.replace(self._file)

    def close(self) -> None:
        record = read_owner(self.settings.dsn)
        if record is not None and record.pid == os.getpid():
            self._file.unlink(missing_ok=True)
        self.warehouse.close()

    def run_locked(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return fn(*args, **kwargs)

    def _identify(self, request: web.Request) -> Identity:
        if self.directory is None:
            raise IdentityError("this database endpoint has no identities: set SIGHTLINE_IDENTITY__TOKENS_FILE")
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise IdentityError("the database endpoint needs a token: set SIGHTLINE_IDENTITY__TOKEN(_FILE)")
        return self.directory.identify(token)

    def _record(self, identity: Identity, record: AccessRecord) -> None:
        self.run_locked(write_access, self.warehouse, identity, record)

    async def _sql(self, request: web.Request) -> web.Response:
        """Arbitrary read-only SQL (admins only)."""
        body = await request.json()
        sql = str(body.get("sql") or "")
        return await self._read(request, "sql", sql, lambda reader: reader.query_rows(sql, body.get("parameters")))

    async def _named(self, request: web.Request) -> web.Response:
        """A named query; its tenant parameter is the identity's, whatever the request says."""
        body = await request.json()
        name, parameters = str(body.get("query", "")), body.get("parameters")
        subject = f"{name} {json.dumps(parameters, sort_keys=True, default=str)}"
        try:
            query = catalogue()[name]
        except ParameterError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return await self._read(request, "named", subject, lambda reader: reader.named(query, parameters))

    async def _read(self, request: web.Request, action: str, subject: str, run: Any) -> web.Response:
        """``run`` with the reads of the request's identity, recorded in the access log whether allowed or refused."""
        try:
            identity = self._identify(request)
        except IdentityError as exc:
            return _refusal(exc, 401)
        origin = f"db endpoint from {request.remote}"
        reader = TenantBoundWarehouse(self.warehouse, identity)
        try:
            columns, rows = await asyncio.to_thread(self.run_locked, run, reader)
        except AccessDenied as exc:
            refused = AccessRecord(
                action, identity.tenant_id, "refused", subject=subject, reason=str(exc), origin=origin
            )
            await asyncio.to_thread(self._record, identity, refused)
            return _refusal(exc, 403)
        except Exception as exc:
            return web.json_response({"error": str(exc)}, status=400)
        allowed = AccessRecord(action, identity.tenant_id, "allowed", subject=subject, origin=origin)
        await asyncio.to_thread(self._record, identity, allowed)
        return web.json_response(
            {"columns": columns, "rows": rows}, dumps=lambda o: json.dumps(o, default=_json_default)
        )

    async def _migrate(self, request: web.Request) -> web.Response:
        try:
            identity = self._identify(request)
            if identity.role is not Role.ADMIN:
                raise AccessDenied(f"{identity} may not apply migrations (admins only)")
        except (IdentityError, AccessDenied) as exc:
            return _refusal(exc, 401 if isinstance(exc, IdentityError) else 403)
        try:
            applied = await asyncio.to_thread(self.run_locked, migrate, self.warehouse)
        except Exception as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"applied": [f"{m.version:04d}_{m.name}" for m in applied]})

    async def _log(self, request: web.Request) -> web.Response:
        """An access-log row in the caller's own name (its token says who it is)."""
        try:
            identity = self._identify(request)
        except IdentityError as exc:
            return _refusal(exc, 401)
        try:
            record = AccessRecord.from_json(await request.json(), origin=f"db endpoint from {request.remote}")
            await asyncio.to_thread(self._record, identity, record)
        except (KeyError, ValueError) as exc:
            return web.json_response({"error": f"not an access record: {exc}"}, status=400)
        return web.json_response({"recorded": str(record.event_id)})


def _refusal(exc: Exception, status: int) -> web.Response:
    return web.json_response({"error": f"refused: {exc}", "refused": True}, status=status)


class RemoteWarehouse:
    """Read-only access to a chDB directory owned by another local process, as the identity of ``token``."""

    def __init__(
        self,
        record: OwnerRecord,
        database: str,
        timeout_s: float = 60.0,
        token: str | None = None,
        ca_file: str | None = None,
    ) -> None:
        self.record = record
        self.database = database
        self.timeout_s = timeout_s
        self._token = token
        # An https:// owner is verified against ca_file (else the system's CAs), hostname included.
        self._tls = ssl.create_default_context(cafile=ca_file) if record.url.startswith("https://") else None

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(
            self.record.url + path, data=json.dumps(payload).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s, context=self._tls) as response:
                return dict(json.loads(response.read()))
        except urllib.error.HTTPError as exc:
            answer = json.loads(exc.read() or b"{}")
            detail = str(answer.get("error", exc.reason))
            if answer.get("refused"):
                raise AccessDenied(detail.removeprefix("refused: ")) from exc
            raise RuntimeError(detail) from exc
        except OSError as exc:
            raise OwnerUnavailable(
                f"the process owning the chDB directory ({self.record.url}) did not answer: {exc}"
            ) from exc

    def query_rows(
        self, sql: str, parameters: dict[str, Any] | None = None, *, readonly: bool = True
    ) -> tuple[list[str], list[list[Any]]]:
        answer = self._post("/sql", {"sql": sql, "parameters": parameters})
        return list(answer["columns"]), [list(r) for r in answer["rows"]]

    def named(self, query: NamedQuery, parameters: dict[str, Any] | None = None) -> tuple[list[str], list[list[Any]]]:
        """``query`` run by the owner as this token's identity (the owner binds the tenant)."""
        answer = self._post("/named", {"query": query.name, "parameters": parameters or {}})
        return list(answer["columns"]), [list(r) for r in answer["rows"]]

    def command(self, sql: str) -> None:
        raise PermissionError("writes go through the owning process; only `migrate` is available remotely")

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str], dedup_token: str) -> None:
        raise PermissionError("writes go through the owning process")

    def migrate(self) -> list[str]:
        return [str(name) for name in self._post("/migrate", {})["applied"]]

    def record_access(self, record: AccessRecord) -> None:
        """Append an access-log row; the owner names this process's identity on it."""
        self._post("/access-log", record.to_json())

    def close(self) -> None:
        return None


def open_warehouse(settings: ClickHouseSettings, token: str | None = None) -> Warehouse | RemoteWarehouse:
    """A server DSN connects directly; a chDB directory goes through its owner when one is running (as the
    identity of ``token``)."""
    if is_chdb(settings.dsn):
        record = read_owner(settings.dsn)
        if record is not None:
            return RemoteWarehouse(record, settings.database, token=token, ca_file=settings.ca_file)
    return DirectWarehouse(settings)
