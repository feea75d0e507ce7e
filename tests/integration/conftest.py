"""Integration fixtures: one private local stack (broker, S3 gateway, chDB dir) per test session.

The stack lives in a temporary directory and listens on free loopback ports, so it never touches
the developer's own stack in ``.local/`` (ports 19092/19000) and can run beside it.

``SIGHTLINE_TEST_BROKER_STORAGE=s3`` keeps the session broker's data in the gateway, as the
developer stack does; the default, ``memory``, is quicker and the persistence test covers ``s3``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Literal, cast

import pytest

from services.common.settings import Settings
from services.common.stack import (
    COMPONENTS,
    StackError,
    StackPaths,
    local_stack_settings,
    log_tail,
    start_stack,
    stop_stack,
)


def _log_tails(settings: Settings, lines: int = 40) -> str:
    paths = StackPaths.from_settings(settings)
    parts = []
    for name in COMPONENTS:
        log = paths.log_file(name)
        if log.exists():
            parts.append(f"--- {log} (last {lines} lines) ---\n{log_tail(log, lines)}")
    return "\n".join(parts)


@pytest.fixture(scope="session")
def stack_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings pointing Kafka, S3, ClickHouse and ``stack`` at a private stack started for the session."""
    storage = os.environ.get("SIGHTLINE_TEST_BROKER_STORAGE", "memory")
    if storage not in ("s3", "memory"):
        raise pytest.UsageError(f"SIGHTLINE_TEST_BROKER_STORAGE must be 's3' or 'memory', not {storage!r}")
    settings = local_stack_settings(
        tmp_path_factory.mktemp("stack"), broker_storage=cast(Literal["s3", "memory"], storage)
    )
    try:
        start_stack(settings)
    except BaseException as exc:
        tails = _log_tails(settings)
        print(f"local stack failed to start: {exc}\n{tails}", file=sys.stderr)
        with contextlib.suppress(Exception):
            stop_stack(settings)
        if isinstance(exc, StackError):
            pytest.fail(f"local stack failed to start: {exc}\n{tails}", pytrace=False)
        raise
    try:
        yield settings
    finally:
        stop_stack(settings)


@pytest.fixture(scope="session")
def access_log_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated embedded database of its own, for commands whose reads are written to the access log but which
    read nothing else from ClickHouse (dead letters from the topic, reports from the object store)."""
    import subprocess

    dsn = f"chdb://{tmp_path_factory.mktemp('access-log') / 'ch'}"
    env = {**os.environ, "SIGHTLINE_CLICKHOUSE__DSN": dsn}
    subprocess.run([sys.executable, "-m", "services.cli", "db", "migrate"], env=env, check=True, capture_output=True)
    return dsn
