"""Fetching media sources: local files and HTTP, permanent versus transient failures, the size limit."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import cast

import pytest

from services.common.objectstore import ObjectStore
from services.ingest.fetch import SourceTooLarge, SourceUnavailable, fetch

BODY = bytes(range(256)) * 5000  # 1.28 MB: more than one read chunk
NO_STORE = cast(ObjectStore, None)  # file and HTTP sources never touch the object store


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = {"/missing.mp4": 404, "/forbidden.mp4": 403, "/busy.mp4": 503}.get(self.path.split("?")[0], 200)
        if status != 200:
            self.send_error(status)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_local_files_are_read_in_place(tmp_path: Path) -> None:
    src = tmp_path / "media file.mp4"
    src.write_bytes(BODY)
    local = fetch(f"file://{tmp_path}/media%20file.mp4", tmp_path / "copy", NO_STORE, 10**9)
    assert local.path == src and local.size == len(BODY)
    assert local.sha256 == hashlib.sha256(BODY).hexdigest()
    assert not (tmp_path / "copy").exists()


def test_a_missing_local_file_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable):
        fetch(f"file://{tmp_path}/nope.mp4", tmp_path / "copy", NO_STORE, 10**9)
    with pytest.raises(SourceUnavailable):
        fetch(f"file://{tmp_path}", tmp_path / "copy", NO_STORE, 10**9)


def test_local_files_over_the_limit(tmp_path: Path) -> None:
    (tmp_path / "big.mp4").write_bytes(BODY)
    with pytest.raises(SourceTooLarge):
        fetch(f"file://{tmp_path}/big.mp4", tmp_path / "copy", NO_STORE, len(BODY) - 1)


def test_http_is_streamed_into_the_destination(server: str, tmp_path: Path) -> None:
    local = fetch(f"{server}/ok.mp4?X-Signature=secret", tmp_path / "copy", NO_STORE, 10**9)
    assert local.path == tmp_path / "copy" and local.path.read_bytes() == BODY
    assert local.sha256 == hashlib.sha256(BODY).hexdigest() and local.size == len(BODY)


@pytest.mark.parametrize("name", ["missing.mp4", "forbidden.mp4"])
def test_http_client_errors_are_permanent_and_hide_the_query(server: str, tmp_path: Path, name: str) -> None:
    with pytest.raises(SourceUnavailable) as info:
        fetch(f"{server}/{name}?X-Signature=secret", tmp_path / "copy", NO_STORE, 10**9)
    assert "secret" not in str(info.value)


def test_http_server_errors_and_refused_connections_are_transient(server: str, tmp_path: Path) -> None:
    with pytest.raises(ConnectionError):
        fetch(f"{server}/busy.mp4", tmp_path / "copy", NO_STORE, 10**9)
    with pytest.raises(OSError) as info:
        fetch("http://127.0.0.1:1/x.mp4", tmp_path / "copy", NO_STORE, 10**9)
    assert not isinstance(info.value, SourceUnavailable)


def test_http_over_the_limit(server: str, tmp_path: Path) -> None:
    with pytest.raises(SourceTooLarge):
        fetch(f"{server}/ok.mp4", tmp_path / "copy", NO_STORE, 1000)


def test_unsupported_schemes(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable):
        fetch("ftp://example.org/x.mp4", tmp_path / "copy", NO_STORE, 10**9)
