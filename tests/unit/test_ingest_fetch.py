"""Fetching media sources: local files and HTTP, permanent versus transient failures, the size limit, and the
tenant's allowed sources (hosts, addresses after DNS resolution and after every redirect, buckets, file roots)."""

from __future__ import annotations

import hashlib
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pytest

from services.common.objectstore import ObjectStore
from services.ingest.fetch import SourceRefused, SourceTooLarge, SourceUnavailable, fetch
from services.ingest.sources import SourcePolicy, SourceRules, address_allowed, open_http

BODY = bytes(range(256)) * 5000  # 1.28 MB: more than one read chunk
NO_STORE = cast(ObjectStore, None)  # file and HTTP sources never touch the object store
TENANT = "acme"
#: The loopback networks the test servers listen on, allowed explicitly (refused by default).
LOOPBACK = ("127.0.0.0/8",)


class _Handler(BaseHTTPRequestHandler):
    #: path → (status, Location) of redirects, set per test server
    redirects: dict[str, str] = {}

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path in self.redirects:
            self.send_response(302)
            self.send_header("Location", self.redirects[path])
            self.end_headers()
            return
        status = {"/missing.mp4": 404, "/forbidden.mp4": 403, "/busy.mp4": 503}.get(path, 200)
        if status != 200:
            self.send_error(status)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.send_header("X-Seen-Host", self.headers.get("Host", ""))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: object) -> None:
        return None


def _serve(address: str) -> tuple[ThreadingHTTPServer, str]:
    httpd = ThreadingHTTPServer((address, 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"{address}:{httpd.server_address[1]}"


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[str, str]]:
    """Two local servers (127.0.0.1 and 127.0.0.2), as host:port."""
    started = [_serve("127.0.0.1"), _serve("127.0.0.2")]
    try:
        yield started[0][1], started[1][1]
    finally:
        for httpd, _ in started:
            httpd.shutdown()
            httpd.server_close()


@pytest.fixture(scope="module")
def server(servers: tuple[str, str]) -> str:
    return f"http://{servers[0]}"


def policy(hosts: tuple[str, ...] = (), networks: tuple[str, ...] = LOOPBACK, **kw: Any) -> SourcePolicy:
    return SourcePolicy(tenants={TENANT: SourceRules.parse(http_hosts=hosts, networks=networks)}, **kw)


def get(uri: str, dest: Path, sources: SourcePolicy, max_bytes: int = 10**9) -> Any:
    return fetch(uri, dest, NO_STORE, max_bytes, sources, TENANT)


LOCAL = policy(hosts=("127.0.0.1",))  # the first server, its network allowed


# ---- local files -----------------------------------------------------------------------------------------------


def test_local_files_are_read_in_place(tmp_path: Path) -> None:
    src = tmp_path / "media file.mp4"
    src.write_bytes(BODY)
    local = get(f"file://{tmp_path}/media%20file.mp4", tmp_path / "copy", SourcePolicy(file_roots=(tmp_path,)))
    assert local.path == src.resolve() and local.size == len(BODY)
    assert local.sha256 == hashlib.sha256(BODY).hexdigest()
    assert not (tmp_path / "copy").exists()


def test_a_missing_local_file_is_unavailable(tmp_path: Path) -> None:
    roots = SourcePolicy(file_roots=(tmp_path,))
    with pytest.raises(SourceUnavailable):
        get(f"file://{tmp_path}/nope.mp4", tmp_path / "copy", roots)
    with pytest.raises(SourceUnavailable):
        get(f"file://{tmp_path}", tmp_path / "copy", roots)


def test_local_files_over_the_limit(tmp_path: Path) -> None:
    (tmp_path / "big.mp4").write_bytes(BODY)
    with pytest.raises(SourceTooLarge):
        get(f"file://{tmp_path}/big.mp4", tmp_path / "copy", SourcePolicy(file_roots=(tmp_path,)), len(BODY) - 1)


def test_local_files_outside_the_roots_are_refused_even_through_a_link(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.mp4").write_bytes(BODY)
    (root / "link.mp4").symlink_to(outside / "secret.mp4")
    roots = SourcePolicy(file_roots=(root,))
    for uri in (f"file://{outside}/secret.mp4", f"file://{root}/link.mp4", f"file://{root}/../outside/secret.mp4"):
        with pytest.raises(SourceRefused, match="not under a directory"):
            get(uri, tmp_path / "copy", roots)
    with pytest.raises(SourceRefused, match="not accepted here"):
        get(f"file://{root}/link.mp4", tmp_path / "copy", SourcePolicy())


# ---- HTTP ------------------------------------------------------------------------------------------------------


def test_http_is_streamed_into_the_destination(server: str, tmp_path: Path) -> None:
    local = get(f"{server}/ok.mp4?X-Signature=secret", tmp_path / "copy", LOCAL)
    assert local.path == tmp_path / "copy" and local.path.read_bytes() == BODY
    assert local.sha256 == hashlib.sha256(BODY).hexdigest() and local.size == len(BODY)


@pytest.mark.parametrize("name", ["missing.mp4", "forbidden.mp4"])
def test_http_client_errors_are_permanent_and_hide_the_query(server: str, tmp_path: Path, name: str) -> None:
    with pytest.raises(SourceUnavailable) as info:
        get(f"{server}/{name}?X-Signature=secret", tmp_path / "copy", LOCAL)
    assert "secret" not in str(info.value)


def test_http_server_errors_and_refused_connections_are_transient(server: str, tmp_path: Path) -> None:
    with pytest.raises(ConnectionError):
        get(f"{server}/busy.mp4", tmp_path / "copy", LOCAL)
    with pytest.raises(OSError) as info:
        get("http://127.0.0.1:1/x.mp4", tmp_path / "copy", LOCAL)
    assert not isinstance(info.value, SourceUnavailable | SourceRefused)


def test_http_over_the_limit(server: str, tmp_path: Path) -> None:
    with pytest.raises(SourceTooLarge):
        get(f"{server}/ok.mp4", tmp_path / "copy", LOCAL, 1000)


def test_unsupported_schemes(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable):
        get("ftp://example.org/x.mp4", tmp_path / "copy", LOCAL)


def test_a_loopback_server_is_refused_unless_the_tenant_allows_its_network(server: str, tmp_path: Path) -> None:
    with pytest.raises(SourceRefused, match=r"resolves to 127\.0\.0\.1"):
        get(f"{server}/ok.mp4", tmp_path / "copy", policy(hosts=("127.0.0.1",), networks=()))
    # allowed for this tenant, not for another one
    assert get(f"{server}/ok.mp4", tmp_path / "copy", LOCAL).size == len(BODY)
    with pytest.raises(SourceRefused, match="not a host this tenant allows"):
        fetch(f"{server}/ok.mp4", tmp_path / "copy", NO_STORE, 10**9, LOCAL, "other-tenant")


def test_a_host_that_resolves_to_loopback_is_refused(server: str, tmp_path: Path) -> None:
    port = server.rsplit(":", 1)[1]
    with pytest.raises(SourceRefused, match="resolves to"):
        get(f"http://localhost:{port}/ok.mp4", tmp_path / "copy", policy(hosts=("localhost",), networks=()))


def test_hosts_not_on_the_list_are_refused_before_any_connection(tmp_path: Path) -> None:
    with pytest.raises(SourceRefused, match=r"169\.254\.169\.254:80 is not a host"):
        get("http://169.254.169.254/latest/meta-data/", tmp_path / "copy", LOCAL)
    # even listed, the metadata address is link-local: refused without connecting
    metadata = policy(hosts=("169.254.169.254",))
    with pytest.raises(SourceRefused, match=r"resolves to 169\.254\.169\.254"):
        get("http://169.254.169.254/latest/meta-data/", tmp_path / "copy", metadata)


def test_every_redirect_is_checked_again(servers: tuple[str, str], tmp_path: Path) -> None:
    first, second = servers
    first_port = first.rsplit(":", 1)[1]
    _Handler.redirects = {
        "/to-first.mp4": f"http://{first}/ok.mp4",  # a host the tenant does not list
        "/to-localhost.mp4": f"http://localhost:{first_port}/ok.mp4",  # listed, but resolves to loopback
        "/to-metadata.mp4": "http://169.254.169.254/latest/meta-data/",  # listed, but link-local
        "/to-self.mp4": f"http://{second}/ok.mp4",
        "/loop.mp4": f"http://{second}/loop.mp4",
    }
    hosts = ("127.0.0.2", "localhost", "169.254.169.254")
    only_second = SourcePolicy(tenants={TENANT: SourceRules.parse(http_hosts=hosts, networks=("127.0.0.2/32",))})
    with pytest.raises(SourceRefused, match=r"127\.0\.0\.1:\d+ is not a host"):
        get(f"http://{second}/to-first.mp4", tmp_path / "copy", only_second)
    with pytest.raises(SourceRefused, match="localhost resolves to"):
        get(f"http://{second}/to-localhost.mp4", tmp_path / "copy", only_second)
    with pytest.raises(SourceRefused, match=r"resolves to 169\.254\.169\.254"):
        get(f"http://{second}/to-metadata.mp4", tmp_path / "copy", only_second)
    with pytest.raises(SourceRefused, match="redirects"):
        get(f"http://{second}/loop.mp4", tmp_path / "copy", only_second)
    assert get(f"http://{second}/to-self.mp4", tmp_path / "copy", only_second).size == len(BODY)
    # with the first server's host and network allowed too, the redirect is followed
    both = policy(hosts=("127.0.0.1", "127.0.0.2"))
    assert get(f"http://{second}/to-first.mp4", tmp_path / "copy", both).size == len(BODY)


def test_the_connection_goes_to_the_address_that_was_checked(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: a name that answers an allowed address first and another one afterwards is read from the
    first address, resolved once."""
    port = int(server.rsplit(":", 1)[1])
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1"])  # a second lookup of the name would fail the test

    def resolver(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "media.rebind.test":
            return real(next(answers), *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    rebind = policy(hosts=("media.rebind.test",), networks=("127.0.0.1/32",))
    local = get(f"http://media.rebind.test:{port}/ok.mp4", tmp_path / "copy", rebind)
    assert local.size == len(BODY)


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.215.14", True),
        ("2606:4700::1111", True),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),  # shared address space
        ("127.0.0.1", False),
        ("169.254.169.254", False),
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("224.0.0.1", False),
    ],
)
def test_only_public_addresses_are_allowed_by_default(address: str, allowed: bool) -> None:
    assert address_allowed(ipaddress.ip_address(address), ()) is allowed


# ---- S3 --------------------------------------------------------------------------------------------------------


def test_s3_sources_must_be_in_a_bucket_or_prefix_the_tenant_allows() -> None:
    sources = SourcePolicy(
        tenants={
            TENANT: SourceRules.parse(s3=("hr-media/acme/", "acme-uploads")),
            "*": SourceRules.parse(s3=("shared/in/",)),
        },
        reserved_buckets=frozenset({"sightline-raw"}),
    )
    sources.check_s3(TENANT, "hr-media", "acme/2025/a.mp4")
    sources.check_s3(TENANT, "acme-uploads", "any/key.mp4")
    sources.check_s3("other", "shared", "in/x.mp4")  # "*" applies to every tenant
    for bucket, key, tenant, why in [
        ("hr-media", "globex/a.mp4", TENANT, "not under a bucket or prefix"),
        ("other-bucket", "acme/a.mp4", TENANT, "not under a bucket or prefix"),
        ("acme-uploads", "x.mp4", "other", "not under a bucket or prefix"),
        ("hr-media", "acme/../globex/a.mp4", TENANT, "'..'"),
        ("sightline-raw", "globex/iv/media/a.mp4", TENANT, "Sightline's own buckets"),
    ]:
        with pytest.raises(SourceRefused, match=why):
            sources.check_s3(tenant, bucket, key)


# ---- HTTPS to the checked address ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate for media.tls.test: (port, certificate)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl")
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=media.tls.test",
         "-addext", "subjectAltName=DNS:media.tls.test"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield httpd.server_address[1], cert
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_https_goes_to_the_checked_address_and_verifies_the_host_name(
    tls_server: tuple[int, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, cert = tls_server
    real = socket.getaddrinfo

    def resolver(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host in ("media.tls.test", "other.tls.test") else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    trusted = ssl.create_default_context(cafile=str(cert))
    rules = SourceRules.parse(http_hosts=("media.tls.test", "other.tls.test"), networks=("127.0.0.1/32",))
    with open_http(f"https://media.tls.test:{port}/ok.mp4", rules, 10.0, tls=trusted) as response:
        assert response.read() == BODY
        assert response.getheader("X-Seen-Host") == f"media.tls.test:{port}"
    # the same address under a name the certificate does not carry: TLS refuses it
    with pytest.raises(ssl.SSLCertVerificationError):
        open_http(f"https://other.tls.test:{port}/ok.mp4", rules, 10.0, tls=trusted)
    # and without the tenant's network, the name is refused before any connection
    with pytest.raises(SourceRefused, match=r"resolves to 127\.0\.0\.1"):
        open_http(f"https://media.tls.test:{port}/ok.mp4", SourceRules.parse(http_hosts=("media.tls.test",)), 10.0)
