"""Sharing the embedded ClickHouse (chDB) between local processes.

chDB locks its data directory: only one process may open it. Locally that process is the *owner*
(the sink while the pipeline runs, or `sightline db serve`). The owner publishes its loopback
address in `<data dir>.owner.json`; everyone else — `sightline query`, `sightline db migrate`,
analysts' scripts — sends SQL there instead of opening the directory. Queries arriving that way
run with `readonly=1`; the only write a non-owner may ask for is applying migrations.

A real ClickHouse server (http[s]:// DSN) needs none of this: every process connects directly.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from services.common.clickhouse import DirectWarehouse, Warehouse, chdb_path, is_chdb
from services.common.migrations import migrate
from services.common.settings import ClickHouseSettings


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
    """Holds the chDB directory and answers other local processes over HTTP."""

    def __init__(self, settings: ClickHouseSettings) -> None:
        if not is_chdb(settings.dsn):
            raise ValueError("only an embedded chdb:// DSN has an owner")
        self.settings = settings
        self.warehouse = DirectWarehouse(settings)
        self._lock = threading.Lock()  # one statement at a time through the embedded engine
        self._file = owner_file(settings.dsn)

    def routes(self) -> list[tuple[str, str, Any]]:
        return [("POST", "/sql", self._sql), ("POST", "/migrate", self._migrate)]

    def publish(self, port: int, host: str = "127.0.0.1") -> None:
        self._file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "url": f"http://{host}:{port}"}))
        tmp.replace(self._file)

    def close(self) -> None:
        record = read_owner(self.settings.dsn)
        if record is not None and record.pid == os.getpid():
            self._file.unlink(missing_ok=True)
        self.warehouse.close()

    def run_locked(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return fn(*args, **kwargs)

    async def _sql(self, request: web.Request) -> web.Response:
        body = await request.json()
        try:
            columns, rows = await asyncio.to_thread(
                self.run_locked, self.warehouse.query_rows, str(body["sql"]), body.get("parameters"), readonly=True
            )
        except Exception as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(
            {"columns": columns, "rows": rows}, dumps=lambda o: json.dumps(o, default=_json_default)
        )

    async def _migrate(self, _: web.Request) -> web.Response:
        try:
            applied = await asyncio.to_thread(self.run_locked, migrate, self.warehouse)
        except Exception as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"applied": [f"{m.version:04d}_{m.name}" for m in applied]})


class RemoteWarehouse:
    """Read-only access to a chDB directory owned by another local process."""

    def __init__(self, record: OwnerRecord, database: str, timeout_s: float = 60.0) -> None:
        self.record = record
        self.database = database
        self.timeout_s = timeout_s

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            self.record.url + path,
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return dict(json.loads(response.read()))
        except urllib.error.HTTPError as exc:
            detail = json.loads(exc.read() or b"{}").get("error", exc.reason)
            raise RuntimeError(str(detail)) from exc
        except OSError as exc:
            raise OwnerUnavailable(
                f"the process owning the chDB directory ({self.record.url}) did not answer: {exc}"
            ) from exc

    def query_rows(
        self, sql: str, parameters: dict[str, Any] | None = None, *, readonly: bool = True
    ) -> tuple[list[str], list[list[Any]]]:
        answer = self._post("/sql", {"sql": sql, "parameters": parameters})
        return list(answer["columns"]), [list(r) for r in answer["rows"]]

    def command(self, sql: str) -> None:
        raise PermissionError("writes go through the owning process; only `migrate` is available remotely")

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str], dedup_token: str) -> None:
        raise PermissionError("writes go through the owning process")

    def migrate(self) -> list[str]:
        return [str(name) for name in self._post("/migrate", {})["applied"]]

    def close(self) -> None:
        return None


def open_warehouse(settings: ClickHouseSettings) -> Warehouse | RemoteWarehouse:
    """A server DSN connects directly; a chDB directory goes through its owner when one is running."""
    if is_chdb(settings.dsn):
        record = read_owner(settings.dsn)
        if record is not None:
            return RemoteWarehouse(record, settings.database)
    return DirectWarehouse(settings)
